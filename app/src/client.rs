//! The Client: the one way into a profile's data for the CLI, the owner's socket and the app.
//!
//! It opens the profile's single redb store, lends it to ECHO, and answers [`Request`]s with
//! exactly the JSON that CLI.md documents. It never prints and never touches the socket.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dxos_echo::{Echo, Filter, Object, Query, Space, Task};
use dxos_halo::{Halo, IdentityInfo, KeyPair, Keyring, space_key_name};
use serde_json::{Map, Value, json};

use crate::profile::Profile;
use crate::request::{CmdError, Kind, Request};

/// Why a profile could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process holds the store (its owner, or another short command).
    #[error("the profile is in use by another process")]
    Locked,
    /// Anything else, with the reason.
    #[error("{0}")]
    Other(String),
}

/// An open profile.
pub struct Client {
    echo: Echo,
    halo: Halo,
    keyring: Keyring,
}

impl Client {
    /// Opens the profile's store (creating the profile if needed).
    pub fn open(profile: &Profile) -> Result<Client, OpenError> {
        profile.ensure().map_err(|e| OpenError::Other(format!("{e:#}")))?;
        let db = match redb::Database::create(profile.store_path()) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(OpenError::Locked),
            Err(e) => {
                return Err(OpenError::Other(format!("cannot open {}: {e}", profile.store_path().display())));
            }
        };
        let db = Arc::new(db);
        let echo = Echo::open(db.clone()).map_err(|e| OpenError::Other(e.to_string()))?;
        let keyring = Keyring::open(profile.dir().join("keys")).map_err(|e| OpenError::Other(e.to_string()))?;
        let halo = Halo::open(db, keyring.clone()).map_err(|e| OpenError::Other(e.to_string()))?;
        Ok(Client { echo, halo, keyring })
    }

    /// HALO: this profile's identity and credentials.
    pub fn halo(&self) -> &Halo {
        &self.halo
    }

    /// This profile's identity, or the `no_identity` error with a hint.
    pub fn require_identity(&self) -> Result<IdentityInfo, CmdError> {
        self.halo.identity().ok_or_else(|| dxos_halo::HaloError::NoIdentity.into())
    }

    /// Creates the identity and this device, and adopts the spaces made before it.
    pub fn create_identity(&self, name: &str) -> Result<IdentityInfo, CmdError> {
        let info = self.halo.create_identity(name, &device_label())?;
        self.adopt_spaces()?;
        Ok(info)
    }

    /// Restores an identity from its recovery phrase on this fresh profile.
    pub fn recover_identity(&self, phrase: &str, device: Option<&str>) -> Result<IdentityInfo, CmdError> {
        let label = device.map(str::to_owned).unwrap_or_else(device_label);
        let info = self.halo.recover_identity(phrase, &label)?;
        self.adopt_spaces()?;
        Ok(info)
    }

    /// Writes genesis and owner membership for spaces that were made before the identity.
    fn adopt_spaces(&self) -> Result<(), CmdError> {
        for info in self.echo.spaces(true)? {
            if self.halo.has_space(&info.id) {
                continue;
            }
            match self.keyring.load(&space_key_name(&info.id)) {
                Ok(Some(key)) => self.halo.add_space(&key)?,
                Ok(None) => tracing::warn!("space {} has no key on this device; it was not adopted", info.id),
                Err(e) => return Err(CmdError::new(Kind::Io, e.to_string())),
            }
        }
        Ok(())
    }

    /// The ECHO database.
    pub fn echo(&self) -> &Echo {
        &self.echo
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), CmdError> {
        Ok(self.echo.flush()?)
    }

    /// Finds a space by id or unique name.
    pub fn space(&self, id_or_name: &str) -> Result<Space, CmdError> {
        Ok(self.echo.find_space(id_or_name)?)
    }

    /// Creates a space with a fresh key pair (its secret kept in the profile's keyring), with
    /// its genesis and this identity as owner.
    pub fn create_space(&self, name: &str) -> Result<Space, CmdError> {
        if name.trim().is_empty() {
            return Err(CmdError::new(Kind::InvalidInput, "a space needs a name"));
        }
        self.require_identity()?;
        let key = KeyPair::generate();
        self.keyring.store(&space_key_name(&key.public()), &key).map_err(|e| CmdError::new(Kind::Io, e.to_string()))?;
        let space = self.echo.create_space(key.public(), name)?;
        self.halo.add_space(&key)?;
        Ok(space)
    }

    /// Answers one request (not `Watch`, `Hello` or `Handover`, which the caller handles).
    pub fn execute(&self, req: &Request) -> Result<Value, CmdError> {
        match req {
            Request::IdentityCreate { name } => Ok(identity_json(&self.create_identity(name)?, false)),
            Request::IdentityRecover { phrase, name } => {
                Ok(identity_json(&self.recover_identity(phrase, name.as_deref())?, false))
            }
            Request::IdentityShow => Ok(match self.halo.identity() {
                Some(info) => identity_json(&info, true),
                None => {
                    json!({"identity_key": null, "device_key": null, "peer_id": null, "display_name": null, "devices": []})
                }
            }),
            Request::IdentityPhrase => Ok(json!({"phrase": self.halo.recovery_phrase()?})),
            Request::Status => {
                let spaces = self.echo.spaces(false)?.len();
                let identity = self.halo.identity().map(|i| i.identity_key.to_string());
                Ok(json!({"identity": identity, "spaces": spaces, "peers": 0, "addrs": []}))
            }
            // With no owner there is no node, so no peers.
            Request::Peers => Ok(json!([])),
            Request::Watch { .. }
            | Request::Hello
            | Request::Handover
            | Request::Invite { .. }
            | Request::Join { .. } => Err(CmdError::new(Kind::Internal, "this request is answered by the owner loop")),
            other => {
                self.require_identity()?;
                self.execute_data(other)
            }
        }
    }

    /// Refuses a write to a space where this identity is a reader: its peers would refuse
    /// the change anyway, so it is not made here either.
    fn check_writable(&self, space: &str) -> Result<(), CmdError> {
        let s = self.space(space)?;
        if self.halo.my_role(&s.id()) == Some(dxos_halo::Role::Reader) {
            return Err(CmdError::new(Kind::Denied, "you are a reader in this space: it is read-only for you"));
        }
        Ok(())
    }

    /// Requests that read or write spaces (the profile has an identity).
    fn execute_data(&self, req: &Request) -> Result<Value, CmdError> {
        match req {
            Request::SpaceRename { space, .. }
            | Request::SpaceImport { space, .. }
            | Request::TaskAdd { space, .. }
            | Request::TaskSetDone { space, .. }
            | Request::TaskRename { space, .. }
            | Request::TaskRm { space, .. }
            | Request::ObjectAdd { space, .. }
            | Request::ObjectSet { space, .. }
            | Request::ObjectRm { space, .. } => self.check_writable(space)?,
            _ => {}
        }
        match req {
            Request::SpaceMembers { space } => {
                let s = self.space(space)?;
                let me = self.halo.identity().map(|i| i.identity_key);
                let members = self.halo.members(&s.id())?;
                Ok(Value::Array(
                    members
                        .into_iter()
                        .map(|m| {
                            json!({"identity_key": m.identity_key.to_string(), "display_name": m.display_name,
                                   "role": m.role.as_str(), "online": Some(m.identity_key) == me})
                        })
                        .collect(),
                ))
            }
            Request::SpaceCreate { name } => {
                let s = self.create_space(name)?;
                Ok(json!({"id": s.id().to_string(), "name": s.name()}))
            }
            Request::SpaceList => {
                let list = self.echo.spaces(false)?;
                Ok(Value::Array(
                    list.into_iter()
                        .map(|s| {
                            let members = self.halo.members(&s.id).map(|m| m.len()).unwrap_or(0);
                            json!({"id": s.id.to_string(), "name": s.name, "members": members, "objects": s.objects})
                        })
                        .collect(),
                ))
            }
            Request::SpaceRename { space, name } => {
                if name.trim().is_empty() {
                    return Err(CmdError::new(Kind::InvalidInput, "a space needs a name"));
                }
                let s = self.space(space)?;
                s.rename(name)?;
                Ok(json!({"id": s.id().to_string(), "name": s.name()}))
            }
            Request::DeviceRevoke { device } => {
                let key = parse_key(device, "device key")?;
                self.halo.revoke_device(&key)?;
                Ok(json!({"revoked": key.to_string()}))
            }
            Request::SpaceRemoveMember { space, identity } => {
                let s = self.space(space)?;
                let key = parse_key(identity, "identity key")?;
                self.halo.remove_member(&s.id(), &key)?;
                Ok(json!({"removed": key.to_string()}))
            }
            Request::SpaceLeave { space } => {
                let s = self.space(space)?;
                self.halo.leave_space(&s.id())?;
                // Hidden here (restorable while the data stays on disk); the others keep it.
                self.echo.delete_space(&s.id())?;
                Ok(json!({"left": s.id().to_string()}))
            }
            Request::SpaceExport { space } => Ok(Value::String(hex::encode(self.space(space)?.export()?))),
            Request::SpaceImport { space, update_hex } => {
                let bytes = hex::decode(update_hex).map_err(|e| CmdError::new(Kind::InvalidInput, e.to_string()))?;
                self.space(space)?.import(&bytes)?;
                Ok(json!({"applied": true}))
            }
            Request::TaskAdd { space, title } => {
                let title = title.trim();
                if title.is_empty() {
                    return Err(CmdError::new(Kind::InvalidInput, "a task needs a title"));
                }
                let (id, t) = self.space(space)?.add_task(title)?;
                Ok(task_json(&id, &t))
            }
            Request::TaskList { space } => {
                let tasks = self.space(space)?.tasks();
                Ok(Value::Array(tasks.iter().map(|(id, t)| task_json(id, t)).collect()))
            }
            Request::TaskSetDone { space, id, done } => {
                let s = self.space(space)?;
                let t = s.set_task_completed(id, *done)?;
                Ok(task_json(id, &t))
            }
            Request::TaskRename { space, id, title } => {
                let s = self.space(space)?;
                let t = s.rename_task(id, title)?;
                Ok(task_json(id, &t))
            }
            Request::TaskRm { space, id } => {
                let s = self.space(space)?;
                s.get_typed::<Task>(id)?;
                s.delete(id)?;
                Ok(json!({"id": id, "deleted": true}))
            }
            Request::ObjectAdd { space, typename, data } => {
                if typename.trim().is_empty() {
                    return Err(CmdError::new(Kind::InvalidInput, "--type must not be empty"));
                }
                let id = self.space(space)?.add(Some(typename), data.clone())?;
                Ok(json!({"id": id.to_string()}))
            }
            Request::ObjectGet { space, id } => {
                let o = self.space(space)?.get(id)?;
                if o.deleted {
                    return Err(CmdError::new(Kind::NotFound, format!("object {id} was deleted")));
                }
                Ok(object_json(&o))
            }
            Request::ObjectSet { space, id, data } => {
                let s = self.space(space)?;
                s.update(id, data.clone())?;
                Ok(object_json(&s.get(id)?))
            }
            Request::ObjectRm { space, id } => {
                self.space(space)?.delete(id)?;
                Ok(json!({"id": id, "deleted": true}))
            }
            Request::Query { space, typename, conditions } => {
                let q = build_query(typename.as_deref(), conditions);
                Ok(Value::Array(self.space(space)?.query(&q).iter().map(object_json).collect()))
            }
            _ => Err(CmdError::new(Kind::Internal, "not a data request")),
        }
    }

    /// Runs `watch`: calls `emit` with the current result, then after every change of the
    /// result or one of its objects, until `emit` returns false or `stop` returns true.
    pub fn watch(
        &self,
        space: &str,
        typename: Option<&str>,
        stop: &dyn Fn() -> bool,
        mut emit: impl FnMut(Value) -> bool,
    ) -> Result<(), CmdError> {
        self.require_identity()?;
        let s = self.space(space)?;
        let q = match typename {
            Some(t) => Query::typename(t),
            None => Query::all(),
        };
        let (tx, rx) = mpsc::channel::<()>();
        let sub = s.subscribe(q, move |_| {
            let _ = tx.send(());
        });
        if !emit(watch_line(&s, &sub.ids())) {
            return Ok(());
        }
        loop {
            if stop() {
                return Ok(());
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(()) => {
                    while rx.try_recv().is_ok() {}
                    if !emit(watch_line(&s, &sub.ids())) {
                        return Ok(());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
    }
}

/// Reads a key given on the command line (64 hex digits).
pub fn parse_key(text: &str, what: &str) -> Result<dxos_halo::PublicKey, CmdError> {
    text.trim()
        .parse()
        .map_err(|e| CmdError::new(Kind::InvalidInput, format!("{text:?} is not a {what} (64 hex digits): {e}")))
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A `watch` line: the whole current result, stamped with this process's clock, with the
/// objects themselves (`{"id","type","data"}`, in the same order) for people's output; the
/// CLI prints only `ts_ms` and `ids` as JSON (CLI.md).
pub fn watch_line(space: &dxos_echo::Space, ids: &[dxos_echo::ObjectId]) -> Value {
    let objects: Vec<Value> = ids.iter().filter_map(|i| space.get(i.as_ref()).ok()).map(|o| object_json(&o)).collect();
    json!({"ts_ms": now_ms(), "ids": ids.iter().map(|i| i.to_string()).collect::<Vec<_>>(), "objects": objects})
}

/// A label for this device: the host name, or the platform.
pub fn device_label() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| std::env::consts::OS.to_owned())
}

fn identity_json(i: &IdentityInfo, with_devices: bool) -> Value {
    let mut v = json!({"identity_key": i.identity_key.to_string(), "device_key": i.device_key.to_string(),
                       "peer_id": i.peer_id, "display_name": i.display_name});
    if with_devices {
        v["devices"] = Value::Array(
            i.devices
                .iter()
                .map(|d| json!({"device_key": d.device_key.to_string(), "name": d.name, "online": d.this_device}))
                .collect(),
        );
    }
    v
}

fn task_json(id: &str, t: &Task) -> Value {
    json!({"id": id, "title": t.title, "completed": t.completed})
}

fn object_json(o: &Object) -> Value {
    json!({"id": o.id.to_string(), "type": o.typename, "data": Value::Object(o.data.clone())})
}

fn build_query(typename: Option<&str>, conditions: &[(String, Value)]) -> Query {
    let mut q = match typename {
        Some(t) => Query::typename(t),
        None => Query::all(),
    };
    for (k, v) in conditions {
        q = q.filter(Filter::Eq(k.clone(), v.clone()));
    }
    q
}

/// Parses a `--data` argument: a JSON object.
pub fn parse_data(text: &str) -> Result<Map<String, Value>, CmdError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(CmdError::new(Kind::InvalidInput, format!("--data must be a JSON object, got {other}"))),
        Err(e) => Err(CmdError::new(Kind::InvalidInput, format!("--data is not valid JSON: {e}"))),
    }
}

/// Parses a `--where KEY=VALUE`: the value is JSON where it parses as JSON, else a string.
pub fn parse_where(text: &str) -> Result<(String, Value), CmdError> {
    let Some((k, v)) = text.split_once('=') else {
        return Err(CmdError::new(Kind::Usage, format!("--where takes KEY=VALUE, got {text:?}")));
    };
    if k.is_empty() {
        return Err(CmdError::new(Kind::Usage, format!("--where needs a key: {text:?}")));
    }
    let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
    Ok((k.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_values_are_json_or_strings() {
        assert_eq!(parse_where("done=true"), Ok(("done".into(), json!(true))));
        assert_eq!(parse_where("n=3"), Ok(("n".into(), json!(3))));
        assert_eq!(parse_where("title=Milk"), Ok(("title".into(), json!("Milk"))));
        assert_eq!(parse_where("t=a=b"), Ok(("t".into(), json!("a=b"))));
        assert!(parse_where("nokey").is_err());
        assert!(parse_where("=x").is_err());
    }

    #[test]
    fn spaces_made_before_the_identity_are_adopted() -> Result<(), CmdError> {
        let dir = tempfile::tempdir().map_err(|e| CmdError::new(Kind::Io, e.to_string()))?;
        let profile = Profile::new(Some(dir.path().join("p"))).map_err(|e| CmdError::new(Kind::Io, e.to_string()))?;
        let client = Client::open(&profile).map_err(|e| CmdError::new(Kind::Io, e.to_string()))?;
        // As an older dxos did: a space with its key, and no identity.
        let key = KeyPair::generate();
        client
            .keyring
            .store(&space_key_name(&key.public()), &key)
            .map_err(|e| CmdError::new(Kind::Io, e.to_string()))?;
        client.echo.create_space(key.public(), "Old")?;
        assert!(!client.halo.has_space(&key.public()));
        let me = client.create_identity("Ada")?;
        let members = client.halo.members(&key.public())?;
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].identity_key, me.identity_key);
        assert_eq!(members[0].role, dxos_halo::Role::Owner);
        Ok(())
    }

    #[test]
    fn data_must_be_an_object() {
        assert!(parse_data("{\"a\": 1}").is_ok());
        assert_eq!(parse_data("[1]").map_err(|e| e.kind), Err(Kind::InvalidInput));
        assert_eq!(parse_data("{").map_err(|e| e.kind), Err(Kind::InvalidInput));
    }
}
