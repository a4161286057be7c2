//! Test support (feature `testing`): profiles in temporary folders with an identity, spaces
//! shared between them, and waiting for a condition, for the node's tests and benchmarks.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dxos_echo::{Echo, Space};
use dxos_halo::{Claim, Credential, Halo, KeyPair, Keyring, Role};

use crate::{Node, NodeConfig};

/// What a test helper may fail with.
pub type TestResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A profile (store and keyring) in its own temporary folder.
pub struct TestProfile {
    /// The folder (removed on drop).
    pub dir: tempfile::TempDir,
    /// The profile's spaces.
    pub echo: Echo,
    /// The profile's identity.
    pub halo: Halo,
    /// The profile's keys.
    pub keyring: Keyring,
}

impl TestProfile {
    /// Opens the profile in `dir` (the store in `store.redb`, keys in `keys/`).
    fn open_in(dir: tempfile::TempDir) -> TestResult<TestProfile> {
        let (echo, halo, keyring) = open_stores(dir.path())?;
        Ok(TestProfile { dir, echo, halo, keyring })
    }

    /// A fresh profile with an identity called `name`.
    pub fn new(name: &str) -> TestResult<TestProfile> {
        let p = Self::open_in(tempfile::tempdir()?)?;
        p.halo.create_identity(name, "test device")?;
        Ok(p)
    }

    /// A fresh profile with no identity, only the device key it joins one with.
    pub fn fresh() -> TestResult<TestProfile> {
        let p = Self::open_in(tempfile::tempdir()?)?;
        p.halo.joining_device_key()?;
        Ok(p)
    }

    /// A fresh profile holding the same identity as `other` (recovered from its phrase),
    /// with a device of its own.
    pub fn second_device(other: &TestProfile) -> TestResult<TestProfile> {
        let p = Self::open_in(tempfile::tempdir()?)?;
        p.halo.recover_identity(&other.halo.recovery_phrase()?, "second device")?;
        Ok(p)
    }

    /// Closes the stores and opens them again from disk (a restart), waiting up to 30 s for
    /// a stopped node's tasks to let go of them.
    pub async fn reopen(self) -> TestResult<TestProfile> {
        let TestProfile { dir, echo, halo, keyring } = self;
        echo.flush()?;
        drop((echo, halo, keyring));
        let start = Instant::now();
        loop {
            match open_stores(dir.path()) {
                Ok((echo, halo, keyring)) => return Ok(TestProfile { dir, echo, halo, keyring }),
                Err(_) if start.elapsed() < Duration::from_secs(30) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Ada, owning a space "Shared" that holds the task "milk", and Bob, admitted to it as an
    /// editor: where most tests of two nodes start. Returns Ada, Bob, the space's key and Ada's
    /// replica.
    pub fn ada_and_bob() -> TestResult<(TestProfile, TestProfile, KeyPair, Space)> {
        let a = TestProfile::new("Ada")?;
        let b = TestProfile::new("Bob")?;
        let (key, space) = a.create_space("Shared")?;
        space.add_task("milk")?;
        a.admit(&key, &b, Role::Editor)?;
        Ok((a, b, key, space))
    }

    /// A new space owned by this identity; returns its key (the test keeps it) and the space.
    pub fn create_space(&self, name: &str) -> TestResult<(KeyPair, Space)> {
        let key = KeyPair::generate();
        self.halo.add_space(&key)?;
        let space = self.echo.create_space(key.public(), name)?;
        Ok((key, space))
    }

    /// Admits `other`'s identity to the space with `role` (signed with the space key) and
    /// gives `other` the space's credentials, as an invitation would.
    pub fn admit(&self, space_key: &KeyPair, other: &TestProfile, role: Role) -> TestResult<()> {
        let identity = other.halo.identity().ok_or("the other profile has no identity")?.identity_key;
        let c = Credential::issue(
            Claim::SpaceMember { space: *space_key.public().as_bytes(), identity: *identity.as_bytes(), role },
            space_key,
            None,
            dxos_halo::credential::now_ms(),
        );
        self.halo.apply(c)?;
        other.halo.apply_all(self.halo.space_credentials(&space_key.public()))?;
        Ok(())
    }

    /// The node config of this profile (certificate, peer store, listen ports in its folder), listening
    /// on loopback over `transports`.
    pub fn config(&self, transports: &[crate::Transport]) -> NodeConfig {
        NodeConfig {
            certificate: Some(self.dir.path().join("webrtc-cert.pem")),
            peer_store: Some(self.dir.path().join("peers.json")),
            listen_ports: Some(self.dir.path().join("listen-ports.json")),
            ..NodeConfig::loopback(transports)
        }
    }

    /// Starts this profile's node with `config`.
    pub async fn start(&self, config: NodeConfig) -> TestResult<Node> {
        Ok(Node::start(config, self.echo.clone(), self.halo.clone()).await?)
    }
}

/// Opens ECHO, HALO and the keyring of the profile in `dir`.
pub fn open_stores(dir: &Path) -> TestResult<(Echo, Halo, Keyring)> {
    let db = Arc::new(redb::Database::create(dir.join("store.redb"))?);
    let echo = Echo::open(db.clone())?;
    let keyring = Keyring::open(dir.join("keys"))?;
    let halo = Halo::open(db, keyring.clone())?;
    Ok((echo, halo, keyring))
}

/// Waits until `cond` holds, checking every 10 ms, for at most `timeout`; returns how long
/// it took, or `None` if it never held.
pub async fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The titles of a space's tasks, in order.
pub fn titles(space: &Space) -> Vec<String> {
    space.tasks().into_iter().map(|(_, t)| t.title).collect()
}
