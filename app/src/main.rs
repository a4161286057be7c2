//! `dxos`: the DXOS desktop app (no command) and command line (see CLI.md).

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use dxos::cli::{self, Cli, Command, VERSION};
use dxos::desktop::{crash, logfile};
use dxos::ui;
use dxos_client::{ClientError, Profile};

/// Filter directives that silence the WebRTC crates' own logging (see `init_logging`).
const WEBRTC_QUIET: &str = ",libp2p_webrtc=off,webrtc=off,webrtc_ice=off,webrtc_dtls=off,webrtc_sctp=off,webrtc_data=off,\
webrtc_mdns=off,webrtc_srtp=off,webrtc_util=off,webrtc_media=off,interceptor=off,turn=off,stun=off,sdp=off,\
rtp=off,rtcp=off";

/// Logs to the profile's `dxos.log` (info; rotated by size, desktop::logfile) and to stderr:
/// warnings for people; nothing for `--json`, whose stderr is the one JSON error (unless `-v`
/// or `RUST_LOG` asks).
fn init_logging(verbose: u8, json: bool, profile: &Profile) {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{EnvFilter, fmt};
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // The WebRTC stack logs its internals (ICE pairs it gave up on, DTLS it never started)
    // as warnings through `log`; they are not the user's business, and a `--json` caller
    // reads stderr as one JSON error. They show from `-vv` on, or through RUST_LOG.
    let webrtc = if verbose >= 2 { "" } else { WEBRTC_QUIET };
    let stderr_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        if json && verbose == 0 { EnvFilter::new("off") } else { EnvFilter::new(format!("{level}{webrtc}")) }
    });
    let stderr = fmt::layer().with_writer(std::io::stderr).with_filter(stderr_filter);
    let file = logfile::RotatingLog::open(&profile.log_path(), logfile::MAX_BYTES).ok().map(|log| {
        fmt::layer().with_ansi(false).with_writer(log).with_filter(EnvFilter::new(format!("info{WEBRTC_QUIET}")))
    });
    let _ = tracing_subscriber::registry().with(stderr).with(file).try_init();
}

/// The exit code of a command's result, its error reported.
fn exit(r: Result<(), ClientError>, json: bool) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(cli::report(&e, json) as u8),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    ExitCode::SUCCESS
                }
                _ => {
                    let json = std::env::args().any(|a| a == "--json");
                    let msg = e.render().to_string();
                    if json {
                        let first =
                            msg.lines().next().unwrap_or("usage error").trim_start_matches("error: ").to_owned();
                        cli::report(&ClientError::Usage(first), true);
                    } else {
                        let _ = e.print();
                    }
                    ExitCode::from(2)
                }
            };
        }
    };
    // These need no profile.
    match &cli.command {
        Some(Command::Completions { shell }) => {
            cli::completions(*shell);
            return ExitCode::SUCCESS;
        }
        Some(Command::Manpage) => return exit(cli::manpage(), cli.json),
        Some(Command::Desktop(cmd)) => return exit(cli::desktop(cmd, cli.profile.as_deref(), cli.json), cli.json),
        _ => {}
    }
    // A link is checked before anything opens (a refused one changes nothing: exit 2).
    let link = match &cli.command {
        Some(Command::Open { uri }) => match cli::open_link(uri.as_deref()) {
            Ok(l) => l,
            Err(e) => return ExitCode::from(cli::report(&e, cli.json) as u8),
        },
        _ => None,
    };
    let profile = match Profile::new(cli.profile.clone()) {
        Ok(p) => p,
        Err(e) => return ExitCode::from(cli::report(&e, cli.json) as u8),
    };
    if let Err(e) = profile.ensure() {
        return ExitCode::from(cli::report(&e, cli.json) as u8);
    }
    init_logging(cli.verbose, cli.json, &profile);
    crash::install_hook(profile.dir(), &profile.log_path(), VERSION);
    // No subcommand (or `open`) opens the window, or raises the one open on this profile;
    // `demo` opens its own window; a subcommand runs the CLI.
    let code = match cli.command {
        None | Some(Command::Open { .. }) => match ui::launch(&profile, link) {
            Ok(ui::Launched::Ran) => 0,
            Ok(ui::Launched::Raised) => {
                if cli.json {
                    println!("{}", serde_json::json!({"opened": true, "raised": true}));
                } else {
                    println!("DXOS is already open on this profile: its window was brought to the front.");
                }
                0
            }
            Err(e) => cli::report(&e, cli.json),
        },
        Some(Command::Demo) => match ui::demo::run() {
            Ok(()) => 0,
            Err(e) => cli::report(&e, cli.json),
        },
        Some(command) => cli::run(command, &profile, cli.json),
    };
    ExitCode::from(code as u8)
}
