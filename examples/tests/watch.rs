//! The headless example runs: it prints a space's objects, then again when another process
//! adds one through the client, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use dxos_client::{Client, Profile};

#[test]
fn the_watch_example_prints_the_list_and_its_changes() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("p");
    let client = Client::open(Profile::new(Some(path.clone()))?);
    client.create_identity("Ada")?;
    let space = client.create_space("Groceries")?;
    client.add_task("Groceries", "Milk")?;

    let mut child = Command::new(env!("CARGO_BIN_EXE_watch"))
        .arg(&path)
        .arg("Groceries")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next = |what: &str| rx.recv_timeout(Duration::from_secs(30)).map_err(|_| format!("no line for {what}"));
    assert_eq!(next("the count")?, "1 objects");
    assert!(next("Milk")?.ends_with("dxos.org/type/Task Milk"));
    // Another process on the same profile: the watcher holds it, so this goes over its socket.
    client.add_task(&space.id.to_string(), "Bread")?;
    assert_eq!(next("the new count")?, "2 objects");
    let lines = [next("a task")?, next("a task")?];
    assert!(lines.iter().any(|l| l.ends_with(" Bread")), "{lines:?}");

    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status()?;
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if std::time::Instant::now() > deadline {
            child.kill()?;
            return Err("the watcher did not stop on SIGTERM".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(code.success(), "{code:?}");
    // It released the profile: a call opens the store again.
    assert_eq!(client.tasks("Groceries")?.len(), 2);
    Ok(())
}
