//! Crash safety: a child process writes in a loop and is killed with SIGKILL, many times; the
//! store always reopens and holds everything the child had flushed.
//!
//! The child is this same test binary, started with `DXOS_CRASH_CHILD` set.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const CHILD_ENV: &str = "DXOS_CRASH_CHILD";

/// In the child: append tasks forever, printing the count after each flush.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let echo = common::open(std::path::Path::new(&path));
    let space = match echo.find_space("crash") {
        Ok(s) => s,
        Err(_) => common::new_space(&echo, "crash"),
    };
    let mut n = space.tasks().len();
    loop {
        for _ in 0..7 {
            if space.add_task(&format!("t{n}")).is_err() {
                return;
            }
            n += 1;
        }
        if echo.flush().is_err() {
            return;
        }
        println!("flushed {n}");
    }
}

#[test]
fn sigkill_loses_nothing_flushed() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("crash.redb");
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let mut flushed = 0usize;
    for round in 0..20u64 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn child: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut lines = BufReader::new(stdout).lines();
        // Wait for a few flushes (a different number each round), then kill mid-write.
        let wanted = 1 + round % 5;
        let mut seen = 0;
        while seen < wanted {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(n) = line.strip_prefix("flushed ") {
                        flushed = n.trim().parse().unwrap_or_else(|e| panic!("{line}: {e}"));
                        seen += 1;
                    }
                }
                _ => panic!("child stopped early in round {round}"),
            }
        }
        child.kill().unwrap_or_else(|e| panic!("kill: {e}"));
        let _ = child.wait();

        let echo = common::open(&path);
        let space = echo.find_space("crash").unwrap_or_else(|e| panic!("round {round}: {e}"));
        let titles: Vec<String> = space.tasks().into_iter().map(|(_, t)| t.title).collect();
        assert!(titles.len() >= flushed, "round {round}: {} tasks, {flushed} flushed", titles.len());
        for (i, t) in titles.iter().enumerate().take(flushed) {
            assert_eq!(t, &format!("t{i}"), "round {round}");
        }
    }
    assert!(flushed >= 20, "the child made progress: {flushed}");
}
