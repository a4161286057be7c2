//! Who holds the profile: a long call with no owner makes its process a temporary owner that
//! hands the profile over when the app or `serve` asks; the app or `serve` acquire it,
//! refusing when another of them holds it.

use super::*;
use crate::node::NetOptions;

/// Runs a watch: through the owner, or as a temporary owner that hands over when the app or
/// `serve` starts and then carries on through the new owner. `emit` gets each result; it
/// returns false to stop, as does `stop`.
pub fn watch(
    profile: &Profile,
    space: &str,
    typename: Option<&str>,
    stop: &dyn Fn() -> bool,
    mut emit: impl FnMut(WatchUpdate) -> bool,
) -> Result<()> {
    let mut last_ids: Option<Vec<String>> = None;
    // Passes a result on unless it is the first after a reconnection and nothing changed meanwhile.
    let mut out = |u: WatchUpdate, first: bool| -> bool {
        if first && last_ids.as_ref() == Some(&u.ids) {
            return true;
        }
        last_ids = Some(u.ids.clone());
        emit(u)
    };
    let deadline_busy = || Instant::now() + BUSY_TIMEOUT;
    let mut deadline = deadline_busy();
    // After handing over, leave the store to the new owner until its socket is up.
    let mut handed_over: Option<Instant> = None;
    let req = Request::Watch { space: space.to_owned(), typename: typename.map(str::to_owned) };
    while !stop() {
        if let Some(mut stream) = connect(profile)
            && write_request(&mut stream, &req)?
        {
            // Reads wake up this often to look at `stop`.
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let mut reader = BufReader::new(stream);
            let mut first = true;
            let mut line = String::new();
            loop {
                if stop() {
                    return Ok(());
                }
                match reader.read_line(&mut line) {
                    Ok(0) => break, // the owner left: find the next one
                    Ok(_) => {
                        match wire::decode_reply(&line)? {
                            Response::Watch(u) => {
                                if !out(u, first) {
                                    return Ok(());
                                }
                                first = false;
                            }
                            other => return Err(unexpected(&other)),
                        }
                        line.clear();
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => break,
                }
            }
            deadline = deadline_busy();
            handed_over = None;
            continue;
        }
        if handed_over.is_some_and(|t| t.elapsed() < HANDOVER_GRACE) {
            std::thread::sleep(RETRY);
            continue;
        }
        match Local::open(profile) {
            Ok(local) => {
                let (owner, events) = Owner::start(local, OwnerRole::Temporary)?;
                // A temporary owner runs the node too (docs/cli.md), so a watcher sees peers' edits.
                if owner.local().identity().is_some()
                    && let Err(e) = owner.local().start_node(&NetOptions::default())
                {
                    tracing::warn!("the network node did not start: {e}");
                }
                let handover: Mutex<Option<UnixStream>> = Mutex::new(None);
                let stop_here = || {
                    if stop() {
                        return true;
                    }
                    match events.try_recv() {
                        Ok(OwnerEvent::Handover(s)) => {
                            *handover.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
                            true
                        }
                        // Only the app is sent these.
                        Ok(OwnerEvent::Open(_)) | Err(_) => false,
                    }
                };
                let mut first = true;
                let result = owner.local().watch(space, typename, &stop_here, &mut |u| {
                    let keep = out(u, first);
                    first = false;
                    keep
                });
                let stopped = owner.stop();
                if let Some(mut s) = handover.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    send(&mut s, Reply::Ok(Response::Released));
                    handed_over = Some(Instant::now());
                }
                result?;
                stopped?;
                deadline = deadline_busy();
            }
            Err(ClientError::Locked) => {
                if Instant::now() > deadline {
                    return Err(busy());
                }
                std::thread::sleep(RETRY);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Runs an invitation or a join: through the owner, or as a temporary owner (store, node and
/// socket) for its length. A temporary owner does not hand the profile over mid-way (an open
/// invitation would be lost); it answers a request to once it is done. `emit` gets each step.
pub fn long(
    profile: &Profile,
    req: &Request,
    stop: &dyn Fn() -> bool,
    mut emit: impl FnMut(Response) -> bool,
) -> Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        if let Some(mut stream) = connect(profile)
            && write_request(&mut stream, req)?
        {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            loop {
                match read_reply(&mut reader, &mut line) {
                    None => return Err(ClientError::Network("the profile's owner stopped before the end".into())),
                    Some(r) => {
                        let r = r?;
                        let end = r.ends_stream();
                        if !emit(r) || end {
                            return Ok(());
                        }
                    }
                }
            }
        }
        match Local::open(profile) {
            Ok(local) => {
                if matches!(req, Request::Join { .. }) {
                    // A device joining an identity meets the inviter with the key it keeps.
                    local.prepare_to_join()?;
                }
                let (owner, events) = Owner::start(local, OwnerRole::Temporary)?;
                let result = match owner.local().start_node(&NetOptions::default()) {
                    Ok(()) => match req {
                        Request::Invite { options } => {
                            crate::invite::invite(owner.local(), options, stop, &mut |s| emit(Response::Invite(s)))
                        }
                        Request::Join { uri, code } => {
                            crate::invite::join(owner.local(), uri, code.clone(), stop, &mut |s| {
                                emit(Response::Join(s))
                            })
                        }
                        _ => Err(ClientError::Internal("not an invitation request".into())),
                    },
                    Err(e) => Err(e),
                };
                let stopped = owner.stop();
                while let Ok(OwnerEvent::Handover(mut s)) = events.try_recv() {
                    send(&mut s, Reply::Ok(Response::Released));
                }
                return result.and(stopped);
            }
            Err(ClientError::Locked) => {}
            Err(e) => return Err(e),
        }
        if Instant::now() > deadline {
            return Err(busy());
        }
        std::thread::sleep(RETRY);
    }
}

/// Becomes the owner of a profile as the app or `serve`: asks a temporary owner to hand over,
/// refuses when another app or `serve` owns it.
pub fn acquire(profile: &Profile, role: OwnerRole) -> Result<(Owner, Receiver<OwnerEvent>)> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        if let Some(stream) = connect(profile) {
            match call_over(stream, &Request::Hello) {
                Talk::Done(Ok(Response::Hello(OwnerRole::Temporary))) => {
                    if let Some(s) = connect(profile) {
                        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                        let _ = call_over(s, &Request::Handover);
                    }
                }
                Talk::Done(Ok(Response::Hello(who))) => {
                    return Err(ClientError::Denied(format!(
                        "this profile is already open in dxos {} ({})",
                        who.as_str(),
                        profile.dir().display()
                    )));
                }
                Talk::Done(Err(e @ ClientError::VersionMismatch { .. })) => return Err(e),
                _ => {}
            }
        }
        match Local::open(profile) {
            Ok(local) => return Owner::start(local, role),
            Err(ClientError::Locked) => {}
            Err(e) => return Err(e),
        }
        if Instant::now() > deadline {
            return Err(busy());
        }
        std::thread::sleep(RETRY);
    }
}

/// Hands an [`Request::Open`] to the app if it runs on `profile`: `Ok(true)` when it took it
/// (it raises its window), `Ok(false)` when no app runs (nobody, or a temporary owner that
/// will hand over to the app); an error when `serve` owns the profile (it has no window).
pub fn raise(profile: &Profile, uri: Option<String>) -> Result<bool> {
    let Some(stream) = connect(profile) else { return Ok(false) };
    match call_over(stream, &Request::Hello) {
        Talk::Done(Ok(Response::Hello(OwnerRole::Temporary))) | Talk::Retry | Talk::Unanswered => Ok(false),
        Talk::Done(Ok(Response::Hello(_))) => {
            let Some(stream) = connect(profile) else { return Ok(false) };
            let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
            match call_over(stream, &Request::Open { uri }) {
                Talk::Done(Ok(Response::Opened)) => Ok(true),
                Talk::Done(Ok(other)) => Err(unexpected(&other)),
                Talk::Done(Err(e)) => Err(e),
                Talk::Retry | Talk::Unanswered => Ok(false),
            }
        }
        Talk::Done(Ok(other)) => Err(unexpected(&other)),
        Talk::Done(Err(e)) => Err(e),
    }
}

/// The error for an answer of the wrong kind (a bug in one of the two sides).
pub(crate) fn unexpected(r: &Response) -> ClientError {
    ClientError::Internal(format!("unexpected answer from the profile's owner: {r:?}"))
}
