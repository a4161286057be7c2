//! The `dxos` command line as a user runs it: CLI.md's data commands, exit codes and error
//! kinds, and "one owner per profile" across processes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

use common::*;

#[test]
fn documents_are_made_edited_in_place_read_and_deleted() {
    let dir = tmp();
    let p = new_profile(dir.path(), "profile");
    ok(&p, &["space", "create", "--name", "Notes"]);
    let d = ok(&p, &["doc", "new", "Notes", "Plan", "--text", "# Plan\nhello"]);
    assert_eq!(d["name"], "Plan");
    let id = d["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(ok(&p, &["doc", "list", "Notes"]), serde_json::json!([{"id": id, "name": "Plan"}]));
    // The content is collaborative text (a Y.Text), as other Yjs clients read it.
    let obj = ok(&p, &["object", "get", "Notes", &id]);
    assert_eq!(obj["type"], "dxos.org/type/Document");
    assert_eq!(obj["data"]["content"], "# Plan\nhello");
    // Positions count characters, not bytes: "é" and "😀" are one each.
    ok(&p, &["doc", "edit", "Notes", &id, "--at", "0", "--delete", "1", "--insert", "é😀"]);
    let e = ok(&p, &["doc", "edit", "Notes", &id, "--at", "2", "--insert", "!"]);
    assert_eq!(e["text"], "é😀! Plan\nhello");
    assert_eq!(ok(&p, &["doc", "cat", "Notes", &id])["text"], "é😀! Plan\nhello");
    // Bad input changes nothing.
    assert_eq!(
        fails(&p, &["doc", "edit", "Notes", &id, "--at", "99", "--insert", "x"]),
        (2, "invalid_input".to_owned())
    );
    assert_eq!(
        fails(&p, &["doc", "edit", "Notes", &id, "--at", "0", "--delete", "99"]),
        (2, "invalid_input".to_owned())
    );
    assert_eq!(fails(&p, &["doc", "new", "Notes", "  "]), (2, "invalid_input".to_owned()));
    let task = ok(&p, &["task", "add", "Notes", "not a doc"]);
    let task_id = task["id"].as_str().unwrap_or_default();
    assert_eq!(fails(&p, &["doc", "cat", "Notes", task_id]), (1, "not_found".to_owned()));
    assert_eq!(fails(&p, &["doc", "rm", "Notes", task_id]), (1, "not_found".to_owned()));
    assert_eq!(ok(&p, &["doc", "cat", "Notes", &id])["text"], "é😀! Plan\nhello");
    // A plain-string content written by another client is read, and then edited in place.
    let other = ok(
        &p,
        &[
            "object",
            "add",
            "Notes",
            "--type",
            "dxos.org/type/Document",
            "--data",
            r#"{"name": "JS", "content": "plain"}"#,
        ],
    );
    let other_id = other["id"].as_str().unwrap_or_default();
    assert_eq!(ok(&p, &["doc", "edit", "Notes", other_id, "--at", "5", "--insert", "!"])["text"], "plain!");
    // Deleted: gone from the list, and refused.
    assert_eq!(ok(&p, &["doc", "rm", "Notes", &id])["deleted"], true);
    assert_eq!(ok(&p, &["doc", "list", "Notes"]).as_array().map(Vec::len), Some(1));
    assert_eq!(fails(&p, &["doc", "cat", "Notes", &id]), (1, "not_found".to_owned()));
}

#[test]
fn data_commands_round_trip() {
    let dir = tmp();
    let p = new_profile(dir.path(), "profile");
    let space = ok(&p, &["space", "create", "--name", "Groceries"]);
    let id = space["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(id.len(), 64);
    assert_eq!(space["name"], "Groceries");
    let list = ok(&p, &["space", "list"]);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["objects"], 0);

    let milk = ok(&p, &["task", "add", "Groceries", "Milk"]);
    assert_eq!(milk["title"], "Milk");
    assert_eq!(milk["completed"], false);
    let milk_id = milk["id"].as_str().unwrap_or_default().to_owned();
    let eggs = ok(&p, &["task", "add", &id, "Eggs"]);
    let eggs_id = eggs["id"].as_str().unwrap_or_default().to_owned();
    let tasks = ok(&p, &["task", "list", "Groceries"]);
    assert_eq!(tasks.as_array().map(Vec::len), Some(2));
    assert_eq!(tasks[0]["title"], "Milk");
    assert_eq!(tasks[1]["title"], "Eggs");
    assert_eq!(ok(&p, &["task", "done", "Groceries", &milk_id])["completed"], true);
    assert_eq!(ok(&p, &["task", "undone", "Groceries", &milk_id])["completed"], false);
    assert_eq!(ok(&p, &["task", "rename", "Groceries", &milk_id, "Oat milk"])["title"], "Oat milk");
    assert_eq!(ok(&p, &["task", "rm", "Groceries", &eggs_id]), serde_json::json!({"id": eggs_id, "deleted": true}));
    assert_eq!(ok(&p, &["task", "list", "Groceries"]).as_array().map(Vec::len), Some(1));

    let obj =
        ok(&p, &["object", "add", "Groceries", "--type", "example.com/Note", "--data", r#"{"text": "hi", "n": 3}"#]);
    let oid = obj["id"].as_str().unwrap_or_default().to_owned();
    let got = ok(&p, &["object", "get", "Groceries", &oid]);
    assert_eq!(got["type"], "example.com/Note");
    assert_eq!(got["data"]["text"], "hi");
    let set = ok(&p, &["object", "set", "Groceries", &oid, "--data", r#"{"n": 4}"#]);
    assert_eq!(set["data"], serde_json::json!({"text": "hi", "n": 4}));
    let q = ok(&p, &["query", "Groceries", "--type", "example.com/Note", "--where", "n=4"]);
    assert_eq!(q[0]["id"], oid.as_str());
    assert_eq!(ok(&p, &["query", "Groceries", "--where", "text=hi"]).as_array().map(Vec::len), Some(1));
    assert_eq!(ok(&p, &["query", "Groceries", "--where", "n=5"]), serde_json::json!([]));
    assert_eq!(ok(&p, &["object", "rm", "Groceries", &oid])["deleted"], true);
    assert_eq!(fails(&p, &["object", "get", "Groceries", &oid]), (1, "not_found".to_owned()));

    assert_eq!(ok(&p, &["space", "rename", "Groceries", "Shopping"])["name"], "Shopping");
    assert_eq!(ok(&p, &["status"])["spaces"], 1);
    assert_eq!(ok(&p, &["space", "list"])[0]["objects"], 1);
}

#[test]
fn export_is_plain_yjs_and_import_merges() {
    use yrs::updates::decoder::Decode;
    use yrs::{Map, Transact};
    let dir = tmp();
    let p = new_profile(dir.path(), "profile");
    ok(&p, &["space", "create", "--name", "A"]);
    let t = ok(&p, &["task", "add", "A", "Read me"]);
    let file = dir.path().join("a.yjs");
    let out = dxos(&p, &["space", "export", "A", "--out", file.to_str().unwrap_or_default()]);
    assert!(out.status.success());
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{e}"));
    // Stdout without --out gives the same bytes.
    assert_eq!(dxos(&p, &["space", "export", "A"]).stdout, bytes);
    let doc = yrs::Doc::new();
    let objects = doc.get_or_insert_map("objects");
    let update = yrs::Update::decode_v1(&bytes).unwrap_or_else(|e| panic!("not a Yjs v1 update: {e}"));
    doc.transact_mut().apply_update(update).unwrap_or_else(|e| panic!("{e}"));
    assert!(objects.get(&doc.transact(), t["id"].as_str().unwrap_or_default()).is_some());

    // Import into another profile's space, from a file and from stdin.
    let q = new_profile(dir.path(), "other");
    ok(&q, &["space", "create", "--name", "B"]);
    assert_eq!(
        ok(&q, &["space", "import", "B", "--in", file.to_str().unwrap_or_default()]),
        serde_json::json!({"applied": true})
    );
    let space = ok(&q, &["space", "list"])[0]["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(ok(&q, &["task", "list", &space])[0]["title"], "Read me");
    let mut child = Command::new(BIN)
        .args(["--profile", q.to_str().unwrap_or_default(), "--json", "space", "import", &space])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("stdin"));
        stdin.write_all(b"definitely not yjs").unwrap_or_else(|e| panic!("{e}"));
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(2), "a malformed import exits 2");
    assert_eq!(ok(&q, &["task", "list", &space]).as_array().map(Vec::len), Some(1), "and changes nothing");
}

#[test]
fn misuse_exits_2_with_a_message() {
    let dir = tmp();
    let p = new_profile(dir.path(), "profile");
    ok(&p, &["space", "create", "--name", "S"]);
    let cases: &[&[&str]] = &[
        &["frobnicate"],
        &["space", "create"],
        &["space", "create", "--name", ""],
        &["task", "add", "S"],
        &["task", "add", "S", "   "],
        &["object", "add", "S", "--type", "T", "--data", "{not json"],
        &["object", "add", "S", "--type", "T", "--data", "[1,2]"],
        &["object", "add", "S", "--type", "T", "--data", r#"{"@type": "x"}"#],
        &["query", "S", "--where", "novalue"],
        &["space", "import", "S", "--in", "/no/such/file"],
        &["task", "list"],
        &["--bogus-flag", "status"],
    ];
    for args in cases {
        let (code, kind) = fails(&p, args);
        assert_eq!(code, 2, "{args:?}");
        assert!(kind == "usage" || kind == "invalid_input", "{args:?}: {kind}");
    }
    // Without --json the message is for people, on stderr.
    let out = dxos(&p, &["task", "add", "S", " "]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error:"));
    // Not found is exit 1.
    assert_eq!(fails(&p, &["task", "list", "nope"]), (1, "not_found".to_owned()));
    assert_eq!(fails(&p, &["task", "done", "S", "nope"]), (1, "not_found".to_owned()));
    assert_eq!(ok(&p, &["task", "list", "S"]), serde_json::json!([]), "misuse changed nothing");
}

/// A running `dxos --json ...` whose stdout lines arrive on a channel.
fn socket_of(p: &Path) -> PathBuf {
    p.join("dxos.sock")
}

#[test]
fn watch_sees_task_add_from_another_process() {
    let dir = tmp();
    let p = new_profile(dir.path(), "profile");
    ok(&p, &["space", "create", "--name", "S"]);
    let watch = Running::start(&p, &["watch", "S", "--type", "dxos.org/type/Task"]);
    let first = watch.next();
    assert_eq!(first["ids"], serde_json::json!([]));
    assert!(first["ts_ms"].as_u64().is_some_and(|t| t > 1_700_000_000_000));
    // Exactly the contract's keys: the objects people's output shows are not printed as JSON.
    let keys: Vec<&String> = first.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(keys, ["ids", "ts_ms"]);
    // The watcher is a temporary owner: the add goes through its socket.
    let t = ok(&p, &["task", "add", "S", "Milk"]);
    let id = t["id"].as_str().unwrap_or_default();
    let line = watch.next_with(id);
    assert_eq!(line["ids"], serde_json::json!([id]));
    // A rename of a result object is a change too.
    ok(&p, &["task", "rename", "S", id, "Oat milk"]);
    assert_eq!(watch.next()["ids"], serde_json::json!([id]));
}

#[test]
fn watch_shows_people_the_titles_and_done_state() {
    let dir = tmp();
    let p = new_profile(dir.path(), "profile");
    ok(&p, &["space", "create", "--name", "S"]);
    let milk = ok(&p, &["task", "add", "S", "Milk"]);
    let id = milk["id"].as_str().unwrap_or_default().to_owned();
    let watch = Running::start_text(&p, &["watch", "S", "--type", "dxos.org/type/Task"]);
    let line = |want: &str| -> String {
        loop {
            let l = watch.next();
            let l = l.as_str().unwrap_or_default().to_owned();
            if l.contains(want) {
                return l;
            }
        }
    };
    assert_eq!(line("task"), "1 task:");
    assert_eq!(line("Milk"), format!("  [ ] Milk  ({id})"));
    ok(&p, &["task", "done", "S", &id]);
    assert_eq!(line("Milk"), format!("  [x] Milk  ({id})"));
    ok(&p, &["task", "add", "S", "Eggs"]);
    assert_eq!(line("task"), "2 tasks:");
    assert_eq!(line("Milk"), format!("  [x] Milk  ({id})"));
    assert!(line("Eggs").starts_with("  [ ] Eggs  ("));
}

#[test]
fn serve_takes_over_from_a_temporary_owner() {
    let dir = tmp();
    let p = new_profile(dir.path(), "profile");
    ok(&p, &["space", "create", "--name", "S"]);
    let watch = Running::start(&p, &["watch", "S"]);
    watch.next();
    let mut serve = Running::start(&p, &["serve"]);
    let hello = serve.next();
    assert!(hello.get("peer_id").is_some() && hello["addrs"].is_array(), "{hello}");
    // A second owner is refused clearly, exit 1.
    let (code, kind) = fails(&p, &["serve"]);
    assert_eq!((code, kind.as_str()), (1, "denied"));
    // The watcher carries on as a client of serve.
    let t = ok(&p, &["task", "add", "S", "after handover"]);
    watch.next_with(t["id"].as_str().unwrap_or_default());
    // serve flushes on SIGTERM; the watcher becomes the owner again and still sees changes.
    assert_eq!(serve.signal("-TERM"), 0);
    let t2 = ok(&p, &["task", "add", "S", "after serve left"]);
    watch.next_with(t2["id"].as_str().unwrap_or_default());
    drop(watch);
    let titles: Vec<String> = ok(&p, &["task", "list", "S"])
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["title"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(titles, ["after handover", "after serve left"]);
}

#[test]
fn serve_flushes_on_sigint_and_stale_sockets_are_replaced() {
    let dir = tmp();
    let p = new_profile(dir.path(), "profile");
    ok(&p, &["space", "create", "--name", "S"]);
    let mut serve = Running::start(&p, &["serve"]);
    serve.next();
    for i in 0..20 {
        ok(&p, &["task", "add", "S", &format!("t{i}")]);
    }
    assert_eq!(serve.signal("-INT"), 0);
    assert!(!socket_of(&p).exists(), "the owner removed its socket");
    assert_eq!(ok(&p, &["task", "list", "S"]).as_array().map(Vec::len), Some(20));

    // A crashed owner leaves its socket behind: the next command is not fooled by it.
    let mut serve = Running::start(&p, &["serve"]);
    serve.next();
    // What the owner acknowledged is durable, even if it dies right after answering.
    ok(&p, &["task", "add", "S", "acknowledged before the crash"]);
    assert_eq!(serve.signal("-KILL"), -1);
    assert!(socket_of(&p).exists(), "a killed owner leaves a stale socket");
    assert_eq!(ok(&p, &["task", "list", "S"]).as_array().map(Vec::len), Some(21));
    let mut serve = Running::start(&p, &["serve"]);
    serve.next();
    ok(&p, &["task", "add", "S", "through the new owner"]);
    assert_eq!(serve.signal("-TERM"), 0);
    assert_eq!(ok(&p, &["task", "list", "S"]).as_array().map(Vec::len), Some(22));
}

#[test]
fn concurrent_short_commands_never_see_a_lock_error() {
    let dir = tmp();
    let p = new_profile(dir.path(), "profile");
    ok(&p, &["space", "create", "--name", "S"]);
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let p = p.clone();
            std::thread::spawn(move || {
                for j in 0..5 {
                    ok(&p, &["task", "add", "S", &format!("{i}-{j}")]);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap_or_else(|_| panic!("a command failed"));
    }
    assert_eq!(ok(&p, &["task", "list", "S"]).as_array().map(Vec::len), Some(30));
}

#[test]
fn long_profile_paths_put_the_socket_in_the_runtime_dir() {
    let dir = tmp();
    let p = new_profile(&dir.path().join("a-rather-long-folder-name-".repeat(5)), "profile");
    ok(&p, &["space", "create", "--name", "S"]);
    let watch = Running::start(&p, &["watch", "S"]);
    watch.next();
    let t = ok(&p, &["task", "add", "S", "x"]);
    watch.next_with(t["id"].as_str().unwrap_or_default());
    assert!(!socket_of(&p).exists());
}

const LOOPBACK: [&str; 4] = ["--listen", "/ip4/127.0.0.1/udp/0/webrtc-direct", "--listen", "/ip4/127.0.0.1/tcp/0"];

#[test]
fn two_serves_replicate_edits_made_through_their_sockets() {
    let dir = tmp();
    let (a, b) = two_devices(dir.path());
    let b_device = ok(&b, &["identity", "show"])["device_key"].clone();

    let mut args = vec!["serve", "--no-mdns"];
    args.extend(LOOPBACK);
    let serve_a = Running::start(&a, &args);
    let first = serve_a.next();
    let peer_id = first["peer_id"].as_str().unwrap_or_default().to_owned();
    let addrs: Vec<String> =
        first["addrs"].as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_owned)).collect();
    assert_eq!(addrs.len(), 2, "{first}");
    assert!(addrs.iter().all(|x| x.ends_with(&format!("/p2p/{peer_id}"))), "{first}");
    let webrtc = addrs.iter().find(|x| x.contains("/webrtc-direct/certhash/")).cloned().unwrap_or_default();
    let hash = certhash(&first["addrs"]);

    let mut args_b = args.clone();
    args_b.extend(["--peer", webrtc.as_str()]);
    let serve_b = Running::start(&b, &args_b);
    assert!(serve_b.next()["peer_id"].is_string());
    eventually("B shows A's task", || {
        dxos(&b, &["--json", "task", "list", "Shared"]).status.success() && titles(&b, "Shared") == ["milk"]
    });
    ok(&b, &["task", "add", "Shared", "eggs"]);
    eventually("A shows B's task", || titles(&a, "Shared") == ["milk", "eggs"]);

    let peers = ok(&a, &["peers"]);
    assert_eq!(peers.as_array().map(Vec::len), Some(1), "{peers}");
    assert_eq!(peers[0]["device_key"], b_device);
    assert_eq!(peers[0]["transport"], "webrtc-direct");
    // Pings go every second: the round trip shows once the first has come back.
    eventually("A's peers show B's ping round trip", || {
        ok(&a, &["peers"])[0]["rtt_ms"].as_f64().is_some_and(|ms| ms > 0.0 && ms < 3000.0)
    });
    let status = ok(&a, &["status"]);
    assert_eq!(status["peers"], 1);
    assert_eq!(status["addrs"].as_array().map(Vec::len), Some(2));
    let shown = ok(&a, &["identity", "show"]);
    assert!(
        shown["devices"].as_array().into_iter().flatten().any(|d| d["device_key"] == b_device && d["online"] == true)
    );
    // B's event lines tell the story.
    let mut seen = Vec::new();
    while let Ok(v) = serve_b.lines.recv_timeout(Duration::from_millis(500)) {
        seen.push(v["event"].as_str().unwrap_or_default().to_owned());
    }
    for e in ["connected", "same_identity", "verified", "synced"] {
        assert!(seen.iter().any(|s| s == e), "no {e} event in {seen:?}");
    }

    // A restarted keeps its WebRTC certificate: the same certhash, so stored addresses hold.
    drop(serve_a);
    let serve_a = Running::start(&a, &args);
    assert_eq!(certhash(&serve_a.next()["addrs"]), hash);
    drop((serve_a, serve_b));
    assert_eq!(ok(&a, &["peers"]), serde_json::json!([]), "no owner, no node, no peers");
}

#[test]
fn serve_refuses_a_bad_address() {
    let dir = tmp();
    let p = new_profile(dir.path(), "p");
    assert_eq!(fails(&p, &["serve", "--listen", "not-an-address"]), (2, "usage".to_owned()));
    assert_eq!(fails(&p, &["serve", "--peer", "/ip4/1.2.3.4/tcp/nope"]), (2, "usage".to_owned()));
}

#[test]
fn a_watcher_runs_the_node_and_finds_peers_from_stored_addresses() {
    let dir = tmp();
    let (a, b) = two_devices(dir.path());
    let mut args = vec!["serve", "--no-mdns"];
    args.extend(LOOPBACK);
    let serve_a = Running::start(&a, &args);
    let first = serve_a.next();
    let webrtc = first["addrs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .find(|x| x.contains("/webrtc-direct/"))
        .unwrap_or_default()
        .to_owned();
    // B meets A once through an explicit --peer, then stops (keeping A's addresses).
    let mut args_b = args.clone();
    args_b.extend(["--peer", webrtc.as_str()]);
    let mut serve_b = Running::start(&b, &args_b);
    serve_b.next();
    eventually("B syncs", || {
        dxos(&b, &["--json", "task", "list", "Shared"]).status.success() && titles(&b, "Shared") == ["milk"]
    });
    assert_eq!(serve_b.signal("-TERM"), 0);
    assert!(b.join("peers.json").exists(), "B kept the addresses of its peers");
    // `watch` on B is a temporary owner: it runs the node, which dials A from the stored
    // addresses, so A's edits reach the watcher.
    let watch = Running::start(&b, &["watch", "Shared"]);
    assert_eq!(watch.next()["ids"].as_array().map(Vec::len), Some(1));
    let eggs = ok(&a, &["task", "add", "Shared", "eggs"]);
    let id = eggs["id"].as_str().unwrap_or_default().to_owned();
    watch.next_with(&id);
}
