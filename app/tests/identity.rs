//! `dxos identity ...` and `space members` as a user runs them, and the identity gate.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use dxos_halo::PeerIdExt;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dxos");

fn dxos(profile: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--profile")
        .arg(profile)
        .arg("--json")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run dxos: {e}"))
}

fn ok(profile: &Path, args: &[&str]) -> Value {
    let out = dxos(profile, args);
    assert!(out.status.success(), "dxos {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"))
}

fn fails(profile: &Path, args: &[&str]) -> (i32, Value) {
    let out = dxos(profile, args);
    assert!(!out.status.success(), "dxos {args:?} should fail");
    let err: Value = serde_json::from_slice(&out.stderr).unwrap_or_else(|e| panic!("{e}"));
    (out.status.code().unwrap_or(-1), err)
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn create_show_and_the_gate() {
    let dir = tmp();
    let p = dir.path().join("p");
    // No identity: data commands are refused with a hint, exit 2.
    let (code, err) = fails(&p, &["space", "create", "--name", "S"]);
    assert_eq!((code, err["kind"].as_str()), (2, Some("no_identity")));
    assert!(err["error"].as_str().is_some_and(|m| m.contains("identity create")));
    assert_eq!(fails(&p, &["task", "list", "S"]).1["kind"], "no_identity");
    assert_eq!(ok(&p, &["identity", "show"])["identity_key"], Value::Null);
    assert_eq!(ok(&p, &["status"])["identity"], Value::Null);

    let me = ok(&p, &["identity", "create", "--name", "Ada"]);
    assert_eq!(me["display_name"], "Ada");
    let device: dxos_halo::PublicKey =
        me["device_key"].as_str().unwrap_or_default().parse().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        me["peer_id"],
        device.to_peer_id().map(|p| p.to_base58()).unwrap_or_default(),
        "peer_id is derived from device_key"
    );
    assert_eq!(me["identity_key"].as_str().map(str::len), Some(64));

    // A second identity is refused and changes nothing.
    let (code, err) = fails(&p, &["identity", "create", "--name", "Bob"]);
    assert_eq!((code, err["kind"].as_str()), (2, Some("invalid_input")));
    let shown = ok(&p, &["identity", "show"]);
    assert_eq!(shown["identity_key"], me["identity_key"]);
    assert_eq!(shown["display_name"], "Ada");
    assert_eq!(shown["devices"].as_array().map(Vec::len), Some(1));
    assert_eq!(shown["devices"][0]["device_key"], me["device_key"]);
    assert_eq!(shown["devices"][0]["online"], true);
    assert_eq!(ok(&p, &["status"])["identity"], me["identity_key"]);

    // Spaces now carry a genesis and their creator as owner.
    ok(&p, &["space", "create", "--name", "S"]);
    let members = ok(&p, &["space", "members", "S"]);
    assert_eq!(members.as_array().map(Vec::len), Some(1));
    assert_eq!(members[0]["identity_key"], me["identity_key"]);
    assert_eq!(members[0]["display_name"], "Ada");
    assert_eq!(members[0]["role"], "owner");
    assert_eq!(ok(&p, &["space", "list"])[0]["members"], 1);
    assert_eq!(fails(&p, &["identity", "create", "--name", "  "]).0, 2);
}

#[test]
fn phrase_and_recovery_on_a_fresh_profile() {
    let dir = tmp();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let me = ok(&a, &["identity", "create", "--name", "Ada"]);
    let phrase = ok(&a, &["identity", "phrase"])["phrase"].as_str().unwrap_or_default().to_owned();
    assert_eq!(phrase.split_whitespace().count(), 24);

    assert_eq!(fails(&b, &["identity", "recover", "--phrase", "not my words"]).0, 2);
    // The last of 24 words carries 3 bits of entropy and the 8-bit checksum in its low bits:
    // flipping its lowest bit keeps the entropy and always breaks the checksum. (Swapping two
    // words, as this test once did, still checks out one time in 256.)
    let english = bip39::Language::English;
    let mut wrong: Vec<&str> = phrase.split_whitespace().collect();
    let last = wrong.last().and_then(|w| english.find_word(w)).unwrap_or_else(|| panic!("not BIP-39: {phrase}"));
    wrong[23] = english.word_list()[usize::from(last ^ 1)];
    let (code, err) = fails(&b, &["identity", "recover", "--phrase", &wrong.join(" ")]);
    assert_eq!(code, 2);
    assert!(err["error"].as_str().is_some_and(|m| m.contains("checksum")), "{err}");
    assert_eq!(ok(&b, &["identity", "show"])["identity_key"], Value::Null, "failed recoveries change nothing");

    let restored = ok(&b, &["identity", "recover", "--phrase", &phrase, "--name", "phone"]);
    assert_eq!(restored["identity_key"], me["identity_key"]);
    assert_ne!(restored["device_key"], me["device_key"]);
    assert_eq!(ok(&b, &["identity", "show"])["devices"][0]["name"], "phone");
    assert_eq!(ok(&b, &["identity", "phrase"])["phrase"], phrase.as_str());
    // Recovering onto a profile with an identity is refused.
    assert_eq!(fails(&a, &["identity", "recover", "--phrase", &phrase]).0, 2);

    // Once the root key is removed from a device, it cannot show the phrase (exit 1, denied);
    // everything else still works.
    std::fs::remove_file(a.join("keys").join("identity-root.key")).unwrap_or_else(|e| panic!("{e}"));
    let (code, err) = fails(&a, &["identity", "phrase"]);
    assert_eq!((code, err["kind"].as_str()), (1, Some("denied")));
    assert!(err["error"].as_str().is_some_and(|m| m.contains("root key")));
    assert_eq!(ok(&a, &["identity", "show"])["identity_key"], me["identity_key"]);
    // A 12-word phrase (another wallet's) is not a DXOS phrase.
    let twelve = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    let (code, err) = fails(&dir.path().join("c"), &["identity", "recover", "--phrase", twelve]);
    assert_eq!((code, err["kind"].as_str()), (2, Some("invalid_input")));
    assert!(err["error"].as_str().is_some_and(|m| m.contains("24 words")), "{err}");
}

#[test]
fn secrets_are_private_on_disk_and_exposed_ones_refused() {
    let dir = tmp();
    let p = dir.path().join("p");
    ok(&p, &["identity", "create", "--name", "Ada"]);
    ok(&p, &["space", "create", "--name", "S"]);
    let keys = p.join("keys");
    let mode = |path: &Path| std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
    assert_eq!(mode(&keys), 0o700);
    let files: Vec<_> = std::fs::read_dir(&keys).into_iter().flatten().flatten().map(|e| e.path()).collect();
    assert_eq!(files.len(), 3, "root, device and space keys: {files:?}");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    std::fs::set_permissions(keys.join("device.key"), std::fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("{e}"));
    let (code, err) = fails(&p, &["task", "list", "S"]);
    assert_eq!(code, 1);
    assert!(err["error"].as_str().is_some_and(|m| m.contains("chmod 600")), "{err}");
}
