//! Building the node: the swarm with its transports and behaviours, its listeners (on the
//! ports kept from last time), and the task that runs it.

use super::*;
use dxos_halo::KeypairExt;

pub(super) fn transport_err(e: impl std::fmt::Display) -> NetError {
    NetError::Transport(e.to_string())
}

/// Builds the swarm, starts listening and spawns the task; returns once every listener has
/// an address (or failed).
pub(in crate::node) async fn spawn(
    config: NodeConfig,
    echo: Echo,
    halo: Halo,
    events: broadcast::Sender<NodeEvent>,
    invites: std::sync::Arc<crate::invite::driver::Registry>,
) -> Result<(PeerId, mpsc::UnboundedSender<Command>, Control), NetError> {
    // QUIC (aws-lc-rs) and WebRTC (ring) both bring a rustls provider: pick one for the process.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let device = halo.device_key().ok_or(NetError::NoIdentity)?;
    let key = device.to_libp2p()?;
    let certificate = match &config.certificate {
        Some(path) => cert::load_or_create(path)?,
        None => cert::generate()?,
    };
    let mdns = config.mdns;
    let order = &config.transport_order;
    let punch = order.contains(&Transport::Quic) || order.contains(&Transport::Tcp);
    let use_webrtc = order.contains(&Transport::WebRtc);
    let (p2p_webrtc, p2p_webrtc_behaviour, webrtc_settings) = crate::webrtc_p2p::new(crate::webrtc_p2p::Config {
        stun: relays::stun_servers(&config.stun, &relays::merged(&config.relays, &halo.relays())),
        include_loopback: config.webrtc_loopback,
        timeouts: config.webrtc_timeouts,
    });
    let (relay_transport, relay_behaviour) = libp2p::relay::client::new(key.public().to_peer_id());
    let webrtc_total = config.webrtc_timeouts.total();
    let relay_noise = noise::Config::new(&key).map_err(transport_err)?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(transport_err)?
        // A QUIC connection whose peer vanished (a relay that crashed, a laptop shut) is dead
        // after 4 s without a packet rather than libp2p's 10 s; keep-alives every second
        // keep a live but idle one well inside that. Ping cannot tell sooner: its first
        // failure is silent and its next one waits to open a stream on the dead connection.
        .with_quic_config(|mut c| {
            c.max_idle_timeout = 4_000;
            c.keep_alive_interval = Duration::from_secs(1);
            c
        })
        .with_other_transport(|k| {
            // A WebRTC dial that has not connected in a few seconds never will (the link is
            // down); give it up so the next attempt (only one at a time) can go.
            let webrtc = libp2p_webrtc::tokio::Transport::new(k.clone(), certificate)
                .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)));
            libp2p::core::transport::timeout::TransportTimeout::with_outgoing_timeout(webrtc, WEBRTC_DIAL_TIMEOUT)
        })
        .map_err(transport_err)?
        // `/webrtc` before the relay client: the relay's transport would take a
        // `/p2p-circuit/webrtc` address for a plain circuit. (The builder's own
        // `with_relay_client` puts the relay first, so the relay client is set up here.)
        .with_other_transport(|_| {
            let webrtc = libp2p::core::transport::timeout::TransportTimeout::new(p2p_webrtc, webrtc_total)
                .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)));
            let relayed = relay_transport
                .upgrade(libp2p::core::upgrade::Version::V1Lazy)
                .authenticate(relay_noise)
                .multiplex(yamux::Config::default())
                .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)));
            webrtc.or_transport(relayed).map(|either, _| either.into_inner())
        })
        .map_err(transport_err)?
        .with_dns()
        .map_err(transport_err)?
        .with_behaviour(|k| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
            Ok(Behaviour::new(k, relay_behaviour, p2p_webrtc_behaviour, mdns, punch)?)
        })
        .map_err(transport_err)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build();
    let peer_id = *swarm.local_peer_id();

    let ports = ListenPorts::load(config.listen_ports.as_deref());
    let mut pending_listeners = HashSet::new();
    let mut listeners = HashMap::new();
    for addr in &config.listen {
        let id = listen(&mut swarm, addr, &ports).await?;
        pending_listeners.insert(id);
        listeners.insert(id, addr.clone());
    }
    if use_webrtc {
        // Not among the listeners waited for: its addresses come with relay reservations.
        swarm.listen_on(Multiaddr::empty().with(Protocol::WebRTC)).map_err(transport_err)?;
    }
    let mut control = swarm.behaviour().stream.new_control();
    let mut incoming = control.accept(REPLICATE_PROTOCOL).map_err(transport_err)?;
    let mut incoming_v2 = if config.replicate_version >= 2 {
        Some(control.accept(REPLICATE_PROTOCOL_V2).map_err(transport_err)?)
    } else {
        None
    };
    let mut invitations = control.accept(crate::invite::driver::INVITE_PROTOCOL).map_err(transport_err)?;
    let public_control = control.clone();

    let (internal, mut internal_rx) = mpsc::unbounded_channel();
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = oneshot::channel();
    let ctx = Context { echo, halo: halo.clone(), max_message: config.max_message };

    let mut task = Task {
        swarm,
        ctx,
        control,
        events,
        internal: internal.clone(),
        redial: Redial::default(),
        anonymous: Vec::new(),
        explicit: HashSet::new(),
        connections: HashMap::new(),
        since: HashMap::new(),
        dialing: HashMap::new(),
        sessions: HashMap::new(),
        opening: HashSet::new(),
        presence: HashMap::new(),
        listen: Vec::new(),
        pending_listeners,
        listeners,
        ports,
        ready: Some(ready_tx),
        down_until: None,
        next_session: 0,
        peer_store: config.peer_store.clone(),
        store_dirty: false,
        had_identity: halo.identity().is_some(),
        relays: relays::slots(&relays::merged(&config.relays, &halo.relays())),
        local_relays: config.relays.clone(),
        transport_order: config.transport_order.clone(),
        upgrading: HashMap::new(),
        rtt: HashMap::new(),
        replicate_version: config.replicate_version,
        retiring: Vec::new(),
        webrtc: webrtc_settings,
        stun: config.stun.clone(),
    };
    task.load_peer_store();
    let now = Instant::now();
    for addr in &config.peers {
        task.add_explicit(addr.clone(), now);
    }
    task.want_relays(now);
    task.refresh_wanted();
    if task.pending_listeners.is_empty()
        && let Some(r) = task.ready.take()
    {
        let _ = r.send(Ok(()));
    }

    let incoming_tx = internal.clone();
    let accept = tokio::spawn(async move {
        loop {
            let next = match incoming_v2.as_mut() {
                Some(v2) => tokio::select! {
                    s = incoming.next() => s.map(|(p, s)| (p, s, 1)),
                    s = v2.next() => s.map(|(p, s)| (p, s, 2)),
                },
                None => incoming.next().await.map(|(p, s)| (p, s, 1)),
            };
            let Some((peer, stream, version)) = next else { break };
            if incoming_tx.send(Internal::Incoming(peer, stream, version)).is_err() {
                break;
            }
        }
    });
    let answer_halo = halo.clone();
    let answering = tokio::spawn(async move {
        while let Some((peer, stream)) = invitations.next().await {
            tokio::spawn(crate::invite::driver::answer(stream, peer, invites.clone(), answer_halo.clone()));
        }
    });
    let halo_tx = internal.clone();
    let halo_listener = halo.on_change(move || {
        let _ = halo_tx.send(Internal::HaloChanged);
    });

    tokio::spawn(async move {
        let _halo_listener = halo_listener;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut save = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                ev = task.swarm.select_next_some() => task.on_swarm(ev),
                Some(msg) = internal_rx.recv() => task.on_internal(msg),
                cmd = cmd_rx.recv() => match cmd {
                    Some(Command::Shutdown(done)) => {
                        task.stop();
                        task.close_connections().await;
                        let _ = done.send(());
                        break;
                    }
                    Some(cmd) => task.on_command(cmd),
                    None => {
                        task.stop();
                        task.close_connections().await;
                        break;
                    }
                },
                _ = tick.tick() => task.on_tick(),
                _ = save.tick() => task.save_peer_store(),
            }
        }
        accept.abort();
        answering.abort();
    });

    match tokio::time::timeout(Duration::from_secs(10), ready_rx).await {
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(_)) => Err(NetError::Stopped),
        _ => Ok((peer_id, cmd_tx, public_control)),
    }
}

/// Listens on `addr`, on the port it had last time if that is kept and free (or freed soon).
pub(super) async fn listen(
    swarm: &mut Swarm<Behaviour>,
    addr: &Multiaddr,
    ports: &ListenPorts,
) -> Result<ListenerId, NetError> {
    if let Some(again) = ports.previous(addr) {
        let start = Instant::now();
        loop {
            if ports::is_free(&again) {
                match swarm.listen_on(again.clone()) {
                    Ok(id) => return Ok(id),
                    Err(e) => tracing::debug!("cannot listen on {again} again ({e}); on a new port"),
                }
                break;
            }
            if start.elapsed() >= ports::PORT_PATIENCE {
                tracing::debug!("{again} is taken; listening on a new port");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    swarm.listen_on(addr.clone()).map_err(|e| NetError::Listen { addr: addr.to_string(), reason: e.to_string() })
}
