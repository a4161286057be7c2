//! Profiling aid: 100k task inserts, raw yrs beside ECHO's variants, in one process.
use std::time::Instant;

use dxos_echo::object::new_object_id;
use dxos_echo::{Space, SpaceOptions, Task, TypedObject};
use serde_json::{Map, Value};
use yrs::{Any, Doc, Map as _, MapPrelim, Transact};

fn main() {
    let n = 100_000;
    for round in 0..2 {
        let doc = Doc::with_options(yrs::Options { offset_kind: yrs::OffsetKind::Utf16, ..yrs::Options::default() });
        let objects = doc.get_or_insert_map("objects");
        let sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = sink.clone();
        let _ =
            doc.observe_update_v1("b", move |_, e| s2.lock().unwrap_or_else(|e| e.into_inner()).push(e.update.clone()));
        let t = Instant::now();
        for i in 0..n {
            let mut txn = doc.transact_mut();
            objects.insert(
                &mut txn,
                new_object_id(),
                MapPrelim::from([
                    ("@type", yrs::In::Any(Any::from(Task::TYPENAME))),
                    ("title", yrs::In::Any(Any::from(format!("Task {i}")))),
                    ("completed", yrs::In::Any(Any::from(false))),
                    ("order", yrs::In::Any(Any::from(format!("a{i}")))),
                ]),
            );
        }
        let base = t.elapsed();
        let s = Space::in_memory(
            dxos_halo::KeyPair::generate().public(),
            SpaceOptions { undo: false, ..SpaceOptions::default() },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let t = Instant::now();
        for i in 0..n {
            let m = Map::from_iter([
                ("title".to_owned(), Value::from(format!("Task {i}"))),
                ("completed".to_owned(), Value::from(false)),
                ("order".to_owned(), Value::from(format!("a{i}"))),
            ]);
            s.add(Some(Task::TYPENAME), m).unwrap_or_else(|e| panic!("{e}"));
        }
        let dynamic = t.elapsed();
        let s = Space::in_memory(dxos_halo::KeyPair::generate().public(), SpaceOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let t = Instant::now();
        for i in 0..n {
            let task = Task { title: format!("Task {i}"), completed: false, order: Some(format!("a{i}")) };
            s.add_typed(&task).unwrap_or_else(|e| panic!("{e}"));
        }
        let typed = t.elapsed();
        println!(
            "round {round}: raw {base:?}; echo dynamic (no undo) {dynamic:?} = {:.2}x; echo typed (undo) {typed:?} = {:.2}x",
            dynamic.as_secs_f64() / base.as_secs_f64(),
            typed.as_secs_f64() / base.as_secs_f64()
        );
    }
}
