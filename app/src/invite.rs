//! `invite` and `join` on the owner's node: each a stream of JSON lines (docs/cli.md).
//! `invite`: the invitation (`uri`, `expires_at`, `code`), the pairing's `fingerprint` once a
//! guest proves the secret, `syncing` once it is admitted, then `admitted` (with `synced`)
//! once the guest has its first sync or the wait for it ended. `join`: `fingerprint`, then `identity_key` or `space`.
//! Both end with an error when the invitation fails, expires or a step times out: never a
//! success after a timeout.

use std::time::Duration;

use dxos_halo::{Offer, OfferKind, Role};
use dxos_net::invite::driver::JoinFailure;
use dxos_net::invite::{Delivery, InviteStatus, JoinStatus, Joined};
use serde_json::{Value, json};

use crate::client::Client;
use crate::net::NetHost;
use crate::request::{CmdError, Kind, Request};

/// How often the status is looked at.
const POLL: Duration = Duration::from_millis(25);

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Reads an offer's text, refusing a malformed or expired one (bad input: exit 2).
pub fn parse_offer(uri: &str) -> Result<Offer, CmdError> {
    Offer::from_uri(uri, now_s()).map_err(|e| CmdError::new(Kind::InvalidInput, e.to_string()))
}

/// Runs `invite` or `join` to its end on `net`, calling `emit` with each line (it returns
/// false when nobody listens any more: the invitation is cancelled). `stop` cancels too.
pub fn run(
    client: &Client,
    net: &NetHost,
    req: &Request,
    stop: &dyn Fn() -> bool,
    emit: &mut dyn FnMut(Value) -> bool,
) -> Result<(), CmdError> {
    match req {
        Request::Invite { space, role, timeout_secs, code } => {
            invite(client, net, space.as_deref(), role.as_deref(), *timeout_secs, *code, stop, emit)
        }
        Request::Join { uri, code } => join(client, net, uri, code.clone(), stop, emit),
        _ => Err(CmdError::new(Kind::Internal, "not an invitation request")),
    }
}

#[allow(clippy::too_many_arguments)]
fn invite(
    client: &Client,
    net: &NetHost,
    space: Option<&str>,
    role: Option<&str>,
    timeout_secs: u64,
    code: bool,
    stop: &dyn Fn() -> bool,
    emit: &mut dyn FnMut(Value) -> bool,
) -> Result<(), CmdError> {
    client.require_identity()?;
    if timeout_secs == 0 {
        return Err(CmdError::new(Kind::InvalidInput, "--timeout must be at least 1 second"));
    }
    let kind = match space {
        None => OfferKind::Device,
        Some(space) => {
            let s = client.space(space)?;
            let role = match role.unwrap_or("editor") {
                "editor" => Role::Editor,
                "reader" => Role::Reader,
                other => {
                    return Err(CmdError::new(
                        Kind::InvalidInput,
                        format!("--role is editor or reader, not {other:?}"),
                    ));
                }
            };
            match client.halo().my_role(&s.id()) {
                Some(Role::Owner | Role::Admin) => {}
                _ => return Err(CmdError::new(Kind::Denied, "only the space's owners and admins can invite")),
            }
            OfferKind::Space { space: *s.id().as_bytes(), role }
        }
    };
    let inv = net.invite(kind, Duration::from_secs(timeout_secs), code)?;
    let mut first = json!({"uri": inv.uri, "expires_at": inv.offer.expires_at});
    if let Some(c) = &inv.code {
        first["code"] = json!(c);
    }
    if !emit(first) {
        net.cancel_invitation(&inv.offer.id);
        return Ok(());
    }
    let mut shown = false;
    let mut syncing = false;
    loop {
        let status = inv.status.borrow().clone();
        match status {
            InviteStatus::Authenticating { fingerprint } if !shown => {
                shown = true;
                emit(json!({"fingerprint": fingerprint}));
            }
            InviteStatus::Admitted { admitted, fingerprint, delivery } => {
                if !shown {
                    shown = true;
                    emit(json!({"fingerprint": fingerprint}));
                }
                if !syncing {
                    // The admission is durable before anyone is told of it.
                    client.flush()?;
                    syncing = true;
                    emit(json!({"syncing": admitted.to_string()}));
                }
                // The last line waits for the guest's first sync: a profile with no app or
                // `serve` running has nobody else to give the guest its data.
                match delivery {
                    Delivery::Syncing => {}
                    Delivery::Done => {
                        emit(json!({"admitted": admitted.to_string(), "synced": true}));
                        return Ok(());
                    }
                    Delivery::Unconfirmed(reason) => {
                        emit(json!({"admitted": admitted.to_string(), "synced": false, "note": reason}));
                        return Ok(());
                    }
                }
                if stop() {
                    let note = "stopped before the new device had this device's data";
                    emit(json!({"admitted": admitted.to_string(), "synced": false, "note": note}));
                    return Ok(());
                }
            }
            InviteStatus::Failed { reason, expired } => {
                let kind = if expired { Kind::Timeout } else { Kind::Denied };
                return Err(CmdError::new(kind, format!("nobody was admitted: {reason}")));
            }
            _ => {}
        }
        if stop() && !syncing {
            net.cancel_invitation(&inv.offer.id);
            return Err(CmdError::new(Kind::Denied, "the invitation was cancelled"));
        }
        std::thread::sleep(POLL);
    }
}

fn join(
    client: &Client,
    net: &NetHost,
    uri: &str,
    code: Option<String>,
    stop: &dyn Fn() -> bool,
    emit: &mut dyn FnMut(Value) -> bool,
) -> Result<(), CmdError> {
    let offer = parse_offer(uri)?;
    match (&offer.kind, client.halo().identity()) {
        (OfferKind::Device, Some(i)) => {
            return Err(CmdError::new(
                Kind::InvalidInput,
                format!(
                    "this profile already has an identity ({}); a device joins with a fresh profile (--profile DIR)",
                    i.identity_key
                ),
            ));
        }
        (OfferKind::Space { .. }, None) => return Err(dxos_halo::HaloError::NoIdentity.into()),
        _ => {}
    }
    let rx = net.join(offer, code, crate::client::device_label());
    let mut shown = false;
    loop {
        let status = rx.borrow().clone();
        match status {
            JoinStatus::Authenticating { fingerprint } if !shown => {
                shown = true;
                emit(json!({"fingerprint": fingerprint}));
            }
            JoinStatus::Done(joined) => {
                client.flush()?;
                let line = match joined {
                    Joined::Device { identity } => json!({"identity_key": identity.to_string()}),
                    Joined::Space { space, .. } => json!({"space": space.to_string()}),
                };
                emit(line);
                return Ok(());
            }
            JoinStatus::Failed { reason, kind } => {
                let kind = match kind {
                    JoinFailure::InvalidInput => Kind::InvalidInput,
                    JoinFailure::Refused => Kind::Denied,
                    JoinFailure::Network => Kind::Network,
                    JoinFailure::Timeout => Kind::Timeout,
                };
                return Err(CmdError::new(kind, reason));
            }
            _ => {}
        }
        if stop() {
            return Err(CmdError::new(Kind::Denied, "the join was interrupted"));
        }
        std::thread::sleep(POLL);
    }
}
