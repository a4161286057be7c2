//! Running a command: each becomes a [`Request`] answered through the profile's Client;
//! `watch`, `invite`/`join` and `serve` run until their end; errors become exit codes.

use super::*;

/// How a command ended: its exit code.
pub type Exit = i32;

/// Prints an error as CLI.md says and returns its exit code.
pub fn report(e: &ClientError, json: bool) -> Exit {
    let kind = e.kind();
    let mut message = e.to_string();
    if kind == dxos_client::ErrorKind::NoIdentity && !message.contains("identity create") {
        message.push_str(": run `dxos identity create --name NAME` (or open the app) first");
    }
    if json {
        eprintln!("{}", json!({"error": message, "kind": kind.as_str()}));
    } else {
        eprintln!("error: {message}");
    }
    kind.exit_code()
}

/// Runs a parsed command (not the app) and returns the exit code.
pub fn run(command: Command, profile: &Profile, json: bool) -> Exit {
    match execute(command, profile, json) {
        Ok(()) => 0,
        Err(e) => report(&e, json),
    }
}

pub(super) fn read_input(path: Option<&PathBuf>) -> Result<Vec<u8>, ClientError> {
    let mut bytes = Vec::new();
    match path {
        Some(p) => {
            bytes =
                std::fs::read(p).map_err(|e| ClientError::InvalidInput(format!("cannot read {}: {e}", p.display())))?
        }
        None => {
            std::io::stdin().read_to_end(&mut bytes).map_err(|e| ClientError::io("cannot read stdin", e))?;
        }
    }
    Ok(bytes)
}

pub(super) fn execute(command: Command, profile: &Profile, json: bool) -> Result<(), ClientError> {
    let req = match command {
        Command::Watch { space, typename } => {
            owner::install_signal_handler();
            let mut stdout = std::io::stdout();
            return owner::watch(profile, &space, typename.as_deref(), &owner::stopping, |u| {
                // Stamped with this process's clock: when *we* saw the change.
                let line = json::watch(&u);
                let text = if json {
                    json!({"ts_ms": dxos_client::now_ms(), "ids": line["ids"]}).to_string()
                } else {
                    human_watch(&line)
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
            let role = role.as_deref().map(dxos_client::wire::parse_role).transpose()?;
            let options = dxos_client::InviteOptions { space, role, timeout_secs: opts.timeout, code: opts.code };
            return long(profile, &Request::Invite { options }, json);
        }
        Command::Join { uri, qr, code } => {
            let uri = match (uri, qr) {
                (Some(u), _) => u,
                (None, Some(path)) => crate::qr::decode_file(&path)
                    .map_err(|e| ClientError::InvalidInput(format!("{}: {e}", path.display())))?,
                (None, None) => return Err(ClientError::Usage("give the invitation's text or --qr IMAGE".into())),
            };
            // A malformed or expired invitation is refused before anything else happens.
            dxos_client::read_invitation(&uri)?;
            return long(profile, &Request::Join { uri, code }, json);
        }
        // The demo is a window, not a command: `main` opens it.
        Command::Demo => return Err(ClientError::Usage("the demo opens from `dxos demo`".into())),
        // The binary runs these itself (they open the app, or need no profile).
        Command::Open { .. } | Command::Desktop(_) | Command::Completions { .. } | Command::Manpage => {
            return Err(ClientError::Internal("this command is run by the binary, not the client".into()));
        }
        Command::Device(DeviceCmd::Rename { name }) => Request::DeviceRename { name },
        Command::Device(DeviceCmd::Revoke { device_key }) => {
            Request::DeviceRevoke { device: parse_key(&device_key, "device key")? }
        }
        Command::Space(SpaceCmd::RemoveMember { space, identity_key }) => {
            Request::SpaceRemoveMember { space, identity: parse_key(&identity_key, "identity key")? }
        }
        Command::Space(SpaceCmd::Leave { space }) => Request::SpaceLeave { space },
        Command::Space(SpaceCmd::Export { space, out }) => {
            let bytes = dxos_client::Client::open(profile.clone()).export_space(&space)?;
            let written = match &out {
                Some(p) => std::fs::write(p, &bytes).map_err(|e| format!("cannot write {}: {e}", p.display())),
                None => std::io::stdout()
                    .write_all(&bytes)
                    .and_then(|_| std::io::stdout().flush())
                    .map_err(|e| e.to_string()),
            };
            return written.map_err(|e| ClientError::io("cannot write the export", std::io::Error::other(e)));
        }
        Command::Space(SpaceCmd::Import { space, input }) => {
            let bytes = read_input(input.as_ref())?;
            Request::space_import(space, &bytes)
        }
        Command::Identity(IdentityCmd::Create { name }) => Request::IdentityCreate { name },
        Command::Identity(IdentityCmd::Show) => Request::IdentityShow,
        Command::Identity(IdentityCmd::Phrase) => Request::IdentityPhrase,
        Command::Identity(IdentityCmd::Recover { phrase, name }) => Request::IdentityRecover { phrase, name },
        Command::Space(SpaceCmd::Members { space }) => Request::SpaceMembers { space },
        Command::Space(SpaceCmd::Create { name }) => Request::SpaceCreate { name },
        Command::Space(SpaceCmd::List) => Request::SpaceList { deleted: false },
        Command::Space(SpaceCmd::Rename { space, name }) => Request::SpaceRename { space, name },
        Command::Task(TaskCmd::Add { space, title }) => Request::TaskAdd { space, title },
        Command::Task(TaskCmd::List { space }) => Request::TaskList { space },
        Command::Task(TaskCmd::Done { space, id }) => Request::TaskSetDone { space, id, done: true },
        Command::Task(TaskCmd::Undone { space, id }) => Request::TaskSetDone { space, id, done: false },
        Command::Task(TaskCmd::Rename { space, id, title }) => Request::TaskRename { space, id, title },
        Command::Task(TaskCmd::Rm { space, id }) => Request::TaskRm { space, id },
        Command::Doc(DocCmd::New { space, name, text }) => Request::DocNew { space, name, text },
        Command::Doc(DocCmd::List { space }) => Request::DocList { space },
        Command::Doc(DocCmd::Cat { space, id }) => Request::DocCat { space, id },
        Command::Doc(DocCmd::Edit { space, id, at, delete, insert }) => {
            Request::DocEdit { space, id, at, delete, insert }
        }
        Command::Doc(DocCmd::Rm { space, id }) => Request::DocRm { space, id },
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
        Command::Relay(RelayCmd::Serve {
            listen,
            announce,
            key,
            allow,
            open,
            circuit_burst,
            circuit_interval,
            max_circuits,
            max_rate,
            stun,
        }) => {
            let allow = allow.iter().map(|k| parse_key(k, "identity key")).collect::<Result<Vec<_>, _>>()?;
            let options = dxos_client::RelayOptions {
                listen,
                announce,
                key_file: key,
                allow,
                open,
                circuit_burst,
                circuit_interval_secs: circuit_interval,
                max_circuits,
                bytes_per_sec: max_rate,
                stun,
            };
            return relay_serve(&options, json);
        }
        Command::Relay(RelayCmd::Add { addr }) => Request::RelayAdd { addr },
        Command::Relay(RelayCmd::Remove { addr }) => Request::RelayRemove { addr },
        Command::Relay(RelayCmd::List) => Request::RelayList,
    };
    let value = json::response(&req, &owner::call(profile, &req)?);
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
pub(super) fn long(profile: &Profile, req: &Request, json: bool) -> Result<(), ClientError> {
    owner::install_signal_handler();
    let mut stdout = std::io::stdout();
    let joining = matches!(req, Request::Join { .. });
    owner::long(profile, req, &owner::stopping, |r| {
        let v = match &r {
            Response::Invite(s) => json::invite_step(s),
            Response::Join(s) => json::join_step(s),
            other => json::response(req, other),
        };
        let out = if v.is_null() || (json && joining && v.get("fingerprint").is_some()) {
            // `join --json` prints one document (docs/cli.md); the words are for people.
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
        } else {
            human_step(&mut stdout, &v)
        };
        out.and_then(|_| stdout.flush()).is_ok()
    })
}

/// Runs `relay serve` until a stop signal: its peer id and addresses first, then one line per
/// admission, reservation and circuit.
pub(super) fn relay_serve(options: &dxos_client::RelayOptions, json: bool) -> Result<(), ClientError> {
    owner::install_signal_handler();
    let mut relay = dxos_client::Relay::start(options)?;
    let stun = relay.stun_addr();
    let first = json::relay_started(&relay.peer_id(), &relay.addrs(), stun.as_deref());
    if json {
        println!("{first}");
    } else {
        println!("relay {} listening on:", relay.peer_id());
        for a in relay.addrs() {
            println!("  {a}");
        }
        if let Some(s) = &stun {
            println!("answering STUN on {s} (UDP)");
        }
    }
    let _ = std::io::stdout().flush();
    let events = relay.events();
    while !owner::stopping() {
        let Some(events) = &events else { break };
        match events.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(Some(n)) => {
                let v = json::relay_notice(&n);
                if json {
                    println!("{v}");
                } else {
                    println!("{}", human_relay(&v));
                }
                let _ = std::io::stdout().flush();
            }
            Ok(None) => {}
            Err(_) => break,
        }
    }
    relay.stop();
    Ok(())
}

pub(super) fn serve(profile: &Profile, json: bool, net: &NetOptions) -> Result<(), ClientError> {
    owner::install_signal_handler();
    let (owner, _events) = owner::acquire(profile, OwnerRole::Serve)?;
    let local = owner.local().clone();
    let client = dxos_client::Client::in_process(local.clone());
    let say = |v: Value, text: String| {
        if json {
            println!("{v}");
        } else {
            println!("{text}");
        }
        let _ = std::io::stdout().flush();
    };
    let result = (|| -> Result<(), ClientError> {
        let mut started = false;
        let mut said_waiting = false;
        // The node's events, printed as they come (the stream wakes this thread; the timeout
        // is only there so a stop signal or a new identity is seen).
        let events = client.peer_events()?;
        while !owner::stopping() {
            if !started {
                match local.identity() {
                    None => {
                        if !said_waiting {
                            said_waiting = true;
                            say(
                                json!({"peer_id": null, "addrs": []}),
                                "No identity yet: the node starts once one is made (`dxos identity create`)."
                                    .to_owned(),
                            );
                        }
                    }
                    Some(identity) => {
                        local.start_node(net)?;
                        started = true;
                        let addrs = local.addrs();
                        let mut line = json!({"peer_id": identity.peer_id, "addrs": addrs});
                        if said_waiting {
                            line["event"] = json!("node_started");
                        }
                        let text = format!(
                            "Serving {} as {} on:\n  {}",
                            profile.dir().display(),
                            identity.peer_id,
                            addrs.join("\n  ")
                        );
                        say(line, text);
                    }
                }
            }
            match events.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(Some(ev)) => say(json::peer_event(&ev), human_event(&ev)),
                Ok(None) => {}
                Err(dxos_client::Ended) => break,
            }
        }
        Ok(())
    })();
    let stopped = owner.stop();
    result.and(stopped)
}

/// Reads a key given on the command line (64 hex digits).
pub(super) fn parse_key(text: &str, what: &str) -> Result<dxos_client::PublicKey, ClientError> {
    text.trim()
        .parse()
        .map_err(|e| ClientError::InvalidInput(format!("{text:?} is not a valid {what} (64 hex digits): {e}")))
}

/// Parses a `--data` argument: a JSON object.
pub(super) fn parse_data(text: &str) -> Result<serde_json::Map<String, Value>, ClientError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(ClientError::InvalidInput(format!("--data must be a JSON object, got {other}"))),
        Err(e) => Err(ClientError::InvalidInput(format!("--data is not valid JSON: {e}"))),
    }
}

/// Parses a `--where KEY=VALUE`: the value is JSON where it parses as JSON, else a string.
pub(super) fn parse_where(text: &str) -> Result<(String, Value), ClientError> {
    let Some((k, v)) = text.split_once('=') else {
        return Err(ClientError::Usage(format!("--where takes KEY=VALUE, got {text:?}")));
    };
    if k.is_empty() {
        return Err(ClientError::Usage(format!("--where needs a key: {text:?}")));
    }
    let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
    Ok((k.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_values_are_json_or_strings() {
        let ok = |t: &str| parse_where(t).ok();
        assert_eq!(ok("done=true"), Some(("done".into(), json!(true))));
        assert_eq!(ok("n=3"), Some(("n".into(), json!(3))));
        assert_eq!(ok("title=Milk"), Some(("title".into(), json!("Milk"))));
        assert_eq!(ok("t=a=b"), Some(("t".into(), json!("a=b"))));
        assert!(parse_where("nokey").is_err());
        assert!(parse_where("=x").is_err());
    }

    #[test]
    fn data_must_be_an_object() {
        assert!(parse_data("{\"a\": 1}").is_ok());
        assert_eq!(parse_data("[1]").map_err(|e| e.kind()).err(), Some(dxos_client::ErrorKind::InvalidInput));
        assert_eq!(parse_data("{").map_err(|e| e.kind()).err(), Some(dxos_client::ErrorKind::InvalidInput));
    }
}
