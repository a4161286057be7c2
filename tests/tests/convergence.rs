//! Convergence: 2 to 4 replicas make random edits (objects, properties, text, deletes,
//! reorders), exchange their updates in random order with duplicates and late deliveries, and
//! end with identical query results.

use std::sync::{Arc, Mutex};

use dxos_echo::{Query, Space, SpaceOptions, UpdateOrigin};
use dxos_halo::KeyPair;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

#[derive(Debug, Clone)]
enum Op {
    AddTask(String),
    AddObject(u8),
    SetProp(usize, String, i64),
    AddText(usize),
    EditText(usize, usize, usize, String),
    Delete(usize),
    Restore(usize),
    Move(usize, usize),
    Complete(usize, bool),
    /// Deliver message `.0` (modulo the outbox) to the acting replica.
    Deliver(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        "[a-z]{1,6}".prop_map(Op::AddTask),
        (0u8..3).prop_map(Op::AddObject),
        (any::<usize>(), "[a-c]", -5i64..5).prop_map(|(i, k, v)| Op::SetProp(i, k, v)),
        any::<usize>().prop_map(Op::AddText),
        (any::<usize>(), any::<usize>(), 0usize..3, "[a-z ]{0,4}").prop_map(|(i, p, d, s)| Op::EditText(i, p, d, s)),
        any::<usize>().prop_map(Op::Delete),
        any::<usize>().prop_map(Op::Restore),
        (any::<usize>(), 0usize..10).prop_map(|(i, to)| Op::Move(i, to)),
        (any::<usize>(), any::<bool>()).prop_map(|(i, b)| Op::Complete(i, b)),
        any::<usize>().prop_map(Op::Deliver),
        any::<usize>().prop_map(Op::Deliver),
        any::<usize>().prop_map(Op::Deliver),
    ]
}

type Outbox = Arc<Mutex<Vec<Vec<u8>>>>;

fn pick(space: &Space, i: usize) -> Option<String> {
    let ids = space.query_ids(&Query::all().include_deleted());
    (!ids.is_empty()).then(|| ids[i % ids.len()].to_string())
}

fn apply(space: &Space, op: &Op, outbox: &Outbox) {
    // Errors (a text edit out of range after a concurrent delete...) are fine: the point is
    // that whatever happened converges.
    let _ = match op {
        Op::AddTask(t) => space.add_task(t).map(|_| ()),
        Op::AddObject(k) => space.add(Some(&format!("T{k}")), Map::from_iter([("k".to_owned(), json!(k))])).map(|_| ()),
        Op::SetProp(i, k, v) => match pick(space, *i) {
            Some(id) => space.update(&id, Map::from_iter([(k.clone(), json!(v))])),
            None => Ok(()),
        },
        Op::AddText(i) => match pick(space, *i) {
            Some(id) => space.set_text(&id, "text", "hello"),
            None => Ok(()),
        },
        Op::EditText(i, p, d, s) => match pick(space, *i) {
            Some(id) => {
                let len = space.text(&id, "text").map(|t| t.len()).unwrap_or(0);
                let p = if len == 0 { 0 } else { p % (len + 1) };
                space.edit_text(&id, "text", p as u32, (*d).min(len - p) as u32, s)
            }
            None => Ok(()),
        },
        Op::Delete(i) => pick(space, *i).map(|id| space.delete(&id)).unwrap_or(Ok(())),
        Op::Restore(i) => pick(space, *i).map(|id| space.restore(&id)).unwrap_or(Ok(())),
        Op::Move(i, to) => {
            let tasks = space.tasks();
            if tasks.is_empty() { Ok(()) } else { space.move_task(&tasks[i % tasks.len()].0, *to) }
        }
        Op::Complete(i, b) => {
            let tasks = space.tasks();
            if tasks.is_empty() { Ok(()) } else { space.set_task_completed(&tasks[i % tasks.len()].0, *b).map(|_| ()) }
        }
        Op::Deliver(m) => {
            let msg = {
                let out = outbox.lock().unwrap_or_else(|e| e.into_inner());
                (!out.is_empty()).then(|| out[m % out.len()].clone())
            };
            match msg {
                Some(u) => space.apply_update(&u, 1),
                None => Ok(()),
            }
        }
    };
}

/// An object as a reader sees it: id, typename, deleted flag, properties.
type ObjectView = (String, Option<String>, bool, Value);

/// Everything a reader sees: every object (deleted too) as JSON, and the task order.
fn view(space: &Space) -> (Vec<ObjectView>, Vec<String>) {
    let objects = space
        .query(&Query::all().include_deleted())
        .into_iter()
        .map(|o| (o.id.to_string(), o.typename, o.deleted, Value::Object(o.data)))
        .collect();
    let tasks = space.tasks().into_iter().map(|(id, _)| id.to_string()).collect();
    (objects, tasks)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge(n in 2usize..=4, ops in prop::collection::vec((0usize..4, op()), 1..60), order in any::<u64>()) {
        let id = KeyPair::generate().public();
        let outbox: Outbox = Arc::default();
        let mut replicas = Vec::new();
        let mut listeners = Vec::new();
        for _ in 0..n {
            let s = Space::in_memory(id, SpaceOptions { undo: false, ..SpaceOptions::default() })
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let out = outbox.clone();
            listeners.push(s.on_update(move |u, origin| {
                if origin == UpdateOrigin::Local {
                    out.lock().unwrap_or_else(|e| e.into_inner()).push(u.to_vec());
                }
            }));
            replicas.push(s);
        }
        for (who, op) in &ops {
            apply(&replicas[who % n], op, &outbox);
        }
        // Final delivery: every message to every replica, in a shuffled order, some twice.
        // Moves made while syncing may emit more messages: repeat until quiet.
        let mut seed = order | 1;
        let mut delivered = 0;
        loop {
            let msgs: Vec<Vec<u8>> = outbox.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if msgs.len() == delivered && delivered > 0 {
                break;
            }
            delivered = msgs.len();
            for r in &replicas {
                let mut idx: Vec<usize> = (0..msgs.len()).chain(0..msgs.len() / 3).collect();
                for i in (1..idx.len()).rev() {
                    seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
                    idx.swap(i, (seed as usize) % (i + 1));
                }
                for i in idx {
                    r.apply_update(&msgs[i], 1).map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
            }
            if msgs.is_empty() {
                break;
            }
        }
        let first = view(&replicas[0]);
        for r in &replicas[1..] {
            prop_assert_eq!(&view(r), &first);
        }
    }
}
