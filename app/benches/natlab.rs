//! The NAT lab's figures (needs root, iproute2 and iptables; prints SKIPPED otherwise):
//! - hole punching between two cone NATs: fresh attempts (a new B process on a new port each
//!   time, so no NAT mapping is left from the last), how many became direct and how fast;
//! - a first sync of a space of 100k tasks to a new device, through the relay (symmetric
//!   NATs) beside the same between cone NATs (relayed at first, then direct).
//!
//! - `/webrtc` between two cone NATs with WebRTC as the only direct transport: fresh attempts,
//!   how many connected and their set-up time (signaling stream to first data channel);
//! - edit to watch and a sync of 100k tasks to the other device over `/webrtc`, hole-punched
//!   QUIC and the relay, side by side in one run;
//! - a home's uplink down for a minute, again and again: how soon replication resumes after
//!   it comes back.
//!
//! `cargo bench -p dxos --bench natlab` (PUNCH_ROUNDS, default 100; SYNC_OBJECTS, default
//! 100000; WEBRTC_ROUNDS, default 50; EDITS, default 50 each way; OUTAGE_ROUNDS, default 10,
//! of OUTAGE_SECS, default 60: about 11 minutes).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::netlab::*;
use common::*;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that is not ours runs nothing.
    if std::env::args().skip(1).any(|a| !a.starts_with("--") && !"natlab".contains(a.as_str())) {
        return;
    }
    hole_punching(env_or("PUNCH_ROUNDS", 100));
    first_sync(env_or("SYNC_OBJECTS", 100_000));
    webrtc_set_up(env_or("WEBRTC_ROUNDS", 50));
    transports_side_by_side(env_or("EDITS", 50), env_or("SYNC_OBJECTS", 100_000));
    outages(env_or("OUTAGE_ROUNDS", 10), env_or("OUTAGE_SECS", 60));
}

fn outages(rounds: usize, secs: usize) {
    if rounds == 0 {
        return;
    }
    // Home 1 symmetric: after each outage the two meet through the relay again.
    let Some(lab) = lab_or_skip("bo", "symmetric", "cone", 0) else { return };
    let dir = tmp();
    let (h, _relay) = pair(&lab, dir.path());
    let mut resumed = Vec::new();
    for round in 0..rounds {
        lab.link(2, false);
        let title = format!("while B was offline {round}");
        ok(&h.a, &["task", "add", "Home", &title]);
        std::thread::sleep(Duration::from_secs(secs as u64));
        lab.link(2, true);
        let back = Instant::now();
        eventually("B gets the edit made while it was offline", || titles(&h.b, "Home").contains(&title));
        resumed.push(back.elapsed().as_millis());
        println!("outage {round}: resumed {} ms after the link came back", back.elapsed().as_millis());
    }
    resumed.sort_unstable();
    report(&format!("home 2 offline {secs} s, {rounds} rounds: resumed after the link came back"), &resumed);
}

fn hole_punching(rounds: usize) {
    if rounds == 0 {
        return;
    }
    let Some(lab) = lab_or_skip("bp", "cone", "cone", 0) else { return };
    let dir = tmp();
    // Every attempt opens a circuit: the per-source limit is raised for the benchmark.
    let (mut h, _relay) =
        pair_with(&lab, dir.path(), &["--circuit-burst", "100000", "--circuit-interval", "1"], |_| {});
    let a_device = ok(&h.a, &["identity", "show"])["device_key"].as_str().unwrap_or_default().to_owned();
    let (mut direct, mut times) = (0, Vec::new());
    for round in 0..rounds {
        let _ = h.serve_b.signal("-TERM");
        // A new port and no remembered address of A: this attempt starts from nothing.
        for f in ["peers.json", "listen-ports.json"] {
            let _ = std::fs::remove_file(h.b.join(f));
        }
        let t0 = Instant::now();
        h.serve_b = lab.run("h2", Some(&h.b), &["serve", "--no-mdns"]);
        let mut got = None;
        while t0.elapsed() < Duration::from_secs(10) {
            if dxos(&h.b, &["--json", "peers"]).status.success()
                && let Some(t) = transport_to(&h.b, &a_device)
                && (t == "quic" || t == "tcp")
            {
                got = Some(t0.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        match got {
            Some(t) => {
                direct += 1;
                times.push(t.as_millis());
            }
            None => println!("attempt {round}: not direct within 10 s ({:?})", transport_to(&h.b, &a_device)),
        }
    }
    times.sort_unstable();
    println!(
        "hole punching, cone/cone: {direct} of {rounds} attempts direct within 10 s (from the start of a new B process)"
    );
    report("  time to direct", &times);
}

fn first_sync(objects: usize) {
    if objects == 0 {
        return;
    }
    let update = tasks_update(objects);
    let file = tmp();
    let path = file.path().join("space.yjs");
    std::fs::write(&path, &update).unwrap_or_else(|e| panic!("{e}"));
    println!("first sync of {objects} tasks ({} bytes as one Yjs update) to a new device:", update.len());
    for (nat, tag) in [("symmetric", "bs"), ("cone", "bc")] {
        let Some(lab) = lab_or_skip(tag, nat, nat, 0) else { return };
        let dir = tmp();
        let path = path.to_string_lossy().into_owned();
        let (h, _relay) = pair_with(&lab, dir.path(), &[], |a| {
            ok(a, &["space", "import", "Home", "--in", &path]);
        });
        let count = ok(&h.b, &["space", "list"])[0]["objects"].as_u64().unwrap_or_default();
        let via = transport_to(&h.a, &h.b_device).unwrap_or_default();
        println!(
            "  {nat}/{nat}: join (pairing + first sync) {:.2} s; B holds {count} objects; A reaches B over {via}",
            h.joined_in.as_secs_f64()
        );
    }
}

/// One Yjs update holding `n` tasks.
fn tasks_update(n: usize) -> Vec<u8> {
    use dxos_echo::{Space, SpaceOptions, Task};
    let s = Space::in_memory(dxos_halo::KeyPair::generate().public(), SpaceOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    for i in 0..n {
        s.add_typed(&Task { title: format!("Task {i}"), completed: i % 3 == 0, order: Some(format!("a{i:06}")) })
            .unwrap_or_else(|e| panic!("{e}"));
    }
    s.export().unwrap_or_else(|e| panic!("{e}"))
}

fn webrtc_set_up(rounds: usize) {
    if rounds == 0 {
        return;
    }
    let Some(lab) = lab_or_skip("bw", "cone", "cone", 0) else { return };
    let dir = tmp();
    let relay_options = ["--stun", RELAY_STUN, "--circuit-burst", "100000", "--circuit-interval", "1"];
    let (mut h, _relay) = pair_env(&lab, dir.path(), &relay_options, WEBRTC_ONLY, |_| {});
    webrtc_attempts(&lab, &mut h, rounds);
}

/// The same two devices' traffic over each way through the NATs, in one run: `/webrtc`
/// (cone NATs, WebRTC as the only direct transport), hole-punched QUIC (cone NATs, the
/// default order) and the relay (symmetric NATs). Edits are timed as in the tests; then A
/// creates a space and imports `objects` tasks into it, timed until B lists them all.
fn transports_side_by_side(edits: usize, objects: usize) {
    if edits == 0 && objects == 0 {
        return;
    }
    let update = tasks_update(objects.max(1));
    let file = tmp();
    let path = file.path().join("big.yjs");
    std::fs::write(&path, &update).unwrap_or_else(|e| panic!("{e}"));
    let path = path.to_string_lossy().into_owned();
    println!("side by side: {edits} edits each way, then {objects} tasks ({} bytes) to the other device", update.len());
    for (via, nat, tag, env) in
        [("webrtc", "cone", "bx", WEBRTC_ONLY), ("quic", "cone", "by", &[][..]), ("relay", "symmetric", "bz", &[][..])]
    {
        let Some(lab) = lab_or_skip(tag, nat, nat, 0) else { return };
        let dir = tmp();
        let (h, _relay) = pair_env(&lab, dir.path(), &["--stun", RELAY_STUN], env, |_| {});
        eventually(&format!("A reaches B over {via}"), || transport_to(&h.a, &h.b_device).as_deref() == Some(via));
        // The relayed connection outlives a new direct one by a few seconds: let it go.
        std::thread::sleep(Duration::from_secs(6));
        if edits > 0 {
            report(&format!("  {via} ({nat}/{nat}) A->B edit to watch"), &edit_times(&h.a, &h.b, edits, "ab"));
            report(&format!("  {via} ({nat}/{nat}) B->A edit to watch"), &edit_times(&h.b, &h.a, edits, "ba"));
        }
        if objects > 0 {
            let t0 = Instant::now();
            ok(&h.a, &["space", "create", "--name", "Big"]);
            ok(&h.a, &["space", "import", "Big", "--in", &path]);
            let imported = t0.elapsed();
            let held = || {
                ok(&h.b, &["space", "list"])
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|s| s["name"] == "Big")
                    .and_then(|s| s["objects"].as_u64())
                    .unwrap_or_default()
            };
            let deadline = Instant::now() + Duration::from_secs(300);
            let mut got = held();
            while (got as usize) < objects && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
                got = held();
            }
            let done = t0.elapsed();
            let after = transport_to(&h.a, &h.b_device).unwrap_or_default();
            println!(
                "  {via} ({nat}/{nat}): B holds {got} of {objects} tasks {:.2} s after A's import returned \
                 ({:.2} s from `space create` on A); A reaches B over {after} afterwards",
                (done - imported).as_secs_f64(),
                done.as_secs_f64()
            );
        }
    }
}
