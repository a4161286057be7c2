//! HALO's tables in the profile's redb store: credentials (public) and which identity and
//! device this profile is. Secrets never go here (see `keyring.rs`).

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::credential::{Credential, VerifyError};
use crate::error::HaloError;

/// The layout version of HALO's tables.
pub const FORMAT_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("halo_meta");
/// credential id -> encoded credential.
const CREDENTIALS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("halo_credentials");
/// "identity" / "device" -> 32-byte public key.
const LOCAL: TableDefinition<&str, &[u8]> = TableDefinition::new("halo_local");

fn storage<E: std::fmt::Display>(e: E) -> HaloError {
    HaloError::Storage(e.to_string())
}

/// Creates HALO's tables, or checks their format.
pub(crate) fn init(db: &Database) -> Result<(), HaloError> {
    crate::storage_guard::check();
    let txn = db.begin_write().map_err(storage)?;
    {
        let mut meta = txn.open_table(META).map_err(storage)?;
        let found = meta.get("format_version").map_err(storage)?.map(|v| v.value());
        match found {
            None => {
                meta.insert("format_version", FORMAT_VERSION).map_err(storage)?;
            }
            Some(v) if v > FORMAT_VERSION => {
                return Err(HaloError::FormatTooNew { found: v, supported: FORMAT_VERSION });
            }
            Some(_) => {}
        }
        txn.open_table(CREDENTIALS).map_err(storage)?;
        txn.open_table(LOCAL).map_err(storage)?;
    }
    txn.commit().map_err(storage)
}

/// Every stored credential (each decoded and signature-checked again: the disk is not trusted).
pub(crate) fn read_credentials(db: &Database) -> Result<Vec<Credential>, HaloError> {
    crate::storage_guard::check();
    let txn = db.begin_read().map_err(storage)?;
    let table = txn.open_table(CREDENTIALS).map_err(storage)?;
    let mut out = Vec::new();
    for row in table.iter().map_err(storage)? {
        let (_, v) = row.map_err(storage)?;
        match Credential::decode(v.value()) {
            Ok(c) => out.push(c),
            Err(e @ (VerifyError::Malformed(_) | VerifyError::BadSignature)) => {
                return Err(HaloError::Corrupt(format!("a stored credential: {e}")));
            }
            Err(_) => {}
        }
    }
    Ok(out)
}

/// This profile's identity and device public keys.
pub(crate) type LocalKeys = ([u8; 32], [u8; 32]);

/// The stored identity and device public keys, if this profile has an identity.
pub(crate) fn read_local(db: &Database) -> Result<Option<LocalKeys>, HaloError> {
    crate::storage_guard::check();
    let txn = db.begin_read().map_err(storage)?;
    let table = txn.open_table(LOCAL).map_err(storage)?;
    let get = |k: &str| -> Result<Option<[u8; 32]>, HaloError> {
        match table.get(k).map_err(storage)? {
            Some(v) => {
                v.value().try_into().map(Some).map_err(|_| HaloError::Corrupt(format!("{k} key is not 32 bytes")))
            }
            None => Ok(None),
        }
    };
    match (get("identity")?, get("device")?) {
        (Some(i), Some(d)) => Ok(Some((i, d))),
        (None, None) => Ok(None),
        _ => Err(HaloError::Corrupt("the profile's identity is half written".into())),
    }
}

/// Writes credentials, and (when given) which identity and device this profile is, atomically.
pub(crate) fn write(
    db: &Database,
    credentials: &[Credential],
    local: Option<([u8; 32], [u8; 32])>,
) -> Result<(), HaloError> {
    #[cfg(test)]
    gate::pass(db);
    crate::storage_guard::check();
    let txn = db.begin_write().map_err(storage)?;
    {
        let mut table = txn.open_table(CREDENTIALS).map_err(storage)?;
        for c in credentials {
            table.insert(&c.id().0[..], c.encode().as_slice()).map_err(storage)?;
        }
        if let Some((identity, device)) = local {
            let mut l = txn.open_table(LOCAL).map_err(storage)?;
            l.insert("identity", &identity[..]).map_err(storage)?;
            l.insert("device", &device[..]).map_err(storage)?;
        }
    }
    txn.commit().map_err(storage)
}

/// Test hook: holds one database's next write at the disk until the test lets it go.
#[cfg(test)]
pub(crate) mod gate {
    use std::sync::Mutex;
    use std::sync::mpsc::{Receiver, Sender};

    use redb::Database;

    type Gate = (Sender<()>, Receiver<()>);
    static GATES: Mutex<Vec<(usize, Gate)>> = Mutex::new(Vec::new());

    fn key(db: &Database) -> usize {
        std::ptr::from_ref(db) as usize
    }

    /// The next write to `db` says so on `entered`, then waits for `go`.
    pub(crate) fn hold(db: &Database, entered: Sender<()>, go: Receiver<()>) {
        GATES.lock().unwrap_or_else(|e| e.into_inner()).push((key(db), (entered, go)));
    }

    pub(super) fn pass(db: &Database) {
        let gate = {
            let mut gates = GATES.lock().unwrap_or_else(|e| e.into_inner());
            gates.iter().position(|(k, _)| *k == key(db)).map(|i| gates.swap_remove(i).1)
        };
        if let Some((entered, go)) = gate {
            let _ = entered.send(());
            let _ = go.recv();
        }
    }
}
