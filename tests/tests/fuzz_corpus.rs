//! The fuzz corpus (`fuzz/corpus/<target>/`, kept in the repository) replayed through the
//! targets' bodies (`dxos_tests::fuzz`): an input that once crashed, or that fuzzing found
//! interesting, is run on every `cargo test`, so a regression fails CI.

use std::path::Path;

#[test]
fn every_corpus_input_decodes_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut total = 0;
    // yrs' debug assertions fire on some inputs, inside the decoders' `catch_unwind` (they
    // become errors, as they must): keep their messages out of the log. A panic that escapes
    // still fails the assertion below.
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut escaped = Vec::new();
    for (target, body) in dxos_tests::fuzz::TARGETS {
        let dir = root.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        // A corpus that went missing would make this test pass by doing nothing.
        if files.len() < 10 {
            escaped.push(format!("{target}: only {} inputs in {}", files.len(), dir.display()));
        }
        for f in &files {
            let data = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            if std::panic::catch_unwind(|| body(&data)).is_err() {
                escaped.push(format!("{target}: {} panicked", f.display()));
            }
        }
        println!("{target}: {} inputs", files.len());
        total += files.len();
    }
    std::panic::set_hook(quiet);
    assert!(escaped.is_empty(), "{escaped:#?}");
    println!("{total} corpus inputs replayed");
}
