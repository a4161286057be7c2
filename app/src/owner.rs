//! One owner per profile (CLI.md): the owner holds the store and serves the profile's socket;
//! every other command goes through that socket, or, with no owner, opens the store for the
//! length of one command. A temporary owner (`watch` with no owner) hands the profile over when
//! the app or `serve` starts.
//!
//! The wire format is one JSON [`Request`] line in, [`Reply`] lines out. Nobody ever sees a lock
//! error: a busy store is waited for.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, LazyLock, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{Client, OpenError};
use crate::net::NetHost;
use crate::profile::Profile;
use crate::request::{CmdError, Kind, Reply, Request};

/// How long a command waits for a busy profile before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between attempts while the profile is busy.
const RETRY: Duration = Duration::from_millis(25);
/// How long a former temporary owner waits for the new owner's socket before it takes the
/// store back (the new owner may have died before binding).
const HANDOVER_GRACE: Duration = Duration::from_secs(10);
/// How long a connection may stay silent before its request line arrives.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What kind of owner holds a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The desktop app.
    App,
    /// `dxos serve`.
    Serve,
    /// A long command (`watch`) that found no owner; it hands over on request.
    Temporary,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::App => "app",
            Role::Serve => "serve",
            Role::Temporary => "temporary",
        }
    }
}

/// Set by SIGINT/SIGTERM: long-running loops check it and finish cleanly.
pub static STOP_SIGNAL: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// Installs (once) the SIGINT/SIGTERM handler that sets [`STOP_SIGNAL`].
pub fn install_signal_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // Setting a flag is all the handler does (async-signal-safe).
            if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&STOP_SIGNAL)) {
                tracing::warn!("cannot handle signal {sig}: {e}");
            }
        }
    });
}

fn stopping() -> bool {
    STOP_SIGNAL.load(Ordering::SeqCst)
}

/// Something the owner's main loop must act on.
pub enum OwnerEvent {
    /// A new owner asks this temporary owner to release the profile; answer on this stream.
    Handover(UnixStream),
}

/// A running owner: the open Client and the socket server.
pub struct Owner {
    client: Arc<Client>,
    socket: PathBuf,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    role: Role,
    stop: AtomicBool,
    conns: Mutex<Vec<(UnixStream, JoinHandle<()>)>>,
    events: Mutex<Sender<OwnerEvent>>,
    /// The owner's network node, once started.
    net: Mutex<Option<Arc<NetHost>>>,
}

impl Shared {
    fn net(&self) -> Option<Arc<NetHost>> {
        self.net.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Owner {
    /// Starts serving `client` on the profile's socket (replacing a stale one).
    pub fn start(client: Client, role: Role, profile: &Profile) -> Result<(Owner, Receiver<OwnerEvent>), CmdError> {
        let socket = profile.socket_path();
        // We hold the store, so no live owner can be behind an existing socket file.
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket)
            .map_err(|e| CmdError::new(Kind::Io, format!("cannot listen on {}: {e}", socket.display())))?;
        listener.set_nonblocking(true).map_err(|e| CmdError::new(Kind::Io, e.to_string()))?;
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            role,
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
            events: Mutex::new(tx),
            net: Mutex::new(None),
        });
        let client = Arc::new(client);
        let (c, s) = (client.clone(), shared.clone());
        let accept = std::thread::Builder::new()
            .name("dxos-owner".into())
            .spawn(move || accept_loop(listener, c, s))
            .map_err(|e| CmdError::new(Kind::Io, e.to_string()))?;
        Ok((Owner { client, socket, shared, accept: Some(accept) }, rx))
    }

    /// The open Client.
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// Starts the profile's network node (the profile needs an identity); `peers` and
    /// `status` through the socket then answer from it.
    pub fn start_net(&self, config: dxos_net::NodeConfig) -> Result<(), CmdError> {
        let host = NetHost::start(&self.client, config)?;
        *self.shared.net.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(host));
        Ok(())
    }

    /// Runs `f` on the network node, if it runs.
    pub fn with_net<T>(&self, f: impl FnOnce(&NetHost) -> T) -> Option<T> {
        let net = self.net();
        net.as_deref().map(f)
    }

    /// The network node, if it runs.
    pub fn net(&self) -> Option<Arc<NetHost>> {
        self.shared.net()
    }

    /// Stops serving, ends every connection, stops the node, flushes, removes the socket and
    /// closes the store.
    pub fn stop(mut self) -> Result<(), CmdError> {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(net) = self.shared.net.lock().unwrap_or_else(|e| e.into_inner()).take() {
            net.shutdown();
        }
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
        let conns = std::mem::take(&mut *self.shared.conns.lock().unwrap_or_else(|e| e.into_inner()));
        for (stream, _) in &conns {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        for (_, handle) in conns {
            let _ = handle.join();
        }
        let flushed = self.client.flush();
        let _ = std::fs::remove_file(&self.socket);
        flushed
        // `self.client` is dropped here, the last reference: the store closes.
    }
}

fn accept_loop(listener: UnixListener, client: Arc<Client>, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let Ok(keep) = stream.try_clone() else {
                    continue;
                };
                let (c, s) = (client.clone(), shared.clone());
                let handle = std::thread::spawn(move || serve_connection(stream, &c, &s));
                let mut conns = shared.conns.lock().unwrap_or_else(|e| e.into_inner());
                conns.retain(|(_, h)| !h.is_finished());
                conns.push((keep, handle));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                tracing::warn!("owner socket: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn send(stream: &mut UnixStream, reply: &Reply) -> bool {
    match serde_json::to_string(reply) {
        Ok(mut line) => {
            line.push('\n');
            stream.write_all(line.as_bytes()).and_then(|_| stream.flush()).is_ok()
        }
        Err(_) => false,
    }
}

fn serve_connection(mut stream: UnixStream, client: &Client, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
    let mut line = String::new();
    let read = stream.try_clone().map(BufReader::new).and_then(|mut r| r.read_line(&mut line));
    if !matches!(read, Ok(n) if n > 0) {
        return;
    }
    let req: Request = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => {
            send(&mut stream, &Reply::Err(CmdError::new(Kind::Usage, format!("bad request: {e}"))));
            return;
        }
    };
    match req {
        Request::Hello => {
            send(&mut stream, &Reply::Ok(json!({"role": shared.role.as_str()})));
        }
        Request::Handover if shared.role == Role::Temporary => {
            let events = shared.events.lock().unwrap_or_else(|e| e.into_inner());
            let _ = events.send(OwnerEvent::Handover(stream));
        }
        Request::Handover => {
            let msg = format!("the profile is owned by dxos {}, which does not hand over", shared.role.as_str());
            send(&mut stream, &Reply::Err(CmdError::new(Kind::Denied, msg)));
        }
        Request::Watch { space, typename } => {
            let mut out = stream.try_clone();
            let stop = || shared.stop.load(Ordering::SeqCst);
            let result = client.watch(&space, typename.as_deref(), &stop, |v| match out.as_mut() {
                Ok(s) => send(s, &Reply::Ok(v)),
                Err(_) => false,
            });
            if let Err(e) = result {
                send(&mut stream, &Reply::Err(e));
            }
        }
        Request::Invite { .. } | Request::Join { .. } => {
            let mut out = stream.try_clone();
            let stop = || shared.stop.load(Ordering::SeqCst);
            let result = {
                let net = shared.net();
                match net.as_deref() {
                    Some(net) => crate::invite::run(client, net, &req, &stop, &mut |v| match out.as_mut() {
                        Ok(s) => send(s, &Reply::Ok(v)),
                        Err(_) => false,
                    }),
                    None => Err(CmdError::new(
                        Kind::Network,
                        "the profile's owner runs no network node (it has no identity yet)",
                    )),
                }
            };
            if let Err(e) = result {
                send(&mut stream, &Reply::Err(e));
            }
        }
        Request::Peers => {
            let net = shared.net.lock().unwrap_or_else(|e| e.into_inner());
            send(&mut stream, &Reply::Ok(net.as_deref().map(NetHost::peers_json).unwrap_or(json!([]))));
        }
        Request::Status => {
            let reply = match client.execute(&Request::Status) {
                Ok(mut v) => {
                    let net = shared.net.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(net) = net.as_ref() {
                        v["peers"] = json!(net.peers().len());
                        v["addrs"] = json!(net.addrs());
                    }
                    Reply::Ok(v)
                }
                Err(e) => Reply::Err(e),
            };
            send(&mut stream, &reply);
        }
        Request::IdentityShow | Request::SpaceMembers { .. } => {
            let space = match &req {
                Request::SpaceMembers { space } => client.echo().find_space(space).ok().map(|s| s.id()),
                _ => None,
            };
            let reply = match client.execute(&req) {
                Ok(mut v) => {
                    if let Some(net) = shared.net.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                        net.mark_online(&mut v, space);
                    }
                    Reply::Ok(v)
                }
                Err(e) => Reply::Err(e),
            };
            send(&mut stream, &reply);
        }
        other => {
            // Durable before it is acknowledged, as when a command opens the store itself: an
            // owner that dies right after answering loses nothing it said was done.
            let reply = match client.execute(&other).and_then(|v| client.flush().map(|_| v)) {
                Ok(v) => Reply::Ok(v),
                Err(e) => Reply::Err(e),
            };
            send(&mut stream, &reply);
        }
    }
}

/// Outcome of talking to an owner.
enum Talk<T> {
    Done(T),
    /// The owner went away mid-way (handover, exit): try again.
    Retry,
}

fn connect(profile: &Profile) -> Option<UnixStream> {
    UnixStream::connect(profile.socket_path()).ok()
}

fn write_request(stream: &mut UnixStream, req: &Request) -> bool {
    match serde_json::to_string(req) {
        Ok(mut line) => {
            line.push('\n');
            stream.write_all(line.as_bytes()).is_ok()
        }
        Err(_) => false,
    }
}

fn call_over(mut stream: UnixStream, req: &Request) -> Talk<Result<Value, CmdError>> {
    if !write_request(&mut stream, req) {
        return Talk::Retry;
    }
    let mut line = String::new();
    match BufReader::new(stream).read_line(&mut line) {
        Ok(n) if n > 0 => match serde_json::from_str::<Reply>(&line) {
            Ok(Reply::Ok(v)) => Talk::Done(Ok(v)),
            Ok(Reply::Err(e)) => Talk::Done(Err(e)),
            Err(e) => Talk::Done(Err(CmdError::new(Kind::Internal, format!("bad reply from the owner: {e}")))),
        },
        _ => Talk::Retry,
    }
}

/// Runs one short command: through the owner's socket, or, with no owner, on the store
/// directly (waiting while another process holds it).
pub fn call(profile: &Profile, req: &Request) -> Result<Value, CmdError> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        if let Some(stream) = connect(profile)
            && let Talk::Done(r) = call_over(stream, req)
        {
            return r;
        }
        match Client::open(profile) {
            Ok(client) => {
                let result = client.execute(req);
                let flushed = client.flush();
                return result.and_then(|v| flushed.map(|_| v));
            }
            Err(OpenError::Locked) => {}
            Err(OpenError::Other(e)) => return Err(CmdError::new(Kind::Io, e)),
        }
        if Instant::now() > deadline {
            return Err(CmdError::new(Kind::Timeout, "the profile stayed busy for 30 s; is another dxos stuck?"));
        }
        std::thread::sleep(RETRY);
    }
}

/// Runs `watch`: through the owner, or as a temporary owner that hands over when the app or
/// `serve` starts and then carries on as a client. `emit` gets each line; it returns false to stop.
pub fn watch(
    profile: &Profile,
    space: &str,
    typename: Option<&str>,
    mut emit: impl FnMut(&Value) -> bool,
) -> Result<(), CmdError> {
    let mut last_ids: Option<Value> = None;
    // Prints a line unless it is the first after a reconnection and nothing changed meanwhile.
    let mut out = |v: Value, first: bool| -> bool {
        let ids = v.get("ids").cloned();
        if first && ids.is_some() && ids == last_ids {
            return true;
        }
        last_ids = ids;
        // Stamp with this process's clock: when *we* saw the change.
        let line = json!({
            "ts_ms": crate::client::now_ms(),
            "ids": v.get("ids").cloned().unwrap_or(Value::Null),
            "objects": v.get("objects").cloned().unwrap_or(Value::Null),
        });
        emit(&line)
    };
    let deadline_busy = || Instant::now() + BUSY_TIMEOUT;
    let mut deadline = deadline_busy();
    // After handing over, leave the store to the new owner until its socket is up.
    let mut handed_over: Option<Instant> = None;
    let req = Request::Watch { space: space.to_owned(), typename: typename.map(str::to_owned) };
    while !stopping() {
        if let Some(mut stream) = connect(profile)
            && write_request(&mut stream, &req)
        {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let mut reader = BufReader::new(stream);
            let mut first = true;
            let mut line = String::new();
            loop {
                if stopping() {
                    return Ok(());
                }
                match reader.read_line(&mut line) {
                    Ok(0) => break, // the owner left: find the next one
                    Ok(_) => {
                        match serde_json::from_str::<Reply>(&line) {
                            Ok(Reply::Ok(v)) => {
                                if !out(v, first) {
                                    return Ok(());
                                }
                                first = false;
                            }
                            Ok(Reply::Err(e)) => return Err(e),
                            Err(e) => {
                                return Err(CmdError::new(Kind::Internal, format!("bad reply from the owner: {e}")));
                            }
                        }
                        line.clear();
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => break,
                }
            }
            deadline = deadline_busy();
            handed_over = None;
            continue;
        }
        if handed_over.is_some_and(|t| t.elapsed() < HANDOVER_GRACE) {
            std::thread::sleep(RETRY);
            continue;
        }
        match Client::open(profile) {
            Ok(client) => {
                let (owner, events) = Owner::start(client, Role::Temporary, profile)?;
                // A temporary owner runs the node too (CLI.md), so a watcher sees peers' edits.
                if owner.client().halo().identity().is_some() {
                    let started =
                        crate::net::NetOptions::default().config(profile).and_then(|config| owner.start_net(config));
                    if let Err(e) = started {
                        tracing::warn!("the network node did not start: {}", e.message);
                    }
                }
                let handover: Mutex<Option<UnixStream>> = Mutex::new(None);
                let stop = || {
                    if stopping() {
                        return true;
                    }
                    match events.try_recv() {
                        Ok(OwnerEvent::Handover(s)) => {
                            *handover.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
                            true
                        }
                        Err(_) => false,
                    }
                };
                let mut first = true;
                let result = owner.client().watch(space, typename, &stop, |v| {
                    let keep = out(v, first);
                    first = false;
                    keep
                });
                let stopped = owner.stop();
                if let Some(mut s) = handover.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    send(&mut s, &Reply::Ok(json!({"released": true})));
                    handed_over = Some(Instant::now());
                }
                result?;
                stopped?;
                deadline = deadline_busy();
            }
            Err(OpenError::Locked) => {
                if Instant::now() > deadline {
                    return Err(CmdError::new(
                        Kind::Timeout,
                        "the profile stayed busy for 30 s; is another dxos stuck?",
                    ));
                }
                std::thread::sleep(RETRY);
            }
            Err(OpenError::Other(e)) => return Err(CmdError::new(Kind::Io, e)),
        }
    }
    Ok(())
}

/// Runs `invite` or `join`: through the owner, or as a temporary owner (store, node and
/// socket) for its length. A temporary owner does not hand the profile over mid-way (an open
/// invitation would be lost); it answers a request to once it is done. `emit` gets each line.
pub fn long(profile: &Profile, req: &Request, mut emit: impl FnMut(&Value) -> bool) -> Result<(), CmdError> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        if let Some(mut stream) = connect(profile)
            && write_request(&mut stream, req)
        {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => {
                        return Err(CmdError::new(Kind::Network, "the profile's owner stopped before the end"));
                    }
                    Ok(_) => match serde_json::from_str::<Reply>(&line) {
                        Ok(Reply::Ok(v)) => {
                            if !emit(&v) {
                                return Ok(());
                            }
                            if v.get("admitted").is_some()
                                || v.get("identity_key").is_some()
                                || v.get("space").is_some()
                            {
                                return Ok(());
                            }
                        }
                        Ok(Reply::Err(e)) => return Err(e),
                        Err(e) => {
                            return Err(CmdError::new(Kind::Internal, format!("bad reply from the owner: {e}")));
                        }
                    },
                }
            }
        }
        match Client::open(profile) {
            Ok(client) => {
                if matches!(req, Request::Join { .. }) && client.halo().identity().is_none() {
                    // A device joining an identity meets the inviter with the key it keeps.
                    client.halo().joining_device_key()?;
                }
                let (owner, events) = Owner::start(client, Role::Temporary, profile)?;
                let started = match crate::net::NetOptions::default().config(profile) {
                    Ok(config) => owner.start_net(config),
                    Err(e) => Err(e),
                };
                let result = match started {
                    Ok(()) => {
                        let net = owner.net();
                        match net.as_deref() {
                            Some(net) => crate::invite::run(owner.client(), net, req, &stopping, &mut |v| emit(&v)),
                            None => Err(CmdError::new(Kind::Internal, "the node did not start")),
                        }
                    }
                    Err(e) => Err(e),
                };
                let stopped = owner.stop();
                while let Ok(OwnerEvent::Handover(mut s)) = events.try_recv() {
                    send(&mut s, &Reply::Ok(json!({"released": true})));
                }
                return result.and(stopped);
            }
            Err(OpenError::Locked) => {}
            Err(OpenError::Other(e)) => return Err(CmdError::new(Kind::Io, e)),
        }
        if Instant::now() > deadline {
            return Err(CmdError::new(Kind::Timeout, "the profile stayed busy for 30 s; is another dxos stuck?"));
        }
        std::thread::sleep(RETRY);
    }
}

/// Becomes the owner of a profile as the app or `serve`: asks a temporary owner to hand over,
/// refuses when another app or `serve` owns it.
pub fn acquire(profile: &Profile, role: Role) -> Result<(Owner, Receiver<OwnerEvent>), CmdError> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        if let Some(stream) = connect(profile) {
            match call_over(stream, &Request::Hello) {
                Talk::Done(Ok(v)) if v["role"] == "temporary" => {
                    if let Some(s) = connect(profile) {
                        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                        let _ = call_over(s, &Request::Handover);
                    }
                }
                Talk::Done(Ok(v)) => {
                    let who = v["role"].as_str().unwrap_or("another process").to_owned();
                    return Err(CmdError::new(
                        Kind::Denied,
                        format!("this profile is already open in dxos {who} ({})", profile.dir().display()),
                    ));
                }
                _ => {}
            }
        }
        match Client::open(profile) {
            Ok(client) => return Owner::start(client, role, profile),
            Err(OpenError::Locked) => {}
            Err(OpenError::Other(e)) => return Err(CmdError::new(Kind::Io, e)),
        }
        if Instant::now() > deadline {
            return Err(CmdError::new(Kind::Timeout, "the profile stayed busy for 30 s; is another dxos stuck?"));
        }
        std::thread::sleep(RETRY);
    }
}
