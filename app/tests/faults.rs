//! Faults a person's machine meets (issue "Faults"): the profile's owner killed again and
//! again while commands write through its socket. Every write that was acknowledged survives,
//! none is made twice (a command whose owner died before answering says so instead of trying
//! again), and the store opens every time.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::*;

/// What one writer saw: the titles acknowledged, and the calls the owner died in.
type Seen = (Vec<String>, usize);

/// Writers adding tasks to `space` on `profile` until `stop`.
fn writers(
    profile: &Path,
    space: &str,
    round: usize,
    n: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Seen>> {
    (0..n)
        .map(|w| {
            let (p, s, stop): (PathBuf, String, Arc<AtomicBool>) = (profile.to_owned(), space.to_owned(), stop.clone());
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut unanswered = 0;
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let title = format!("r{round}w{w}n{i}");
                    i += 1;
                    let out = dxos(&p, &["--json", "task", "add", &s, &title]);
                    // Exit 0 with the task's JSON is an acknowledgement; anything else (the
                    // owner died mid-call) is not, and the writer goes on.
                    if out.status.success()
                        && serde_json::from_slice::<serde_json::Value>(&out.stdout)
                            .is_ok_and(|v| v["title"] == title.as_str())
                    {
                        acked.push(title);
                    } else if String::from_utf8_lossy(&out.stderr).contains("stopped before answering") {
                        assert_eq!(out.status.code(), Some(1));
                        unanswered += 1;
                    } else {
                        panic!("task add failed: {}", String::from_utf8_lossy(&out.stderr));
                    }
                }
                (acked, unanswered)
            })
        })
        .collect()
}

#[test]
fn the_owner_killed_twenty_times_under_write_load_loses_no_acknowledged_write() {
    let dir = tmp();
    let p = new_profile(dir.path(), "p");
    ok(&p, &["space", "create", "--name", "S"]);
    let acked_all = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut unanswered = 0;
    let started = Instant::now();
    for round in 0..20 {
        // The store opens every time (the owner's first line says it serves).
        let mut serve = Running::start(&p, &["serve", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"]);
        let hello = serve.next();
        assert!(hello["peer_id"].is_string(), "round {round}: {hello}");
        let stop = Arc::new(AtomicBool::new(false));
        let handles = writers(&p, "S", round, 2, &stop);
        // Killed at a different moment each round, with writes in flight through the socket.
        std::thread::sleep(Duration::from_millis(150 + (round as u64 * 37) % 250));
        assert_eq!(serve.signal("-KILL"), -1, "round {round}: killed");
        stop.store(true, Ordering::SeqCst);
        for h in handles {
            let (acked, maybe) = h.join().unwrap_or_else(|_| panic!("a writer panicked"));
            acked_all.lock().unwrap_or_else(|e| e.into_inner()).extend(acked);
            unanswered += maybe;
        }
    }
    let acked = acked_all.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let list: Vec<String> = ok(&p, &["task", "list", "S"])
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["title"].as_str().map(str::to_owned))
        .collect();
    let titles: std::collections::HashSet<String> = list.iter().cloned().collect();
    let lost: Vec<&String> = acked.iter().filter(|t| !titles.contains(*t)).collect();
    println!(
        "20 SIGKILLs of the owner under write load: {} writes acknowledged, {} lost; {} tasks in the store ({} \
         distinct); {} calls told the owner died before answering ({:.1} s)",
        acked.len(),
        lost.len(),
        list.len(),
        titles.len(),
        unanswered,
        started.elapsed().as_secs_f64()
    );
    assert!(acked.len() >= 40, "the writers wrote ({} acknowledged)", acked.len());
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert_eq!(list.len(), titles.len(), "a write was made twice");
    // The only tasks not acknowledged are the calls the owner died in (made, or not).
    assert!(titles.len() - acked.len() <= unanswered, "{} unacknowledged tasks", titles.len() - acked.len());
}
