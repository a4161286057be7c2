//! The README's layout table matches the tree: every folder of the repository that holds code
//! or documents has a row, every row's folder exists, and every file a row names exists in
//! that folder.

use std::path::Path;

/// The rows of the "## Layout" table: (folder, the row's text).
fn layout_rows(readme: &str) -> Vec<(String, String)> {
    let Some(start) = readme.find("## Layout") else { panic!("README has no Layout section") };
    readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            let folder = l.split('|').nth(1)?.trim().trim_matches('`').to_owned();
            folder.ends_with('/').then(|| (folder, l.to_owned()))
        })
        .collect()
}

/// Whether `name` is a file somewhere under `dir`.
fn exists_under(dir: &Path, name: &str) -> bool {
    if dir.join(name).exists() {
        return true;
    }
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().is_dir() && e.file_name() != "target" && exists_under(&e.path(), name))
}

#[test]
fn the_layout_table_matches_the_tree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap_or_else(|e| panic!("{e}"));
    let rows = layout_rows(&readme);
    assert!(rows.len() >= 8, "{rows:?}");
    // Every folder of the repository (but build output, CI and pictures) has a row.
    for e in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{e}")).flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.path().is_dir() || name.starts_with('.') || ["target", "assets"].contains(&name.as_str()) {
            continue;
        }
        assert!(rows.iter().any(|(f, _)| *f == format!("{name}/")), "README's layout has no row for {name}/");
    }
    // Every row's folder and every file it names exist.
    for (folder, row) in &rows {
        let dir = root.join(folder);
        assert!(dir.is_dir(), "README names {folder}, which is not there");
        for part in row.split('`').skip(1).step_by(2) {
            let is_file = [".rs", ".md", ".py", ".sh"].iter().any(|x| part.ends_with(x));
            if is_file {
                assert!(exists_under(&dir, part), "README's row for {folder} names {part}, not found there");
            }
        }
    }
}
