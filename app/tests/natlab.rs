//! Devices in two homes behind NAT routers, a relay on the "wan" between them
//! (`tests/netlab/netlab.sh`): a device joins its identity through the relay, edits flow both
//! ways, the connection goes direct by hole punching between cone NATs and stays on the relay
//! between symmetric ones; with `/webrtc` as the only direct transport, it goes direct between
//! cone NATs and says why not between symmetric ones; with packet loss; after the relay
//! restarts. Needs root, iproute2 and iptables; without them the tests print why and skip,
//! unless `DXOS_REQUIRE_NETNS` is set (as `.ci/run` sets it): then they fail.

mod common;

use std::time::{Duration, Instant};

use common::netlab::*;
use common::*;

#[test]
fn cone_nats_pair_through_the_relay_then_go_direct() {
    let Some(lab) = lab_or_skip("c", "cone", "cone", 0) else { return };
    let dir = tmp();
    let (h, _relay) = pair(&lab, dir.path());
    let start = Instant::now();
    eventually("A reaches B directly (hole punched)", || {
        transport_to(&h.a, &h.b_device).is_some_and(|t| t == "quic" || t == "tcp")
    });
    println!("direct after {} ms (transport {:?})", start.elapsed().as_millis(), transport_to(&h.a, &h.b_device));
    report("cone/cone A->B edit to watch", &edit_times(&h.a, &h.b, 20, "ab"));
    report("cone/cone B->A edit to watch", &edit_times(&h.b, &h.a, 20, "ba"));
}

#[test]
fn cone_nats_go_direct_over_webrtc_alone() {
    let Some(lab) = lab_or_skip("w", "cone", "cone", 0) else { return };
    let dir = tmp();
    // WebRTC is the only direct transport; the relay answers STUN (the nodes find it there
    // by themselves: a relay's host, port 3478). Every attempt opens a circuit, so the
    // per-source circuit limit is raised.
    let relay_options = ["--stun", RELAY_STUN, "--circuit-burst", "100000", "--circuit-interval", "1"];
    let (mut h, _relay) = pair_env(&lab, dir.path(), &relay_options, WEBRTC_ONLY, |_| {});
    eventually("A reaches B over /webrtc", || transport_to(&h.a, &h.b_device).as_deref() == Some("webrtc"));
    report("cone/cone /webrtc A->B edit to watch", &edit_times(&h.a, &h.b, 20, "ab"));
    report("cone/cone /webrtc B->A edit to watch", &edit_times(&h.b, &h.a, 20, "ba"));
    // Fresh attempts (B restarts on a new port each time): every one connects (`cargo bench
    // -p dxos --bench natlab` runs 50 and more).
    let n = 10;
    let (connected, _, errors) = webrtc_attempts(&lab, &mut h, n);
    assert_eq!(connected, n, "{errors:?}");
    // And after the last restart they replicate both ways over it.
    eventually("B reaches A over /webrtc again", || {
        let a_device = device_key(&h.a);
        transport_to(&h.b, &a_device).as_deref() == Some("webrtc")
    });
    ok(&h.a, &["task", "add", "Home", "over webrtc from A"]);
    eventually("B gets A's edit", || titles(&h.b, "Home").iter().any(|t| t == "over webrtc from A"));
    ok(&h.b, &["task", "add", "Home", "over webrtc from B"]);
    eventually("A gets B's edit", || titles(&h.a, "Home").iter().any(|t| t == "over webrtc from B"));
}

#[test]
fn symmetric_nats_without_turn_stay_on_the_relay_and_say_why() {
    let Some(lab) = lab_or_skip("y", "symmetric", "symmetric", 0) else { return };
    let dir = tmp();
    let relay_options = ["--stun", RELAY_STUN];
    let (mut h, _relay) = pair_env(&lab, dir.path(), &relay_options, WEBRTC_ONLY, |_| {});
    let a_peer = peer_id(&h.a);
    let report = webrtc_attempt(&lab, &mut h, &a_peer).unwrap_or_else(|| panic!("no /webrtc attempt was reported"));
    let error =
        report["error"].as_str().unwrap_or_else(|| panic!("/webrtc connected between symmetric NATs: {report}"));
    println!("symmetric/symmetric /webrtc failed after {} ms: {error}", report["ms"]);
    assert!(error.contains("ICE found no direct path"), "{error}");
    assert!(error.contains("TURN"), "the reason names what would help: {error}");
    // The peers stay together on the relay.
    eventually("B reaches A through the relay", || transport_to(&h.b, &device_key(&h.a)).as_deref() == Some("relay"));
    ok(&h.a, &["task", "add", "Home", "through the relay"]);
    eventually("B gets A's edit", || titles(&h.b, "Home").iter().any(|t| t == "through the relay"));
}

#[test]
fn symmetric_nats_replicate_through_the_relay_and_after_it_restarts() {
    let Some(lab) = lab_or_skip("s", "symmetric", "symmetric", 0) else { return };
    let dir = tmp();
    let (h, mut relay) = pair(&lab, dir.path());
    // Hole punching cannot work here: replication stays on the relay.
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(transport_to(&h.a, &h.b_device).as_deref(), Some("relay"));
    report("symmetric/symmetric A->B edit to watch", &edit_times(&h.a, &h.b, 20, "ab"));
    report("symmetric/symmetric B->A edit to watch", &edit_times(&h.b, &h.a, 20, "ba"));
    // The relay restarts with its key, ten times: both reserve again each time and
    // replication resumes (an edit made while the relay was down arrives).
    let identity = ok(&h.a, &["identity", "show"])["identity_key"].as_str().unwrap_or_default().to_owned();
    let mut resumed = Vec::new();
    for round in 0..10 {
        assert_eq!(relay.signal("-TERM"), 0, "the relay stops cleanly on SIGTERM");
        let title = format!("while the relay was down {round}");
        ok(&h.a, &["task", "add", "Home", &title]);
        let (again, addr) = lab.relay(dir.path(), &identity);
        relay = again;
        assert_eq!(addr, h.relay_addr, "same key, same address");
        let back = Instant::now();
        eventually("B gets A's edit after the relay restarted", || titles(&h.b, "Home").contains(&title));
        resumed.push(back.elapsed().as_millis());
        println!("round {round}: resumed after {} ms", back.elapsed().as_millis());
    }
    resumed.sort_unstable();
    report("replication resumed after the relay came back", &resumed);
    // A relay that crashes (SIGKILL: nothing closed) and comes straight back: the nodes
    // notice the dead connection by its pings, then reserve and meet again.
    let mut after_crash = Vec::new();
    for round in 0..3 {
        relay.signal("-KILL");
        let title = format!("while the relay had crashed {round}");
        ok(&h.a, &["task", "add", "Home", &title]);
        let (again, _) = lab.relay(dir.path(), &identity);
        relay = again;
        let back = Instant::now();
        eventually("B gets A's edit after the relay crashed", || titles(&h.b, "Home").contains(&title));
        after_crash.push(back.elapsed().as_millis());
    }
    after_crash.sort_unstable();
    report("replication resumed after a crashed relay came back", &after_crash);
}

#[test]
fn pairing_and_edits_survive_five_percent_packet_loss() {
    let Some(lab) = lab_or_skip("l", "cone", "cone", 5) else { return };
    let dir = tmp();
    let (h, _relay) = pair(&lab, dir.path());
    report("cone/cone 5% loss A->B edit to watch", &edit_times(&h.a, &h.b, 20, "ab"));
    report("cone/cone 5% loss B->A edit to watch", &edit_times(&h.b, &h.a, 20, "ba"));
}

#[test]
fn a_home_offline_for_a_while_resumes_by_itself() {
    // Home 1 behind a symmetric NAT: no hole punching, so after the outage the two meet
    // through the relay again.
    let Some(lab) = lab_or_skip("o", "symmetric", "cone", 0) else { return };
    let dir = tmp();
    let (h, _relay) = pair(&lab, dir.path());
    // A minute offline: longer than every timeout (pings, QUIC's idle timeout, the relay
    // connection), so both ends must notice, redial and reserve again.
    lab.link(2, false);
    ok(&h.a, &["task", "add", "Home", "while B was offline"]);
    std::thread::sleep(Duration::from_secs(60));
    lab.link(2, true);
    let back = Instant::now();
    eventually("B gets the edit made while it was offline", || {
        titles(&h.b, "Home").iter().any(|t| t == "while B was offline")
    });
    println!("resumed {} ms after the link came back", back.elapsed().as_millis());
}
