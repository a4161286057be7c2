//! One API, two backends: the same typed calls give the same answers in-process and through
//! the owner's socket (and, with no owner, on the store opened per call); streams work
//! through both; a message of another protocol version gets a clear error.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use dxos_client::owner::Owner;
use dxos_client::*;

type Res = std::result::Result<(), Box<dyn std::error::Error>>;

fn profile(dir: &tempfile::TempDir) -> std::result::Result<Profile, ClientError> {
    Profile::new(Some(dir.path().join("p")))
}

/// Exercises the calls on `client` (identity made already), returning what they answered.
fn exercise(client: &Client, space: &str) -> std::result::Result<Vec<String>, ClientError> {
    let mut seen = Vec::new();
    let t = client.add_task(space, "Milk")?;
    assert_eq!(t.title, "Milk");
    let t = client.set_task_done(space, &t.id, true)?;
    assert!(t.completed);
    let t = client.rename_task(space, &t.id, "Oat milk")?;
    let mut data = serde_json::Map::new();
    data.insert("n".into(), serde_json::json!(3));
    let id = client.add_object(space, "test/Thing", data)?;
    let o = client.object(space, &id)?;
    assert_eq!(o.typename.as_deref(), Some("test/Thing"));
    let found = client.query(space, Some("test/Thing"), vec![("n".into(), serde_json::json!(3))])?;
    assert_eq!(found.len(), 1);
    seen.push(format!("{:?}", client.tasks(space)?.iter().map(|t| (&t.title, t.completed)).collect::<Vec<_>>()));
    client.remove_task(space, &t.id)?;
    client.remove_object(space, &id)?;
    seen.push(format!("{}", client.tasks(space)?.len()));
    let members = client.members(space)?;
    seen.push(format!("{:?}", members.iter().map(|m| (&m.display_name, m.role, m.online)).collect::<Vec<_>>()));
    // A typed error, the same kind either way.
    let e = client.tasks("no such space").err().map(|e| e.kind());
    seen.push(format!("{e:?}"));
    let e = client.add_task(space, "  ").err().map(|e| e.kind());
    seen.push(format!("{e:?}"));
    Ok(seen)
}

#[test]
fn the_same_calls_answer_the_same_in_process_and_over_the_socket() -> Res {
    let dir = tempfile::tempdir()?;
    let profile = profile(&dir)?;
    let (owner, _events) = Owner::start(Local::open(&profile)?, OwnerRole::Serve)?;
    let here = Client::in_process(owner.local().clone());
    let there = Client::open(profile.clone());
    // Made through the socket, seen in-process.
    let me = there.create_identity("Ada")?;
    assert_eq!(here.identity()?.map(|i| i.identity_key), Some(me.identity_key));
    let a = there.create_space("Over the socket")?;
    let b = here.create_space("In process")?;
    let over = exercise(&there, &a.id.to_string())?;
    let local = exercise(&here, &b.id.to_string())?;
    assert_eq!(over, local);
    assert_eq!(over[3], "Some(NotFound)");
    assert_eq!(over[4], "Some(InvalidInput)");
    let names = |c: &Client| c.spaces().map(|s| s.into_iter().map(|s| s.name).collect::<Vec<_>>());
    assert_eq!(names(&here)?, names(&there)?);
    assert_eq!(here.status()?, there.status()?);

    // A watch streams through the socket: the current result, then each change.
    let watch = there.watch("Over the socket", Some("dxos.org/type/Task"));
    let first = watch.recv_timeout(Duration::from_secs(10))?.ok_or("no first result")??;
    assert!(first.objects.is_empty());
    here.add_task(&a.id.to_string(), "Bread")?;
    let next = watch.recv_timeout(Duration::from_secs(10))?.ok_or("no change")??;
    assert_eq!(next.objects.len(), 1);
    assert_eq!(next.objects[0].data.get("title"), Some(&serde_json::json!("Bread")));
    drop(watch);
    drop(here);
    owner.stop()?;

    // With no owner, each call opens the store for its length.
    let after = Client::open(profile);
    assert_eq!(after.tasks("Over the socket")?.len(), 1);
    Ok(())
}

#[test]
fn a_caller_of_another_protocol_version_is_told_so() -> Res {
    let dir = tempfile::tempdir()?;
    let profile = profile(&dir)?;
    let (owner, _events) = Owner::start(Local::open(&profile)?, OwnerRole::Serve)?;
    // A caller of the first protocol: no version stamp.
    let mut s = UnixStream::connect(profile.socket_path())?;
    s.write_all(b"{\"op\":\"status\"}\n")?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    let e = dxos_client::wire::decode_reply(&line).err().ok_or("no error")?;
    assert!(e.to_string().contains("protocol version 1"), "{e}");
    assert!(e.to_string().contains("same version of dxos"), "{e}");
    owner.stop()?;
    Ok(())
}

#[test]
fn streams_end_with_their_error() -> Res {
    let dir = tempfile::tempdir()?;
    let local = Arc::new(Local::open(&profile(&dir)?)?);
    let client = Client::in_process(local);
    // No identity: the watch's only item is the error, then the stream ends.
    let watch = client.watch("anything", None);
    let item = watch.recv_timeout(Duration::from_secs(10))?.ok_or("nothing came")?;
    assert_eq!(item.err().map(|e| e.kind()), Some(ErrorKind::NoIdentity));
    assert!(watch.recv_timeout(Duration::from_secs(10)).is_err(), "the stream ended");
    // A malformed invitation fails at once, changing nothing.
    let join = client.join("DXOS:NOTANINVITATION", None);
    let item = join.recv_timeout(Duration::from_secs(10))?.ok_or("nothing came")?;
    assert_eq!(item.err().map(|e| e.kind()), Some(ErrorKind::InvalidInput));
    assert!(client.identity()?.is_none());
    Ok(())
}
