//! Profiling aid: 300k typed task inserts into an in-memory space.
use dxos_echo::{Space, SpaceOptions, Task};
fn main() {
    let s = Space::in_memory(dxos_halo::KeyPair::generate().public(), SpaceOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    for i in 0..60_000 {
        let t = Task { title: format!("Task {i}"), completed: false, order: Some(format!("a{i}")) };
        s.add_typed(&t).unwrap_or_else(|e| panic!("{e}"));
    }
}
