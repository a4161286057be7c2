//! The profile folder: where the store, keys, socket and logs of one user's profile live.
//!
//! Only paths and file permissions: nothing here opens the store.

use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{ClientError, Result};

/// Longest socket path we use in the profile folder (Linux allows 107 bytes).
const MAX_SOCKET_PATH: usize = 100;

/// A profile folder and the paths inside it.
#[derive(Debug, Clone)]
pub struct Profile {
    dir: PathBuf,
}

impl Profile {
    /// The profile at `dir` (or, with `None`, the platform default, e.g.
    /// `~/.local/share/dxos/default`).
    pub fn new(dir: Option<PathBuf>) -> Result<Self> {
        let dir = match dir {
            Some(d) => d,
            None => directories::ProjectDirs::from("org", "dxos", "dxos")
                .ok_or_else(|| {
                    let e = std::io::Error::new(std::io::ErrorKind::NotFound, "no home folder");
                    ClientError::io("cannot find the home folder for the default profile; pass --profile", e)
                })?
                .data_dir()
                .join("default"),
        };
        Ok(Self { dir })
    }

    /// Creates the folder (private to the user) if needed.
    pub fn ensure(&self) -> Result<()> {
        fs::create_dir_all(&self.dir)
            .map_err(|e| ClientError::io(format!("cannot create profile folder {}", self.dir.display()), e))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| ClientError::io(format!("cannot make {} private", self.dir.display()), e))?;
        Ok(())
    }

    /// The profile folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The redb store.
    pub fn store_path(&self) -> PathBuf {
        self.dir.join("dxos.redb")
    }

    /// The log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("dxos.log")
    }

    /// The owner's socket: in the profile, or (when that path is too long for a socket) in the
    /// runtime folder under a name derived from the profile path.
    pub fn socket_path(&self) -> PathBuf {
        let inside = self.dir.join("dxos.sock");
        if inside.as_os_str().len() <= MAX_SOCKET_PATH {
            return inside;
        }
        let abs = fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        let mut h = std::collections::hash_map::DefaultHasher::new();
        abs.hash(&mut h);
        let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        runtime.join(format!("dxos-{:016x}.sock", h.finish()))
    }
}
