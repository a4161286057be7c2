//! Invitations on the profile's node, as streams of steps: `invite` emits [`InviteStep`]s (the
//! invitation, the pairing words once a guest proves the secret, `Syncing` once it is admitted,
//! then `Admitted` once the guest has its first sync or the wait for it ended); `join` emits
//! [`JoinStep`]s. Both end with an error when the invitation fails, expires or a step times
//! out: never a success after a timeout.

use std::time::Duration;

use dxos_halo::{Offer, OfferKind, Role};
use dxos_net::invite::driver::JoinFailure;
use dxos_net::invite::{Delivery, InviteStatus, JoinStatus, Joined};

use crate::error::{ClientError, Result};
use crate::local::{Local, device_label};
use crate::types::{InviteOptions, InviteStep, JoinStep};

/// The longest invitation text accepted (a QR code holds it; longer text is refused unread).
pub const MAX_INVITATION_LEN: usize = dxos_halo::invitation::MAX_URI;

/// How long a wait for the next status lasts before `stop` is looked at again.
const STOP_CHECK: Duration = Duration::from_millis(100);

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Reads an invitation's text, refusing a malformed or expired one (nothing happens).
pub(crate) fn parse_offer(uri: &str) -> Result<Offer> {
    Offer::from_uri(uri, now_s()).map_err(|e| ClientError::InvalidInput(e.to_string()))
}

/// What an invitation's text offers, read before joining (to ask for a code, or to say
/// at once that it is for another kind of profile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationInfo {
    /// The space it shares, or `None` for pairing a new device with an identity.
    pub space: Option<dxos_halo::PublicKey>,
    /// Whether the guest must type the 6-digit code shown on the inviting device.
    pub code_required: bool,
    /// When it expires (Unix seconds).
    pub expires_at: u64,
    /// The role a space invitation gives (`None` for a device).
    pub role: Option<Role>,
    /// The inviting device's key, as the text says (proved only when joining: the pairing
    /// words).
    pub inviter: dxos_halo::PublicKey,
}

/// Reads an invitation's text ([`InvitationInfo`]); a malformed or expired one is
/// [`ClientError::InvalidInput`] and nothing happens.
pub fn read_invitation(uri: &str) -> Result<InvitationInfo> {
    let offer = parse_offer(uri)?;
    let (space, role) = match offer.kind {
        OfferKind::Device => (None, None),
        OfferKind::Space { space, role } => (
            Some(dxos_halo::PublicKey::from_bytes(&space).map_err(|e| ClientError::InvalidInput(e.to_string()))?),
            Some(role),
        ),
    };
    let inviter = offer.inviter_key().map_err(|e| ClientError::InvalidInput(e.to_string()))?;
    Ok(InvitationInfo { space, code_required: offer.code_required, expires_at: offer.expires_at, role, inviter })
}

/// Runs an invitation to its end on `local`'s node, calling `emit` with each step (it returns
/// false when nobody listens any more: the invitation is cancelled). `stop` cancels too.
pub(crate) fn invite(
    local: &Local,
    options: &InviteOptions,
    stop: &dyn Fn() -> bool,
    emit: &mut dyn FnMut(InviteStep) -> bool,
) -> Result<()> {
    local.require_identity()?;
    let node = local.node().ok_or_else(|| {
        ClientError::Network("the profile's owner runs no network node (it has no identity yet)".into())
    })?;
    if options.timeout_secs == 0 {
        return Err(ClientError::InvalidInput("--timeout must be at least 1 second".into()));
    }
    let kind = match &options.space {
        None => OfferKind::Device,
        Some(space) => {
            let s = local.space(space)?;
            let role = options.role.unwrap_or(Role::Editor);
            if !matches!(role, Role::Editor | Role::Reader) {
                return Err(ClientError::InvalidInput(format!("a guest is an editor or a reader, not {role:?}")));
            }
            match local.my_role(&s.id()) {
                Some(Role::Owner | Role::Admin) => {}
                _ => return Err(ClientError::Denied("only the space's owners and admins can invite".into())),
            }
            OfferKind::Space { space: *s.id().as_bytes(), role }
        }
    };
    let mut inv = node.invite(kind, Duration::from_secs(options.timeout_secs), options.code)?;
    let open = InviteStep::Open {
        id: hex::encode(inv.offer.id),
        uri: inv.uri.clone(),
        expires_at: inv.offer.expires_at,
        code: inv.code.clone(),
    };
    if !emit(open) {
        node.cancel_invitation(&inv.offer.id);
        return Ok(());
    }
    let mut shown = false;
    let mut syncing = false;
    let mut failures = 0;
    loop {
        let status = inv.status.borrow_and_update().clone();
        match status {
            InviteStatus::Waiting { failures: n } if n != failures => {
                failures = n;
                emit(InviteStep::Waiting { failures });
            }
            InviteStatus::Authenticating { fingerprint } if !shown => {
                shown = true;
                emit(InviteStep::Authenticating { fingerprint });
            }
            InviteStatus::Admitted { admitted, fingerprint, delivery } => {
                if !shown {
                    shown = true;
                    emit(InviteStep::Authenticating { fingerprint });
                }
                if !syncing {
                    // The admission is durable before anyone is told of it.
                    local.flush()?;
                    syncing = true;
                    emit(InviteStep::Syncing { admitted });
                }
                // The last step waits for the guest's first sync: a profile with no app or
                // `serve` running has nobody else to give the guest its data.
                match delivery {
                    Delivery::Syncing => {}
                    Delivery::Done => {
                        emit(InviteStep::Admitted { admitted, synced: true, note: None });
                        return Ok(());
                    }
                    Delivery::Unconfirmed(reason) => {
                        emit(InviteStep::Admitted { admitted, synced: false, note: Some(reason) });
                        return Ok(());
                    }
                }
                if stop() {
                    let note = "stopped before the new device had this device's data".to_owned();
                    emit(InviteStep::Admitted { admitted, synced: false, note: Some(note) });
                    return Ok(());
                }
            }
            InviteStatus::Failed { reason, expired } => {
                let message = format!("nobody was admitted: {reason}");
                return Err(if expired { ClientError::Timeout(message) } else { ClientError::Denied(message) });
            }
            _ => {}
        }
        if stop() && !syncing {
            node.cancel_invitation(&inv.offer.id);
            return Err(ClientError::Denied("the invitation was cancelled".into()));
        }
        node.wait_changed(&mut inv.status, STOP_CHECK);
    }
}

/// Redeems an invitation on `local`'s node (started if needed), calling `emit` with each step.
pub(crate) fn join(
    local: &Local,
    uri: &str,
    code: Option<String>,
    stop: &dyn Fn() -> bool,
    emit: &mut dyn FnMut(JoinStep) -> bool,
) -> Result<()> {
    let offer = parse_offer(uri)?;
    match (&offer.kind, local.identity_key()) {
        (OfferKind::Device, Some(i)) => {
            return Err(ClientError::InvalidInput(format!(
                "this profile already has an identity ({i}); a device joins with a fresh profile (--profile DIR)"
            )));
        }
        (OfferKind::Space { .. }, None) => return Err(dxos_halo::HaloError::NoIdentity.into()),
        _ => {}
    }
    let node = local.node().ok_or_else(|| ClientError::Network("the profile's owner runs no network node".into()))?;
    let mut rx = node.join(offer, code, device_label());
    let mut last: Option<JoinStep> = None;
    loop {
        let status = rx.borrow_and_update().clone();
        let step = match status {
            JoinStatus::Connecting => Some(JoinStep::Connecting),
            JoinStatus::Authenticating { fingerprint } => Some(JoinStep::Authenticating { fingerprint }),
            JoinStatus::Syncing => Some(JoinStep::Syncing),
            JoinStatus::Done(joined) => {
                local.flush()?;
                emit(match joined {
                    Joined::Device { identity } => JoinStep::JoinedIdentity { identity_key: identity },
                    Joined::Space { space, already } => JoinStep::JoinedSpace { space, already },
                });
                return Ok(());
            }
            JoinStatus::Failed { reason, kind } => {
                return Err(match kind {
                    JoinFailure::InvalidInput => ClientError::InvalidInput(reason),
                    JoinFailure::Refused => ClientError::Denied(reason),
                    JoinFailure::Network => ClientError::Network(reason),
                    JoinFailure::Timeout => ClientError::Timeout(reason),
                });
            }
        };
        if step.is_some() && step != last {
            last = step.clone();
            if let Some(s) = step
                && !emit(s)
            {
                return Err(ClientError::Denied("the join was interrupted".into()));
            }
        }
        if stop() {
            return Err(ClientError::Denied("the join was interrupted".into()));
        }
        node.wait_changed(&mut rx, STOP_CHECK);
    }
}
