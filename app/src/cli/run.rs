//! Running a command: each becomes a [`Request`] answered by the profile's owner (or a Client
//! opened for it); `invite`/`join` and `serve` run until their end; errors become exit codes.

use super::*;

/// How a command ended: its exit code.
pub type Exit = i32;

/// Prints an error as CLI.md says and returns its exit code.
pub fn report(e: &CmdError, json: bool) -> Exit {
    if json {
        eprintln!("{}", json!({"error": e.message, "kind": e.kind.as_str()}));
    } else {
        eprintln!("error: {}", e.message);
    }
    e.kind.exit_code()
}

/// Runs a parsed command (not the app) and returns the exit code.
pub fn run(command: Command, profile: &Profile, json: bool) -> Exit {
    match execute(command, profile, json) {
        Ok(()) => 0,
        Err(e) => report(&e, json),
    }
}

pub(super) fn read_input(path: Option<&PathBuf>) -> Result<Vec<u8>, CmdError> {
    let mut bytes = Vec::new();
    match path {
        Some(p) => {
            bytes = std::fs::read(p)
                .map_err(|e| CmdError::new(Kind::InvalidInput, format!("cannot read {}: {e}", p.display())))?
        }
        None => {
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| CmdError::new(Kind::Io, format!("cannot read stdin: {e}")))?;
        }
    }
    Ok(bytes)
}

pub(super) fn execute(command: Command, profile: &Profile, json: bool) -> Result<(), CmdError> {
    let req = match command {
        Command::Watch { space, typename } => {
            owner::install_signal_handler();
            let mut stdout = std::io::stdout();
            return owner::watch(profile, &space, typename.as_deref(), |line| {
                let text = if json {
                    json!({"ts_ms": line["ts_ms"], "ids": line["ids"]}).to_string()
                } else {
                    human_watch(line)
                };
                writeln!(stdout, "{text}").and_then(|_| stdout.flush()).is_ok()
            });
        }
        Command::Serve { listen, peer, no_mdns } => {
            return serve(profile, json, &NetOptions { listen, peers: peer, no_mdns });
        }
        Command::Invite(cmd) => {
            let (space, role, opts) = match cmd {
                InviteCmd::Device { opts } => (None, None, opts),
                InviteCmd::Space { space, role, opts } => (Some(space), Some(role), opts),
            };
            let req = Request::Invite { space, role, timeout_secs: opts.timeout, code: opts.code };
            return long(profile, &req, json);
        }
        Command::Join { uri, qr, code } => {
            let uri = match (uri, qr) {
                (Some(u), _) => u,
                (None, Some(path)) => crate::qr::decode_file(&path)
                    .map_err(|e| CmdError::new(Kind::InvalidInput, format!("{}: {e}", path.display())))?,
                (None, None) => return Err(CmdError::new(Kind::Usage, "give the invitation's text or --qr IMAGE")),
            };
            // A malformed or expired invitation is refused before anything else happens.
            crate::invite::parse_offer(&uri)?;
            return long(profile, &Request::Join { uri, code }, json);
        }
        // The demo is a window, not a command: `main` opens it.
        Command::Demo => return Err(CmdError::new(Kind::Usage, "the demo opens from `dxos demo`")),
        Command::Device(DeviceCmd::Revoke { device_key }) => Request::DeviceRevoke { device: device_key },
        Command::Space(SpaceCmd::RemoveMember { space, identity_key }) => {
            Request::SpaceRemoveMember { space, identity: identity_key }
        }
        Command::Space(SpaceCmd::Leave { space }) => Request::SpaceLeave { space },
        Command::Space(SpaceCmd::Export { space, out }) => {
            let v = owner::call(profile, &Request::SpaceExport { space })?;
            let bytes = hex::decode(v.as_str().unwrap_or_default())
                .map_err(|e| CmdError::new(Kind::Internal, e.to_string()))?;
            let written = match &out {
                Some(p) => std::fs::write(p, &bytes).map_err(|e| format!("cannot write {}: {e}", p.display())),
                None => std::io::stdout()
                    .write_all(&bytes)
                    .and_then(|_| std::io::stdout().flush())
                    .map_err(|e| e.to_string()),
            };
            return written.map_err(|e| CmdError::new(Kind::Io, e));
        }
        Command::Space(SpaceCmd::Import { space, input }) => {
            let bytes = read_input(input.as_ref())?;
            Request::SpaceImport { space, update_hex: hex::encode(bytes) }
        }
        Command::Identity(IdentityCmd::Create { name }) => Request::IdentityCreate { name },
        Command::Identity(IdentityCmd::Show) => Request::IdentityShow,
        Command::Identity(IdentityCmd::Phrase) => Request::IdentityPhrase,
        Command::Identity(IdentityCmd::Recover { phrase, name }) => Request::IdentityRecover { phrase, name },
        Command::Space(SpaceCmd::Members { space }) => Request::SpaceMembers { space },
        Command::Space(SpaceCmd::Create { name }) => Request::SpaceCreate { name },
        Command::Space(SpaceCmd::List) => Request::SpaceList,
        Command::Space(SpaceCmd::Rename { space, name }) => Request::SpaceRename { space, name },
        Command::Task(TaskCmd::Add { space, title }) => Request::TaskAdd { space, title },
        Command::Task(TaskCmd::List { space }) => Request::TaskList { space },
        Command::Task(TaskCmd::Done { space, id }) => Request::TaskSetDone { space, id, done: true },
        Command::Task(TaskCmd::Undone { space, id }) => Request::TaskSetDone { space, id, done: false },
        Command::Task(TaskCmd::Rename { space, id, title }) => Request::TaskRename { space, id, title },
        Command::Task(TaskCmd::Rm { space, id }) => Request::TaskRm { space, id },
        Command::Object(ObjectCmd::Add { space, typename, data }) => {
            Request::ObjectAdd { space, typename, data: parse_data(&data)? }
        }
        Command::Object(ObjectCmd::Get { space, id }) => Request::ObjectGet { space, id },
        Command::Object(ObjectCmd::Set { space, id, data }) => {
            Request::ObjectSet { space, id, data: parse_data(&data)? }
        }
        Command::Object(ObjectCmd::Rm { space, id }) => Request::ObjectRm { space, id },
        Command::Query { space, typename, conditions } => {
            let conditions = conditions.iter().map(|c| parse_where(c)).collect::<Result<Vec<_>, _>>()?;
            Request::Query { space, typename, conditions }
        }
        Command::Status => Request::Status,
        Command::Peers => Request::Peers,
    };
    let value = owner::call(profile, &req)?;
    if json {
        println!("{value}");
    } else {
        println!("{}", human(&req, &value));
    }
    Ok(())
}

/// Runs `invite` or `join`, printing its lines: JSON on stdout with `--json`; otherwise the
/// invitation's text on stdout and its QR code, code and pairing words on stderr (so stdout
/// stays clean for scripts), then who was admitted.
pub(super) fn long(profile: &Profile, req: &Request, json: bool) -> Result<(), CmdError> {
    owner::install_signal_handler();
    let mut stdout = std::io::stdout();
    let joining = matches!(req, Request::Join { .. });
    owner::long(profile, req, |v| {
        let out = if json && joining && v.get("fingerprint").is_some() {
            // `join --json` prints one document (CLI.md); the words are for people.
            Ok(())
        } else if json {
            // The QR code goes to stderr when a person watches it; stdout stays JSON only.
            if let Some(uri) = v["uri"].as_str()
                && std::io::IsTerminal::is_terminal(&std::io::stderr())
                && let Ok(q) = crate::qr::terminal(uri)
            {
                eprintln!("{q}");
            }
            writeln!(stdout, "{v}")
        } else if let Some(uri) = v["uri"].as_str() {
            match crate::qr::terminal(uri) {
                Ok(q) => eprintln!("{q}"),
                Err(e) => eprintln!("({e})"),
            }
            let minutes =
                v["expires_at"].as_u64().map(|t| t.saturating_sub(crate::client::now_ms() / 1000).div_ceil(60));
            eprintln!("Scan the code, or send this text (valid {} min, for one guest):", minutes.unwrap_or_default());
            if let Some(code) = v["code"].as_str() {
                eprintln!("The guest must also type the code: {code}");
            }
            writeln!(stdout, "{uri}")
        } else if let Some(f) = v["fingerprint"].as_str() {
            eprintln!("Pairing words (check they match on both screens): {f}");
            Ok(())
        } else if let Some(k) = v["syncing"].as_str() {
            eprintln!("Admitted {k}. Sending it this device's data (keep this running until it is done)…");
            Ok(())
        } else if let Some(k) = v["admitted"].as_str() {
            if v["synced"] == false {
                let note = v["note"].as_str().unwrap_or("the new device did not say it has the data");
                writeln!(
                    stdout,
                    "Admitted {k}, but {note}. It gets the data the next time both devices are online \
                     (the app or `dxos serve` running on each)."
                )
            } else {
                writeln!(stdout, "Admitted {k}; it has this device's data.")
            }
        } else if let Some(k) = v["identity_key"].as_str() {
            writeln!(stdout, "Joined identity {k}; this device is one of its devices now.")
        } else if let Some(k) = v["space"].as_str() {
            writeln!(stdout, "Joined space {k}.")
        } else {
            writeln!(stdout, "{v}")
        };
        out.and_then(|_| stdout.flush()).is_ok()
    })
}

pub(super) fn serve(profile: &Profile, json: bool, net: &NetOptions) -> Result<(), CmdError> {
    owner::install_signal_handler();
    let config = net.config(profile)?;
    let (owner, _events) = owner::acquire(profile, Role::Serve)?;
    let say = |v: Value, text: String| {
        if json {
            println!("{v}");
        } else {
            println!("{text}");
        }
        let _ = std::io::stdout().flush();
    };
    type Events = tokio::sync::broadcast::Receiver<dxos_net::NodeEvent>;
    let start = |owner: &owner::Owner, first: bool| -> Result<Option<Events>, CmdError> {
        let Some(peer_id) = owner.client().halo().identity().map(|i| i.peer_id) else {
            if first {
                say(
                    json!({"peer_id": null, "addrs": []}),
                    "No identity yet: the node starts once one is made (`dxos identity create`).".to_owned(),
                );
            }
            return Ok(None);
        };
        owner.start_net(config.clone())?;
        let addrs = owner.with_net(|n| n.addrs()).unwrap_or_default();
        let events = owner.with_net(|n| n.subscribe());
        let line = json!({"peer_id": peer_id, "addrs": addrs});
        let text = format!("Serving {} as {peer_id} on:\n  {}", profile.dir().display(), addrs.join("\n  "));
        if first {
            say(line, text);
        } else {
            let mut v = line;
            v["event"] = json!("node_started");
            say(v, text);
        }
        Ok(events)
    };
    let mut events = match start(&owner, true) {
        Ok(e) => e,
        Err(e) => {
            let _ = owner.stop();
            return Err(e);
        }
    };
    while !owner::STOP_SIGNAL.load(std::sync::atomic::Ordering::SeqCst) {
        match events.as_mut() {
            None => {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if owner.client().halo().identity().is_some() {
                    match start(&owner, false) {
                        Ok(e) => events = e,
                        Err(e) => {
                            let _ = owner.stop();
                            return Err(e);
                        }
                    }
                }
            }
            Some(rx) => match rx.try_recv() {
                Ok(ev) => say(ev.to_json(), human_event(&ev)),
                Err(tokio::sync::broadcast::error::TryRecvError::Empty) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                    tracing::warn!("{n} node events were dropped (output too slow)");
                }
                Err(tokio::sync::broadcast::error::TryRecvError::Closed) => break,
            },
        }
    }
    owner.stop()
}
