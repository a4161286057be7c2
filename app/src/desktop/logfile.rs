//! The profile's log file (`dxos.log`), rotated by size: past [`MAX_BYTES`] it becomes
//! `dxos.log.1` (the older ones move up to `.KEEP`; the oldest goes). Several processes of
//! one profile (the app, commands) append to it; whichever notices first rotates, and the
//! others follow the new file instead of rotating again.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The size past which the log rotates.
pub const MAX_BYTES: u64 = 4 << 20;
/// How many rotated files are kept beside the live one.
pub const KEEP: usize = 3;

/// A writer for `tracing_subscriber`'s fmt layer.
pub struct RotatingLog {
    path: PathBuf,
    max: u64,
    file: Mutex<Option<File>>,
}

impl RotatingLog {
    /// Appends to `path` (made if missing), rotating past `max` bytes.
    pub fn open(path: &Path, max: u64) -> io::Result<Self> {
        let file = open_append(path)?;
        Ok(Self { path: path.to_owned(), max, file: Mutex::new(Some(file)) })
    }

    /// The path of the `n`th rotated file (`n` ≥ 1).
    pub fn rotated(path: &Path, n: usize) -> PathBuf {
        let mut s = path.as_os_str().to_owned();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    /// Before a write: if another process rotated, reopen the live file; if ours is past the
    /// limit, rotate.
    fn ready(&self, slot: &mut Option<File>) -> io::Result<()> {
        let ours = match slot.as_ref() {
            Some(f) => f.metadata()?,
            None => {
                *slot = Some(open_append(&self.path)?);
                return Ok(());
            }
        };
        let live = std::fs::metadata(&self.path).ok();
        if live.as_ref().is_none_or(|m| (m.dev(), m.ino()) != (ours.dev(), ours.ino())) {
            // Rotated (or removed) by someone else: follow the live file.
            *slot = Some(open_append(&self.path)?);
            return Ok(());
        }
        if ours.len() >= self.max {
            for n in (1..KEEP).rev() {
                let _ = std::fs::rename(Self::rotated(&self.path, n), Self::rotated(&self.path, n + 1));
            }
            std::fs::rename(&self.path, Self::rotated(&self.path, 1))?;
            *slot = Some(open_append(&self.path)?);
        }
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Write for &RotatingLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut slot = self.file.lock().unwrap_or_else(|e| e.into_inner());
        // A log that cannot rotate still takes the line.
        let _ = self.ready(&mut slot);
        match slot.as_mut() {
            Some(f) => f.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut slot = self.file.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RotatingLog {
    type Writer = &'a RotatingLog;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// The last `n` lines of the profile's log (the live file, then the last rotated one if the
/// live one is short), for a crash report.
pub fn tail(path: &Path, n: usize) -> Vec<String> {
    let read = |p: &Path| std::fs::read(p).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let mut lines: Vec<String> = read(path).lines().map(str::to_owned).collect();
    if lines.len() < n {
        let older: Vec<String> = read(&RotatingLog::rotated(path, 1)).lines().map(str::to_owned).collect();
        lines = older.into_iter().chain(lines).collect();
    }
    let skip = lines.len().saturating_sub(n);
    lines.split_off(skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_rotates_past_its_size_and_keeps_three() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("dxos.log");
        let log = RotatingLog::open(&path, 1000).unwrap_or_else(|e| panic!("{e}"));
        let line = format!("{}\n", "x".repeat(99));
        for i in 0..60 {
            (&log).write_all(format!("{i:02}{line}").as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        }
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(size(&path) <= 1000 + 101, "{}", size(&path));
        for n in 1..=KEEP {
            assert!(RotatingLog::rotated(&path, n).exists(), "{n}");
        }
        assert!(!RotatingLog::rotated(&path, KEEP + 1).exists());
        // The newest lines are in the live file, in order, and the tail reads across files.
        let last = tail(&path, 12);
        assert_eq!(last.len(), 12);
        assert!(last[11].starts_with("59"), "{last:?}");
        assert!(last[0].starts_with("48"), "{last:?}");
    }

    #[test]
    fn a_second_writer_follows_the_rotation_instead_of_rotating_again() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("dxos.log");
        let a = RotatingLog::open(&path, 500).unwrap_or_else(|e| panic!("{e}"));
        let b = RotatingLog::open(&path, 500).unwrap_or_else(|e| panic!("{e}"));
        (&a).write_all(&[b'a'; 600]).unwrap_or_else(|e| panic!("{e}"));
        (&a).write_all(b"after a rotated\n").unwrap_or_else(|e| panic!("{e}"));
        // B's file is the rotated one now, past the limit: it follows, it does not rotate.
        (&b).write_all(b"from b\n").unwrap_or_else(|e| panic!("{e}"));
        let live = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(live, "after a rotated\nfrom b\n");
        assert!(!RotatingLog::rotated(&path, 2).exists());
    }
}
