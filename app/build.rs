//! Stamps the binary with the git commit it was built from (`dxos --version`), or "unknown"
//! outside a git checkout (a source tarball, `cargo install` from crates.io).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DXOS_GIT_COMMIT");
    let commit = std::env::var("DXOS_GIT_COMMIT").ok().filter(|c| !c.is_empty()).or_else(git_commit);
    println!("cargo:rustc-env=DXOS_GIT_COMMIT={}", commit.as_deref().unwrap_or("unknown"));
}

/// The checkout's HEAD commit (12 hex digits). Uncommitted changes are not marked: the script
/// reruns only when HEAD or the branch it names moves, so a mark would go stale.
fn git_commit() -> Option<String> {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let git_dir = manifest.ancestors().map(|d| d.join(".git")).find(|g| g.exists())?;
    watch(&git_dir);
    let out = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).current_dir(&manifest).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let commit = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!commit.is_empty()).then_some(commit)
}

/// Reruns this script when HEAD moves (a commit, a checkout), not on every build.
fn watch(git_dir: &Path) {
    let head = git_dir.join("HEAD");
    println!("cargo:rerun-if-changed={}", head.display());
    if let Ok(text) = std::fs::read_to_string(&head)
        && let Some(reference) = text.strip_prefix("ref: ")
    {
        let r = git_dir.join(reference.trim());
        if r.exists() {
            println!("cargo:rerun-if-changed={}", r.display());
        }
        // A packed ref moves there instead.
        println!("cargo:rerun-if-changed={}", git_dir.join("packed-refs").display());
    }
}
