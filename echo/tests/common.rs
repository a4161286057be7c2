//! Helpers shared by ECHO's integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use dxos_echo::{Echo, Space, SpaceOptions};
use dxos_halo::KeyPair;

/// Opens (or creates) a redb store at `path` and ECHO in it.
pub fn open(path: &Path) -> Echo {
    open_with(path, SpaceOptions::default())
}

/// Like [`open`], with options.
pub fn open_with(path: &Path, options: SpaceOptions) -> Echo {
    let db = redb::Database::create(path).unwrap_or_else(|e| panic!("create {path:?}: {e}"));
    Echo::open_with(Arc::new(db), options).unwrap_or_else(|e| panic!("open echo: {e}"))
}

/// Creates a space with a fresh key.
pub fn new_space(echo: &Echo, name: &str) -> Space {
    echo.create_space(KeyPair::generate().public(), name).unwrap_or_else(|e| panic!("create space: {e}"))
}
