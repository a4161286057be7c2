//! The app and the command line reach a profile only through `dxos-client`: the app crate
//! depends on no lower layer (so its code cannot name one), and the command line's JSON
//! shapes are made in `app/src/cli/` only.

use std::path::Path;

/// The `[dependencies]` section of the app's manifest (not dev- or build-dependencies).
fn dependencies(manifest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == "[dependencies]" || (t.starts_with("[target.") && t.ends_with(".dependencies]"));
            continue;
        }
        if inside && !t.is_empty() && !t.starts_with('#') {
            let name = t.split(['=', '.', ' ']).next().unwrap_or_default().to_owned();
            out.push(name);
        }
    }
    out
}

#[test]
fn the_app_depends_on_the_client_and_on_no_layer_under_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap_or_else(|e| panic!("{e}"));
    let deps = dependencies(&manifest);
    assert!(deps.iter().any(|d| d == "dxos-client"), "{deps:?}");
    for below in ["dxos-net", "dxos-echo", "dxos-halo", "libp2p", "libp2p-webrtc", "yrs", "redb", "tokio"] {
        assert!(!deps.iter().any(|d| d == below), "the app depends on {below} directly: {deps:?}");
    }
}

#[test]
fn the_manifest_reader_sees_dependencies() {
    let toml = "[dependencies]\nredb.workspace = true\nfoo = \"1\"\n[dev-dependencies]\nyrs = \"1\"\n";
    assert_eq!(dependencies(toml), ["redb", "foo"]);
}

#[test]
fn json_shapes_are_made_only_at_the_command_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut offenders = Vec::new();
    for dir in [root.join("src/ui"), root.join("../client/src")] {
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())).flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                if code.contains("json!(") {
                    offenders.push(p.display().to_string());
                }
            }
        }
    }
    assert!(offenders.is_empty(), "JSON made outside app/src/cli: {offenders:?}");
}
