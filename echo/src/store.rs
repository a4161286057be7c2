//! Persistence of spaces in the profile's redb file, in ECHO's own tables.
//!
//! Every transaction's Yjs v1 update is appended to a log by one background writer thread that
//! commits whatever has queued up in one redb transaction (group commit); snapshots compact the
//! log. This module only moves bytes: it never decodes an update or touches a yrs document.

use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::error::{EchoError, Result};

/// The layout version of ECHO's tables. Bump it (and add an upgrade) when a table changes.
pub const FORMAT_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("echo_meta");
/// space id -> JSON [`SpaceRecord`].
const SPACES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("echo_spaces");
/// (space id, sequence number) -> Yjs v1 update.
const LOG: TableDefinition<(&[u8], u64), &[u8]> = TableDefinition::new("echo_log");
/// space id -> 8-byte little-endian sequence number it covers, then a Yjs v1 update of the whole space.
const SNAPSHOTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("echo_snapshots");
/// (space id, object id) -> the object as queries read it (JSON [`Row`]), so a space answers
/// queries before its document is loaded.
const OBJECTS: TableDefinition<(&[u8], &str), &[u8]> = TableDefinition::new("echo_objects");
/// space id -> the log sequence number the rows of `echo_objects` reflect.
const MATERIALIZED: TableDefinition<&[u8], u64> = TableDefinition::new("echo_materialized");

/// One materialized object: typename, deleted flag, properties (text as strings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Row {
    /// `@type`.
    #[serde(rename = "t")]
    pub typename: Option<String>,
    /// `@deleted`.
    #[serde(rename = "d")]
    pub deleted: bool,
    /// The other properties.
    #[serde(rename = "p")]
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// A space id as stored: the 32 bytes of its public key.
pub(crate) type SpaceKey = [u8; 32];

/// What the store keeps about a space besides its data, so listing spaces needs no decoding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpaceRecord {
    /// The space's name (also in its document, root map `space`).
    pub name: String,
    /// Number of objects not deleted.
    pub objects: usize,
    /// True when the space is deleted (a restorable tombstone).
    pub deleted: bool,
}

/// A message to the writer thread.
pub(crate) enum Msg {
    /// Append one update to a space's log.
    Append { space: SpaceKey, seq: u64, update: Vec<u8> },
    /// Replace a space's record.
    Record { space: SpaceKey, record: SpaceRecord },
    /// Replace the space's snapshot and log up to `seq` with the document encoded whole, here
    /// on the writer thread rather than on the thread that wrote. The encode reads the live
    /// document, which may by then hold more than `seq`: those later updates are in the log
    /// too, and applying them again on load changes nothing. `size` learns the snapshot's size.
    Compact { space: SpaceKey, seq: u64, doc: yrs::Doc, size: Arc<std::sync::atomic::AtomicUsize> },
    /// Replace materialized objects (all of the space's first, when `full`), reflecting the log
    /// up to `seq`. A row of `None` removes the object.
    Materialize { space: SpaceKey, seq: u64, full: bool, rows: Vec<(String, Option<Vec<u8>>)> },
    /// Answer once everything sent before is durable.
    Flush(SyncSender<Result<(), String>>),
    /// Write what is queued, then stop.
    Stop,
}

/// Creates ECHO's tables on a new store, or checks (and upgrades) the format of an existing one.
pub(crate) fn init(db: &Database) -> Result<()> {
    dxos_halo::storage_guard::check();
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let found = meta.get("format_version")?.map(|v| v.value());
        match found {
            None => {
                meta.insert("format_version", FORMAT_VERSION)?;
            }
            Some(v) if v > FORMAT_VERSION => {
                return Err(EchoError::FormatTooNew { found: v, supported: FORMAT_VERSION });
            }
            Some(_) => {} // v == FORMAT_VERSION; older versions would be upgraded here.
        }
        txn.open_table(SPACES)?;
        txn.open_table(LOG)?;
        txn.open_table(SNAPSHOTS)?;
        txn.open_table(OBJECTS)?;
        txn.open_table(MATERIALIZED)?;
    }
    txn.commit()?;
    Ok(())
}

/// An object id and its encoded [`Row`].
pub(crate) type MaterializedRow = (String, Vec<u8>);

/// A space's materialized objects, if they reflect its whole log (else `None`: after a crash
/// they may lag behind, and the space must be loaded from its log).
pub(crate) fn read_materialized(db: &Database, space: &SpaceKey) -> Result<Option<Vec<MaterializedRow>>> {
    dxos_halo::storage_guard::check();
    let txn = db.begin_read()?;
    let Some(seq) = txn.open_table(MATERIALIZED)?.get(&space[..])?.map(|v| v.value()) else {
        return Ok(None);
    };
    let snap_seq = match txn.open_table(SNAPSHOTS)?.get(&space[..])? {
        Some(v) => v.value().get(..8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0),
        None => 0,
    };
    let log_seq = match txn.open_table(LOG)?.range((&space[..], 0u64)..=(&space[..], u64::MAX))?.next_back() {
        Some(row) => row?.0.value().1,
        None => 0,
    };
    if seq != snap_seq.max(log_seq) {
        return Ok(None);
    }
    let table = txn.open_table(OBJECTS)?;
    let mut rows = Vec::new();
    for row in table.range((&space[..], "")..)? {
        let (k, v) = row?;
        let (s, id) = k.value();
        if s != &space[..] {
            break;
        }
        rows.push((id.to_owned(), v.value().to_vec()));
    }
    Ok(Some(rows))
}

/// Every space record in the store.
pub(crate) fn read_records(db: &Database) -> Result<Vec<(SpaceKey, SpaceRecord)>> {
    dxos_halo::storage_guard::check();
    let txn = db.begin_read()?;
    let table = txn.open_table(SPACES)?;
    let mut out = Vec::new();
    for row in table.iter()? {
        let (k, v) = row?;
        let key: SpaceKey = k.value().try_into().map_err(|_| EchoError::Corrupt("space key is not 32 bytes".into()))?;
        let record = serde_json::from_slice(v.value()).map_err(|e| EchoError::Corrupt(format!("space record: {e}")))?;
        out.push((key, record));
    }
    Ok(out)
}

/// A space's persisted data: its snapshot (sequence number covered, bytes) and the log after it.
pub(crate) struct Stored {
    pub snapshot: Option<(u64, Vec<u8>)>,
    pub log: Vec<(u64, Vec<u8>)>,
}

/// Reads a space's snapshot and log tail.
pub(crate) fn read_space(db: &Database, space: &SpaceKey) -> Result<Stored> {
    dxos_halo::storage_guard::check();
    let txn = db.begin_read()?;
    let snaps = txn.open_table(SNAPSHOTS)?;
    let snapshot = match snaps.get(&space[..])? {
        Some(v) => {
            let v = v.value();
            if v.len() < 8 {
                return Err(EchoError::Corrupt("snapshot shorter than its header".into()));
            }
            let mut seq = [0u8; 8];
            seq.copy_from_slice(&v[..8]);
            Some((u64::from_le_bytes(seq), v[8..].to_vec()))
        }
        None => None,
    };
    let from = snapshot.as_ref().map(|(s, _)| s + 1).unwrap_or(0);
    let log_table = txn.open_table(LOG)?;
    let mut log = Vec::new();
    for row in log_table.range((&space[..], from)..=(&space[..], u64::MAX))? {
        let (k, v) = row?;
        log.push((k.value().1, v.value().to_vec()));
    }
    Ok(Stored { snapshot, log })
}

/// The background writer: owns the write side of the store for ECHO.
pub(crate) struct Writer {
    tx: Sender<Msg>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the writer thread on `db`.
    pub fn start(db: Arc<Database>) -> Result<Self> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("echo-writer".into())
            .spawn(move || run(&db, rx))
            .map_err(|e| EchoError::Storage(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { tx, thread: Mutex::new(Some(thread)) })
    }

    /// A sender for spaces to queue their writes on.
    pub fn sender(&self) -> Sender<Msg> {
        self.tx.clone()
    }

    /// Returns once everything queued before is durable.
    pub fn flush(&self) -> Result<()> {
        flush(&self.tx)
    }

    /// Writes what is queued and stops the thread.
    pub fn stop(&self) -> Result<()> {
        let res = self.flush();
        let _ = self.tx.send(Msg::Stop);
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        res
    }
}

/// Asks the writer behind `tx` to make everything queued durable, and waits.
pub(crate) fn flush(tx: &Sender<Msg>) -> Result<()> {
    let (reply, wait) = mpsc::sync_channel(1);
    tx.send(Msg::Flush(reply)).map_err(|_| EchoError::Closed)?;
    match wait.recv() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(EchoError::Storage(e)),
        Err(_) => Err(EchoError::Closed),
    }
}

/// Most messages written in one redb transaction.
const MAX_BATCH: usize = 50_000;

fn run(db: &Database, rx: Receiver<Msg>) {
    // Writes that failed (a full disk...) are kept and tried again with the next batch, so a
    // transient failure loses nothing; flushes report the failure meanwhile.
    let mut retry: Vec<Msg> = Vec::new();
    let mut stop = false;
    while !stop {
        let Ok(first) = rx.recv() else { break };
        let mut batch = std::mem::take(&mut retry);
        let mut flushes = Vec::new();
        let mut push = |m: Msg, batch: &mut Vec<Msg>, stop: &mut bool| match m {
            Msg::Flush(r) => flushes.push(r),
            Msg::Stop => *stop = true,
            other => batch.push(other),
        };
        push(first, &mut batch, &mut stop);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => push(m, &mut batch, &mut stop),
                Err(_) => break,
            }
        }
        let result = if batch.is_empty() { Ok(()) } else { write_batch(db, &batch) };
        match &result {
            Ok(()) => {}
            Err(e) => {
                tracing::error!("echo: writing {} queued changes failed: {e}; will retry", batch.len());
                retry = batch;
            }
        }
        for f in flushes {
            let _ = f.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        }
    }
}

fn write_batch(db: &Database, batch: &[Msg]) -> Result<()> {
    dxos_halo::storage_guard::check();
    let txn = db.begin_write()?;
    {
        let mut log = txn.open_table(LOG)?;
        let mut spaces = txn.open_table(SPACES)?;
        let mut snaps = txn.open_table(SNAPSHOTS)?;
        for m in batch {
            match m {
                Msg::Append { space, seq, update } => {
                    log.insert((&space[..], *seq), update.as_slice())?;
                }
                Msg::Record { space, record } => {
                    let bytes = serde_json::to_vec(record).map_err(|e| EchoError::Storage(e.to_string()))?;
                    spaces.insert(&space[..], bytes.as_slice())?;
                }
                Msg::Compact { space, seq, doc, size } => match encoded(doc) {
                    Ok(data) => {
                        let mut v = Vec::with_capacity(8 + data.len());
                        v.extend_from_slice(&seq.to_le_bytes());
                        v.extend_from_slice(&data);
                        snaps.insert(&space[..], v.as_slice())?;
                        log.retain_in((&space[..], 0u64)..=(&space[..], *seq), |_, _| false)?;
                        size.store(data.len().max(1), std::sync::atomic::Ordering::Relaxed);
                    }
                    // Nothing is lost: the snapshot and log stay as they were.
                    Err(e) => tracing::error!("echo: cannot compact a space's log: {e}"),
                },
                Msg::Materialize { space, seq, full, rows } => {
                    let mut objects = txn.open_table(OBJECTS)?;
                    if *full {
                        let mut rest: Vec<String> = Vec::new();
                        for row in objects.range((&space[..], "")..)? {
                            let (k, _) = row?;
                            let (s, id) = k.value();
                            if s != &space[..] {
                                break;
                            }
                            rest.push(id.to_owned());
                        }
                        for id in rest {
                            objects.remove((&space[..], id.as_str()))?;
                        }
                    }
                    for (id, row) in rows {
                        match row {
                            Some(bytes) => objects.insert((&space[..], id.as_str()), bytes.as_slice())?,
                            None => objects.remove((&space[..], id.as_str()))?,
                        };
                    }
                    txn.open_table(MATERIALIZED)?.insert(&space[..], *seq)?;
                }
                Msg::Flush(_) | Msg::Stop => {}
            }
        }
    }
    txn.commit()?;
    Ok(())
}

/// The whole document as one update (Yjs v1).
fn encoded(doc: &yrs::Doc) -> Result<Vec<u8>> {
    use yrs::{ReadTxn, Transact};
    // A decoder panic must not take the writer thread down.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        doc.transact().encode_state_as_update_v1(&yrs::StateVector::default())
    }))
    .map_err(|_| EchoError::Corrupt("the document could not be encoded".into()))
}
