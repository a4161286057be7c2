//! Who holds the profile: a long command with no owner becomes a temporary owner and hands
//! the profile over when the app or `serve` asks; the app or `serve` acquire it, refusing
//! when another of them holds it.

use super::*;

/// Runs `watch`: through the owner, or as a temporary owner that hands over when the app or
/// `serve` starts and then carries on as a client. `emit` gets each line; it returns false to stop.
pub fn watch(
    profile: &Profile,
    space: &str,
    typename: Option<&str>,
    mut emit: impl FnMut(&Value) -> bool,
) -> Result<(), CmdError> {
    let mut last_ids: Option<Value> = None;
    // Prints a line unless it is the first after a reconnection and nothing changed meanwhile.
    let mut out = |v: Value, first: bool| -> bool {
        let ids = v.get("ids").cloned();
        if first && ids.is_some() && ids == last_ids {
            return true;
        }
        last_ids = ids;
        // Stamp with this process's clock: when *we* saw the change.
        let line = json!({
            "ts_ms": crate::client::now_ms(),
            "ids": v.get("ids").cloned().unwrap_or(Value::Null),
            "objects": v.get("objects").cloned().unwrap_or(Value::Null),
        });
        emit(&line)
    };
    let deadline_busy = || Instant::now() + BUSY_TIMEOUT;
    let mut deadline = deadline_busy();
    // After handing over, leave the store to the new owner until its socket is up.
    let mut handed_over: Option<Instant> = None;
    let req = Request::Watch { space: space.to_owned(), typename: typename.map(str::to_owned) };
    while !stopping() {
        if let Some(mut stream) = connect(profile)
            && write_request(&mut stream, &req)
        {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let mut reader = BufReader::new(stream);
            let mut first = true;
            let mut line = String::new();
            loop {
                if stopping() {
                    return Ok(());
                }
                match reader.read_line(&mut line) {
                    Ok(0) => break, // the owner left: find the next one
                    Ok(_) => {
                        match serde_json::from_str::<Reply>(&line) {
                            Ok(Reply::Ok(v)) => {
                                if !out(v, first) {
                                    return Ok(());
                                }
                                first = false;
                            }
                            Ok(Reply::Err(e)) => return Err(e),
                            Err(e) => {
                                return Err(CmdError::new(Kind::Internal, format!("bad reply from the owner: {e}")));
                            }
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
        match Client::open(profile) {
            Ok(client) => {
                let (owner, events) = Owner::start(client, Role::Temporary, profile)?;
                // A temporary owner runs the node too (CLI.md), so a watcher sees peers' edits.
                if owner.client().halo().identity().is_some() {
                    let started =
                        crate::net::NetOptions::default().config(profile).and_then(|config| owner.start_net(config));
                    if let Err(e) = started {
                        tracing::warn!("the network node did not start: {}", e.message);
                    }
                }
                let handover: Mutex<Option<UnixStream>> = Mutex::new(None);
                let stop = || {
                    if stopping() {
                        return true;
                    }
                    match events.try_recv() {
                        Ok(OwnerEvent::Handover(s)) => {
                            *handover.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
                            true
                        }
                        Err(_) => false,
                    }
                };
                let mut first = true;
                let result = owner.client().watch(space, typename, &stop, |v| {
                    let keep = out(v, first);
                    first = false;
                    keep
                });
                let stopped = owner.stop();
                if let Some(mut s) = handover.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    send(&mut s, &Reply::Ok(json!({"released": true})));
                    handed_over = Some(Instant::now());
                }
                result?;
                stopped?;
                deadline = deadline_busy();
            }
            Err(OpenError::Locked) => {
                if Instant::now() > deadline {
                    return Err(CmdError::new(
                        Kind::Timeout,
                        "the profile stayed busy for 30 s; is another dxos stuck?",
                    ));
                }
                std::thread::sleep(RETRY);
            }
            Err(OpenError::Other(e)) => return Err(CmdError::new(Kind::Io, e)),
        }
    }
    Ok(())
}

/// Runs `invite` or `join`: through the owner, or as a temporary owner (store, node and
/// socket) for its length. A temporary owner does not hand the profile over mid-way (an open
/// invitation would be lost); it answers a request to once it is done. `emit` gets each line.
pub fn long(profile: &Profile, req: &Request, mut emit: impl FnMut(&Value) -> bool) -> Result<(), CmdError> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        if let Some(mut stream) = connect(profile)
            && write_request(&mut stream, req)
        {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => {
                        return Err(CmdError::new(Kind::Network, "the profile's owner stopped before the end"));
                    }
                    Ok(_) => match serde_json::from_str::<Reply>(&line) {
                        Ok(Reply::Ok(v)) => {
                            if !emit(&v) {
                                return Ok(());
                            }
                            if v.get("admitted").is_some()
                                || v.get("identity_key").is_some()
                                || v.get("space").is_some()
                            {
                                return Ok(());
                            }
                        }
                        Ok(Reply::Err(e)) => return Err(e),
                        Err(e) => {
                            return Err(CmdError::new(Kind::Internal, format!("bad reply from the owner: {e}")));
                        }
                    },
                }
            }
        }
        match Client::open(profile) {
            Ok(client) => {
                if matches!(req, Request::Join { .. }) && client.halo().identity().is_none() {
                    // A device joining an identity meets the inviter with the key it keeps.
                    client.halo().joining_device_key()?;
                }
                let (owner, events) = Owner::start(client, Role::Temporary, profile)?;
                let started = match crate::net::NetOptions::default().config(profile) {
                    Ok(config) => owner.start_net(config),
                    Err(e) => Err(e),
                };
                let result = match started {
                    Ok(()) => {
                        let net = owner.net();
                        match net.as_deref() {
                            Some(net) => crate::invite::run(owner.client(), net, req, &stopping, &mut |v| emit(&v)),
                            None => Err(CmdError::new(Kind::Internal, "the node did not start")),
                        }
                    }
                    Err(e) => Err(e),
                };
                let stopped = owner.stop();
                while let Ok(OwnerEvent::Handover(mut s)) = events.try_recv() {
                    send(&mut s, &Reply::Ok(json!({"released": true})));
                }
                return result.and(stopped);
            }
            Err(OpenError::Locked) => {}
            Err(OpenError::Other(e)) => return Err(CmdError::new(Kind::Io, e)),
        }
        if Instant::now() > deadline {
            return Err(CmdError::new(Kind::Timeout, "the profile stayed busy for 30 s; is another dxos stuck?"));
        }
        std::thread::sleep(RETRY);
    }
}

/// Becomes the owner of a profile as the app or `serve`: asks a temporary owner to hand over,
/// refuses when another app or `serve` owns it.
pub fn acquire(profile: &Profile, role: Role) -> Result<(Owner, Receiver<OwnerEvent>), CmdError> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        if let Some(stream) = connect(profile) {
            match call_over(stream, &Request::Hello) {
                Talk::Done(Ok(v)) if v["role"] == "temporary" => {
                    if let Some(s) = connect(profile) {
                        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                        let _ = call_over(s, &Request::Handover);
                    }
                }
                Talk::Done(Ok(v)) => {
                    let who = v["role"].as_str().unwrap_or("another process").to_owned();
                    return Err(CmdError::new(
                        Kind::Denied,
                        format!("this profile is already open in dxos {who} ({})", profile.dir().display()),
                    ));
                }
                _ => {}
            }
        }
        match Client::open(profile) {
            Ok(client) => return Owner::start(client, role, profile),
            Err(OpenError::Locked) => {}
            Err(OpenError::Other(e)) => return Err(CmdError::new(Kind::Io, e)),
        }
        if Instant::now() > deadline {
            return Err(CmdError::new(Kind::Timeout, "the profile stayed busy for 30 s; is another dxos stuck?"));
        }
        std::thread::sleep(RETRY);
    }
}
