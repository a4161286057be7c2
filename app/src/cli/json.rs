//! The command line's JSON: the client's typed answers in exactly the shapes docs/cli.md
//! documents. The only place JSON shapes are made.

use dxos_client::wire::{Request, Response};
use dxos_client::*;
use serde_json::{Value, json};

/// A result as `--json` prints it (the request decides between shapes that share a type).
pub(crate) fn response(req: &Request, r: &Response) -> Value {
    match r {
        Response::Identity(None) => {
            json!({"identity_key": null, "device_key": null, "peer_id": null, "display_name": null, "devices": []})
        }
        Response::Identity(Some(i)) => identity(i, matches!(req, Request::IdentityShow | Request::DeviceRename { .. })),
        Response::Phrase(p) => json!({"phrase": p}),
        Response::Members(m) => Value::Array(m.iter().map(member).collect()),
        Response::Space(s) => json!({"id": s.id.to_string(), "name": s.name}),
        Response::Spaces(list) => Value::Array(
            list.iter()
                .map(|s| json!({"id": s.id.to_string(), "name": s.name, "members": s.members, "objects": s.objects}))
                .collect(),
        ),
        Response::Exported(h) => Value::String(h.clone()),
        Response::Imported => json!({"applied": true}),
        Response::Task(t) => task(t),
        Response::Tasks(t) => Value::Array(t.iter().map(task).collect()),
        Response::Deleted(id) => json!({"id": id, "deleted": true}),
        Response::Added(id) => json!({"id": id}),
        Response::Object(o) => object(o),
        Response::Objects(o) => Value::Array(o.iter().map(object).collect()),
        Response::Document(d) => document(d),
        Response::Documents(d) => Value::Array(d.iter().map(document).collect()),
        Response::Revoked(k) => json!({"revoked": k.to_string()}),
        Response::Removed(k) => json!({"removed": k.to_string()}),
        Response::Left(k) => json!({"left": k.to_string()}),
        Response::Status(s) => json!({
            "identity": s.identity.map(|k| k.to_string()), "spaces": s.spaces, "peers": s.peers, "addrs": s.addrs,
        }),
        Response::Peers(p) => Value::Array(p.iter().map(peer).collect()),
        Response::Relays(r) => json!(r),
        Response::Hello(role) => json!({"role": role.as_str()}),
        Response::Released => json!({"released": true}),
        Response::Opened => json!({"opened": true}),
        Response::Watch(u) => watch(u),
        Response::Invite(s) => invite_step(s),
        Response::Join(s) => join_step(s),
    }
}

/// `relay serve`'s first line (`stun` only when it answers STUN).
pub(crate) fn relay_started(peer_id: &str, addrs: &[String], stun: Option<&str>) -> Value {
    let mut v = json!({"peer_id": peer_id, "addrs": addrs});
    if let Some(s) = stun {
        v["stun"] = json!(s);
    }
    v
}

/// One line of `relay serve`.
pub(crate) fn relay_notice(n: &RelayNotice) -> Value {
    match n {
        RelayNotice::Admitted { peer_id, identity } => {
            json!({"event": "admitted", "peer_id": peer_id, "identity": identity.to_string()})
        }
        RelayNotice::Open { peer_id } => json!({"event": "open", "peer_id": peer_id}),
        RelayNotice::Refused { peer_id, reason } => json!({"event": "refused", "peer_id": peer_id, "reason": reason}),
        RelayNotice::Revoked { peer_id } => json!({"event": "revoked", "peer_id": peer_id}),
        RelayNotice::Reserved { peer_id, renewed } => {
            json!({"event": "reserved", "peer_id": peer_id, "renewed": renewed})
        }
        RelayNotice::ReservationDenied { peer_id, status } => {
            json!({"event": "reservation_denied", "peer_id": peer_id, "status": status})
        }
        RelayNotice::ReservationEnded { peer_id } => json!({"event": "reservation_ended", "peer_id": peer_id}),
        RelayNotice::Circuit { src, dst } => json!({"event": "circuit", "src": src, "dst": dst}),
        RelayNotice::CircuitDenied { src, dst, status } => {
            json!({"event": "circuit_denied", "src": src, "dst": dst, "status": status})
        }
        RelayNotice::CircuitClosed { src, dst, error } => {
            json!({"event": "circuit_closed", "src": src, "dst": dst, "error": error})
        }
    }
}

fn identity(i: &Identity, with_devices: bool) -> Value {
    let mut v = json!({"identity_key": i.identity_key.to_string(), "device_key": i.device_key.to_string(),
                       "peer_id": i.peer_id, "display_name": i.display_name});
    if with_devices {
        v["devices"] = Value::Array(
            i.devices
                .iter()
                .map(|d| json!({"device_key": d.device_key.to_string(), "name": d.name, "online": d.online}))
                .collect(),
        );
    }
    v
}

fn member(m: &Member) -> Value {
    json!({"identity_key": m.identity_key.to_string(), "display_name": m.display_name,
           "role": m.role.as_str(), "online": m.online})
}

pub(crate) fn task(t: &TaskItem) -> Value {
    json!({"id": t.id, "title": t.title, "completed": t.completed})
}

pub(crate) fn document(d: &DocumentItem) -> Value {
    match &d.text {
        Some(t) => json!({"id": d.id, "name": d.name, "text": t}),
        None => json!({"id": d.id, "name": d.name}),
    }
}

pub(crate) fn object(o: &ObjectItem) -> Value {
    json!({"id": o.id, "type": o.typename, "data": Value::Object(o.data.clone())})
}

fn peer(p: &Peer) -> Value {
    json!({"peer_id": p.peer_id, "device_key": p.device_key.map(|k| k.to_hex()), "addrs": p.addrs,
           "transport": p.transport, "rtt_ms": p.rtt_micros.map(|us| us as f64 / 1000.0)})
}

/// A `watch` result: the ids, and the objects for people's output (`--json` prints only
/// `ts_ms` and `ids`).
pub(crate) fn watch(u: &WatchUpdate) -> Value {
    json!({"ids": u.ids, "objects": u.objects.iter().map(object).collect::<Vec<_>>()})
}

/// A step of `invite`, as its JSON line (`Null` for the steps it does not print).
pub(crate) fn invite_step(s: &InviteStep) -> Value {
    match s {
        InviteStep::Open { uri, expires_at, code, .. } => {
            let mut v = json!({"uri": uri, "expires_at": expires_at});
            if let Some(c) = code {
                v["code"] = json!(c);
            }
            v
        }
        InviteStep::Waiting { .. } => Value::Null,
        InviteStep::Authenticating { fingerprint } => json!({"fingerprint": fingerprint}),
        InviteStep::Syncing { admitted } => json!({"syncing": admitted.to_string()}),
        InviteStep::Admitted { admitted, synced, note } => {
            let mut v = json!({"admitted": admitted.to_string(), "synced": synced});
            if let Some(n) = note {
                v["note"] = json!(n);
            }
            v
        }
    }
}

/// A step of `join`, as its JSON line (`Null` for the steps it does not print).
pub(crate) fn join_step(s: &JoinStep) -> Value {
    match s {
        JoinStep::Connecting | JoinStep::Syncing => Value::Null,
        JoinStep::Authenticating { fingerprint } => json!({"fingerprint": fingerprint}),
        JoinStep::JoinedIdentity { identity_key } => json!({"identity_key": identity_key.to_string()}),
        JoinStep::JoinedSpace { space, .. } => json!({"space": space.to_string()}),
    }
}

/// A node event as a `dxos serve` line.
pub(crate) fn peer_event(ev: &PeerEvent) -> Value {
    match ev {
        PeerEvent::Listening { addr } => json!({"event": "listening", "addr": addr}),
        PeerEvent::Connected { peer_id, addr, transport } => {
            json!({"event": "connected", "peer_id": peer_id, "addr": addr, "transport": transport})
        }
        PeerEvent::Disconnected { peer_id } => json!({"event": "disconnected", "peer_id": peer_id}),
        PeerEvent::Discovered { peer_id, addr } => json!({"event": "discovered", "peer_id": peer_id, "addr": addr}),
        PeerEvent::Verified { peer_id, space, member, role } => json!({
            "event": "verified", "peer_id": peer_id, "space": space.to_hex(), "member": member.to_hex(),
            "role": role.as_str(),
        }),
        PeerEvent::Denied { peer_id, space, reason } => {
            json!({"event": "denied", "peer_id": peer_id, "space": space.to_hex(), "reason": reason})
        }
        PeerEvent::Synced { peer_id, space } => json!({"event": "synced", "peer_id": peer_id, "space": space.to_hex()}),
        PeerEvent::Refused { peer_id, space } => {
            json!({"event": "refused", "peer_id": peer_id, "space": space.to_hex()})
        }
        PeerEvent::SameIdentity { peer_id, same } => {
            json!({"event": "same_identity", "peer_id": peer_id, "same": same})
        }
        PeerEvent::SessionEnded { peer_id, error } => {
            json!({"event": "session_ended", "peer_id": peer_id, "error": error})
        }
        PeerEvent::RelayRefused { relay, reason } => {
            json!({"event": "relay_refused", "relay": relay, "reason": reason})
        }
        PeerEvent::WebRtc { peer_id, micros, error } => {
            // Milliseconds with microseconds as fraction.
            let ms = *micros as f64 / 1000.0;
            json!({"event": "webrtc", "peer_id": peer_id, "ms": ms, "error": error})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_the_contracts() {
        let t = TaskItem { id: "01J".into(), title: "Milk".into(), completed: true };
        let req = Request::TaskList { space: "s".into() };
        assert_eq!(
            response(&req, &Response::Tasks(vec![t])),
            json!([{"id": "01J", "title": "Milk", "completed": true}])
        );
        let o = ObjectItem { id: "01K".into(), typename: None, data: serde_json::Map::new() };
        assert_eq!(object(&o), json!({"id": "01K", "type": null, "data": {}}));
        assert_eq!(join_step(&JoinStep::Syncing), Value::Null);
    }
}
