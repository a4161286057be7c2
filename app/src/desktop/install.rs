//! `dxos desktop install|uninstall`: the menu entry, the icons and the `dxos:` link handler,
//! written under the person's XDG folders (nothing system-wide, no root), following the
//! Desktop Entry, Icon Theme and MIME Applications Associations specifications.

use std::io::Write;
use std::path::{Path, PathBuf};

use dxos_client::ClientError;

use super::APP_ID;

/// The URL scheme the entry handles.
pub const SCHEME_MIME: &str = "x-scheme-handler/dxos";
/// The group of `mimeapps.list` that names default handlers.
const DEFAULTS_GROUP: &str = "[Default Applications]";

/// Where the files go: `$XDG_DATA_HOME` (entries, icons) and `$XDG_CONFIG_HOME`
/// (`mimeapps.list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdgDirs {
    /// `$XDG_DATA_HOME`, by default `~/.local/share`.
    pub data_home: PathBuf,
    /// `$XDG_CONFIG_HOME`, by default `~/.config`.
    pub config_home: PathBuf,
}

impl XdgDirs {
    /// The folders the environment names (absolute paths only, as the specification says),
    /// else the defaults under the home folder.
    pub fn from_env() -> Result<Self, ClientError> {
        let home = std::env::var_os("HOME").map(PathBuf::from).filter(|h| h.is_absolute());
        let pick = |var: &str, default: &str| -> Result<PathBuf, ClientError> {
            if let Some(p) = std::env::var_os(var).map(PathBuf::from).filter(|p| p.is_absolute()) {
                return Ok(p);
            }
            home.as_ref().map(|h| h.join(default)).ok_or_else(|| {
                ClientError::InvalidInput(format!("neither ${var} nor $HOME is set to an absolute folder"))
            })
        };
        Ok(Self { data_home: pick("XDG_DATA_HOME", ".local/share")?, config_home: pick("XDG_CONFIG_HOME", ".config")? })
    }

    /// The menu entry's path.
    pub fn entry(&self) -> PathBuf {
        self.data_home.join("applications").join(format!("{APP_ID}.desktop"))
    }

    /// The icon's path at `size` pixels (`None`: the scalable SVG).
    pub fn icon(&self, size: Option<u32>) -> PathBuf {
        let hicolor = self.data_home.join("icons").join("hicolor");
        match size {
            Some(n) => hicolor.join(format!("{n}x{n}")).join("apps").join(format!("{APP_ID}.png")),
            None => hicolor.join("scalable").join("apps").join(format!("{APP_ID}.svg")),
        }
    }

    /// The list of default applications.
    pub fn mimeapps(&self) -> PathBuf {
        self.config_home.join("mimeapps.list")
    }
}

/// What `install` wrote, to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The menu entry.
    pub entry: PathBuf,
    /// The icons.
    pub icons: Vec<PathBuf>,
    /// The list that makes the entry the `dxos:` handler.
    pub mimeapps: PathBuf,
    /// The command the entry runs.
    pub exec: String,
}

/// Quotes one argument of an entry's `Exec` key: in double quotes, with `"`, `` ` ``, `$` and
/// `\` escaped, `%` doubled, and then every backslash doubled again (the key is a string,
/// whose own escapes come first).
fn exec_arg(arg: &str) -> String {
    let mut quoted = String::from("\"");
    for c in arg.chars() {
        match c {
            '"' | '`' | '$' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            '%' => quoted.push_str("%%"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted.replace('\\', "\\\\")
}

/// The menu entry for `exe` (an absolute path) on `profile` (if not the default one).
pub fn entry_text(exe: &Path, profile: Option<&Path>) -> Result<(String, String), ClientError> {
    let text_of = |p: &Path, what: &str| -> Result<String, ClientError> {
        let s = p.to_str().ok_or_else(|| ClientError::InvalidInput(format!("the {what}'s path is not UTF-8")))?;
        if s.chars().any(char::is_control) {
            return Err(ClientError::InvalidInput(format!("the {what}'s path holds a control character")));
        }
        Ok(s.to_owned())
    };
    let mut exec = exec_arg(&text_of(exe, "program")?);
    if let Some(p) = profile {
        exec.push_str(" --profile ");
        exec.push_str(&exec_arg(&text_of(p, "profile")?));
    }
    // `%u`: the link clicked, or nothing when opened from the menu (`dxos open` then opens
    // the app, or raises its window).
    exec.push_str(" open -- %u");
    let text = format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Version=1.4\n\
         Name=DXOS\n\
         GenericName=Collaborative workspace\n\
         Comment=Documents and tasks shared between your devices and people, with no servers\n\
         Exec={exec}\n\
         Icon={APP_ID}\n\
         Terminal=false\n\
         StartupNotify=true\n\
         StartupWMClass={APP_ID}\n\
         Categories=Office;\n\
         Keywords=tasks;documents;collaboration;local-first;peer-to-peer;\n\
         MimeType={SCHEME_MIME};\n"
    );
    Ok((text, exec))
}

/// Writes `bytes` to `path` (its folders made), through a temporary file renamed over it, so
/// a desktop never reads half an entry.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    let dir = path.parent().ok_or_else(|| ClientError::Internal(format!("{} has no folder", path.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| ClientError::io(format!("cannot make {}", dir.display()), e))?;
    let tmp = path.with_extension("dxos-tmp");
    let written = std::fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()));
    if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(ClientError::io(format!("cannot write {}", path.display()), e));
    }
    Ok(())
}

/// `mimeapps.list`'s text with `key` set to `value` in `[Default Applications]` (`None`:
/// removed), every other line kept as it was.
pub fn set_default(text: &str, key: &str, value: Option<&str>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut in_group = false;
    let mut seen_group = false;
    let mut done = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            if in_group && !done {
                if let Some(v) = value {
                    out.push(format!("{key}={v}"));
                }
                done = true;
            }
            in_group = trimmed == DEFAULTS_GROUP;
            seen_group |= in_group;
        } else if in_group && trimmed.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
            if !done && let Some(v) = value {
                out.push(format!("{key}={v}"));
            }
            done = true;
            continue;
        }
        out.push(line.to_owned());
    }
    if !done && let Some(v) = value {
        if !seen_group {
            if out.last().is_some_and(|l| !l.trim().is_empty()) {
                out.push(String::new());
            }
            out.push(DEFAULTS_GROUP.to_owned());
        }
        out.push(format!("{key}={v}"));
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// The handler `mimeapps.list`'s `[Default Applications]` names for `key`, if any.
pub fn default_for(text: &str, key: &str) -> Option<String> {
    let mut in_group = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_group = t == DEFAULTS_GROUP;
        } else if in_group
            && let Some((k, v)) = t.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim().to_owned());
        }
    }
    None
}

/// Reads a text file that may not exist yet.
fn read_optional(path: &Path) -> Result<String, ClientError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(ClientError::io(format!("cannot read {}", path.display()), e)),
    }
}

/// Installs the entry for `exe` on `profile` under `dirs`.
pub fn install(dirs: &XdgDirs, exe: &Path, profile: Option<&Path>) -> Result<Installed, ClientError> {
    if !exe.is_absolute() {
        return Err(ClientError::InvalidInput(format!("{} is not an absolute path", exe.display())));
    }
    let (text, exec) = entry_text(exe, profile)?;
    let mut icons = Vec::new();
    for (n, png) in super::icon::PNGS {
        let p = dirs.icon(Some(*n));
        write_file(&p, png)?;
        icons.push(p);
    }
    let svg = dirs.icon(None);
    write_file(&svg, super::icon::SVG)?;
    icons.push(svg);
    let entry = dirs.entry();
    write_file(&entry, text.as_bytes())?;
    let mimeapps = dirs.mimeapps();
    let list = read_optional(&mimeapps)?;
    write_file(&mimeapps, set_default(&list, SCHEME_MIME, Some(&format!("{APP_ID}.desktop"))).as_bytes())?;
    refresh_caches(dirs);
    Ok(Installed { entry, icons, mimeapps, exec })
}

/// Removes what [`install`] wrote; the `dxos:` default only if it still names our entry.
/// Returns the files removed (none when nothing was installed).
pub fn uninstall(dirs: &XdgDirs) -> Result<Vec<PathBuf>, ClientError> {
    let mut removed = Vec::new();
    let sizes = super::icon::PNGS.iter().map(|(n, _)| Some(*n)).chain([None]);
    for p in std::iter::once(dirs.entry()).chain(sizes.map(|s| dirs.icon(s))) {
        match std::fs::remove_file(&p) {
            Ok(()) => removed.push(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ClientError::io(format!("cannot remove {}", p.display()), e)),
        }
    }
    let mimeapps = dirs.mimeapps();
    let list = read_optional(&mimeapps)?;
    if default_for(&list, SCHEME_MIME).is_some_and(|v| v == format!("{APP_ID}.desktop")) {
        write_file(&mimeapps, set_default(&list, SCHEME_MIME, None).as_bytes())?;
        removed.push(mimeapps);
    }
    refresh_caches(dirs);
    Ok(removed)
}

/// Brings the desktop's caches up to date where their tools are installed (menus and icon
/// themes read them); without the tools, desktops rescan by themselves.
fn refresh_caches(dirs: &XdgDirs) {
    let apps = dirs.data_home.join("applications");
    let _ = std::process::Command::new("update-desktop-database")
        .arg(&apps)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_quotes_every_reserved_character() {
        assert_eq!(exec_arg("/usr/bin/dxos"), "\"/usr/bin/dxos\"");
        assert_eq!(exec_arg("/a b/$x`\"%"), "\"/a b/\\\\$x\\\\`\\\\\"%%\"");
        assert_eq!(exec_arg("/a\\b"), "\"/a\\\\\\\\b\"");
        let (text, exec) = entry_text(Path::new("/opt/dx os/dxos"), Some(Path::new("/home/me/p"))).unwrap_or_default();
        assert_eq!(exec, "\"/opt/dx os/dxos\" --profile \"/home/me/p\" open -- %u");
        assert!(text.contains("MimeType=x-scheme-handler/dxos;\n"), "{text}");
        assert!(entry_text(Path::new("/a\nb"), None).is_err());
    }

    #[test]
    fn the_default_handler_is_set_and_removed_leaving_the_rest() {
        let before = "[Added Associations]\ntext/plain=gedit.desktop\n\n[Default Applications]\nx-scheme-handler/dxos=old.desktop\ntext/html=firefox.desktop\n";
        let set = set_default(before, SCHEME_MIME, Some("org.dxos.Dxos.desktop"));
        assert_eq!(default_for(&set, SCHEME_MIME).as_deref(), Some("org.dxos.Dxos.desktop"));
        assert_eq!(default_for(&set, "text/html").as_deref(), Some("firefox.desktop"));
        assert!(set.contains("text/plain=gedit.desktop"));
        assert_eq!(set.matches("x-scheme-handler/dxos").count(), 1, "{set}");
        let removed = set_default(&set, SCHEME_MIME, None);
        assert_eq!(default_for(&removed, SCHEME_MIME), None);
        assert_eq!(default_for(&removed, "text/html").as_deref(), Some("firefox.desktop"));
        // An empty or absent list gets the group.
        let fresh = set_default("", SCHEME_MIME, Some("a.desktop"));
        assert_eq!(fresh, "[Default Applications]\nx-scheme-handler/dxos=a.desktop\n");
        let other = set_default("[Added Associations]\nx=y\n", SCHEME_MIME, Some("a.desktop"));
        assert_eq!(other, "[Added Associations]\nx=y\n\n[Default Applications]\nx-scheme-handler/dxos=a.desktop\n");
    }

    #[test]
    fn install_then_uninstall_leaves_nothing_of_ours() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dirs = XdgDirs { data_home: tmp.path().join("data"), config_home: tmp.path().join("config") };
        std::fs::create_dir_all(&dirs.config_home).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dirs.mimeapps(), "[Default Applications]\ntext/html=firefox.desktop\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let done = install(&dirs, Path::new("/usr/bin/dxos"), None).unwrap_or_else(|e| panic!("{e}"));
        assert!(done.entry.exists() && done.icons.iter().all(|p| p.exists()));
        assert_eq!(done.icons.len(), super::super::icon::PNGS.len() + 1);
        let list = std::fs::read_to_string(dirs.mimeapps()).unwrap_or_default();
        assert_eq!(default_for(&list, SCHEME_MIME).as_deref(), Some("org.dxos.Dxos.desktop"));
        let removed = uninstall(&dirs).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(removed.len(), done.icons.len() + 2);
        assert!(!done.entry.exists() && done.icons.iter().all(|p| !p.exists()));
        let list = std::fs::read_to_string(dirs.mimeapps()).unwrap_or_default();
        assert_eq!(list, "[Default Applications]\ntext/html=firefox.desktop\n");
        // Twice is harmless.
        assert_eq!(uninstall(&dirs).map(|r| r.len()).ok(), Some(0));
        assert!(install(&dirs, Path::new("relative/dxos"), None).is_err());
    }
}
