//! Crash reports: a panic writes one to the profile's `crashes/` folder (the version, where it
//! happened, the backtrace and the log's last lines, with keys, links and codes taken out),
//! and the next launch of the app offers to show it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The log lines a report carries.
const LOG_LINES: usize = 40;
/// A report the person has seen is renamed with this suffix (kept, not offered again).
const SEEN: &str = ".seen";

/// Where reports go and what they say of the build; set once by [`install_hook`].
struct Target {
    dir: PathBuf,
    log: PathBuf,
    version: &'static str,
}

static TARGET: OnceLock<Target> = OnceLock::new();

/// The crash folder of the profile in `profile_dir`.
pub fn dir(profile_dir: &Path) -> PathBuf {
    profile_dir.join("crashes")
}

/// Installs the panic hook: after the usual message on stderr, a report is written to
/// `profile_dir/crashes/`. Once per process (later calls change nothing).
pub fn install_hook(profile_dir: &Path, log: &Path, version: &'static str) {
    let target = Target { dir: dir(profile_dir), log: log.to_owned(), version };
    if TARGET.set(target).is_err() {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        if let Some(t) = TARGET.get() {
            let message = info.payload_as_str().unwrap_or("(no message)");
            let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            let backtrace = std::backtrace::Backtrace::force_capture().to_string();
            let log = super::logfile::tail(&t.log, LOG_LINES);
            let text = report_text(t.version, message, &location, &backtrace, &log);
            match write_report(&t.dir, &text) {
                Ok(p) => eprintln!("A crash report was written to {}", p.display()),
                Err(e) => eprintln!("The crash report could not be written: {e}"),
            }
        }
    }));
}

/// A report's text, every part scrubbed of secrets.
pub fn report_text(version: &str, message: &str, location: &str, backtrace: &str, log: &[String]) -> String {
    let thread = std::thread::current().name().unwrap_or("unnamed").to_owned();
    let mut s = format!(
        "DXOS crash report\nversion: {version}\nos: {} {}\nthread: {thread}\nat: {}\nmessage: {}\n\nbacktrace:\n{}\n\nlast log lines:\n",
        std::env::consts::OS,
        std::env::consts::ARCH,
        scrub(location),
        scrub(message),
        scrub(backtrace)
    );
    for line in log {
        s.push_str(&scrub(line));
        s.push('\n');
    }
    s
}

fn write_report(dir: &Path, text: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let path = dir.join(format!("crash-{ms}-{}.txt", std::process::id()));
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Takes secrets out of `text`: invitation links, long hex strings (keys, signatures),
/// libp2p peer ids, long base32 runs, and 6-digit numbers standing alone (invitation codes).
/// Each becomes a placeholder saying what was there.
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    // The character before the word: after a '.', six digits are a fraction (a time), not a code.
    let mut before = ' ';
    let flush = |word: &mut String, out: &mut String, before: char| {
        out.push_str(redact(word, before).unwrap_or(word.as_str()));
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == ':' {
            word.push(c);
        } else {
            flush(&mut word, &mut out, before);
            out.push(c);
            before = c;
        }
    }
    flush(&mut word, &mut out, before);
    out
}

/// What a word is replaced with, if it is a secret.
fn redact(word: &str, before: char) -> Option<&'static str> {
    let lower = word.to_ascii_lowercase();
    if lower.contains("dxos:") && lower.len() > 5 + 8 {
        return Some("<link>");
    }
    // The parts of a word split at ':' (as in "key:abcd...").
    for part in word.split(':') {
        let n = part.len();
        if n >= 32 && part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some("<hex>");
        }
        if (part.starts_with("12D3Koo") || part.starts_with("Qm")) && n >= 40 {
            return Some("<peer>");
        }
        if n >= 40 && part.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)) {
            return Some("<base32>");
        }
    }
    if word.len() == 6 && before != '.' && word.bytes().all(|b| b.is_ascii_digit()) {
        return Some("<code>");
    }
    None
}

/// A report not shown to the person yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Its file.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

/// The reports in `profile_dir`'s crash folder not yet seen, oldest first (read at launch,
/// before the window opens).
pub fn pending(profile_dir: &Path) -> Vec<Pending> {
    let Ok(entries) = std::fs::read_dir(dir(profile_dir)) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|path| std::fs::read_to_string(&path).ok().map(|text| Pending { path, text }))
        .collect()
}

/// Marks a report seen (renamed, kept); it is not offered again.
pub fn mark_seen(report: &Path) -> std::io::Result<()> {
    let mut seen = report.as_os_str().to_owned();
    seen.push(SEEN);
    std::fs::rename(report, PathBuf::from(seen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_taken_out() {
        let key = "a".repeat(64);
        let line = format!(
            "joined dxos:ABCDEFGHIJKLMNOPQRSTUV234567 with code 123456 from 12D3KooWDFmdaRwqgVNr9iMPL5vqiZr15KFdEtgASuLeRXNE5Du9 key={key} at 12:34:56.789012 line 42"
        );
        let s = scrub(&line);
        assert!(!s.contains("ABCDEFG") && !s.contains("123456") && !s.contains("12D3Koo") && !s.contains(&key), "{s}");
        assert!(s.contains("<link>") && s.contains("<code>") && s.contains("<peer>") && s.contains("<hex>"), "{s}");
        assert!(s.contains("12:34:56.789012 line 42"), "times and line numbers stay: {s}");
        let b32 = "uri MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43UOV3HO6DZPIYTEMZUGU2DOOBZGA";
        assert_eq!(scrub(b32), "uri <base32>");
    }

    #[test]
    fn a_report_is_pending_until_seen() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let log = vec!["INFO started peer 12D3KooWDFmdaRwqgVNr9iMPL5vqiZr15KFdEtgASuLeRXNE5Du9".to_owned()];
        let text = report_text("0.1.0 (abc)", "boom dxos:AAAAAAAAAAAAAAAAAAAA", "src/x.rs:1", "0: main", &log);
        assert!(
            text.contains("version: 0.1.0 (abc)")
                && text.contains("boom <link>")
                && text.contains("started peer <peer>")
        );
        let p = write_report(&super::dir(dir.path()), &text).unwrap_or_else(|e| panic!("{e}"));
        let found = pending(dir.path());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, p);
        mark_seen(&p).unwrap_or_else(|e| panic!("{e}"));
        assert!(pending(dir.path()).is_empty());
        assert_eq!(std::fs::read_dir(super::dir(dir.path())).map(|d| d.count()).unwrap_or(0), 1, "kept");
    }

    #[test]
    fn a_panic_writes_a_scrubbed_report_with_its_backtrace_and_the_log_s_tail() {
        // The hook is the process's (other tests' panics write reports here too): this test
        // looks for its own.
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let log = dir.path().join("dxos.log");
        std::fs::write(&log, "INFO node started\nINFO invited with code 654321\n").unwrap_or_else(|e| panic!("{e}"));
        install_hook(dir.path(), &log, "9.9.9 (test)");
        let joined = std::thread::Builder::new()
            .name("doomed".into())
            .spawn(|| panic!("boom while joining dxos:AAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
            .unwrap_or_else(|e| panic!("{e}"))
            .join();
        assert!(joined.is_err());
        let mine: Vec<Pending> = pending(dir.path()).into_iter().filter(|r| r.text.contains("boom while")).collect();
        assert_eq!(mine.len(), 1, "one report for the panic");
        let text = &mine[0].text;
        assert!(text.contains("version: 9.9.9 (test)") && text.contains("thread: doomed"), "{text}");
        assert!(text.contains("boom while joining <link>") && !text.contains("AAAAAAAA"), "{text}");
        assert!(text.contains("backtrace:") && text.contains("crash.rs"), "{text}");
        assert!(text.contains("INFO node started") && text.contains("code <code>"), "{text}");
    }
}
