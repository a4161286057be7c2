//! The NAT lab (`tests/netlab/netlab.sh`) driven from Rust: two homes behind NAT routers and
//! a relay on the wan between them, with `dxos` run inside; shared by `tests/natlab.rs` and
//! `benches/natlab.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;

/// The lab's script.
pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/netlab/netlab.sh");
/// The relay's QUIC and TCP addresses in the lab.
pub const RELAY_QUIC: &str = "/ip4/100.64.0.10/udp/4001/quic-v1";
pub const RELAY_TCP: &str = "/ip4/100.64.0.10/tcp/4001";
/// The relay's STUN responder (`relay serve --stun`), where nodes look for it by default.
pub const RELAY_STUN: &str = "100.64.0.10:3478";
/// The environment that leaves a node `/webrtc` as its only direct transport.
pub const WEBRTC_ONLY: &[(&str, &str)] = &[("DXOS_TRANSPORT_ORDER", "webrtc,relay")];

/// A lab, torn down on drop.
pub struct Lab {
    pub tag: String,
}

impl Lab {
    pub fn up(tag: &str, nat1: &str, nat2: &str, loss: u32) -> Result<Lab, String> {
        let tag = format!("{tag}{}", std::process::id() % 10_000);
        let lab = Lab { tag: tag.clone() };
        let out = Command::new("bash")
            .args([SCRIPT, "up", &tag, nat1, nat2, &loss.to_string()])
            .output()
            .map_err(|e| format!("netlab.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!("netlab.sh up: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(lab)
    }

    pub fn ns(&self, host: &str) -> String {
        format!("{}{host}", self.tag)
    }

    /// `dxos --json ARGS` in namespace `host`, streaming its lines.
    pub fn run(&self, host: &str, profile: Option<&Path>, args: &[&str]) -> Running {
        self.run_env(host, profile, &[], args)
    }

    /// The same, with `env` set for it.
    pub fn run_env(&self, host: &str, profile: Option<&Path>, env: &[(&str, &str)], args: &[&str]) -> Running {
        let mut cmd = Command::new("ip");
        cmd.envs(env.iter().copied());
        cmd.args(["netns", "exec", &self.ns(host), BIN]);
        if let Some(p) = profile {
            cmd.arg("--profile").arg(p);
        }
        cmd.arg("--json").args(args);
        Running::spawn(cmd)
    }

    /// Starts the relay (its key kept in `dir`, so a restart keeps its address); returns it
    /// and its QUIC address with its peer id.
    pub fn relay(&self, dir: &Path, allow: &str) -> (Running, String) {
        self.relay_with(dir, allow, &[])
    }

    /// The same, with more `relay serve` options.
    pub fn relay_with(&self, dir: &Path, allow: &str, extra: &[&str]) -> (Running, String) {
        let key = dir.join("relay.key");
        let key = key.to_string_lossy();
        let mut args =
            vec!["relay", "serve", "--listen", RELAY_QUIC, "--listen", RELAY_TCP, "--key", &key, "--allow", allow];
        args.extend_from_slice(extra);
        let r = self.run("r", None, &args);
        let first = r.next();
        let addr = first["addrs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|a| a.starts_with(RELAY_QUIC))
            .unwrap_or_else(|| panic!("no QUIC address: {first}"))
            .to_owned();
        (r, addr)
    }

    /// Cuts (or restores) home `i`'s uplink.
    pub fn link(&self, i: u32, up: bool) {
        let out = Command::new("bash")
            .args([SCRIPT, "link", &self.tag, &i.to_string(), if up { "up" } else { "down" }])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("bash").args([SCRIPT, "down", &self.tag]).output();
    }
}

pub fn lab_or_skip(tag: &str, nat1: &str, nat2: &str, loss: u32) -> Option<Lab> {
    let has_iptables = ["/usr/sbin/iptables", "/sbin/iptables"].iter().any(|p| Path::new(p).exists());
    let why = if has_iptables {
        match Lab::up(tag, nat1, nat2, loss) {
            Ok(l) => return Some(l),
            Err(e) => e,
        }
    } else {
        "iptables is not installed".to_owned()
    };
    if std::env::var_os("DXOS_REQUIRE_NETNS").is_some() {
        panic!("DXOS_REQUIRE_NETNS is set, but the NAT lab cannot be built here ({why})");
    }
    println!("SKIPPED: cannot build the NAT lab here ({why})");
    None
}

/// How `profile`'s owner reaches the peer whose device key is `device` (none: not connected).
pub fn transport_to(profile: &Path, device: &str) -> Option<String> {
    let peers = ok(profile, &["peers"]);
    peers
        .as_array()?
        .iter()
        .find(|p| p["device_key"] == device)
        .and_then(|p| p["transport"].as_str().map(str::to_owned))
}

pub fn device_key(p: &Path) -> String {
    ok(p, &["identity", "show"])["device_key"].as_str().unwrap_or_default().to_owned()
}

/// The libp2p peer id of the profile at `p`.
pub fn peer_id(p: &Path) -> String {
    ok(p, &["identity", "show"])["peer_id"].as_str().unwrap_or_default().to_owned()
}

/// Two devices of one identity in two homes, both serving, both reserving on the relay.
pub struct Homes {
    pub a: PathBuf,
    pub b: PathBuf,
    pub b_device: String,
    pub relay_addr: String,
    /// The environment every node of the pair runs with.
    pub env: Vec<(&'static str, &'static str)>,
    pub serve_a: Running,
    pub serve_b: Running,
    /// How long B's `join` took (pairing and the first sync of A's data).
    pub joined_in: Duration,
}

/// A (home 1) with a space, reserving on the relay; B (home 2) joins A's identity with an
/// invitation made in home 1, through the relay (B knows no relay then), and both serve.
/// Commands other than `join` and `serve` run outside the lab: they reach each profile's
/// owner through its socket.
pub fn pair(lab: &Lab, dir: &Path) -> (Homes, Running) {
    pair_with(lab, dir, &[], |_| {})
}

/// The same, with more `relay serve` options, and `prepare` run on A's profile (no owner
/// running yet) after its space is made.
pub fn pair_with(lab: &Lab, dir: &Path, relay_options: &[&str], prepare: impl FnOnce(&Path)) -> (Homes, Running) {
    pair_env(lab, dir, relay_options, &[], prepare)
}

/// The same, with `env` set for every node of the pair (serve, invite and join).
pub fn pair_env(
    lab: &Lab,
    dir: &Path,
    relay_options: &[&str],
    env: &[(&'static str, &'static str)],
    prepare: impl FnOnce(&Path),
) -> (Homes, Running) {
    let a = new_profile(dir, "a");
    ok(&a, &["space", "create", "--name", "Home"]);
    ok(&a, &["task", "add", "Home", "milk"]);
    prepare(&a);
    let identity = ok(&a, &["identity", "show"])["identity_key"].as_str().unwrap_or_default().to_owned();
    let (relay, relay_addr) = lab.relay_with(dir, &identity, relay_options);
    ok(&a, &["relay", "add", &relay_addr]);
    let serve_a = lab.run_env("h1", Some(&a), env, &["serve", "--no-mdns"]);
    eventually("A reserves on the relay", || {
        ok(&a, &["status"])["addrs"]
            .as_array()
            .is_some_and(|v| v.iter().any(|x| x.as_str().is_some_and(|s| s.contains("p2p-circuit"))))
    });
    let inv = lab.run_env("h1", Some(&a), env, &["invite", "device"]);
    let uri = inv.next()["uri"].as_str().unwrap_or_default().to_owned();
    let b = dir.join("b");
    let start = Instant::now();
    let joined = lab.run_env("h2", Some(&b), env, &["join", &uri]);
    let j = joined.lines.recv_timeout(Duration::from_secs(300)).unwrap_or_else(|e| panic!("join: {e}"));
    assert_eq!(j["identity_key"], identity.as_str(), "{j}");
    let took = start.elapsed();
    println!("joined across two NATs through the relay in {} ms", took.as_millis());
    drop(joined);
    drop(inv);
    // Devices of one identity use the same relays (the list is not yet shared by itself).
    ok(&b, &["relay", "add", &relay_addr]);
    let serve_b = lab.run_env("h2", Some(&b), env, &["serve", "--no-mdns"]);
    eventually("B has A's space", || {
        dxos(&b, &["--json", "space", "list"]).status.success()
            && ok(&b, &["space", "list"]).as_array().is_some_and(|s| s.iter().any(|x| x["name"] == "Home"))
    });
    let b_device = device_key(&b);
    (Homes { a, b, b_device, relay_addr, env: env.to_vec(), serve_a, serve_b, joined_in: took }, relay)
}

/// `n` edits from `from`, each timed from just before its command until `to`'s watcher
/// prints it; returns the times in ms, sorted.
pub fn edit_times(from: &Path, to: &Path, n: usize, tag: &str) -> Vec<u128> {
    let watch = Running::start(to, &["watch", "Home"]);
    watch.next();
    let mut times = Vec::new();
    for i in 0..n {
        let t0 = Instant::now();
        let id =
            ok(from, &["task", "add", "Home", &format!("{tag} {i}")])["id"].as_str().unwrap_or_default().to_owned();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = watch.lines.recv_timeout(left).unwrap_or_else(|_| panic!("edit {i} ({tag}) never arrived"));
            if v["ids"].as_array().is_some_and(|a| a.iter().any(|x| *x == id.as_str())) {
                break;
            }
        }
        times.push(t0.elapsed().as_millis());
    }
    times.sort_unstable();
    times
}

pub fn pct(sorted: &[u128], p: f64) -> u128 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

pub fn report(what: &str, t: &[u128]) {
    println!(
        "{what}: n={} p50={} ms p99={} ms max={} ms",
        t.len(),
        pct(t, 0.5),
        pct(t, 0.99),
        t.last().copied().unwrap_or_default()
    );
}

/// One fresh `/webrtc` attempt: B's node restarts on a new port with no remembered address,
/// meets A through the relay and sets up `/webrtc` again. Returns B's report of the set-up
/// (`{"event":"webrtc","ms",...,"error"}`), or `None` if none came within 30 s.
pub fn webrtc_attempt(lab: &Lab, h: &mut Homes, a_peer: &str) -> Option<Value> {
    let _ = h.serve_b.signal("-TERM");
    for f in ["peers.json", "listen-ports.json"] {
        let _ = std::fs::remove_file(h.b.join(f));
    }
    h.serve_b = lab.run_env("h2", Some(&h.b), &h.env, &["serve", "--no-mdns"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let v = h.serve_b.lines.recv_timeout(left).ok()?;
        if v["event"] == "webrtc" && v["peer_id"] == a_peer {
            return Some(v);
        }
    }
    None
}

/// `n` fresh `/webrtc` attempts (see [`webrtc_attempt`]); prints how many connected and
/// their set-up times; returns (connected, times in ms sorted, errors).
pub fn webrtc_attempts(lab: &Lab, h: &mut Homes, n: usize) -> (usize, Vec<u128>, Vec<String>) {
    let a_peer = peer_id(&h.a);
    assert!(!a_peer.is_empty(), "A has a peer id");
    let (mut connected, mut times, mut errors) = (0, Vec::new(), Vec::new());
    for round in 0..n {
        match webrtc_attempt(lab, h, &a_peer) {
            Some(v) if v["error"].is_null() => {
                connected += 1;
                times.push(v["ms"].as_f64().unwrap_or_default().round() as u128);
            }
            Some(v) => errors.push(format!("attempt {round}: {}", v["error"])),
            None => errors.push(format!("attempt {round}: no /webrtc set-up reported within 30 s")),
        }
    }
    times.sort_unstable();
    for e in &errors {
        println!("{e}");
    }
    println!("/webrtc: {connected} of {n} fresh attempts connected");
    report("  set-up (signaling stream to data channel open)", &times);
    (connected, times, errors)
}
