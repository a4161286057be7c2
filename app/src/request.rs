//! The requests the Client answers, and their errors: one vocabulary for the command line, the
//! owner's socket and the desktop app.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One operation on a profile, as sent over the owner's socket. Fields are the command's
/// arguments of the same names (CLI.md documents them).
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// `identity create`.
    IdentityCreate { name: String },
    /// `identity show`.
    IdentityShow,
    /// `identity phrase`.
    IdentityPhrase,
    /// `identity recover`.
    IdentityRecover { phrase: String, name: Option<String> },
    /// `space members`.
    SpaceMembers { space: String },
    /// `space create`.
    SpaceCreate { name: String },
    /// `space list`.
    SpaceList,
    /// `space rename`.
    SpaceRename { space: String, name: String },
    /// `space export`: the update travels as hex.
    SpaceExport { space: String },
    /// `space import`: the update travels as hex.
    SpaceImport { space: String, update_hex: String },
    /// `task add`.
    TaskAdd { space: String, title: String },
    /// `task list`.
    TaskList { space: String },
    /// `task done` / `task undone`.
    TaskSetDone { space: String, id: String, done: bool },
    /// `task rename`.
    TaskRename { space: String, id: String, title: String },
    /// `task rm`.
    TaskRm { space: String, id: String },
    /// `object add`.
    ObjectAdd { space: String, typename: String, data: Map<String, Value> },
    /// `object get`.
    ObjectGet { space: String, id: String },
    /// `object set`.
    ObjectSet { space: String, id: String, data: Map<String, Value> },
    /// `object rm`.
    ObjectRm { space: String, id: String },
    /// `query`.
    Query { space: String, typename: Option<String>, conditions: Vec<(String, Value)> },
    /// `watch`: answered by a stream of results.
    Watch { space: String, typename: Option<String> },
    /// `device revoke`.
    DeviceRevoke { device: String },
    /// `space remove-member`.
    SpaceRemoveMember { space: String, identity: String },
    /// `space leave`.
    SpaceLeave { space: String },
    /// `invite device` (no space) or `invite space`: answered by a stream (the invitation,
    /// then who was admitted).
    Invite { space: Option<String>, role: Option<String>, timeout_secs: u64, code: bool },
    /// `join`: answered by a stream of progress lines, then the result.
    Join { uri: String, code: Option<String> },
    /// `status`.
    Status,
    /// `peers`.
    Peers,
    /// Who owns the profile (`app`, `serve` or `temporary`).
    Hello,
    /// Asks a temporary owner to release the profile.
    Handover,
}

/// The kinds of error of CLI.md, each with its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Wrong arguments.
    Usage,
    /// Bad input data (nothing changed).
    InvalidInput,
    /// No such space or object.
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

impl Kind {
    /// The process exit code for this kind: 2 for bad input or usage, else 1.
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Usage | Kind::InvalidInput | Kind::NoIdentity => 2,
            _ => 1,
        }
    }

    /// The kind's name as printed in JSON errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Usage => "usage",
            Kind::InvalidInput => "invalid_input",
            Kind::NotFound => "not_found",
            Kind::NoIdentity => "no_identity",
            Kind::Denied => "denied",
            Kind::Network => "network",
            Kind::Timeout => "timeout",
            Kind::Io => "io",
            Kind::Internal => "internal",
        }
    }
}

/// A failed request: a kind and a message for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct CmdError {
    /// What kind of failure.
    pub kind: Kind,
    /// What went wrong, in plain words.
    pub message: String,
}

impl CmdError {
    /// A new error.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }
}

impl From<dxos_echo::EchoError> for CmdError {
    fn from(e: dxos_echo::EchoError) -> Self {
        use dxos_echo::EchoError as E;
        let kind = match &e {
            E::SpaceNotFound(_) | E::ObjectNotFound(_) => Kind::NotFound,
            E::SpaceExists(_) | E::WrongType { .. } | E::InvalidValue(_) | E::MalformedUpdate(_) => Kind::InvalidInput,
            E::Storage(_) | E::Corrupt(_) | E::FormatTooNew { .. } | E::Closed => Kind::Io,
            _ => Kind::Internal,
        };
        CmdError::new(kind, e.to_string())
    }
}

impl From<dxos_halo::HaloError> for CmdError {
    fn from(e: dxos_halo::HaloError) -> Self {
        use dxos_halo::HaloError as H;
        let kind = match &e {
            H::NoIdentity => Kind::NoIdentity,
            H::IdentityExists(_) | H::InvalidPhrase(_) | H::InvalidName(_) | H::Credential(_) => Kind::InvalidInput,
            H::NoRootKey | H::Denied(_) | H::NotAdmitted(_) => Kind::Denied,
            H::UnknownDevice(_) => Kind::NotFound,
            H::UnknownSpace(_) => Kind::NotFound,
            H::Keyring(dxos_halo::KeyringError::Exposed(_)) => Kind::Denied,
            _ => Kind::Io,
        };
        let message = match &e {
            H::NoIdentity => format!("{e}: run `dxos identity create --name NAME` (or open the app) first"),
            _ => e.to_string(),
        };
        CmdError::new(kind, message)
    }
}

/// One line of an answer over the socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// A result (or one item of a stream).
    Ok(Value),
    /// A failure; the stream ends.
    Err(CmdError),
}
