//! The command line's arguments (clap): every command and option docs/cli.md describes.

use super::*;

/// The version `dxos --version` prints: the package's, and the git commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("DXOS_GIT_COMMIT"), ")");

/// DXOS: local-first collaboration with no servers.
#[derive(Debug, Parser)]
#[command(name = "dxos", version = VERSION, about, long_about = None)]
pub struct Cli {
    /// The profile folder (keys, store, socket, logs).
    #[arg(long, global = true, env = "DXOS_PROFILE", value_name = "DIR")]
    pub profile: Option<PathBuf>,
    /// Machine output: one JSON document on stdout (one per line when streaming).
    #[arg(long, global = true)]
    pub json: bool,
    /// More logging (repeat for more).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// What to do; with none, the desktop app opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Who you are: this profile's identity and devices.
    #[command(subcommand)]
    Identity(IdentityCmd),
    /// Spaces: shared databases.
    #[command(subcommand)]
    Space(SpaceCmd),
    /// Tasks (dxos.org/type/Task) in a space's task order.
    #[command(subcommand)]
    Task(TaskCmd),
    /// Documents (dxos.org/type/Document): Markdown written together.
    #[command(subcommand)]
    Doc(DocCmd),
    /// Objects of any type.
    #[command(subcommand)]
    Object(ObjectCmd),
    /// Objects matching a type and conditions.
    Query {
        /// Space id or unique name.
        space: String,
        /// Only objects of this type.
        #[arg(long = "type", value_name = "T")]
        typename: Option<String>,
        /// Only objects whose KEY equals VALUE (JSON where it parses, else a string).
        #[arg(long = "where", value_name = "KEY=VALUE")]
        conditions: Vec<String>,
    },
    /// Prints the result of a query, then again each time it changes, until killed.
    Watch {
        /// Space id or unique name.
        space: String,
        /// Only objects of this type.
        #[arg(long = "type", value_name = "T")]
        typename: Option<String>,
    },
    /// Runs the profile's owner headless until killed.
    Serve {
        /// Addresses to listen on, instead of WebRTC-direct, QUIC and TCP on every interface.
        #[arg(long, value_name = "MULTIADDR")]
        listen: Vec<String>,
        /// Peers to dial and keep dialling.
        #[arg(long, value_name = "MULTIADDR")]
        peer: Vec<String>,
        /// Do not use mDNS.
        #[arg(long)]
        no_mdns: bool,
    },
    /// This identity's devices.
    #[command(subcommand)]
    Device(DeviceCmd),
    /// Invites a new device of yours, or someone to a space; waits for one guest.
    #[command(subcommand)]
    Invite(InviteCmd),
    /// Redeems an invitation (its text, or a picture of its QR code).
    Join {
        /// The invitation's text (`dxos:...`).
        #[arg(required_unless_present = "qr", conflicts_with = "qr")]
        uri: Option<String>,
        /// A picture (PNG or JPEG) of the invitation's QR code.
        #[arg(long, value_name = "IMAGE")]
        qr: Option<PathBuf>,
        /// The 6-digit code the inviter shows, if the invitation needs one.
        #[arg(long)]
        code: Option<String>,
    },
    /// Opens a window with two devices of one identity, paired and syncing over loopback.
    Demo,
    /// The profile's state in brief.
    Status,
    /// The connected peers.
    Peers,
    /// Relays: run one (`serve`), or list the ones this profile reserves on.
    #[command(subcommand)]
    Relay(RelayCmd),
    /// Opens the app (raising its window if it runs), with an invitation link's join dialog.
    Open {
        /// A `dxos:` invitation link (at most 300 characters); shown, never joined by itself.
        #[arg(value_name = "URI")]
        uri: Option<String>,
    },
    /// The menu entry, icon and `dxos:` link handler of this desktop (XDG).
    #[command(subcommand)]
    Desktop(DesktopCmd),
    /// Prints a shell completion script (source it, or save it where the shell looks).
    Completions {
        /// The shell.
        shell: Shell,
    },
    /// Prints the manual page (roff), for `man -l -` or a man directory.
    Manpage,
}

/// `dxos desktop ...`
#[derive(Debug, Subcommand)]
pub enum DesktopCmd {
    /// Writes the menu entry, the icons and the `dxos:` link handler under the XDG folders.
    Install,
    /// Removes what `install` wrote (and the link handler, if it is still ours).
    Uninstall,
}

/// The shells `dxos completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// `dxos relay ...`
#[derive(Debug, Subcommand)]
pub enum RelayCmd {
    /// Runs a relay until stopped (SIGTERM or Ctrl-C). Opens no profile.
    Serve {
        /// Addresses to listen on (QUIC and TCP multiaddrs; repeat for several).
        #[arg(long, value_name = "MULTIADDR", required = true)]
        listen: Vec<String>,
        /// Public addresses to announce, if not the listen addresses (behind a 1:1 NAT).
        #[arg(long, value_name = "MULTIADDR")]
        announce: Vec<String>,
        /// The relay's key file, made on first run (keeps its address valid across restarts).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// An identity whose devices may reserve (64 hex digits; repeat for several).
        #[arg(long, value_name = "IDENTITY_KEY")]
        allow: Vec<String>,
        /// Anyone may reserve (with libp2p's small default circuits unless --allow is given).
        #[arg(long)]
        open: bool,
        /// Circuits one source may open in a burst...
        #[arg(long, value_name = "N", default_value_t = 30)]
        circuit_burst: u32,
        /// ...then one per this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 120)]
        circuit_interval: u64,
        /// Most circuits at once, over all peers (default 256; 16 for --open with no --allow).
        #[arg(long, value_name = "N")]
        max_circuits: Option<usize>,
        /// Most bytes per second all circuits together copy (0: no cap).
        #[arg(long, value_name = "BYTES", default_value_t = 32 << 20)]
        max_rate: u64,
        /// Also answer STUN Binding requests here (UDP HOST:PORT, e.g. 0.0.0.0:3478), for WebRTC.
        #[arg(long, value_name = "HOST:PORT")]
        stun: Option<String>,
    },
    /// Adds a relay to this profile (its address as `relay serve` prints it).
    Add {
        /// The relay's multiaddr, ending in /p2p/<peer id>.
        addr: String,
    },
    /// Removes a relay from this profile.
    Remove {
        /// The relay's multiaddr, as listed.
        addr: String,
    },
    /// Lists this profile's relays.
    List,
}

/// `dxos identity ...`
#[derive(Debug, Subcommand)]
pub enum IdentityCmd {
    /// Creates the identity and this device (refused if the profile has one).
    Create {
        /// Your display name.
        #[arg(long)]
        name: String,
    },
    /// Shows the identity and its devices.
    Show,
    /// Prints the recovery phrase (on the device that holds the root key).
    Phrase,
    /// Restores the identity from its recovery phrase on this fresh profile.
    Recover {
        /// The 24 words.
        #[arg(long)]
        phrase: String,
        /// A name for this device.
        #[arg(long)]
        name: Option<String>,
    },
}

/// `dxos device ...`
#[derive(Debug, Subcommand)]
pub enum DeviceCmd {
    /// Renames this device (its name on the identity's other devices and to the spaces' members).
    Rename {
        /// The new name.
        name: String,
    },
    /// Revokes another device of this identity: it gets nothing new from then on.
    Revoke {
        /// The device's key (64 hex digits, as `identity show` lists it).
        device_key: String,
    },
}

/// Options every invitation takes.
#[derive(Debug, clap::Args)]
pub struct InviteOpts {
    /// How long the invitation stays valid, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub timeout: u64,
    /// The guest must also type a 6-digit code shown here (for invitations sent as text).
    #[arg(long)]
    pub code: bool,
}

/// `dxos invite ...`
#[derive(Debug, Subcommand)]
pub enum InviteCmd {
    /// A new device of your identity (run `dxos join` on it with a fresh profile).
    Device {
        /// How long it is valid, and whether it needs a code.
        #[command(flatten)]
        opts: InviteOpts,
    },
    /// Another person, to a space.
    Space {
        /// Space id or unique name.
        space: String,
        /// What the guest may do.
        #[arg(long, default_value = "editor", value_parser = ["editor", "reader"])]
        role: String,
        /// How long it is valid, and whether it needs a code.
        #[command(flatten)]
        opts: InviteOpts,
    },
}

/// `dxos space ...`
#[derive(Debug, Subcommand)]
pub enum SpaceCmd {
    /// Creates a space.
    Create {
        /// Its name.
        #[arg(long)]
        name: String,
    },
    /// Lists spaces.
    List,
    /// Lists a space's members.
    Members {
        /// Space id or unique name.
        space: String,
    },
    /// Renames a space.
    Rename {
        /// Space id or unique name.
        space: String,
        /// The new name.
        name: String,
    },
    /// Removes a member (owners and admins only): it gets nothing new from then on.
    RemoveMember {
        /// Space id or unique name.
        space: String,
        /// The member's identity key.
        identity_key: String,
    },
    /// Leaves a space: it goes from this identity's devices; the other members keep it.
    Leave {
        /// Space id or unique name.
        space: String,
    },
    /// Writes the whole space as one Yjs v1 update (raw bytes).
    Export {
        /// Space id or unique name.
        space: String,
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Merges a Yjs v1 update into the space.
    Import {
        /// Space id or unique name.
        space: String,
        /// Read from this file instead of stdin.
        #[arg(long = "in", value_name = "FILE")]
        input: Option<PathBuf>,
    },
}

/// `dxos doc ...`
#[derive(Debug, Subcommand)]
pub enum DocCmd {
    /// Adds a document.
    New {
        /// Space id or unique name.
        space: String,
        /// Its name.
        name: String,
        /// Its first text.
        #[arg(long, default_value = "")]
        text: String,
    },
    /// Lists the space's documents.
    List {
        /// Space id or unique name.
        space: String,
    },
    /// Prints a document's text.
    Cat {
        /// Space id or unique name.
        space: String,
        /// Document id.
        id: String,
    },
    /// Edits a document's text where it stands: deletes, then inserts, at a position.
    Edit {
        /// Space id or unique name.
        space: String,
        /// Document id.
        id: String,
        /// Where (in characters from the start).
        #[arg(long)]
        at: usize,
        /// How many characters to delete there.
        #[arg(long, default_value_t = 0)]
        delete: usize,
        /// What to insert there.
        #[arg(long, default_value = "")]
        insert: String,
    },
    /// Deletes a document (soft: the app restores it).
    Rm {
        /// Space id or unique name.
        space: String,
        /// Document id.
        id: String,
    },
}

/// `dxos task ...`
#[derive(Debug, Subcommand)]
pub enum TaskCmd {
    /// Adds a task at the end.
    Add {
        /// Space id or unique name.
        space: String,
        /// What is to be done.
        title: String,
    },
    /// Lists tasks in order.
    List {
        /// Space id or unique name.
        space: String,
    },
    /// Marks a task done.
    Done {
        /// Space id or unique name.
        space: String,
        /// Task id.
        id: String,
    },
    /// Marks a task not done.
    Undone {
        /// Space id or unique name.
        space: String,
        /// Task id.
        id: String,
    },
    /// Renames a task.
    Rename {
        /// Space id or unique name.
        space: String,
        /// Task id.
        id: String,
        /// The new title.
        title: String,
    },
    /// Deletes a task (soft delete).
    Rm {
        /// Space id or unique name.
        space: String,
        /// Task id.
        id: String,
    },
}

/// `dxos object ...`
#[derive(Debug, Subcommand)]
pub enum ObjectCmd {
    /// Adds an object.
    Add {
        /// Space id or unique name.
        space: String,
        /// Its type name.
        #[arg(long = "type", value_name = "T")]
        typename: String,
        /// Its properties, a JSON object.
        #[arg(long, value_name = "JSON", default_value = "{}")]
        data: String,
    },
    /// Prints an object.
    Get {
        /// Space id or unique name.
        space: String,
        /// Object id.
        id: String,
    },
    /// Sets the given properties of an object.
    Set {
        /// Space id or unique name.
        space: String,
        /// Object id.
        id: String,
        /// Properties to set, a JSON object.
        #[arg(long, value_name = "JSON")]
        data: String,
    },
    /// Deletes an object (soft delete).
    Rm {
        /// Space id or unique name.
        space: String,
        /// Object id.
        id: String,
    },
}
