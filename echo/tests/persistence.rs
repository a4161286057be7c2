//! Reopening a store gives back everything flushed; snapshots compact the log; formats are checked.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dxos_echo::{Echo, EchoError, Query, SpaceOptions, Task, TypedObject};
use serde_json::json;

type R = Result<(), EchoError>;

#[test]
fn reopen_restores_everything_flushed() -> R {
    let dir = tempfile::tempdir().map_err(|e| EchoError::Storage(e.to_string()))?;
    let path = dir.path().join("profile.redb");
    let (id, task_id, before);
    {
        let echo = common::open(&path);
        let s = common::new_space(&echo, "Groceries");
        id = s.id();
        for i in 0..50 {
            s.add_task(&format!("item {i}"))?;
        }
        let (t, _) = s.add_task("last")?;
        task_id = t;
        s.set_task_completed(&task_id, true)?;
        let note = s.add(Some("Note"), serde_json::Map::new())?;
        s.set_text(&note, "body", "text survives")?;
        s.rename("Shopping")?;
        before = s.export()?;
        echo.flush()?;
    }
    let echo = common::open(&path);
    let list = echo.spaces(false)?;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "Shopping");
    assert_eq!(list[0].objects, 52);
    let s = echo.space(&id)?;
    assert_eq!(s.tasks().len(), 51);
    assert!(s.get_typed::<Task>(&task_id)?.completed);
    let mut a = yrs_state(&before);
    let mut b = yrs_state(&s.export()?);
    a.sort();
    b.sort();
    assert_eq!(a, b, "the reopened document holds the same content");

    // Subscriptions work after reopening.
    let fired = Arc::new(AtomicUsize::new(0));
    let f = fired.clone();
    let _sub = s.subscribe(Query::typename(Task::TYPENAME), move |_| {
        f.fetch_add(1, Ordering::SeqCst);
    });
    s.add_task("after reopen")?;
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    Ok(())
}

/// The JSON of every object of an exported space, for comparing content across replicas.
fn yrs_state(update: &[u8]) -> Vec<String> {
    use yrs::updates::decoder::Decode;
    use yrs::{Map, Transact};
    let doc = yrs::Doc::new();
    let objects = doc.get_or_insert_map("objects");
    if let Ok(u) = yrs::Update::decode_v1(update) {
        let _ = doc.transact_mut().apply_update(u);
    }
    let txn = doc.transact();
    objects.iter(&txn).map(|(k, v)| format!("{k}={}", dxos_echo::value::out_to_json(&txn, &v))).collect()
}

#[test]
fn snapshots_compact_the_log_and_reopen() -> R {
    let dir = tempfile::tempdir().map_err(|e| EchoError::Storage(e.to_string()))?;
    let path = dir.path().join("profile.redb");
    let options = SpaceOptions { snapshot_min_bytes: 4096, ..SpaceOptions::default() };
    let id;
    {
        let echo = common::open_with(&path, options.clone());
        let s = common::new_space(&echo, "Big");
        id = s.id();
        for i in 0..2000 {
            s.add_task(&format!("task {i}"))?;
        }
        echo.flush()?;
        // Far fewer log rows than writes remain: the log was compacted into snapshots.
        let rows = count_log_rows(echo.database())?;
        assert!(rows < 1000, "{rows} log rows after 2000 writes");
    }
    let echo = common::open_with(&path, options);
    let s = echo.space(&id)?;
    let tasks = s.tasks();
    assert_eq!(tasks.len(), 2000);
    assert_eq!(tasks[1999].1.title, "task 1999");
    Ok(())
}

fn count_log_rows(db: &redb::Database) -> Result<u64, EchoError> {
    use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};
    const LOG: TableDefinition<(&[u8], u64), &[u8]> = TableDefinition::new("echo_log");
    let txn = db.begin_read()?;
    Ok(txn.open_table(LOG)?.len()?)
}

#[test]
fn a_newer_format_is_refused_and_left_alone() -> R {
    use redb::TableDefinition;
    const META: TableDefinition<&str, u64> = TableDefinition::new("echo_meta");
    let dir = tempfile::tempdir().map_err(|e| EchoError::Storage(e.to_string()))?;
    let path = dir.path().join("profile.redb");
    {
        let db = redb::Database::create(&path)?;
        let txn = db.begin_write()?;
        txn.open_table(META)?.insert("format_version", 99)?;
        txn.commit()?;
    }
    let db = Arc::new(redb::Database::create(&path)?);
    match Echo::open(db) {
        Err(EchoError::FormatTooNew { found: 99, supported }) => {
            assert_eq!(supported, dxos_echo::store::FORMAT_VERSION)
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a newer format was opened"),
    }
    Ok(())
}

#[test]
fn deleted_space_stays_deleted_after_reopen() -> R {
    let dir = tempfile::tempdir().map_err(|e| EchoError::Storage(e.to_string()))?;
    let path = dir.path().join("profile.redb");
    let id;
    {
        let echo = common::open(&path);
        let s = common::new_space(&echo, "Gone");
        s.add(None, json!({"k": 1}).as_object().cloned().unwrap_or_default())?;
        id = s.id();
        echo.delete_space(&id)?;
    }
    let echo = common::open(&path);
    assert!(echo.spaces(false)?.is_empty());
    echo.restore_space(&id)?;
    assert_eq!(echo.find_space("Gone")?.len(), 1);
    Ok(())
}

#[test]
fn a_cleanly_closed_space_answers_from_materialized_rows_while_loading() -> R {
    let dir = tempfile::tempdir().map_err(|e| EchoError::Storage(e.to_string()))?;
    let path = dir.path().join("profile.redb");
    let id;
    let (note, deleted);
    {
        let echo = common::open(&path);
        let s = common::new_space(&echo, "Many");
        id = s.id();
        for i in 0..3000 {
            s.add_task(&format!("task {i}"))?;
        }
        note = s.add(None, json!({"k": [1, {"x": 2}]}).as_object().cloned().unwrap_or_default())?;
        s.set_text(&note, "body", "text")?;
        deleted = s.add(Some("T"), serde_json::Map::new())?;
        s.delete(&deleted)?;
    } // closing writes the materialized rows
    let echo = common::open(&path);
    let s = echo.space(&id)?;
    // Reads before the document is there (it may already be, on a fast machine).
    let early_tasks = s.tasks();
    let early_note = s.get(&note)?;
    let early_deleted = s.get(&deleted)?;
    let early_all = s.query(&Query::all().include_deleted());
    let fired = Arc::new(AtomicUsize::new(0));
    let f = fired.clone();
    let sub = s.subscribe(Query::typename(Task::TYPENAME), move |_| {
        f.fetch_add(1, Ordering::SeqCst);
    });
    // A write waits for the document, then works.
    s.add_task("while loading")?;
    assert!(!s.is_loading());
    assert_eq!(fired.load(Ordering::SeqCst), 1, "only the new task was reported");
    assert_eq!(sub.len(), 3001);
    let mut late_tasks = s.tasks();
    late_tasks.pop();
    assert_eq!(early_tasks, late_tasks);
    assert_eq!(early_note, s.get(&note)?);
    assert_eq!(early_note.data["body"], json!("text"));
    assert_eq!(early_deleted, s.get(&deleted)?);
    assert!(early_deleted.deleted);
    let mut late_all = s.query(&Query::all().include_deleted());
    late_all.retain(|o| o.data.get("title") != Some(&json!("while loading")));
    assert_eq!(early_all, late_all);
    Ok(())
}

#[test]
fn stale_materialized_rows_are_not_trusted() -> R {
    let dir = tempfile::tempdir().map_err(|e| EchoError::Storage(e.to_string()))?;
    let path = dir.path().join("profile.redb");
    let id;
    {
        let echo = common::open(&path);
        let s = common::new_space(&echo, "S");
        id = s.id();
        s.add_task("a")?;
    } // rows materialized here
    {
        let echo = common::open(&path);
        let s = echo.space(&id)?;
        s.add_task("b")?;
        echo.flush()?;
        // A crash now: the log has "b", the materialized rows do not.
        std::mem::forget(echo);
        std::mem::forget(s);
    }
    // The store is still held by the forgotten handle in this process, so copy the file as a
    // crashed process would have left it.
    let copy = dir.path().join("copy.redb");
    std::fs::copy(&path, &copy).map_err(|e| EchoError::Storage(e.to_string()))?;
    let echo = common::open(&copy);
    let s = echo.space(&id)?;
    assert!(!s.is_loading(), "stale rows: loaded from the log");
    let titles: Vec<String> = s.tasks().into_iter().map(|(_, t)| t.title).collect();
    assert_eq!(titles, ["a", "b"]);
    drop(s);
    drop(echo);
    // Closing rewrote the rows: the next open is fast again and agrees.
    let echo = common::open(&copy);
    let s = echo.space(&id)?;
    let titles: Vec<String> = s.tasks().into_iter().map(|(_, t)| t.title).collect();
    assert_eq!(titles, ["a", "b"]);
    Ok(())
}
