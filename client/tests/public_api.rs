//! The client's public API speaks in its own types: no libp2p, yrs, redb or tokio type appears
//! in a public signature, field or re-export of the client, nor of the ECHO and HALO types it
//! re-exports as its own (`Space`, `Object`, `Query`, `PublicKey`...).

use std::path::{Path, PathBuf};

/// Crates whose types must not reach a user of the client (named by path).
const FORBIDDEN: &[&str] = &["libp2p", "yrs", "redb", "tokio", "multiaddr"];
/// Their types that our crates import by name.
const FORBIDDEN_TYPES: &[&str] =
    &["PeerId", "Multiaddr", "Database", "TransactionMut", "ReadTxn", "WriteTransaction", "ReadTransaction", "Doc"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { panic!("cannot read {}", dir.display()) };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The public surface of a file: signatures of `pub` functions (to their body), `pub` fields,
/// types, constants and re-exports, and everything inside `pub enum` declarations (variant
/// fields are public). Test modules and private items are left out.
fn public_surface(text: &str) -> Vec<(usize, String)> {
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        let public = t.starts_with("pub ") && !t.starts_with("pub(");
        if public && (t.starts_with("pub enum ") || t.starts_with("pub struct ")) && t.ends_with('{') {
            // The whole declaration: variant and field types.
            let mut depth = 0i32;
            loop {
                let l = lines[i];
                depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                out.push((i + 1, l.to_owned()));
                i += 1;
                if depth <= 0 || i >= lines.len() {
                    break;
                }
            }
            continue;
        }
        if public {
            // To the end of the signature.
            loop {
                let l = lines[i];
                out.push((i + 1, l.to_owned()));
                i += 1;
                if l.contains('{') || l.trim_end().ends_with(';') || i >= lines.len() {
                    break;
                }
            }
            continue;
        }
        i += 1;
    }
    out
}

fn offences(dir: &Path, only: Option<&[&str]>) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    let mut found = Vec::new();
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if only.is_some_and(|o| !o.contains(&name.as_str())) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for (n, line) in public_surface(&text) {
            let code = line.split("//").next().unwrap_or_default();
            let by_path = FORBIDDEN.iter().any(|c| {
                code.match_indices(c)
                    .any(|(at, _)| code[at + c.len()..].starts_with("::") || code[at + c.len()..].starts_with('_'))
            });
            let words: Vec<&str> = code.split(|ch: char| !ch.is_alphanumeric() && ch != '_').collect();
            let by_name = FORBIDDEN_TYPES.iter().any(|t| words.contains(t));
            if by_path || by_name {
                found.push(format!("{}:{n}: {}", f.display(), line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_public_api_exposes_no_libp2p_yrs_redb_or_tokio_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = offences(&root.join("src"), None);
    // The ECHO and HALO types the client re-exports as its own.
    let echo = ["object.rs", "query.rs", "subscription.rs", "mod.rs", "read.rs", "commit.rs", "load.rs"];
    found.extend(offences(&root.join("../echo/src/space"), Some(&echo)));
    found.extend(offences(&root.join("../echo/src"), Some(&["object.rs", "query.rs", "subscription.rs"])));
    found.extend(offences(&root.join("../halo/src"), Some(&["credential.rs", "keys.rs"])));
    assert!(found.is_empty(), "public items name a forbidden crate:\n{}", found.join("\n"));
}

#[test]
fn the_scan_finds_what_it_looks_for() {
    // The check above must be able to fail: a public signature naming redb is caught, a
    // private one and a comment are not.
    let text = "pub fn open(db: redb::Database) -> Self {\n}\nfn private(x: yrs::Doc) {}\n/// yrs::Doc\npub enum E {\n    A(libp2p::PeerId),\n}\npub fn peer(&self) -> PeerId {\n}\n";
    let surface = public_surface(text);
    let joined: Vec<String> = surface.iter().map(|(_, l)| l.clone()).collect();
    assert!(joined.iter().any(|l| l.contains("redb::Database")));
    assert!(joined.iter().any(|l| l.contains("libp2p::PeerId")));
    assert!(!joined.iter().any(|l| l.contains("yrs::Doc")));
    let dir = std::env::temp_dir().join(format!("dxos-api-scan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("x.rs"), text).unwrap_or_else(|e| panic!("{e}"));
    let found = offences(&dir, None);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(found.len(), 3, "{found:?}");
}
