//! `dxos relay ...` as a user runs it: a relay on loopback, a profile that reserves on it, an
//! invitation made there that a new device redeems through the relay; the relay list's
//! commands and their errors.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

fn relay(dir: &std::path::Path, allow: &[&str]) -> Running {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "--json",
        "relay",
        "serve",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--listen",
        "/ip4/127.0.0.1/udp/0/quic-v1",
        "--stun",
        "127.0.0.1:0",
    ])
    .arg("--key")
    .arg(dir.join("relay.key"));
    for a in allow {
        cmd.args(["--allow", a]);
    }
    Running::spawn(cmd)
}

fn circuit(status: &Value) -> Option<String> {
    status["addrs"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find(|a| a.contains("/p2p-circuit/"))
        .map(str::to_owned)
}

#[test]
fn the_relay_list_is_kept_and_checked() {
    let dir = tmp();
    // No identity needed to keep a list of relays.
    let p = dir.path().join("p");
    let addr = "/ip4/203.0.113.9/udp/4001/quic-v1/p2p/12D3KooWDFmdaRwqgVNr9iMPL5vqiZr15KFdEtgASuLeRXNE5Du9";
    assert_eq!(ok(&p, &["relay", "list"]), serde_json::json!([]));
    assert_eq!(ok(&p, &["relay", "add", addr]), serde_json::json!([addr]));
    assert_eq!(ok(&p, &["relay", "add", addr]), serde_json::json!([addr]), "adding twice changes nothing");
    assert_eq!(fails(&p, &["relay", "add", "/ip4/203.0.113.9/tcp/4001"]), (2, "invalid_input".into()));
    assert_eq!(fails(&p, &["relay", "add", "not an address"]), (2, "invalid_input".into()));
    assert_eq!(fails(&p, &["relay", "add", &format!("{addr}/p2p-circuit")]), (2, "invalid_input".into()));
    assert_eq!(ok(&p, &["relay", "list"]), serde_json::json!([addr]), "refused additions changed nothing");
    assert_eq!(ok(&p, &["relay", "remove", addr]), serde_json::json!([]));
    assert_eq!(fails(&p, &["relay", "remove", addr]), (1, "not_found".into()));
    // Listed before the identity exists, a relay joins the identity's list once it does (a
    // credential its other devices receive) and relays.json goes.
    ok(&p, &["relay", "add", addr]);
    assert!(p.join("relays.json").exists());
    ok(&p, &["identity", "create", "--name", "Ada"]);
    assert_eq!(ok(&p, &["relay", "list"]), serde_json::json!([addr]));
    assert!(!p.join("relays.json").exists(), "the file's relays moved to the identity's list");
    assert_eq!(ok(&p, &["relay", "remove", addr]), serde_json::json!([]));
    assert_eq!(fails(&p, &["relay", "remove", addr]), (1, "not_found".into()));
    assert_eq!(ok(&p, &["relay", "add", addr]), serde_json::json!([addr]));
    // A relay that lets nobody in is refused before it starts.
    let nobody = dxos(&p, &["--json", "relay", "serve", "--listen", "/ip4/127.0.0.1/tcp/0", "--key", "/nonexistent/k"]);
    assert_eq!(nobody.status.code(), Some(2));
    // Limits that would let nothing through are refused too.
    // (The key's path runs through a file, so a relay that got past the check would fail
    // with exit 1 rather than run.)
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap_or_else(|e| panic!("{e}"));
    let key = file.join("k");
    let key = key.to_str().unwrap_or_default();
    for flag in ["--circuit-burst", "--max-circuits"] {
        let args = ["--json", "relay", "serve", "--open", "--listen", "/ip4/127.0.0.1/tcp/0", "--key", key];
        let zero = dxos(&p, &[&args[..], &[flag, "0"]].concat());
        assert_eq!(zero.status.code(), Some(2), "{flag} 0: {}", String::from_utf8_lossy(&zero.stdout));
        assert_eq!(dxos(&p, &[&args[..], &[flag, "1"]].concat()).status.code(), Some(1), "{flag} 1 fails at the key");
    }
    let args = ["--json", "relay", "serve", "--open", "--listen", "/ip4/127.0.0.1/tcp/0", "--key", key];
    assert_eq!(dxos(&p, &[&args[..], &["--stun", "port 3478 please"]].concat()).status.code(), Some(2));
    assert_eq!(dxos(&p, &[&args[..], &["--stun", "127.0.0.1:0"]].concat()).status.code(), Some(1));
    // A transport order that names no transport is refused before a node starts.
    let out = Command::new(BIN)
        .arg("--profile")
        .arg(&p)
        .args(["--json", "serve", "--no-mdns"])
        .env("DXOS_TRANSPORT_ORDER", "quic,carrier-pigeon")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stderr).contains("carrier-pigeon"));
    // A key file that holds no key is refused, and left as it was.
    let bad = dir.path().join("bad.key");
    std::fs::write(&bad, b"not a key").unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(BIN)
        .args(["--json", "relay", "serve", "--open", "--listen", "/ip4/127.0.0.1/tcp/0", "--key"])
        .arg(&bad)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&bad).unwrap_or_default(), b"not a key");
}

#[test]
fn a_device_joins_through_the_relay_and_the_relay_stops_cleanly() {
    let dir = tmp();
    let a = new_profile(dir.path(), "a");
    ok(&a, &["space", "create", "--name", "Home"]);
    ok(&a, &["task", "add", "Home", "milk"]);
    let identity = ok(&a, &["identity", "show"])["identity_key"].as_str().unwrap_or_default().to_owned();
    let mut r = relay(dir.path(), &[&identity]);
    let first = r.next();
    assert!(first["stun"].as_str().is_some_and(|s| s.starts_with("127.0.0.1:") && !s.ends_with(":0")), "{first}");
    let relay_addr = first["addrs"][0].as_str().unwrap_or_default().to_owned();
    assert!(relay_addr.ends_with(&format!("/p2p/{}", first["peer_id"].as_str().unwrap_or_default())), "{first}");
    ok(&a, &["relay", "add", &relay_addr]);
    // A listens on loopback TCP only, with no mDNS: a guest finds it through the relay.
    let _serve = Running::start(&a, &["serve", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"]);
    let mut through = None;
    eventually("A reserves on the relay", || {
        through = circuit(&ok(&a, &["status"]));
        through.is_some()
    });
    let a_peer = ok(&a, &["identity", "show"])["peer_id"].as_str().unwrap_or_default().to_owned();
    assert!(through.is_some_and(|c| c.ends_with(&format!("/p2p-circuit/p2p/{a_peer}"))));

    let mut inv = Running::start(&a, &["invite", "device"]);
    let uri = inv.next()["uri"].as_str().unwrap_or_default().to_owned();
    assert!(uri.len() <= 300, "{} characters", uri.len());
    // The offer leads with the circuit. (On one machine the guest may as well reach A's
    // loopback address directly; the NAT lab's tests make the relay the only way.)
    let offer = dxos_halo::Offer::from_uri(&uri, 0).unwrap_or_else(|e| panic!("{e}"));
    let first = offer.addrs.first().and_then(|a| multiaddr::Multiaddr::try_from(a.clone()).ok());
    assert!(first.is_some_and(|a| a.to_string().contains("/p2p-circuit")), "{:?}", offer.addrs.len());
    let b = dir.path().join("b");
    let joined = ok(&b, &["join", &uri]);
    assert_eq!(joined["identity_key"], identity.as_str());
    assert_eq!(titles(&b, "Home"), ["milk"]);
    // The relay admitted A and holds its reservation.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while let Ok(v) = r.lines.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
        seen.push(v);
    }
    println!("relay events: {seen:?}");
    assert!(seen.iter().any(|v| v["event"] == "admitted" && v["peer_id"] == a_peer.as_str()), "{seen:?}");
    assert!(seen.iter().any(|v| v["event"] == "reserved" && v["peer_id"] == a_peer.as_str()), "{seen:?}");
    let _ = inv.signal("-TERM");
    // SIGTERM: the relay closes its circuits and exits 0.
    assert_eq!(r.signal("-TERM"), 0);
}
