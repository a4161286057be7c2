//! The one way credential state machines settle: apply every credential received, in a fixed
//! order (issue time, then id), retrying those that may become valid once another is accepted,
//! until a round makes no progress. Order of delivery therefore never matters.

use std::collections::HashMap;

use crate::credential::{Credential, CredentialId, VerifyError};
use crate::identity::Applied;

/// A state machine over credentials.
pub(crate) trait Settle {
    /// Why `c` is not valid now, if it is not.
    fn authorize(&self, c: &Credential) -> Result<(), VerifyError>;
    /// Puts a valid credential into effect.
    fn accept(&mut self, c: &Credential);
    /// Whether a credential refused with `e` may still become valid in a later round.
    fn may_become_valid(e: &VerifyError) -> bool;
}

/// Applies `received` (in order) to a freshly reset `state`; returns what became of each.
pub(crate) fn settle<S: Settle>(
    state: &mut S,
    received: &[&Credential],
) -> HashMap<CredentialId, Result<Applied, VerifyError>> {
    let mut status = HashMap::with_capacity(received.len());
    let mut waiting: Vec<(&Credential, VerifyError)> = Vec::new();
    let mut round: Vec<&Credential> = received.to_vec();
    loop {
        let mut progress = false;
        waiting.clear();
        for c in round {
            match state.authorize(c) {
                Ok(()) => {
                    state.accept(c);
                    status.insert(c.id(), Ok(Applied::Accepted));
                    progress = true;
                }
                Err(e) if S::may_become_valid(&e) => waiting.push((c, e)),
                Err(e) => {
                    status.insert(c.id(), Err(e));
                }
            }
        }
        round = waiting.iter().map(|(c, _)| *c).collect();
        if !progress || round.is_empty() {
            break;
        }
    }
    for (c, e) in waiting {
        let s = match e {
            VerifyError::UnknownParent(_) => Ok(Applied::Pending),
            other => Err(other),
        };
        status.insert(c.id(), s);
    }
    status
}
