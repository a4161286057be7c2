//! The `dxos` command line (CLI.md): argument parsing, and printing results for people or as JSON.
//!
//! Every command becomes a [`Request`] answered by the profile's owner or, with none, by a
//! Client opened for the command. This module never touches the store itself.

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};
use serde_json::{Value, json};

use crate::client::{parse_data, parse_where};
use crate::net::NetOptions;
use crate::owner::{self, Role};
use crate::profile::Profile;
use crate::request::{CmdError, Kind, Request};

/// DXOS: local-first collaboration with no servers.
#[derive(Debug, Parser)]
#[command(name = "dxos", version, about, long_about = None)]
pub struct Cli {
    /// The profile folder (keys, store, socket, logs).
    #[arg(long, global = true, env = "DXOS_PROFILE", value_name = "DIR")]
    pub profile: Option<PathBuf>,
    /// Machine output: one JSON document on stdout (one per line when streaming).
    #[arg(long, global = true)]
    pub json: bool,
    /// More logging (repeat for more).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// What to do; with none, the desktop app opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Who you are: this profile's identity and devices.
    #[command(subcommand)]
    Identity(IdentityCmd),
    /// Spaces: shared databases.
    #[command(subcommand)]
    Space(SpaceCmd),
    /// Tasks (dxos.org/type/Task) in a space's task order.
    #[command(subcommand)]
    Task(TaskCmd),
    /// Objects of any type.
    #[command(subcommand)]
    Object(ObjectCmd),
    /// Objects matching a type and conditions.
    Query {
        /// Space id or unique name.
        space: String,
        /// Only objects of this type.
        #[arg(long = "type", value_name = "T")]
        typename: Option<String>,
        /// Only objects whose KEY equals VALUE (JSON where it parses, else a string).
        #[arg(long = "where", value_name = "KEY=VALUE")]
        conditions: Vec<String>,
    },
    /// Prints the result of a query, then again each time it changes, until killed.
    Watch {
        /// Space id or unique name.
        space: String,
        /// Only objects of this type.
        #[arg(long = "type", value_name = "T")]
        typename: Option<String>,
    },
    /// Runs the profile's owner headless until killed.
    Serve {
        /// Addresses to listen on, instead of WebRTC-direct, QUIC and TCP on every interface.
        #[arg(long, value_name = "MULTIADDR")]
        listen: Vec<String>,
        /// Peers to dial and keep dialling.
        #[arg(long, value_name = "MULTIADDR")]
        peer: Vec<String>,
        /// Do not use mDNS.
        #[arg(long)]
        no_mdns: bool,
    },
    /// This identity's devices.
    #[command(subcommand)]
    Device(DeviceCmd),
    /// Invites a new device of yours, or someone to a space; waits for one guest.
    #[command(subcommand)]
    Invite(InviteCmd),
    /// Redeems an invitation (its text, or a picture of its QR code).
    Join {
        /// The invitation's text (`dxos:...`).
        #[arg(required_unless_present = "qr", conflicts_with = "qr")]
        uri: Option<String>,
        /// A picture (PNG or JPEG) of the invitation's QR code.
        #[arg(long, value_name = "IMAGE")]
        qr: Option<PathBuf>,
        /// The 6-digit code the inviter shows, if the invitation needs one.
        #[arg(long)]
        code: Option<String>,
    },
    /// Opens a window with two devices of one identity, paired and syncing over loopback.
    Demo,
    /// The profile's state in brief.
    Status,
    /// The connected peers.
    Peers,
}

/// `dxos identity ...`
#[derive(Debug, Subcommand)]
pub enum IdentityCmd {
    /// Creates the identity and this device (refused if the profile has one).
    Create {
        /// Your display name.
        #[arg(long)]
        name: String,
    },
    /// Shows the identity and its devices.
    Show,
    /// Prints the recovery phrase (on the device that holds the root key).
    Phrase,
    /// Restores the identity from its recovery phrase on this fresh profile.
    Recover {
        /// The 24 words.
        #[arg(long)]
        phrase: String,
        /// A name for this device.
        #[arg(long)]
        name: Option<String>,
    },
}

/// `dxos device ...`
#[derive(Debug, Subcommand)]
pub enum DeviceCmd {
    /// Revokes another device of this identity: it gets nothing new from then on.
    Revoke {
        /// The device's key (64 hex digits, as `identity show` lists it).
        device_key: String,
    },
}

/// Options every invitation takes.
#[derive(Debug, clap::Args)]
pub struct InviteOpts {
    /// How long the invitation stays valid, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub timeout: u64,
    /// The guest must also type a 6-digit code shown here (for invitations sent as text).
    #[arg(long)]
    pub code: bool,
}

/// `dxos invite ...`
#[derive(Debug, Subcommand)]
pub enum InviteCmd {
    /// A new device of your identity (run `dxos join` on it with a fresh profile).
    Device {
        /// How long it is valid, and whether it needs a code.
        #[command(flatten)]
        opts: InviteOpts,
    },
    /// Another person, to a space.
    Space {
        /// Space id or unique name.
        space: String,
        /// What the guest may do.
        #[arg(long, default_value = "editor", value_parser = ["editor", "reader"])]
        role: String,
        /// How long it is valid, and whether it needs a code.
        #[command(flatten)]
        opts: InviteOpts,
    },
}

/// `dxos space ...`
#[derive(Debug, Subcommand)]
pub enum SpaceCmd {
    /// Creates a space.
    Create {
        /// Its name.
        #[arg(long)]
        name: String,
    },
    /// Lists spaces.
    List,
    /// Lists a space's members.
    Members {
        /// Space id or unique name.
        space: String,
    },
    /// Renames a space.
    Rename {
        /// Space id or unique name.
        space: String,
        /// The new name.
        name: String,
    },
    /// Removes a member (owners and admins only): it gets nothing new from then on.
    RemoveMember {
        /// Space id or unique name.
        space: String,
        /// The member's identity key.
        identity_key: String,
    },
    /// Leaves a space: it goes from this identity's devices; the other members keep it.
    Leave {
        /// Space id or unique name.
        space: String,
    },
    /// Writes the whole space as one Yjs v1 update (raw bytes).
    Export {
        /// Space id or unique name.
        space: String,
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Merges a Yjs v1 update into the space.
    Import {
        /// Space id or unique name.
        space: String,
        /// Read from this file instead of stdin.
        #[arg(long = "in", value_name = "FILE")]
        input: Option<PathBuf>,
    },
}

/// `dxos task ...`
#[derive(Debug, Subcommand)]
pub enum TaskCmd {
    /// Adds a task at the end.
    Add {
        /// Space id or unique name.
        space: String,
        /// What is to be done.
        title: String,
    },
    /// Lists tasks in order.
    List {
        /// Space id or unique name.
        space: String,
    },
    /// Marks a task done.
    Done {
        /// Space id or unique name.
        space: String,
        /// Task id.
        id: String,
    },
    /// Marks a task not done.
    Undone {
        /// Space id or unique name.
        space: String,
        /// Task id.
        id: String,
    },
    /// Renames a task.
    Rename {
        /// Space id or unique name.
        space: String,
        /// Task id.
        id: String,
        /// The new title.
        title: String,
    },
    /// Deletes a task (soft delete).
    Rm {
        /// Space id or unique name.
        space: String,
        /// Task id.
        id: String,
    },
}

/// `dxos object ...`
#[derive(Debug, Subcommand)]
pub enum ObjectCmd {
    /// Adds an object.
    Add {
        /// Space id or unique name.
        space: String,
        /// Its type name.
        #[arg(long = "type", value_name = "T")]
        typename: String,
        /// Its properties, a JSON object.
        #[arg(long, value_name = "JSON", default_value = "{}")]
        data: String,
    },
    /// Prints an object.
    Get {
        /// Space id or unique name.
        space: String,
        /// Object id.
        id: String,
    },
    /// Sets the given properties of an object.
    Set {
        /// Space id or unique name.
        space: String,
        /// Object id.
        id: String,
        /// Properties to set, a JSON object.
        #[arg(long, value_name = "JSON")]
        data: String,
    },
    /// Deletes an object (soft delete).
    Rm {
        /// Space id or unique name.
        space: String,
        /// Object id.
        id: String,
    },
}

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

fn read_input(path: Option<&PathBuf>) -> Result<Vec<u8>, CmdError> {
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

fn execute(command: Command, profile: &Profile, json: bool) -> Result<(), CmdError> {
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
        Command::Demo => return crate::ui::demo::run(),
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
fn long(profile: &Profile, req: &Request, json: bool) -> Result<(), CmdError> {
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

fn serve(profile: &Profile, json: bool, net: &NetOptions) -> Result<(), CmdError> {
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

/// A node event as a person reads it.
fn human_event(ev: &dxos_net::NodeEvent) -> String {
    let v = ev.to_json();
    let peer = s(&v, "peer_id");
    match s(&v, "event").as_str() {
        "listening" => format!("listening on {}", s(&v, "addr")),
        "connected" => format!("connected to {peer} over {} ({})", s(&v, "transport"), s(&v, "addr")),
        "disconnected" => format!("disconnected from {peer}"),
        "discovered" => format!("found {peer} on the LAN at {}", s(&v, "addr")),
        "verified" => format!("{peer} is a {} of space {}", s(&v, "role"), s(&v, "space")),
        "denied" => format!("{peer} gets nothing of space {}: {}", s(&v, "space"), s(&v, "reason")),
        "synced" => format!("space {} synced from {peer}", s(&v, "space")),
        "refused" => format!("refused a reader's update from {peer} in space {}", s(&v, "space")),
        "same_identity" => format!("{peer} is another device of this identity"),
        "session_ended" => match &v["error"] {
            Value::Null => format!("replication with {peer} ended"),
            e => format!("replication with {peer} ended: {}", e.as_str().unwrap_or_default()),
        },
        _ => v.to_string(),
    }
}

fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn task_line(t: &Value) -> String {
    let mark = if t["completed"] == true { "x" } else { " " };
    format!("[{mark}] {}  ({})", s(t, "title"), s(t, "id"))
}

fn object_lines(o: &Value) -> String {
    format!("{}  {}  {}", s(o, "id"), s(o, "type"), o["data"])
}

fn fingerprint(v: &Value) -> String {
    v["identity_key"]
        .as_str()
        .and_then(|k| k.parse::<dxos_halo::PublicKey>().ok())
        .map(|k| k.fingerprint())
        .unwrap_or_default()
}

fn identity_text(v: &Value) -> String {
    if v["identity_key"].is_null() {
        return "No identity yet: run `dxos identity create --name NAME` (or open the app).".to_owned();
    }
    let mut out = format!(
        "Name:     {}\nIdentity: {} ({})\nDevice:   {}\nPeer id:  {}",
        s(v, "display_name"),
        s(v, "identity_key"),
        fingerprint(v),
        s(v, "device_key"),
        s(v, "peer_id")
    );
    if let Some(devices) = v["devices"].as_array() {
        out.push_str("\nDevices:");
        for d in devices {
            let this = if d["device_key"] == v["device_key"] {
                " (this device)"
            } else if d["online"] == true {
                " (online)"
            } else {
                ""
            };
            out.push_str(&format!("\n  {}  {}{this}", s(d, "name"), s(d, "device_key")));
        }
    }
    out
}

/// A `watch` result as a person reads it: a count, then one line per object, tasks as
/// `task list` shows them (done mark and title), other objects with their type and data.
fn human_watch(line: &Value) -> String {
    use dxos_echo::TypedObject;
    let task_type = dxos_echo::Task::TYPENAME;
    let objects = line["objects"].as_array().map(Vec::as_slice).unwrap_or_default();
    let tasks = objects.iter().all(|o| o["type"] == task_type);
    let noun = if tasks && !objects.is_empty() { "task" } else { "object" };
    let plural = if objects.len() == 1 { "" } else { "s" };
    let mut out = format!("{} {noun}{plural}:", objects.len());
    for o in objects {
        let text = if o["type"] == task_type {
            let done = o["data"]["completed"] == true;
            task_line(&json!({"id": o["id"], "title": o["data"]["title"], "completed": done}))
        } else {
            object_lines(o)
        };
        out.push_str("\n  ");
        out.push_str(&text);
    }
    out
}

/// The people-readable form of a result.
fn human(req: &Request, v: &Value) -> String {
    let list = |f: &dyn Fn(&Value) -> String| -> String {
        let items: Vec<String> = v.as_array().into_iter().flatten().map(f).collect();
        if items.is_empty() { "(none)".to_owned() } else { items.join("\n") }
    };
    match req {
        Request::IdentityCreate { .. } | Request::IdentityRecover { .. } | Request::IdentityShow => identity_text(v),
        Request::IdentityPhrase => format!(
            "Your recovery phrase (keep it secret; it restores your identity on a new device):\n\n{}",
            s(v, "phrase")
        ),
        Request::SpaceMembers { .. } => list(&|m| {
            format!("{}  {}  {}  ({})", s(m, "role"), s(m, "display_name"), s(m, "identity_key"), fingerprint(m))
        }),
        Request::SpaceCreate { .. } => format!("Created space {} ({})", s(v, "name"), s(v, "id")),
        Request::SpaceRename { .. } => format!("Renamed space {} to {}", s(v, "id"), s(v, "name")),
        Request::SpaceList => list(&|x| format!("{}  {}  ({} objects)", s(x, "id"), s(x, "name"), s(x, "objects"))),
        Request::SpaceImport { .. } => "Imported.".to_owned(),
        Request::DeviceRevoke { .. } => format!("Revoked device {}", s(v, "revoked")),
        Request::SpaceRemoveMember { .. } => format!("Removed {}", s(v, "removed")),
        Request::SpaceLeave { .. } => format!("Left space {}", s(v, "left")),
        Request::TaskList { .. } => list(&task_line),
        Request::TaskAdd { .. } | Request::TaskSetDone { .. } | Request::TaskRename { .. } => task_line(v),
        Request::TaskRm { .. } | Request::ObjectRm { .. } => format!("Deleted {}", s(v, "id")),
        Request::ObjectAdd { .. } => s(v, "id"),
        Request::ObjectGet { .. } | Request::ObjectSet { .. } => object_lines(v),
        Request::Query { .. } => list(&object_lines),
        Request::Status => {
            let addrs: Vec<String> =
                v["addrs"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_owned)).collect();
            format!(
                "identity: {}\nspaces: {}\npeers: {}\naddrs: {}",
                if v["identity"].is_null() { "none".to_owned() } else { s(v, "identity") },
                s(v, "spaces"),
                s(v, "peers"),
                if addrs.is_empty() { "(node not running)".to_owned() } else { addrs.join(" ") }
            )
        }
        Request::Peers => list(&|p| {
            format!("{}  {}  {}", s(p, "peer_id"), s(p, "transport"), p["addrs"][0].as_str().unwrap_or_default())
        }),
        _ => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command and subcommand, as `identity create`.
    fn commands(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = format!("{prefix}{}", sub.get_name());
            if sub.has_subcommands() {
                commands(sub, &format!("{name} "), out);
            } else {
                out.push(name);
            }
        }
    }

    #[test]
    fn the_contract_documents_every_command() {
        let doc = include_str!("../../docs/cli.md");
        let mut all = Vec::new();
        commands(&super::Cli::command(), "", &mut all);
        assert!(all.len() >= 30, "{all:?}");
        let missing: Vec<&String> =
            all.iter().filter(|c| !doc.contains(&format!("`{c} ")) && !doc.contains(&format!("`{c}`"))).collect();
        assert!(missing.is_empty(), "docs/cli.md does not document {missing:?}");
        // Nothing in the repository points outside it.
        assert!(!doc.contains("../shared") && !include_str!("../../README.md").contains("../shared"));
    }
}
