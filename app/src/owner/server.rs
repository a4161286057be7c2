//! The owner's side of the socket: the open Client, the network node, and a thread per
//! connection answering one request (or streaming `watch`, `invite`, `join`).

use super::*;

/// A running owner: the open Client and the socket server.
pub struct Owner {
    client: Arc<Client>,
    socket: PathBuf,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

pub(super) struct Shared {
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

pub(super) fn accept_loop(listener: UnixListener, client: Arc<Client>, shared: Arc<Shared>) {
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

pub(super) fn send(stream: &mut UnixStream, reply: &Reply) -> bool {
    match serde_json::to_string(reply) {
        Ok(mut line) => {
            line.push('\n');
            stream.write_all(line.as_bytes()).and_then(|_| stream.flush()).is_ok()
        }
        Err(_) => false,
    }
}

pub(super) fn serve_connection(mut stream: UnixStream, client: &Client, shared: &Shared) {
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
