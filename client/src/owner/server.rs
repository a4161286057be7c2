//! The owner's side of the socket: the open profile ([`Local`]) and a thread per connection
//! answering one request (or streaming `watch`, `invite`, `join`).

use super::*;

/// A running owner: the open profile and the socket server.
pub struct Owner {
    local: Arc<Local>,
    socket: PathBuf,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

pub(super) struct Shared {
    role: OwnerRole,
    stop: AtomicBool,
    conns: Mutex<Vec<(UnixStream, JoinHandle<()>)>>,
    events: Mutex<Sender<OwnerEvent>>,
}

/// Something the owner's main loop must act on.
pub enum OwnerEvent {
    /// A new owner asks this temporary owner to release the profile; answer on this stream.
    Handover(UnixStream),
    /// Someone launched the app again, or opened a `dxos:` link (`None`: no link): the app
    /// raises its window and shows the link's join dialog.
    Open(Option<String>),
}

impl Owner {
    /// Starts serving `local` on the profile's socket (replacing a stale one).
    pub fn start(local: Local, role: OwnerRole) -> Result<(Owner, Receiver<OwnerEvent>)> {
        let socket = local.profile().socket_path();
        // We hold the store, so no live owner can be behind an existing socket file.
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket)
            .map_err(|e| ClientError::io(format!("cannot listen on {}", socket.display()), e))?;
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            role,
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
            events: Mutex::new(tx),
        });
        let local = Arc::new(local);
        let (l, s) = (local.clone(), shared.clone());
        let accept = std::thread::Builder::new()
            .name("dxos-owner".into())
            .spawn(move || accept_loop(listener, l, s))
            .map_err(|e| ClientError::io("cannot start the socket's thread", e))?;
        Ok((Owner { local, socket, shared, accept: Some(accept) }, rx))
    }

    /// The open profile.
    pub fn local(&self) -> &Arc<Local> {
        &self.local
    }

    /// Stops serving, ends every connection, stops the node, flushes, removes the socket and
    /// closes the store (once the last other holder of [`Owner::local`] lets go).
    pub fn stop(mut self) -> Result<()> {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.local.stop_node();
        if let Some(a) = self.accept.take() {
            // The accept loop waits in `accept`: a connection of our own wakes it to see `stop`.
            let _ = UnixStream::connect(&self.socket);
            let _ = a.join();
        }
        let conns = std::mem::take(&mut *self.shared.conns.lock().unwrap_or_else(|e| e.into_inner()));
        // Requests in flight are answered first (a caller whose change was made but not
        // answered could only be told "maybe"); streams end by themselves on `stop`. Then
        // whatever is left is cut.
        let patience = Instant::now() + STOP_PATIENCE;
        while conns.iter().any(|(_, h)| !h.is_finished()) && Instant::now() < patience {
            std::thread::sleep(Duration::from_millis(5));
        }
        for (stream, _) in &conns {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        for (_, handle) in conns {
            let _ = handle.join();
        }
        let flushed = self.local.flush();
        let _ = std::fs::remove_file(&self.socket);
        flushed
    }
}

pub(super) fn accept_loop(listener: UnixListener, local: Arc<Local>, shared: Arc<Shared>) {
    // Blocks in `accept` (no polling); `Owner::stop` connects once to wake it.
    for incoming in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        match incoming {
            Ok(stream) => {
                let Ok(keep) = stream.try_clone() else {
                    continue;
                };
                let (l, s) = (local.clone(), shared.clone());
                let handle = std::thread::spawn(move || serve_connection(stream, &l, &s));
                let mut conns = shared.conns.lock().unwrap_or_else(|e| e.into_inner());
                conns.retain(|(_, h)| !h.is_finished());
                conns.push((keep, handle));
            }
            Err(e) => {
                tracing::warn!("owner socket: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

pub(super) fn send(stream: &mut UnixStream, reply: Reply) -> bool {
    match wire::encode_reply(reply) {
        Ok(line) => stream.write_all(line.as_bytes()).and_then(|_| stream.flush()).is_ok(),
        Err(e) => {
            tracing::warn!("owner socket: cannot encode a reply: {e}");
            false
        }
    }
}

fn result_reply(r: Result<Response>) -> Reply {
    match r {
        Ok(v) => Reply::Ok(v),
        Err(e) => Reply::Err(e.to_wire()),
    }
}

pub(super) fn serve_connection(mut stream: UnixStream, local: &Local, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
    let mut line = String::new();
    let read = stream.try_clone().map(BufReader::new).and_then(|mut r| r.read_line(&mut line));
    if !matches!(read, Ok(n) if n > 0) {
        return;
    }
    let req = match wire::decode_request(&line) {
        Ok(r) => r,
        Err(e) => {
            send(&mut stream, Reply::Err(e.to_wire()));
            return;
        }
    };
    let stop = || shared.stop.load(Ordering::SeqCst);
    let mut out = stream.try_clone();
    let mut emit = |r: Response| match out.as_mut() {
        Ok(s) => send(s, Reply::Ok(r)),
        Err(_) => false,
    };
    match req {
        Request::Hello => {
            send(&mut stream, Reply::Ok(Response::Hello(shared.role)));
        }
        Request::Handover if shared.role == OwnerRole::Temporary => {
            let events = shared.events.lock().unwrap_or_else(|e| e.into_inner());
            let _ = events.send(OwnerEvent::Handover(stream));
        }
        Request::Handover => {
            let msg = format!("the profile is owned by dxos {}, which does not hand over", shared.role.as_str());
            send(&mut stream, Reply::Err(ClientError::Denied(msg).to_wire()));
        }
        Request::Open { uri } if shared.role == OwnerRole::App => {
            let events = shared.events.lock().unwrap_or_else(|e| e.into_inner());
            let taken = events.send(OwnerEvent::Open(uri)).is_ok();
            drop(events);
            let reply = if taken {
                Reply::Ok(Response::Opened)
            } else {
                Reply::Err(ClientError::Internal("the app is closing".into()).to_wire())
            };
            send(&mut stream, reply);
        }
        Request::Open { .. } => {
            let msg = format!(
                "the profile is open in dxos {}, which has no window: stop it (or pass another --profile) to open the app",
                shared.role.as_str()
            );
            send(&mut stream, Reply::Err(ClientError::Denied(msg).to_wire()));
        }
        Request::Watch { space, typename } => {
            let result = local.watch(&space, typename.as_deref(), &stop, &mut |u| emit(Response::Watch(u)));
            if let Err(e) = result {
                send(&mut stream, Reply::Err(e.to_wire()));
            }
        }
        Request::Invite { options } => {
            let result = crate::invite::invite(local, &options, &stop, &mut |s| emit(Response::Invite(s)));
            if let Err(e) = result {
                send(&mut stream, Reply::Err(e.to_wire()));
            }
        }
        Request::Join { uri, code } => {
            let result = crate::invite::join(local, &uri, code, &stop, &mut |s| emit(Response::Join(s)));
            if let Err(e) = result {
                send(&mut stream, Reply::Err(e.to_wire()));
            }
        }
        other => {
            // Durable before it is acknowledged, as when a command opens the store itself: an
            // owner that dies right after answering loses nothing it said was done.
            send(&mut stream, result_reply(local.execute(&other).and_then(|v| local.flush().map(|_| v))));
        }
    }
}
