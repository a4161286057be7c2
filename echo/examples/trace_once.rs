//! One replay of the automerge-paper trace: raw yrs (bytes / UTF-16 offsets) and ECHO.
use std::time::Instant;

use dxos_echo::{Space, SpaceOptions};
use yrs::{Doc, OffsetKind, Options, Text, Transact};

#[derive(serde::Deserialize)]
struct Trace {
    txns: Vec<Txn>,
}
#[derive(serde::Deserialize)]
struct Txn {
    patches: Vec<(u32, u32, String)>,
}

fn main() {
    let path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/editing-traces/sequential/automerge-paper.json.gz");
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{e}"));
    let t: Trace = serde_json::from_reader(flate2::read::GzDecoder::new(f)).unwrap_or_else(|e| panic!("{e}"));
    let patches: Vec<&(u32, u32, String)> = t.txns.iter().flat_map(|x| &x.patches).collect();
    for kind in [OffsetKind::Bytes, OffsetKind::Utf16] {
        let doc = Doc::with_options(Options { offset_kind: kind, ..Options::default() });
        let text = doc.get_or_insert_text("text");
        let sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = sink.clone();
        let keep = std::env::args().any(|a| a == "--keep");
        let _ = doc.observe_update_v1("b", move |_, e| {
            let u = e.update.clone();
            if keep {
                s2.lock().unwrap_or_else(|e| e.into_inner()).push(u);
            }
        });
        let t0 = Instant::now();
        for (pos, del, ins) in &patches {
            let mut txn = doc.transact_mut();
            if *del > 0 {
                text.remove_range(&mut txn, *pos, *del);
            }
            if !ins.is_empty() {
                text.insert(&mut txn, *pos, ins);
            }
        }
        println!("raw yrs {kind:?}: {:?}", t0.elapsed());
    }
    let s = Space::in_memory(dxos_halo::KeyPair::generate().public(), SpaceOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let id = s.add(None, serde_json::Map::new()).unwrap_or_else(|e| panic!("{e}"));
    s.set_text(&id, "content", "").unwrap_or_else(|e| panic!("{e}"));
    let t0 = Instant::now();
    for (pos, del, ins) in &patches {
        s.edit_text(&id, "content", *pos, *del, ins).unwrap_or_else(|e| panic!("{e}"));
    }
    println!("echo: {:?}", t0.elapsed());
}
