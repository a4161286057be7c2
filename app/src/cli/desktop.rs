//! The commands that need no profile's store: `desktop install|uninstall`, `completions`,
//! `manpage`; and `open`'s check of its link.

use clap::CommandFactory;

use super::*;
use crate::desktop::install::{self, XdgDirs};

/// `dxos desktop install|uninstall`: `profile` is the `--profile` given, if one was (the entry
/// then opens that profile).
pub fn desktop(cmd: &DesktopCmd, profile: Option<&std::path::Path>, json: bool) -> Result<(), ClientError> {
    let dirs = XdgDirs::from_env()?;
    match cmd {
        DesktopCmd::Install => {
            let exe = std::env::current_exe()
                .and_then(|p| p.canonicalize())
                .map_err(|e| ClientError::io("cannot find this program's path", e))?;
            let profile = match profile {
                Some(p) => Some(std::path::absolute(p).map_err(|e| ClientError::io("cannot resolve --profile", e))?),
                None => None,
            };
            let done = install::install(&dirs, &exe, profile.as_deref())?;
            if json {
                let icons: Vec<String> = done.icons.iter().map(|p| p.display().to_string()).collect();
                println!(
                    "{}",
                    json!({"entry": done.entry.display().to_string(), "icons": icons,
                           "mimeapps": done.mimeapps.display().to_string(), "exec": done.exec})
                );
            } else {
                println!("Installed the menu entry {}", done.entry.display());
                println!(
                    "with {} icons, and made it the handler of dxos: links ({}).",
                    done.icons.len(),
                    done.mimeapps.display()
                );
            }
        }
        DesktopCmd::Uninstall => {
            let removed = install::uninstall(&dirs)?;
            if json {
                let removed: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
                println!("{}", json!({"removed": removed}));
            } else if removed.is_empty() {
                println!("Nothing to remove: the menu entry is not installed.");
            } else {
                println!("Removed the menu entry, its icons and the dxos: link handler ({} files).", removed.len());
            }
        }
    }
    Ok(())
}

/// `dxos completions SHELL`: the script on stdout.
pub fn completions(shell: Shell) {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout();
    match shell {
        Shell::Bash => clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "dxos", &mut out),
        Shell::Zsh => clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "dxos", &mut out),
        Shell::Fish => clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "dxos", &mut out),
    }
}

/// `dxos manpage`: the manual page (roff) on stdout.
pub fn manpage() -> Result<(), ClientError> {
    let mut out = std::io::stdout();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| ClientError::io("cannot write the manual page", e))
}

/// `dxos open`'s link, checked before anything else happens (exit 2 if refused).
pub fn open_link(uri: Option<&str>) -> Result<Option<String>, ClientError> {
    uri.map(crate::desktop::link::check).transpose()
}
