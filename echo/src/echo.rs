//! The spaces of one profile, kept in the profile's redb store.
//!
//! `Echo` owns ECHO's tables in the database the Client lends it, the background writer, and
//! the spaces opened so far. It never creates keys: the caller (HALO, through the Client) makes
//! a space's key pair and passes the public key in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use dxos_halo::PublicKey;
use redb::Database;

use crate::error::{EchoError, Result};
use crate::space::{Space, SpaceOptions};
use crate::store::{self, SpaceRecord, Writer};

/// A space as listed: its id, name and size.
#[derive(Debug, Clone, PartialEq)]
pub struct SpaceInfo {
    /// The space's id (public key).
    pub id: PublicKey,
    /// Its name.
    pub name: String,
    /// Number of objects not deleted.
    pub objects: usize,
    /// Deleted (restorable).
    pub deleted: bool,
}

/// The ECHO database of one profile. Cheap to clone.
#[derive(Clone)]
pub struct Echo {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    writer: Writer,
    spaces: Mutex<HashMap<PublicKey, Space>>,
    options: SpaceOptions,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for s in self.spaces.get_mut().unwrap_or_else(|e| e.into_inner()).values() {
            s.sync_record();
            s.inner.materialize();
        }
        if let Err(e) = self.writer.stop() {
            tracing::error!("echo: final flush failed: {e}");
        }
    }
}

impl Echo {
    /// Opens ECHO in the profile's database (creating or checking its tables).
    pub fn open(db: Arc<Database>) -> Result<Echo> {
        Self::open_with(db, SpaceOptions::default())
    }

    /// Opens ECHO with non-default space options.
    pub fn open_with(db: Arc<Database>, options: SpaceOptions) -> Result<Echo> {
        store::init(&db)?;
        let writer = Writer::start(db.clone())?;
        Ok(Echo { inner: Arc::new(Inner { db, writer, spaces: Mutex::new(HashMap::new()), options }) })
    }

    fn spaces_lock(&self) -> MutexGuard<'_, HashMap<PublicKey, Space>> {
        self.inner.spaces.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn records(&self) -> Result<HashMap<PublicKey, SpaceRecord>> {
        let mut out = HashMap::new();
        for (key, record) in store::read_records(&self.inner.db)? {
            let id = PublicKey::from_bytes(&key).map_err(|e| EchoError::Corrupt(format!("space id: {e}")))?;
            out.insert(id, record);
        }
        for (id, s) in self.spaces_lock().iter() {
            out.insert(*id, s.record());
        }
        Ok(out)
    }

    /// Creates a new, empty space with id `id` (the public key of a fresh key pair).
    pub fn create_space(&self, id: PublicKey, name: &str) -> Result<Space> {
        if self.records()?.contains_key(&id) {
            return Err(EchoError::SpaceExists(id.to_string()));
        }
        let record = SpaceRecord { name: name.to_owned(), ..SpaceRecord::default() };
        let space = Space::load(id, None, record, Some(self.persist()), self.inner.options.clone())?;
        space.rename(name)?;
        self.spaces_lock().insert(id, space.clone());
        Ok(space)
    }

    /// Opens a space this profile holds, or makes an empty replica of one it was admitted to
    /// (its name and objects then arrive by replication).
    pub fn open_replica(&self, id: PublicKey) -> Result<Space> {
        match self.space(&id) {
            Err(EchoError::SpaceNotFound(_)) => {}
            other => return other,
        }
        let space = Space::load(id, None, SpaceRecord::default(), Some(self.persist()), self.inner.options.clone())?;
        Ok(self.spaces_lock().entry(id).or_insert(space).clone())
    }

    fn persist(&self) -> (Arc<Database>, std::sync::mpsc::Sender<store::Msg>) {
        (self.inner.db.clone(), self.inner.writer.sender())
    }

    /// The spaces of this profile (deleted ones too when `include_deleted`), by name then id.
    pub fn spaces(&self, include_deleted: bool) -> Result<Vec<SpaceInfo>> {
        let mut out: Vec<SpaceInfo> = self
            .records()?
            .into_iter()
            .filter(|(_, r)| include_deleted || !r.deleted)
            .map(|(id, r)| SpaceInfo { id, name: r.name, objects: r.objects, deleted: r.deleted })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Opens a space by id (loading it from the store the first time).
    pub fn space(&self, id: &PublicKey) -> Result<Space> {
        if let Some(s) = self.spaces_lock().get(id) {
            return Ok(s.clone());
        }
        let record = self.records()?.remove(id).ok_or_else(|| EchoError::SpaceNotFound(id.to_string()))?;
        let space = match store::read_materialized(&self.inner.db, id.as_bytes())? {
            // Up to date: answer queries from the materialized rows while the document loads.
            Some(rows) if !rows.is_empty() => {
                Space::load_materialized(*id, rows, record, self.persist(), self.inner.options.clone())?
            }
            _ => {
                let stored = store::read_space(&self.inner.db, id.as_bytes())?;
                Space::load(*id, Some(stored), record, Some(self.persist()), self.inner.options.clone())?
            }
        };
        // Another thread may have loaded it meanwhile: keep the first.
        Ok(self.spaces_lock().entry(*id).or_insert(space).clone())
    }

    /// Finds a live (not deleted) space by id (hex) or by its unique name.
    pub fn find_space(&self, id_or_name: &str) -> Result<Space> {
        let spaces = self.spaces(false)?;
        if let Ok(id) = id_or_name.parse::<PublicKey>()
            && spaces.iter().any(|s| s.id == id)
        {
            return self.space(&id);
        }
        let named: Vec<&SpaceInfo> = spaces.iter().filter(|s| s.name == id_or_name).collect();
        match named.as_slice() {
            [one] => self.space(&one.id),
            [] => Err(EchoError::SpaceNotFound(id_or_name.to_owned())),
            many => Err(EchoError::InvalidValue(format!(
                "{} spaces are named {id_or_name:?}; use the id ({})",
                many.len(),
                many.iter().map(|s| s.id.to_string()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Deletes a space: it disappears from lists but stays restorable.
    pub fn delete_space(&self, id: &PublicKey) -> Result<()> {
        self.space(id)?.set_deleted(true);
        Ok(())
    }

    /// Restores a deleted space.
    pub fn restore_space(&self, id: &PublicKey) -> Result<()> {
        self.space(id)?.set_deleted(false);
        Ok(())
    }

    /// Returns once every change made so far is durable on disk.
    pub fn flush(&self) -> Result<()> {
        let spaces: Vec<Space> = self.spaces_lock().values().cloned().collect();
        for s in spaces {
            s.sync_record();
        }
        self.inner.writer.flush()
    }

    /// The database this ECHO lives in.
    pub fn database(&self) -> &Arc<Database> {
        &self.inner.db
    }
}
