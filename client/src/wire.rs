//! The messages of the owner's socket: one [`Request`] line in, [`Reply`] lines out, each
//! stamped with [`PROTOCOL_VERSION`]. Typed (serde); a peer of another version gets
//! [`ClientError::VersionMismatch`], never a misread message.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use dxos_halo::{PublicKey, Role};

use crate::error::{ClientError, WireError};
use crate::types::*;

/// The version of the socket's messages. Bump it on any change of [`Request`] or [`Response`].
pub const PROTOCOL_VERSION: u32 = 5;

/// One operation on a profile. Fields are the arguments of the command of the same name
/// (docs/cli.md documents them).
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
    /// `space list` (deleted spaces too with `deleted`).
    SpaceList { deleted: bool },
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
    /// `doc new`.
    DocNew { space: String, name: String, text: String },
    /// `doc list`.
    DocList { space: String },
    /// `doc cat`.
    DocCat { space: String, id: String },
    /// `doc edit`: deletes `delete` characters at `at`, then inserts `insert` there (positions
    /// in Unicode characters), as an editor does.
    DocEdit { space: String, id: String, at: usize, delete: usize, insert: String },
    /// `doc rm`.
    DocRm { space: String, id: String },
    /// `object add`.
    ObjectAdd { space: String, typename: String, data: Map<String, Value> },
    /// `object get`.
    ObjectGet { space: String, id: String },
    /// `object set`.
    ObjectSet { space: String, id: String, data: Map<String, Value> },
    /// `object rm`.
    ObjectRm { space: String, id: String },
    /// `query`: objects of `typename` (any, if none) whose properties equal the conditions.
    Query { space: String, typename: Option<String>, conditions: Vec<(String, Value)> },
    /// `watch`: answered by a stream of [`Response::Watch`].
    Watch { space: String, typename: Option<String> },
    /// `device revoke`.
    DeviceRevoke { device: PublicKey },
    /// `device rename`: this device's name, for the identity's other devices and the spaces'
    /// members; answered by the identity.
    DeviceRename { name: String },
    /// `space remove-member`.
    SpaceRemoveMember { space: String, identity: PublicKey },
    /// `space leave`.
    SpaceLeave { space: String },
    /// Hides a space here (restorable; the others keep it, this identity stays a member).
    SpaceDelete { space: PublicKey },
    /// Shows a hidden space again.
    SpaceRestore { space: PublicKey },
    /// `invite device` / `invite space`: answered by a stream of [`Response::Invite`].
    Invite { options: InviteOptions },
    /// `join`: answered by a stream of [`Response::Join`].
    Join { uri: String, code: Option<String> },
    /// `status`.
    Status,
    /// `peers`.
    Peers,
    /// `relay list`.
    RelayList,
    /// `relay add`.
    RelayAdd { addr: String },
    /// `relay remove`.
    RelayRemove { addr: String },
    /// Who owns the profile.
    Hello,
    /// Asks a temporary owner to release the profile.
    Handover,
    /// `dxos open` (or a second launch of the app): the app raises its window and, with a
    /// link, shows it in its join dialog (never joining by itself). Only the app answers.
    Open { uri: Option<String> },
}

impl Request {
    /// `space import` of an update's bytes.
    pub fn space_import(space: String, update: &[u8]) -> Request {
        Request::SpaceImport { space, update_hex: hex::encode(update) }
    }

    /// True for the requests that change nothing: asked again after the owner died before
    /// answering, they give the same answer. A request that changes something is not asked
    /// again (the owner may have made the change before dying, and `task add` twice makes two
    /// tasks).
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Request::IdentityShow
                | Request::IdentityPhrase
                | Request::SpaceMembers { .. }
                | Request::SpaceList { .. }
                | Request::SpaceExport { .. }
                | Request::TaskList { .. }
                | Request::DocList { .. }
                | Request::DocCat { .. }
                | Request::ObjectGet { .. }
                | Request::Query { .. }
                | Request::Status
                | Request::Peers
                | Request::RelayList
                | Request::Hello
        )
    }

    /// True for the requests answered by a stream of replies.
    pub fn is_stream(&self) -> bool {
        matches!(self, Request::Watch { .. } | Request::Invite { .. } | Request::Join { .. })
    }
}

/// A successful answer (or one item of a stream).
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// The identity (`None`: none yet).
    Identity(Option<Identity>),
    /// The recovery phrase.
    Phrase(String),
    Members(Vec<Member>),
    Space(SpaceRef),
    Spaces(Vec<SpaceSummary>),
    /// A space's whole state as one update, hex.
    Exported(String),
    Imported,
    Task(TaskItem),
    Tasks(Vec<TaskItem>),
    /// An object (or task) was deleted.
    Deleted(String),
    /// An object was added: its id.
    Added(String),
    Object(ObjectItem),
    Objects(Vec<ObjectItem>),
    Document(DocumentItem),
    Documents(Vec<DocumentItem>),
    Revoked(PublicKey),
    Removed(PublicKey),
    Left(PublicKey),
    Status(Status),
    Peers(Vec<Peer>),
    /// The profile's relays (after a `relay add` or `relay remove`, the new list).
    Relays(Vec<String>),
    Hello(OwnerRole),
    Released,
    /// The app took an [`Request::Open`].
    Opened,
    Watch(WatchUpdate),
    Invite(InviteStep),
    Join(JoinStep),
}

impl Response {
    /// The step that ends a stream (the invitation's or join's last).
    pub fn ends_stream(&self) -> bool {
        matches!(
            self,
            Response::Invite(InviteStep::Admitted { .. })
                | Response::Join(JoinStep::JoinedIdentity { .. } | JoinStep::JoinedSpace { .. })
        )
    }
}

/// A request as it travels: the protocol version beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestLine {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub v: u32,
    /// The request.
    #[serde(flatten)]
    pub request: Request,
}

/// One line of an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// A result (or one item of a stream).
    Ok(Response),
    /// A failure; the stream ends.
    Err(WireError),
}

/// An answer line as it travels: the protocol version beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyLine {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub v: u32,
    /// The reply.
    #[serde(flatten)]
    pub reply: Reply,
}

/// Only the version of a line, read before the rest (a line of another version may not parse).
#[derive(Deserialize)]
struct VersionOnly {
    #[serde(default)]
    v: Option<u32>,
}

/// Checks a line's version: a line with none is from before versions (version 1).
fn check_version(line: &str) -> Result<(), ClientError> {
    let theirs =
        serde_json::from_str::<VersionOnly>(line).map_err(|source| ClientError::Protocol { source })?.v.unwrap_or(1);
    if theirs == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(ClientError::VersionMismatch { ours: PROTOCOL_VERSION, theirs })
    }
}

/// Encodes a request as one line (with its newline).
pub fn encode_request(request: &Request) -> Result<String, ClientError> {
    let mut line = serde_json::to_string(&RequestLine { v: PROTOCOL_VERSION, request: request.clone() })
        .map_err(|source| ClientError::Protocol { source })?;
    line.push('\n');
    Ok(line)
}

/// Decodes a request line, refusing one of another version.
pub fn decode_request(line: &str) -> Result<Request, ClientError> {
    check_version(line)?;
    serde_json::from_str::<RequestLine>(line).map(|l| l.request).map_err(|source| ClientError::Protocol { source })
}

/// Encodes a reply as one line (with its newline).
pub fn encode_reply(reply: Reply) -> Result<String, ClientError> {
    let mut line = serde_json::to_string(&ReplyLine { v: PROTOCOL_VERSION, reply })
        .map_err(|source| ClientError::Protocol { source })?;
    line.push('\n');
    Ok(line)
}

/// Decodes a reply line into the response or the error it carries.
pub fn decode_reply(line: &str) -> Result<Response, ClientError> {
    check_version(line)?;
    match serde_json::from_str::<ReplyLine>(line).map_err(|source| ClientError::Protocol { source })?.reply {
        Reply::Ok(r) => Ok(r),
        Reply::Err(e) => Err(e.into()),
    }
}

/// The role argument as people type it (`editor`, `reader`).
pub fn parse_role(text: &str) -> Result<Role, ClientError> {
    match text {
        "editor" => Ok(Role::Editor),
        "reader" => Ok(Role::Reader),
        other => Err(ClientError::InvalidInput(format!("--role is editor or reader, not {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() -> Result<(), ClientError> {
        let req = Request::TaskAdd { space: "s".into(), title: "Milk".into() };
        assert_eq!(decode_request(&encode_request(&req)?)?, req);
        let task = TaskItem { id: "01".into(), title: "Milk".into(), completed: false };
        let line = encode_reply(Reply::Ok(Response::Task(task.clone())))?;
        assert_eq!(decode_reply(&line)?, Response::Task(task));
        let err = WireError { kind: crate::ErrorKind::NotFound, message: "no space x".into() };
        let line = encode_reply(Reply::Err(err))?;
        let e = decode_reply(&line).err();
        assert!(matches!(e, Some(ClientError::Remote { kind: crate::ErrorKind::NotFound, .. })), "{e:?}");
        Ok(())
    }

    #[test]
    fn another_version_is_a_clear_error() {
        // An owner of the first protocol (no version stamp, JSON values as results).
        let old = r#"{"ok":{"id":"x","title":"t","completed":false}}"#;
        let e = decode_reply(old).err();
        assert!(matches!(e, Some(ClientError::VersionMismatch { ours: PROTOCOL_VERSION, theirs: 1 })), "{e:?}");
        assert!(e.map(|e| e.to_string()).unwrap_or_default().contains("same version of dxos"));
        let newer = r#"{"v":99,"op":"status"}"#;
        let e = decode_request(newer).err();
        assert!(matches!(e, Some(ClientError::VersionMismatch { theirs: 99, .. })), "{e:?}");
    }
}
