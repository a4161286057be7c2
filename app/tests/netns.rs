//! Two `dxos serve` processes in two network namespaces joined by a veth pair: they find each
//! other by mDNS with no `--peer`, and replication resumes by itself after the link between
//! them goes down and comes back (`ip link set down`). Needs root and iproute2; without them
//! the tests print why and skip, unless `DXOS_REQUIRE_NETNS` is set (as `.ci/run` sets it):
//! then they fail.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Two namespaces and the veth pair between them, removed on drop.
struct Link {
    ns: [String; 2],
    veth: [String; 2],
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl Link {
    fn make(tag: &str) -> Result<Link, String> {
        let id = std::process::id() % 100_000;
        let ns = [format!("dx{tag}a{id}"), format!("dx{tag}b{id}")];
        let veth = [format!("v{tag}a{id}"), format!("v{tag}b{id}")];
        let link = Link { ns: ns.clone(), veth: veth.clone() };
        for n in &ns {
            ip(&["netns", "add", n])?;
            ip(&["-n", n, "link", "set", "lo", "up"])?;
        }
        ip(&["link", "add", &veth[0], "type", "veth", "peer", "name", &veth[1]])?;
        for (i, (n, v)) in ns.iter().zip(&veth).enumerate() {
            ip(&["link", "set", v, "netns", n])?;
            ip(&["-n", n, "addr", "add", &format!("10.77.{}.{}/24", id % 200, i + 1), "dev", v])?;
            ip(&["-n", n, "link", "set", v, "up"])?;
        }
        Ok(link)
    }

    fn set(&self, up: bool) -> Result<(), String> {
        ip(&["-n", &self.ns[1], "link", "set", &self.veth[1], if up { "up" } else { "down" }])
    }

    fn serve(&self, side: usize, profile: &Path, extra: &[&str]) -> Running {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns[side], BIN, "--profile"])
            .arg(profile)
            .args(["--json", "serve"])
            .args(extra);
        Running::spawn(cmd)
    }
}

/// The link for a test, or `None` (printing why) where namespaces cannot be made; with
/// `DXOS_REQUIRE_NETNS` set, the test fails instead of skipping.
fn link_or_skip(tag: &str) -> Option<Link> {
    match Link::make(tag) {
        Ok(l) => Some(l),
        Err(why) if std::env::var_os("DXOS_REQUIRE_NETNS").is_some() => {
            panic!("DXOS_REQUIRE_NETNS is set, but network namespaces cannot be made here ({why})")
        }
        Err(why) => {
            println!("SKIPPED: cannot make network namespaces here ({why})");
            None
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        for n in &self.ns {
            let _ = ip(&["netns", "del", n]);
        }
    }
}

fn shows(p: &Path, want: &[&str]) -> bool {
    dxos(p, &["--json", "task", "list", "Shared"]).status.success() && titles(p, "Shared") == want
}

#[test]
fn mdns_finds_a_peer_in_another_namespace() {
    let Some(link) = link_or_skip("m") else { return };
    let dir = tmp();
    let (a, b) = two_devices(dir.path());
    let sa = link.serve(0, &a, &[]);
    let sb = link.serve(1, &b, &[]);
    // Both are up (their first line) before B is asked anything.
    assert!(sa.next()["peer_id"].is_string() && sb.next()["peer_id"].is_string());
    let start = Instant::now();
    eventually("B finds A by mDNS and gets its task", || shows(&b, &["milk"]));
    println!("found by mDNS and synced in {} ms", start.elapsed().as_millis());
    // Whichever heard the other's mDNS answer first dialled (the other may hear it later):
    // at least one reports the discovery.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut discovered = false;
    while !discovered && Instant::now() < deadline {
        for s in [&sa, &sb] {
            while let Ok(v) = s.lines.recv_timeout(Duration::from_millis(50)) {
                discovered |= v["event"] == "discovered";
            }
        }
    }
    assert!(discovered, "a discovered event was reported");
}

/// Link loss between the namespaces, with `serve` listening as `listen` says: once for 6 s
/// (the connections survive it) and once for 25 s (long enough for ping to close them, so the
/// peers must dial again and restart replication).
fn link_loss(tag: &str, listen: &[&str]) {
    let Some(link) = link_or_skip(tag) else { return };
    let dir = tmp();
    let (a, b) = two_devices(dir.path());
    let sa = link.serve(0, &a, listen);
    let sb = link.serve(1, &b, listen);
    assert!(sa.next()["peer_id"].is_string() && sb.next()["peer_id"].is_string());
    if !within(Duration::from_secs(30), || shows(&b, &["milk"])) {
        // Seen once in CI and not again in 28 runs: say what each side saw.
        let peers = |p: &Path| String::from_utf8_lossy(&dxos(p, &["--json", "peers"]).stdout).into_owned();
        panic!(
            "not within 30 s: B syncs with A\nA's events:\n{}\nB's events:\n{}\nA's peers: {}B's peers: {}",
            sa.unread(),
            sb.unread(),
            peers(&a),
            peers(&b)
        );
    }
    // `DXOS_LINK_ROUNDS` and `DXOS_LINK_DOWN_S` ask for more rounds of one outage when measuring.
    let env = |name: &str| std::env::var(name).ok().and_then(|r| r.parse::<u64>().ok());
    let outages: Vec<u64> = match (env("DXOS_LINK_ROUNDS"), env("DXOS_LINK_DOWN_S")) {
        (None, None) => vec![6, 25],
        (rounds, down) => vec![down.unwrap_or(6); rounds.unwrap_or(2) as usize],
    };
    for (round, down) in outages.into_iter().enumerate() {
        let down = Duration::from_secs(down);
        link.set(false).unwrap_or_else(|e| panic!("{e}"));
        let title = format!("while down {round}");
        ok(&a, &["task", "add", "Shared", &title]);
        std::thread::sleep(down);
        assert!(!titles(&b, "Shared").contains(&title), "nothing crosses a link that is down");
        link.set(true).unwrap_or_else(|e| panic!("{e}"));
        let back = Instant::now();
        eventually("replication resumes", || titles(&b, "Shared").contains(&title));
        println!(
            "{tag}: round {round}: down {} s: replication resumed {} ms after the link came back",
            down.as_secs(),
            back.elapsed().as_millis()
        );
    }
}

#[test]
fn replication_resumes_after_the_link_comes_back_over_webrtc() {
    // WebRTC-direct only, the transport that must work.
    link_loss("w", &["--listen", "/ip4/0.0.0.0/udp/0/webrtc-direct"]);
}

#[test]
fn replication_resumes_after_the_link_comes_back_with_every_transport() {
    // The default: WebRTC-direct, QUIC and TCP, whichever connects first.
    link_loss("d", &[]);
}

/// Runs `dxos --json ARGS` on `profile` inside namespace `side` and parses its last line.
fn ok_in(link: &Link, side: usize, profile: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new("ip")
        .args(["netns", "exec", &link.ns[side], BIN, "--profile"])
        .arg(profile)
        .arg("--json")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "dxos {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn pairing_and_sharing_across_namespaces() {
    let Some(link) = link_or_skip("p") else { return };
    let dir = tmp();
    let a = new_profile(dir.path(), "a");
    ok(&a, &["space", "create", "--name", "Shared"]);
    ok(&a, &["task", "add", "Shared", "milk"]);
    let sa = link.serve(0, &a, &["--no-mdns", "--listen", "/ip4/0.0.0.0/udp/0/webrtc-direct"]);
    assert!(sa.next()["peer_id"].is_string());

    // A new device, by text, over WebRTC-direct to A's LAN address.
    let inv = Running::start(&a, &["invite", "device"]);
    let uri = inv.next()["uri"].as_str().unwrap_or_default().to_owned();
    let b = dir.path().join("b");
    let start = Instant::now();
    let joined = ok_in(&link, 1, &b, &["join", &uri]);
    println!("paired across namespaces over WebRTC in {} ms ({} characters)", start.elapsed().as_millis(), uri.len());
    assert_eq!(joined["identity_key"], ok(&a, &["identity", "show"])["identity_key"]);
    assert_eq!(titles(&b, "Shared"), ["milk"]);
    // Then live, both ways, once B runs its node (it finds A at the address it paired with).
    let sb = link.serve(1, &b, &["--no-mdns", "--listen", "/ip4/0.0.0.0/udp/0/webrtc-direct"]);
    assert!(sb.next()["peer_id"].is_string());
    ok(&a, &["task", "add", "Shared", "from A"]);
    eventually("B shows A's new task", || shows(&b, &["milk", "from A"]));
    ok(&b, &["task", "add", "Shared", "from B"]);
    eventually("A shows B's task", || shows(&a, &["milk", "from A", "from B"]));

    // Another person, by a picture of the QR code (every transport).
    let inv = Running::start(&a, &["invite", "space", "Shared", "--role", "editor"]);
    let uri = inv.next()["uri"].as_str().unwrap_or_default().to_owned();
    let png = dir.path().join("share.png");
    let code = dxos::qr::luma(&uri, 5).unwrap_or_else(|e| panic!("{e}"));
    dxos::qr::write_png(&code, &png).unwrap_or_else(|e| panic!("{e}"));
    let c = new_profile(dir.path(), "c");
    let start = Instant::now();
    let joined = ok_in(&link, 1, &c, &["join", "--qr", &png.to_string_lossy()]);
    println!("joined a space by QR picture across namespaces in {} ms", start.elapsed().as_millis());
    assert!(joined["space"].is_string());
    assert_eq!(titles(&c, "Shared"), ["milk", "from A", "from B"]);
}

#[test]
fn an_invitation_whose_addresses_are_stale_finds_the_inviter_by_mdns() {
    let Some(link) = link_or_skip("i") else { return };
    let dir = tmp();
    let a = new_profile(dir.path(), "a");
    ok(&a, &["space", "create", "--name", "Shared"]);
    ok(&a, &["task", "add", "Shared", "milk"]);
    let sa = link.serve(0, &a, &[]);
    assert!(sa.next()["peer_id"].is_string());
    let inv = Running::start(&a, &["invite", "device"]);
    let uri = inv.next()["uri"].as_str().unwrap_or_default().to_owned();
    // The same offer, its addresses replaced by one where nobody listens (a laptop that moved
    // to another network since): the guest finds the inviter on the LAN by mDNS instead.
    let mut offer = dxos_halo::Offer::from_uri(&uri, 0).unwrap_or_else(|e| panic!("{e}"));
    offer.addrs =
        vec!["/ip4/10.254.254.254/tcp/4001".parse::<multiaddr::Multiaddr>().map(|m| m.to_vec()).unwrap_or_default()];
    let stale = offer.to_uri();
    let b = dir.path().join("b");
    let start = Instant::now();
    let joined = ok_in(&link, 1, &b, &["join", &stale]);
    println!("joined through mDNS in {} ms", start.elapsed().as_millis());
    assert_eq!(joined["identity_key"], ok(&a, &["identity", "show"])["identity_key"]);
    assert_eq!(titles(&b, "Shared"), ["milk"]);
}
