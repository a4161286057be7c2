//! The keyring: secret keys as files in the profile, private to the user.
//!
//! One file per key (`<name>.key`), mode 0600, in a folder of mode 0700. A key file that the
//! group or others may read is refused with a message saying how to fix it: a secret that
//! leaked is not used silently. The file format is one text line, `dxos-key-v1 <64 hex>`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::keys::KeyPair;

const HEADER: &str = "dxos-key-v1 ";

/// Why the keyring could not do something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// Others may read a key file (or the folder): it is not used.
    #[error("{0} can be read by other users; fix it with `chmod 600 {0}` (and `chmod 700` on its folder)")]
    Exposed(PathBuf),
    /// A key file is not in the keyring's format.
    #[error("key file {path} is damaged: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A key of that name exists already.
    #[error("a key named {0} exists already")]
    Exists(String),
    /// Reading or writing failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Secret keys kept in a folder of the profile.
#[derive(Debug, Clone)]
pub struct Keyring {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyringError + '_ {
    move |source| KeyringError::Io { path: path.to_owned(), source }
}

/// Reads the contents of a key file (bytes from the disk: never trusted).
pub fn decode_key_file(bytes: &[u8]) -> Result<KeyPair, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not text".to_owned())?;
    let line = text.strip_suffix('\n').unwrap_or(text);
    let hex_part = line.strip_prefix(HEADER).ok_or_else(|| "unknown format".to_owned())?;
    if hex_part.len() != 64 {
        return Err(format!("expected 64 hex digits, found {} characters", hex_part.len()));
    }
    let secret = hex::decode(hex_part).map_err(|e| e.to_string())?;
    KeyPair::from_secret_bytes(&secret).map_err(|e| e.to_string())
}

/// The contents of a key file for `key`.
pub fn encode_key_file(key: &KeyPair) -> String {
    format!("{HEADER}{}\n", hex::encode(key.secret_bytes()))
}

impl Keyring {
    /// The keyring in `dir` (created, private, if missing).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Keyring, KeyringError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io(&dir))?;
        Ok(Keyring { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }

    /// Stores a new key under `name` (never overwrites).
    pub fn store(&self, name: &str, key: &KeyPair) -> Result<(), KeyringError> {
        let path = self.path(name);
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyringError::Exists(name.to_owned())
            } else {
                KeyringError::Io { path: path.clone(), source: e }
            }
        })?;
        f.write_all(encode_key_file(key).as_bytes()).map_err(io(&path))?;
        f.sync_all().map_err(io(&path))?;
        Ok(())
    }

    /// The key stored under `name`, if any.
    pub fn load(&self, name: &str) -> Result<Option<KeyPair>, KeyringError> {
        let path = self.path(name);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(KeyringError::Io { path, source: e }),
        };
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(KeyringError::Exposed(path));
        }
        let bytes = fs::read(&path).map_err(io(&path))?;
        decode_key_file(&bytes).map(Some).map_err(|reason| KeyringError::Malformed { path, reason })
    }

    /// Deletes the key stored under `name` (no error if there is none).
    pub fn remove(&self, name: &str) -> Result<(), KeyringError> {
        let path = self.path(name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(KeyringError::Io { path, source: e }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_are_private_and_round_trip() -> Result<(), KeyringError> {
        let dir = tempfile::tempdir().map_err(|e| KeyringError::Io { path: "tmp".into(), source: e })?;
        let ring = Keyring::open(dir.path().join("keys"))?;
        let k = KeyPair::generate();
        ring.store("device", &k)?;
        assert!(matches!(ring.store("device", &k), Err(KeyringError::Exists(_))));
        let mode = |p: PathBuf| fs::metadata(p).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        assert_eq!(mode(dir.path().join("keys/device.key")), 0o600);
        assert_eq!(mode(dir.path().join("keys")), 0o700);
        assert_eq!(ring.load("device")?.map(|k| k.public()), Some(k.public()));
        assert!(ring.load("missing")?.is_none());
        Ok(())
    }

    #[test]
    fn readable_key_files_are_refused() -> Result<(), KeyringError> {
        let dir = tempfile::tempdir().map_err(|e| KeyringError::Io { path: "tmp".into(), source: e })?;
        let ring = Keyring::open(dir.path())?;
        ring.store("root", &KeyPair::generate())?;
        let path = dir.path().join("root.key");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).map_err(io(&path))?;
        match ring.load("root") {
            Err(e @ KeyringError::Exposed(_)) => assert!(e.to_string().contains("chmod 600"), "{e}"),
            other => panic!("expected Exposed, got {other:?}"),
        }
        Ok(())
    }

    #[test]
    fn damaged_files_are_typed_errors() -> Result<(), KeyringError> {
        let dir = tempfile::tempdir().map_err(|e| KeyringError::Io { path: "tmp".into(), source: e })?;
        let ring = Keyring::open(dir.path())?;
        let path = dir.path().join("bad.key");
        fs::write(&path, "dxos-key-v1 nothex\n").map_err(io(&path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io(&path))?;
        assert!(matches!(ring.load("bad"), Err(KeyringError::Malformed { .. })));
        Ok(())
    }

    proptest! {
        #[test]
        fn arbitrary_key_file_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = decode_key_file(&bytes);
        }

        #[test]
        fn mutated_key_files_are_refused_or_equal(i in any::<usize>(), x in 1u8..=255) {
            let k = KeyPair::generate();
            let mut bytes = encode_key_file(&k).into_bytes();
            let n = bytes.len();
            bytes[i % n] ^= x;
            if let Ok(back) = decode_key_file(&bytes) {
                // A flipped hex digit's case still decodes to the same key; anything else differs.
                prop_assert!(back.public() == k.public() || bytes != encode_key_file(&k).into_bytes());
            }
        }
    }
}
