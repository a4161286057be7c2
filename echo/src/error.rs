//! The one error type of ECHO's public API. Every failure a caller can meet has its own variant.

/// What went wrong in an ECHO operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EchoError {
    /// No space with that id (or unique name) in this store.
    #[error("no space {0}")]
    SpaceNotFound(String),
    /// A space with that id already exists.
    #[error("space {0} already exists")]
    SpaceExists(String),
    /// No object with that id in the space.
    #[error("no object {0} in this space")]
    ObjectNotFound(String),
    /// The object is of another type than the one asked for.
    #[error("object {id} is {actual}, not {expected}")]
    WrongType {
        /// The object's id.
        id: String,
        /// The typename asked for.
        expected: String,
        /// The typename it has (or "untyped").
        actual: String,
    },
    /// A value or argument is not acceptable (with the reason).
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// A Yjs update from outside could not be decoded or applied; nothing was changed.
    #[error("malformed update: {0}")]
    MalformedUpdate(String),
    /// The store was written by a newer program.
    #[error("the store has format version {found}, newer than this program understands ({supported}); upgrade dxos")]
    FormatTooNew {
        /// The version found on disk.
        found: u64,
        /// The newest version this build reads.
        supported: u64,
    },
    /// Stored data could not be read back (corruption on disk).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The underlying redb store failed (I/O, full disk...).
    #[error("storage error: {0}")]
    Storage(String),
    /// The store has been closed.
    #[error("the store is closed")]
    Closed,
}

macro_rules! storage_from {
    ($($t:ty),*) => {
        $(impl From<$t> for EchoError {
            fn from(e: $t) -> Self {
                EchoError::Storage(e.to_string())
            }
        })*
    };
}

storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Shorthand for ECHO results.
pub type Result<T, E = EchoError> = std::result::Result<T, E>;
