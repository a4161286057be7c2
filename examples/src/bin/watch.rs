//! A headless watcher: prints a space's objects now and after every change (made here, by
//! another process on the profile, or by a peer), until Ctrl-C.
//!
//! `cargo run -p dxos-examples --bin watch -- PROFILE_DIR SPACE`

use dxos_client::{Client, Profile, owner};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(space)) = (args.next(), args.next()) else {
        eprintln!("usage: watch PROFILE_DIR SPACE");
        std::process::exit(2);
    };
    // Ctrl-C ends the stream cleanly (the profile is flushed and released).
    owner::install_signal_handler();
    let client = Client::open(Profile::new(Some(dir.into()))?);
    // Through the app or `dxos serve` if one holds the profile; else this process holds it
    // (and runs the node) until one of them starts.
    for update in client.watch(&space, None) {
        let update = update?;
        println!("{} objects", update.objects.len());
        for o in &update.objects {
            let title = o.data.get("title").and_then(|t| t.as_str()).unwrap_or_default();
            println!("  {} {} {title}", o.id, o.typename.as_deref().unwrap_or("-"));
        }
    }
    Ok(())
}
