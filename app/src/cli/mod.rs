//! The `dxos` command line (docs/cli.md): `args.rs` parses, `run.rs` runs a command, `print.rs`
//! says the result in words; with `--json`, results print as the contract says.
//!
//! Every command becomes a typed [`Request`] to the profile's [`dxos_client::Client`] (its
//! owner over the socket or, with none, the store opened for the command); `json.rs` turns the
//! typed answers into the contract's JSON. This module never touches the store itself.

mod args;
mod desktop;
mod json;
mod print;
mod run;

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};
use serde_json::{Value, json};

pub use args::*;
pub use desktop::{completions, desktop, manpage, open_link};
use dxos_client::wire::{Request, Response};
use dxos_client::{ClientError, NetOptions, OwnerRole, Profile, owner};
use print::*;
pub use run::{Exit, report, run};

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command and subcommand, as `identity create`.
    fn commands(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = format!("{prefix}{}", sub.get_name());
            if sub.has_subcommands() {
                commands(sub, &format!("{name} "), out);
            } else {
                out.push(name);
            }
        }
    }

    #[test]
    fn the_contract_documents_every_command() {
        let doc = include_str!("../../../docs/cli.md");
        let mut all = Vec::new();
        commands(&super::Cli::command(), "", &mut all);
        assert!(all.len() >= 30, "{all:?}");
        let missing: Vec<&String> =
            all.iter().filter(|c| !doc.contains(&format!("`{c} ")) && !doc.contains(&format!("`{c}`"))).collect();
        assert!(missing.is_empty(), "docs/cli.md does not document {missing:?}");
        // Nothing in the repository points outside it.
        let outside = concat!("..", "/", "shared");
        assert!(!doc.contains(outside) && !include_str!("../../../README.md").contains(outside));
    }
}
