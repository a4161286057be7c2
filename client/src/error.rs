//! What can go wrong: [`ClientError`], typed, with its cause kept as `source`, and the
//! [`ErrorKind`] every error falls in (the kinds of the command line's contract, with its
//! exit codes).

use serde::{Deserialize, Serialize};

/// The kinds of failure, as the command line reports them (`"kind"` in its JSON errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Wrong arguments.
    Usage,
    /// Bad input data (nothing changed).
    InvalidInput,
    /// No such space, object, device or member.
    NotFound,
    /// The profile has no identity.
    NoIdentity,
    /// Not allowed.
    Denied,
    /// A network failure.
    Network,
    /// Took too long.
    Timeout,
    /// Disk or socket failure.
    Io,
    /// A bug.
    Internal,
}

impl ErrorKind {
    /// The process exit code for this kind: 2 for bad input or usage, else 1.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Usage | ErrorKind::InvalidInput | ErrorKind::NoIdentity => 2,
            _ => 1,
        }
    }

    /// The kind's name as printed in JSON errors.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Usage => "usage",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::NoIdentity => "no_identity",
            ErrorKind::Denied => "denied",
            ErrorKind::Network => "network",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io",
            ErrorKind::Internal => "internal",
        }
    }
}

/// A failed call on a [`Client`](crate::Client).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// ECHO refused or failed (no such space or object, a bad value, the disk).
    #[error(transparent)]
    Echo(#[from] dxos_echo::EchoError),
    /// HALO refused or failed (no identity, not allowed, a bad phrase, the disk).
    #[error(transparent)]
    Halo(#[from] dxos_halo::HaloError),
    /// The network node failed.
    #[error("{what}: {source}")]
    Net {
        /// What was being done.
        what: String,
        /// The node's error.
        #[source]
        source: dxos_net::NetError,
    },
    /// A relay could not start (a bad key file, an address it cannot listen on).
    #[error(transparent)]
    Relay(#[from] dxos_net::relay::RelayError),
    /// The input is not acceptable; nothing changed.
    #[error("{0}")]
    InvalidInput(String),
    /// A call the arguments do not make sense for.
    #[error("{0}")]
    Usage(String),
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// Not allowed (a reader writing, a guest refused, a cancelled invitation).
    #[error("{0}")]
    Denied(String),
    /// Waiting for something took too long.
    #[error("{0}")]
    Timeout(String),
    /// A peer or the network failed.
    #[error("{0}")]
    Network(String),
    /// The disk or the socket failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The profile's store could not be opened.
    #[error("cannot open {path}: {source}")]
    Store {
        /// The store's file.
        path: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Another process holds the profile's store and serves no socket (yet).
    #[error("the profile is in use by another process")]
    Locked,
    /// The profile's owner speaks another version of the socket's protocol.
    #[error(
        "the process that has this profile open speaks protocol version {theirs}, this one {ours}: \
         run the same version of dxos for both (close the app or `dxos serve` and start it again)"
    )]
    VersionMismatch {
        /// This program's version.
        ours: u32,
        /// The owner's.
        theirs: u32,
    },
    /// The owner's answer could not be read.
    #[error("bad message from the profile's owner: {source}")]
    Protocol {
        /// Why it could not be read.
        #[source]
        source: serde_json::Error,
    },
    /// A failure the profile's owner reported over the socket.
    #[error("{message}")]
    Remote {
        /// Its kind.
        kind: ErrorKind,
        /// What went wrong, in plain words.
        message: String,
    },
    /// A bug.
    #[error("{0}")]
    Internal(String),
}

/// The result of a call on a [`Client`](crate::Client).
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

impl ClientError {
    /// The kind of failure (decides the command line's exit code).
    pub fn kind(&self) -> ErrorKind {
        use dxos_echo::EchoError as E;
        use dxos_halo::HaloError as H;
        match self {
            ClientError::Echo(e) => match e {
                E::SpaceNotFound(_) | E::ObjectNotFound(_) => ErrorKind::NotFound,
                E::SpaceExists(_) | E::WrongType { .. } | E::InvalidValue(_) | E::MalformedUpdate(_) => {
                    ErrorKind::InvalidInput
                }
                E::Storage(_) | E::Corrupt(_) | E::FormatTooNew { .. } | E::Closed => ErrorKind::Io,
                _ => ErrorKind::Internal,
            },
            ClientError::Halo(e) => match e {
                H::NoIdentity => ErrorKind::NoIdentity,
                H::IdentityExists(_) | H::InvalidPhrase(_) | H::InvalidName(_) | H::Credential(_) => {
                    ErrorKind::InvalidInput
                }
                H::NoRootKey | H::Denied(_) | H::NotAdmitted(_) => ErrorKind::Denied,
                H::UnknownDevice(_) | H::UnknownSpace(_) => ErrorKind::NotFound,
                H::Keyring(dxos_halo::KeyringError::Exposed(_)) => ErrorKind::Denied,
                _ => ErrorKind::Io,
            },
            ClientError::Net { source, .. } => match source {
                dxos_net::NetError::NoIdentity => ErrorKind::NoIdentity,
                _ => ErrorKind::Network,
            },
            ClientError::Relay(e) => match e {
                dxos_net::relay::RelayError::NobodyAllowed => ErrorKind::Usage,
                dxos_net::relay::RelayError::BadKey { .. } | dxos_net::relay::RelayError::Listen { .. } => {
                    ErrorKind::InvalidInput
                }
                dxos_net::relay::RelayError::KeyFile { .. } => ErrorKind::Io,
                _ => ErrorKind::Network,
            },
            ClientError::InvalidInput(_) => ErrorKind::InvalidInput,
            ClientError::Usage(_) => ErrorKind::Usage,
            ClientError::NotFound(_) => ErrorKind::NotFound,
            ClientError::Denied(_) => ErrorKind::Denied,
            ClientError::Timeout(_) => ErrorKind::Timeout,
            ClientError::Network(_) => ErrorKind::Network,
            ClientError::Io { .. } | ClientError::Store { .. } | ClientError::Locked => ErrorKind::Io,
            ClientError::VersionMismatch { .. } => ErrorKind::Usage,
            ClientError::Protocol { .. } | ClientError::Internal(_) => ErrorKind::Internal,
            ClientError::Remote { kind, .. } => *kind,
        }
    }

    /// An I/O failure while doing `what`.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        ClientError::Io { what: what.into(), source }
    }

    /// The error as it crosses the owner's socket.
    pub fn to_wire(&self) -> WireError {
        WireError { kind: self.kind(), message: self.to_string() }
    }
}

/// An error as it crosses the owner's socket: its kind and its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What went wrong, in plain words.
    pub message: String,
}

impl From<WireError> for ClientError {
    fn from(e: WireError) -> Self {
        ClientError::Remote { kind: e.kind, message: e.message }
    }
}
