//! The desktop side of `dxos` as a person meets it: `--version`, shell completions and the
//! manual page, `desktop install|uninstall` into XDG folders, and `dxos open`'s refusals (a
//! link that is not `dxos:` or too long changes nothing: exit 2), and its answer when
//! `dxos serve` holds the profile (no window to raise). The window side of `open` (raise, join
//! dialog filled in and not joined) is tested in the app's kittest tests (ui::launch_tests).

use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;

use common::*;

fn run(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap_or_else(|e| panic!("run dxos: {e}"))
}

#[test]
fn version_completions_and_manpage() {
    let out = run(&["--version"], &[]);
    assert!(out.status.success());
    let v = String::from_utf8_lossy(&out.stdout).into_owned();
    // "dxos 0.1.0 (0123456789ab)": the package version and the commit it was built from.
    let commit = v.trim().rsplit_once('(').map(|(_, c)| c.trim_end_matches(')').to_owned()).unwrap_or_default();
    assert!(v.starts_with(&format!("dxos {} (", env!("CARGO_PKG_VERSION"))), "{v}");
    assert!(commit == "unknown" || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())), "{v}");
    for (shell, mark) in [("bash", "complete -F"), ("zsh", "#compdef dxos"), ("fish", "complete -c dxos")] {
        let out = run(&["completions", shell], &[]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success() && text.contains(mark), "{shell}: {text:.200}");
        assert!(text.contains("desktop") && text.contains("open"), "{shell} completes the new commands");
    }
    assert_eq!(run(&["completions", "powershell"], &[]).status.code(), Some(2));
    let man = run(&["manpage"], &[]);
    let text = String::from_utf8_lossy(&man.stdout).into_owned();
    assert!(man.status.success() && text.contains(".TH dxos"), "{text:.300}");
}

#[test]
fn desktop_install_writes_the_entry_icons_and_link_handler_and_uninstall_removes_them() {
    let dir = tmp();
    let (data, config, home) = (dir.path().join("data"), dir.path().join("config"), dir.path().join("home"));
    let env = [("XDG_DATA_HOME", data.as_path()), ("XDG_CONFIG_HOME", config.as_path()), ("HOME", home.as_path())];
    let out = run(&["--json", "desktop", "install"], &env);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let entry = data.join("applications/org.dxos.Dxos.desktop");
    assert_eq!(v["entry"], entry.display().to_string());
    let text = std::fs::read_to_string(&entry).unwrap_or_else(|e| panic!("{e}"));
    let exe = std::fs::canonicalize(BIN).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains(&format!("Exec=\"{}\" open -- %u\n", exe.display())), "{text}");
    assert!(text.contains("MimeType=x-scheme-handler/dxos;") && text.contains("Icon=org.dxos.Dxos"), "{text}");
    for size in ["16x16", "32x32", "48x48", "128x128", "256x256", "512x512"] {
        assert!(data.join(format!("icons/hicolor/{size}/apps/org.dxos.Dxos.png")).exists(), "{size}");
    }
    assert!(data.join("icons/hicolor/scalable/apps/org.dxos.Dxos.svg").exists());
    let list = std::fs::read_to_string(config.join("mimeapps.list")).unwrap_or_default();
    assert!(list.contains("[Default Applications]\nx-scheme-handler/dxos=org.dxos.Dxos.desktop"), "{list}");
    // With --profile, the entry opens that profile.
    let profile = dir.path().join("my profile");
    let out = run(&["--profile", profile.to_str().unwrap_or_default(), "desktop", "install"], &env);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&entry).unwrap_or_default();
    assert!(text.contains(&format!("--profile \"{}\" open -- %u", profile.display())), "{text}");
    // Uninstall leaves nothing of ours (and no profile was made by either command).
    let out = run(&["--json", "desktop", "uninstall"], &env);
    assert!(out.status.success());
    assert!(!entry.exists() && !data.join("icons/hicolor/scalable/apps/org.dxos.Dxos.svg").exists());
    let list = std::fs::read_to_string(config.join("mimeapps.list")).unwrap_or_default();
    assert!(!list.contains("dxos"), "{list}");
    assert!(!profile.exists());
}

#[test]
fn open_refuses_what_is_not_a_short_dxos_link_and_changes_nothing() {
    let dir = tmp();
    let p = dir.path().join("p");
    let long = format!("dxos:{}", "A".repeat(300));
    for bad in ["https://example.com/dxos:AAAA", "file:///etc/passwd", "dxos:abc def", "--version", long.as_str()] {
        let out = dxos(&p, &["--json", "open", "--", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", String::from_utf8_lossy(&out.stderr));
        let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(err["kind"], "invalid_input", "{bad}");
    }
    assert!(!p.exists(), "a refused link opens nothing, not even the profile");
}

#[test]
fn open_says_when_serve_holds_the_profile() {
    let dir = tmp();
    let p = new_profile(dir.path(), "p");
    let serve = Running::start(&p, &["serve", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"]);
    serve.next();
    let (code, kind) = fails(&p, &["open"]);
    assert_eq!((code, kind.as_str()), (1, "denied"));
    let out = dxos(&p, &["open"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("dxos serve") && err.contains("no window"), "{err}");
    drop(serve);
}

#[test]
fn device_rename_changes_this_device_s_name_and_refuses_an_empty_one() {
    let dir = tmp();
    let p = new_profile(dir.path(), "p");
    let v = ok(&p, &["device", "rename", "Studio"]);
    let this = v["devices"].as_array().and_then(|d| d.iter().find(|x| x["device_key"] == v["device_key"]).cloned());
    assert_eq!(this.map(|d| d["name"].clone()), Some(serde_json::json!("Studio")), "{v}");
    assert_eq!(fails(&p, &["device", "rename", "  "]), (2, "invalid_input".to_owned()));
    let shown = ok(&p, &["identity", "show"]);
    assert!(shown["devices"].as_array().is_some_and(|d| d.iter().any(|x| x["name"] == "Studio")), "{shown}");
}
