//! Helpers for running `dxos` as a user does, shared by the CLI's test files.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub mod netlab;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_dxos");

pub fn dxos(profile: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--profile")
        .arg(profile)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run dxos: {e}"))
}

/// Runs a command with `--json` and parses its stdout; panics unless it exits 0.
pub fn ok(profile: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = dxos(profile, &all);
    assert!(out.status.success(), "dxos {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("dxos {args:?} printed no JSON ({e}): {:?}", out.stdout))
}

/// Runs a command with `--json` expecting failure; returns (exit code, error kind).
pub fn fails(profile: &Path, args: &[&str]) -> (i32, String) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = dxos(profile, &all);
    assert!(!out.status.success(), "dxos {args:?} should fail");
    assert!(out.stdout.is_empty(), "nothing on stdout for a failure");
    let err: Value = serde_json::from_slice(&out.stderr)
        .unwrap_or_else(|e| panic!("stderr not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert!(err["error"].as_str().is_some_and(|m| !m.is_empty()));
    (out.status.code().unwrap_or(-1), err["kind"].as_str().unwrap_or_default().to_owned())
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

/// A profile folder under `dir` with an identity.
pub fn new_profile(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    ok(&p, &["identity", "create", "--name", "Tester"]);
    p
}

pub struct Running {
    pub child: Child,
    pub lines: mpsc::Receiver<Value>,
}

impl Running {
    pub fn start(profile: &Path, args: &[&str]) -> Running {
        let mut cmd = Command::new(BIN);
        cmd.arg("--profile").arg(profile).arg("--json").args(args);
        Running::spawn(cmd)
    }

    /// Starts `dxos ARGS` on `profile` without `--json`: each line of its people's output
    /// arrives as a JSON string.
    pub fn start_text(profile: &Path, args: &[&str]) -> Running {
        let mut cmd = Command::new(BIN);
        cmd.arg("--profile").arg(profile).args(args);
        Running::spawn_with(cmd, true)
    }

    /// Runs `cmd` (a `dxos ... --json` command line, maybe wrapped) reading its JSON lines.
    pub fn spawn(cmd: Command) -> Running {
        Running::spawn_with(cmd, false)
    }

    /// Runs `cmd`, reading its stdout: JSON lines, or (`text`) every line as a JSON string.
    fn spawn_with(mut cmd: Command, text: bool) -> Running {
        // DXOS_TEST_LOGS=DIR keeps each process's log (RUST_LOG as set) in DIR.
        let stderr = match std::env::var_os("DXOS_TEST_LOGS") {
            Some(dir) => {
                static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path = Path::new(&dir).join(format!("{}-{n}.log", std::process::id()));
                std::fs::File::create(path).map(Stdio::from).unwrap_or_else(|_| Stdio::null())
            }
            None => Stdio::null(),
        };
        let mut child =
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr).spawn().unwrap_or_else(|e| panic!("{e}"));
        let stdout: ChildStdout = child.stdout.take().unwrap_or_else(|| panic!("stdout"));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v = if text { Some(Value::String(line)) } else { serde_json::from_str(&line).ok() };
                if let Some(v) = v
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
        });
        Running { child, lines }
    }

    /// The lines printed so far and not read yet, one per line (for a failure's message).
    pub fn unread(&self) -> String {
        self.lines.try_iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n")
    }

    pub fn next(&self) -> Value {
        self.lines.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|e| panic!("no line in 20 s: {e}"))
    }

    pub fn next_with(&self, id: &str) -> Value {
        loop {
            let v = self.next();
            if v["ids"].as_array().is_some_and(|a| a.iter().any(|x| x == id)) {
                return v;
            }
        }
    }

    pub fn signal(&mut self, sig: &str) -> i32 {
        let _ = Command::new("kill").args([sig, &self.child.id().to_string()]).status();
        self.child.wait().map(|s| s.code().unwrap_or(-1)).unwrap_or(-1)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` every 50 ms for up to 30 s.
pub fn eventually(what: &str, f: impl FnMut() -> bool) {
    if !within(Duration::from_secs(30), f) {
        panic!("not within 30 s: {what}");
    }
}

/// Polls `f` every 50 ms for up to `limit`; whether it held.
pub fn within(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub fn titles(p: &Path, space: &str) -> Vec<String> {
    ok(p, &["task", "list", space])
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["title"].as_str().map(str::to_owned))
        .collect()
}

pub fn certhash(addrs: &Value) -> Option<String> {
    addrs
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|a| a.split("/certhash/").nth(1).map(|rest| rest.split('/').next().unwrap_or_default().to_owned()))
}

/// A's profile with a space "Shared" holding the task "milk"; B a second device of A's
/// identity (recovered from its phrase), which knows neither A's device nor its addresses:
/// it learns the identity's spaces from A once they meet.
pub fn two_devices(dir: &Path) -> (PathBuf, PathBuf) {
    let a = new_profile(dir, "a");
    ok(&a, &["space", "create", "--name", "Shared"]);
    ok(&a, &["task", "add", "Shared", "milk"]);
    let phrase = ok(&a, &["identity", "phrase"])["phrase"].as_str().unwrap_or_default().to_owned();
    let b = dir.join("b");
    ok(&b, &["identity", "recover", "--phrase", &phrase]);
    (a, b)
}
