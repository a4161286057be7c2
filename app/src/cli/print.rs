//! Output for people (without `--json`): results, node events and `watch` lines in words.

use super::*;

/// A node event as a person reads it.
pub(super) fn human_event(ev: &dxos_client::PeerEvent) -> String {
    let v = json::peer_event(ev);
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
        "webrtc" => match &v["error"] {
            Value::Null => {
                format!("connected to {peer} over /webrtc in {:.0} ms", v["ms"].as_f64().unwrap_or_default())
            }
            e => format!("/webrtc to {peer} failed ({}); staying on the relay", e.as_str().unwrap_or_default()),
        },
        "relay_refused" => format!("relay {} refused this device: {}", s(&v, "relay"), s(&v, "reason")),
        "session_ended" => match &v["error"] {
            Value::Null => format!("replication with {peer} ended"),
            e => format!("replication with {peer} ended: {}", e.as_str().unwrap_or_default()),
        },
        _ => v.to_string(),
    }
}

pub(super) fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub(super) fn task_line(t: &Value) -> String {
    let mark = if t["completed"] == true { "x" } else { " " };
    format!("[{mark}] {}  ({})", s(t, "title"), s(t, "id"))
}

pub(super) fn object_lines(o: &Value) -> String {
    format!("{}  {}  {}", s(o, "id"), s(o, "type"), o["data"])
}

pub(super) fn fingerprint(v: &Value) -> String {
    v["identity_key"]
        .as_str()
        .and_then(|k| k.parse::<dxos_client::PublicKey>().ok())
        .map(|k| k.fingerprint())
        .unwrap_or_default()
}

pub(super) fn identity_text(v: &Value) -> String {
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
pub(super) fn human_watch(line: &Value) -> String {
    use dxos_client::TypedObject;
    let task_type = dxos_client::Task::TYPENAME;
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
/// A line of `relay serve` for people.
pub(super) fn human_relay(v: &Value) -> String {
    let peer = s(v, "peer_id");
    match s(v, "event").as_str() {
        "admitted" => format!("admitted {peer} (identity {})", s(v, "identity")),
        "open" => format!("let {peer} in (the relay is open; its identity is not on the allow list)"),
        "refused" => format!("refused {peer}: {}", s(v, "reason")),
        "revoked" => format!("{peer} was revoked by its identity: its reservation is gone"),
        "reserved" if v["renewed"] == true => format!("{peer} renewed its reservation"),
        "reserved" => format!("{peer} reserved a slot"),
        "reservation_denied" => format!("denied {peer} a reservation ({})", s(v, "status")),
        "reservation_ended" => format!("{peer}'s reservation ended"),
        "circuit" => format!("circuit {} -> {}", s(v, "src"), s(v, "dst")),
        "circuit_denied" => format!("denied a circuit {} -> {} ({})", s(v, "src"), s(v, "dst"), s(v, "status")),
        "circuit_closed" => format!("circuit {} -> {} closed", s(v, "src"), s(v, "dst")),
        _ => v.to_string(),
    }
}

pub(super) fn human(req: &Request, v: &Value) -> String {
    let list = |f: &dyn Fn(&Value) -> String| -> String {
        let items: Vec<String> = v.as_array().into_iter().flatten().map(f).collect();
        if items.is_empty() { "(none)".to_owned() } else { items.join("\n") }
    };
    match req {
        Request::IdentityCreate { .. }
        | Request::IdentityRecover { .. }
        | Request::IdentityShow
        | Request::DeviceRename { .. } => identity_text(v),
        Request::IdentityPhrase => format!(
            "Your recovery phrase (keep it secret; it restores your identity on a new device):\n\n{}",
            s(v, "phrase")
        ),
        Request::SpaceMembers { .. } => list(&|m| {
            format!("{}  {}  {}  ({})", s(m, "role"), s(m, "display_name"), s(m, "identity_key"), fingerprint(m))
        }),
        Request::SpaceCreate { .. } => format!("Created space {} ({})", s(v, "name"), s(v, "id")),
        Request::SpaceRename { .. } => format!("Renamed space {} to {}", s(v, "id"), s(v, "name")),
        Request::SpaceList { .. } => {
            list(&|x| format!("{}  {}  ({} objects)", s(x, "id"), s(x, "name"), s(x, "objects")))
        }
        Request::SpaceImport { .. } => "Imported.".to_owned(),
        Request::DeviceRevoke { .. } => format!("Revoked device {}", s(v, "revoked")),
        Request::SpaceRemoveMember { .. } => format!("Removed {}", s(v, "removed")),
        Request::SpaceLeave { .. } => format!("Left space {}", s(v, "left")),
        Request::TaskList { .. } => list(&task_line),
        Request::TaskAdd { .. } | Request::TaskSetDone { .. } | Request::TaskRename { .. } => task_line(v),
        Request::TaskRm { .. } | Request::ObjectRm { .. } | Request::DocRm { .. } => format!("Deleted {}", s(v, "id")),
        Request::DocNew { .. } => format!("Created document {} ({})", s(v, "name"), s(v, "id")),
        Request::DocList { .. } => list(&|d| format!("{}  {}", s(d, "id"), s(d, "name"))),
        Request::DocCat { .. } | Request::DocEdit { .. } => s(v, "text"),
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
        Request::RelayList | Request::RelayAdd { .. } | Request::RelayRemove { .. } => {
            let relays: Vec<&str> = v.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            if relays.is_empty() { "(no relays)".to_owned() } else { relays.join("\n") }
        }
        Request::Peers => list(&|p| {
            let rtt = p["rtt_ms"].as_f64().map(|ms| format!("  {ms:.1} ms")).unwrap_or_default();
            format!("{}  {}{rtt}  {}", s(p, "peer_id"), s(p, "transport"), p["addrs"][0].as_str().unwrap_or_default())
        }),
        _ => v.to_string(),
    }
}

/// A line of `invite` or `join` for people: the invitation's text on stdout and its QR code,
/// code and pairing words on stderr, then who was admitted or what was joined.
pub(super) fn human_step(stdout: &mut impl Write, v: &Value) -> std::io::Result<()> {
    if let Some(uri) = v["uri"].as_str() {
        match crate::qr::terminal(uri) {
            Ok(q) => eprintln!("{q}"),
            Err(e) => eprintln!("({e})"),
        }
        let minutes = v["expires_at"].as_u64().map(|t| t.saturating_sub(dxos_client::now_ms() / 1000).div_ceil(60));
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
    }
}
