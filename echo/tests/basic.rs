//! Spaces, objects, values, queries, subscriptions, undo and interop, through the public API.

mod common;

use std::sync::{Arc, Mutex};

use dxos_echo::object::reference;
use dxos_echo::{Change, Direction, EchoError, Filter, Query, Task, TypedObject, UpdateOrigin};
use dxos_halo::KeyPair;
use serde_json::{Map, Value, json};
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, Map as _, ReadTxn, Transact, Update};

type R = Result<(), EchoError>;

/// An update an update listener saw, with its origin.
type Seen = (Vec<u8>, UpdateOrigin);

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn spaces_create_list_rename_delete_restore() -> R {
    let dir = tmp();
    let echo = common::open(&dir.path().join("s.redb"));
    let a = common::new_space(&echo, "Alpha");
    let b = common::new_space(&echo, "Beta");
    let names: Vec<String> = echo.spaces(false)?.into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["Alpha", "Beta"]);
    a.rename("Gamma")?;
    assert_eq!(a.name(), "Gamma");
    assert_eq!(echo.find_space("Gamma")?.id(), a.id());
    assert_eq!(echo.find_space(&b.id().to_string())?.id(), b.id());
    assert!(matches!(echo.find_space("nope"), Err(EchoError::SpaceNotFound(_))));
    assert!(matches!(echo.space(&KeyPair::generate().public()), Err(EchoError::SpaceNotFound(_))));
    assert!(matches!(echo.create_space(a.id(), "again"), Err(EchoError::SpaceExists(_))));
    a.set_property("color", json!("blue"))?;
    assert_eq!(a.property("color")?, Some(json!("blue")));

    echo.delete_space(&b.id())?;
    assert_eq!(echo.spaces(false)?.len(), 1);
    assert_eq!(echo.spaces(true)?.len(), 2);
    assert!(echo.find_space("Beta").is_err());
    echo.restore_space(&b.id())?;
    assert_eq!(echo.spaces(false)?.len(), 2);
    // Two spaces of one name: the name is ambiguous, the id still works.
    common::new_space(&echo, "Beta");
    assert!(matches!(echo.find_space("Beta"), Err(EchoError::InvalidValue(_))));
    Ok(())
}

#[test]
fn objects_typed_and_dynamic() -> R {
    let dir = tmp();
    let echo = common::open(&dir.path().join("s.redb"));
    let s = common::new_space(&echo, "S");
    let id = s.add_typed(&Task { title: "Milk".into(), completed: false, order: None })?;
    let t: Task = s.get_typed(&id)?;
    assert_eq!(t.title, "Milk");
    s.update_typed(&id, &Task { completed: true, ..t })?;
    assert!(s.get_typed::<Task>(&id)?.completed);

    let data = obj(json!({"name": "Ada", "age": 36, "tags": ["x", "y"], "address": {"city": "London"}}));
    let p = s.add(Some("example.com/Person"), data.clone())?;
    let got = s.get(&p)?;
    assert_eq!(got.typename.as_deref(), Some("example.com/Person"));
    assert_eq!(got.data, data);
    assert!(matches!(s.get_typed::<Task>(&p), Err(EchoError::WrongType { .. })));
    s.update(&p, obj(json!({"age": 37})))?;
    assert_eq!(s.get(&p)?.data["age"], json!(37));
    assert_eq!(s.get(&p)?.data["name"], json!("Ada"));
    s.remove_property(&p, "tags")?;
    assert!(!s.get(&p)?.data.contains_key("tags"));

    // Untyped objects stay reachable as maps.
    let u = s.add(None, obj(json!({"k": 1})))?;
    assert_eq!(s.get(&u)?.typename, None);

    // References: a dangling one reads as missing, never panics.
    let r = s.add(None, obj(json!({"friend": reference(&p), "ghost": reference("no-such-id")})))?;
    let o = s.get(&r)?;
    let friend = dxos_echo::object::as_reference(&o.data["friend"]).map(str::to_owned);
    assert_eq!(friend.as_deref(), Some(&*p));
    let ghost = dxos_echo::object::as_reference(&o.data["ghost"]).map(str::to_owned);
    assert!(matches!(s.get(ghost.as_deref().unwrap_or_default()), Err(EchoError::ObjectNotFound(_))));

    // Soft delete and restore.
    s.delete(&p)?;
    assert!(s.get(&p)?.deleted);
    assert!(s.query(&Query::typename("example.com/Person")).is_empty());
    assert_eq!(s.query(&Query::typename("example.com/Person").include_deleted()).len(), 1);
    s.restore(&p)?;
    assert_eq!(s.query(&Query::typename("example.com/Person")).len(), 1);

    // Errors for unknown ids and reserved keys, and nothing changes.
    assert!(matches!(s.update("nope", obj(json!({"a": 1}))), Err(EchoError::ObjectNotFound(_))));
    assert!(matches!(s.delete("nope"), Err(EchoError::ObjectNotFound(_))));
    assert!(matches!(s.update(&p, obj(json!({"@deleted": true}))), Err(EchoError::InvalidValue(_))));
    assert!(!s.get(&p)?.deleted);
    Ok(())
}

#[test]
fn collaborative_text() -> R {
    let dir = tmp();
    let echo = common::open(&dir.path().join("s.redb"));
    let s = common::new_space(&echo, "S");
    let id = s.add(Some("dxos.org/type/Note"), Map::new())?;
    s.set_text(&id, "body", "hello")?;
    s.edit_text(&id, "body", 5, 0, " world")?;
    s.edit_text(&id, "body", 0, 1, "H")?;
    assert_eq!(s.text(&id, "body")?, "Hello world");
    assert_eq!(s.get(&id)?.data["body"], json!("Hello world"));
    assert!(matches!(s.edit_text(&id, "body", 50, 0, "x"), Err(EchoError::InvalidValue(_))));
    assert!(matches!(s.edit_text(&id, "nope", 0, 0, "x"), Err(EchoError::InvalidValue(_))));
    assert_eq!(s.text(&id, "body")?, "Hello world");
    // Concurrent edits merge character by character.
    let other = common::new_space(&echo, "copy");
    other.import(&s.export()?)?;
    s.edit_text(&id, "body", 0, 0, ">> ")?;
    other.edit_text(&id, "body", 11, 0, "!")?;
    s.import(&other.export()?)?;
    other.import(&s.export()?)?;
    assert_eq!(s.text(&id, "body")?, ">> Hello world!");
    assert_eq!(other.text(&id, "body")?, ">> Hello world!");
    Ok(())
}

#[test]
fn queries() -> R {
    let dir = tmp();
    let echo = common::open(&dir.path().join("s.redb"));
    let s = common::new_space(&echo, "S");
    for (i, name) in ["d", "a", "c", "b"].iter().enumerate() {
        s.add(Some("T"), obj(json!({"name": name, "n": i, "tags": [format!("t{}", i % 2)]})))?;
    }
    s.add(Some("U"), obj(json!({"name": "other"})))?;
    s.add(Some("T"), obj(json!({"n": 10})))?; // no name
    let names = |q: &Query| -> Vec<Value> {
        s.query(q).into_iter().map(|o| o.data.get("name").cloned().unwrap_or(Value::Null)).collect()
    };
    let t = || Query::typename("T");
    assert_eq!(s.query(&t()).len(), 5);
    assert_eq!(s.query(&Query::all()).len(), 6);
    assert_eq!(names(&t().filter(Filter::Eq("name".into(), json!("a")))), [json!("a")]);
    assert_eq!(s.query(&t().filter(Filter::Neq("name".into(), json!("a")))).len(), 4);
    assert_eq!(s.query(&t().filter(Filter::Lt("n".into(), json!(2)))).len(), 2);
    assert_eq!(s.query(&t().filter(Filter::Gt("n".into(), json!(2)))).len(), 2);
    assert_eq!(s.query(&t().filter(Filter::Contains("tags".into(), json!("t1")))).len(), 2);
    assert_eq!(s.query(&t().filter(Filter::In("name".into(), vec![json!("a"), json!("b")]))).len(), 2);
    let or = Filter::Or(vec![Filter::Eq("name".into(), json!("a")), Filter::Eq("n".into(), json!(10))]);
    assert_eq!(s.query(&t().filter(or.clone())).len(), 2);
    assert_eq!(s.query(&t().filter(Filter::Not(Box::new(or)))).len(), 3);
    assert_eq!(
        names(&t().order_by("name", Direction::Ascending)),
        [json!("a"), json!("b"), json!("c"), json!("d"), Value::Null]
    );
    assert_eq!(names(&t().order_by("name", Direction::Descending).limit(2)), [json!("d"), json!("c")]);
    assert!(s.query(&Query::typename("none")).is_empty());
    Ok(())
}

#[test]
fn subscriptions_fire_for_local_and_remote_changes() -> R {
    let dir = tmp();
    let echo = common::open(&dir.path().join("s.redb"));
    let s = common::new_space(&echo, "S");
    let peer = common::new_space(&echo, "peer");
    let log: Arc<Mutex<Vec<Change>>> = Arc::default();
    let l = log.clone();
    let sub = s
        .subscribe(Query::typename(Task::TYPENAME).filter(Filter::Eq("completed".into(), json!(false))), move |c| {
            l.lock().unwrap_or_else(|e| e.into_inner()).push(c.clone())
        });
    let take = || std::mem::take(&mut *log.lock().unwrap_or_else(|e| e.into_inner()));

    let (a, _) = s.add_task("a")?;
    assert_eq!(take(), [Change { added: vec![a.clone()], ..Change::default() }]);
    s.rename_task(&a, "A")?;
    assert_eq!(take(), [Change { updated: vec![a.clone()], ..Change::default() }]);
    s.add(Some("Other"), Map::new())?;
    assert!(take().is_empty(), "a change outside the query is not reported");
    s.set_task_completed(&a, true)?;
    assert_eq!(take(), [Change { removed: vec![a.clone()], ..Change::default() }]);
    assert!(sub.is_empty());

    // A remote change (a peer's update applied from outside).
    peer.import(&s.export()?)?;
    let (b, _) = peer.add_task("from peer")?;
    s.apply_update(&peer.diff(&s.state_vector()?)?, 7)?;
    assert_eq!(take(), [Change { added: vec![b.clone()], ..Change::default() }]);
    assert_eq!(sub.ids(), vec![b.clone()]);

    // One object.
    let seen = Arc::new(Mutex::new(0));
    let sn = seen.clone();
    let osub = s.subscribe_object(&a, move |_| *sn.lock().unwrap_or_else(|e| e.into_inner()) += 1);
    s.delete(&a)?;
    s.restore(&a)?;
    s.rename_task(&b, "b2")?;
    assert_eq!(*seen.lock().unwrap_or_else(|e| e.into_inner()), 2);
    assert_eq!(osub.ids(), vec![a.clone()]);

    assert_eq!(take(), [Change { updated: vec![b.clone()], ..Change::default() }]);
    // Dropping unsubscribes; subscriptions work across threads.
    drop(sub);
    let s2 = s.clone();
    std::thread::spawn(move || s2.add_task("thread")).join().map_err(|_| EchoError::Closed)??;
    assert!(take().is_empty());
    Ok(())
}

#[test]
fn update_stream_and_origins() -> R {
    let dir = tmp();
    let echo = common::open(&dir.path().join("s.redb"));
    let s = common::new_space(&echo, "S");
    let peer = common::new_space(&echo, "peer");
    let got: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let g = got.clone();
    let listener = s.on_update(move |u, o| g.lock().unwrap_or_else(|e| e.into_inner()).push((u.to_vec(), o)));
    s.add_task("x")?;
    peer.add_task("y")?;
    s.apply_update(&peer.export()?, 3)?;
    let got_now = got.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(got_now.len(), 2);
    assert_eq!(got_now[0].1, UpdateOrigin::Local);
    assert_eq!(got_now[1].1, UpdateOrigin::Remote(3));
    // Local updates alone rebuild the local changes on a fresh replica.
    let fresh = common::new_space(&echo, "fresh");
    fresh.import(&got_now[0].0)?;
    assert_eq!(fresh.tasks().len(), 1);
    drop(listener);
    s.add_task("z")?;
    assert_eq!(got.lock().unwrap_or_else(|e| e.into_inner()).len(), 2);
    Ok(())
}

#[test]
fn undo_redo_groups_local_changes_only() -> R {
    let dir = tmp();
    let echo = common::open(&dir.path().join("s.redb"));
    let s = common::new_space(&echo, "S");
    assert!(!s.undo(), "no history is kept until asked for");
    s.enable_undo()?;
    let (id, _) = s.add_task("a")?;
    s.undo_boundary();
    s.rename_task(&id, "ab")?;
    s.rename_task(&id, "abc")?; // same group (within the capture time)
    s.undo_boundary();
    // A remote change is not undone.
    let peer = common::new_space(&echo, "peer");
    peer.import(&s.export()?)?;
    peer.add_task("remote")?;
    s.apply_update(&peer.diff(&s.state_vector()?)?, 1)?;
    assert!(s.undo());
    assert_eq!(s.get_typed::<Task>(&id)?.title, "a");
    assert_eq!(s.tasks().len(), 2);
    assert!(s.redo());
    assert_eq!(s.get_typed::<Task>(&id)?.title, "abc");
    assert!(s.undo());
    assert!(s.undo());
    // Undoing the add removes the task; the peer's task stays.
    assert!(matches!(s.get(&id), Err(EchoError::ObjectNotFound(_))));
    assert_eq!(s.tasks().iter().map(|(_, t)| t.title.as_str()).collect::<Vec<_>>(), ["remote"]);
    Ok(())
}

#[test]
fn export_is_a_plain_yjs_update() -> R {
    let dir = tmp();
    let echo = common::open(&dir.path().join("s.redb"));
    let s = common::new_space(&echo, "Plain");
    let (id, _) = s.add_task("Milk")?;
    let update = s.export()?;
    // A raw yrs document (any Yjs client) reads it with no ECHO code.
    let doc = Doc::new();
    {
        let mut txn = doc.transact_mut();
        let u = Update::decode_v1(&update).map_err(|e| EchoError::MalformedUpdate(e.to_string()))?;
        txn.apply_update(u).map_err(|e| EchoError::MalformedUpdate(e.to_string()))?;
    }
    let txn = doc.transact();
    let objects = txn.get_map("objects").ok_or(EchoError::Closed)?;
    let Some(yrs::Out::YMap(task)) = objects.get(&txn, &id) else { panic!("no task map") };
    assert_eq!(task.get(&txn, "title").map(|v| v.to_string(&txn)), Some("Milk".to_owned()));
    assert_eq!(task.get(&txn, "@type").map(|v| v.to_string(&txn)), Some(Task::TYPENAME.to_owned()));
    let space = txn.get_map("space").ok_or(EchoError::Closed)?;
    assert_eq!(space.get(&txn, "name").map(|v| v.to_string(&txn)), Some("Plain".to_owned()));
    drop(txn);

    // And an object written by another Yjs client, missing optional fields, still reads.
    let other = Doc::new();
    let objects = other.get_or_insert_map("objects");
    let text = other.get_or_insert_text("unrelated");
    {
        let mut txn = other.transact_mut();
        objects.insert(&mut txn, "foreign-id-1", yrs::MapPrelim::from([("@type", Task::TYPENAME)]));
        yrs::Text::insert(&text, &mut txn, 0, "x");
    }
    s.import(&other.transact().encode_state_as_update_v1(&yrs::StateVector::default()))?;
    let t: Task = s.get_typed("foreign-id-1")?;
    assert_eq!(t, Task::default());
    assert_eq!(s.tasks().last().map(|(i, _)| i.to_string()), Some("foreign-id-1".to_owned()));
    let _ = text.get_string(&other.transact());
    Ok(())
}

#[test]
fn hostile_bytes_change_nothing() -> R {
    let dir = tmp();
    let echo = common::open(&dir.path().join("s.redb"));
    let s = common::new_space(&echo, "S");
    s.add_task("keep")?;
    let before = s.export()?;
    let valid = {
        let peer = common::new_space(&echo, "peer");
        peer.add_task("other")?;
        peer.export()?
    };
    let mut rng = 0x2545F4914F6CDD1Du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut refused = 0;
    for i in 0..600 {
        let bytes: Vec<u8> = if i % 2 == 0 {
            (0..(next() % 64)).map(|_| next() as u8).collect()
        } else {
            let mut v = valid.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % v.len();
                v[at] = next() as u8;
            }
            v.truncate(v.len() - (next() as usize % 3));
            v
        };
        let probe = common::new_space(&echo, "probe");
        probe.import(&before)?;
        let sv = probe.state_vector()?;
        match probe.apply_update(&bytes, 9) {
            Err(EchoError::MalformedUpdate(_)) => {
                refused += 1;
                assert_eq!(probe.state_vector()?, sv, "a refused update changed the space");
            }
            Err(e) => panic!("unexpected error kind: {e}"),
            Ok(()) => {}
        }
        echo.delete_space(&probe.id())?;
    }
    assert!(refused > 150, "only {refused} refused");
    assert!(matches!(s.import(b"\xff\xff\xff"), Err(EchoError::MalformedUpdate(_))));
    assert!(matches!(s.diff(b"\xff\xff\xff\xff\xff"), Err(EchoError::MalformedUpdate(_))));
    assert_eq!(s.export()?, before);
    Ok(())
}
