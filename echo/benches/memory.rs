//! Memory per Task object: live heap bytes after 100k inserts, ECHO minus raw yrs doing the
//! same inserts. A counting allocator measures it, so it lives apart from the timing benches.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dxos_echo::object::new_object_id;
use dxos_echo::{Space, SpaceOptions, Task, TypedObject};
use dxos_halo::KeyPair;
use yrs::{Any, Doc, Map as _, MapPrelim, Transact};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: p was allocated by System with layout l.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const N: usize = 100_000;

fn task(i: usize) -> Task {
    Task { title: format!("Task {i}"), completed: false, order: Some(format!("a{i}")) }
}

fn main() {
    let base = LIVE.load(Ordering::SeqCst);
    let doc = Doc::with_options(yrs::Options { offset_kind: yrs::OffsetKind::Utf16, ..yrs::Options::default() });
    let objects = doc.get_or_insert_map("objects");
    let copied: Arc<AtomicUsize> = Arc::default();
    let c = copied.clone();
    let _ = doc.observe_update_v1("bench", move |_, e| {
        c.fetch_add(black_box(e.update.clone()).len(), Ordering::Relaxed);
    });
    for i in 0..N {
        let mut txn = doc.transact_mut();
        objects.insert(
            &mut txn,
            new_object_id(),
            MapPrelim::from([
                ("@type", yrs::In::Any(Any::from(Task::TYPENAME))),
                ("title", yrs::In::Any(Any::from(format!("Task {i}")))),
                ("completed", yrs::In::Any(Any::from(false))),
                ("order", yrs::In::Any(Any::from(format!("a{i}")))),
            ]),
        );
    }
    let raw_bytes = LIVE.load(Ordering::SeqCst) - base;
    drop((doc, objects));
    let report = |label: &str, undo: bool| {
        let base = LIVE.load(Ordering::SeqCst);
        let s =
            Space::in_memory(KeyPair::generate().public(), SpaceOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        if undo {
            s.enable_undo().unwrap_or_else(|e| panic!("{e}"));
        }
        for i in 0..N {
            s.add_typed(&task(i)).unwrap_or_else(|e| panic!("{e}"));
        }
        let ours = LIVE.load(Ordering::SeqCst) - base;
        println!(
            "{label}: {:.0} B per task, raw yrs {:.0} B: +{:.0} B",
            ours as f64 / N as f64,
            raw_bytes as f64 / N as f64,
            (ours as f64 - raw_bytes as f64) / N as f64
        );
    };
    report("memory_per_task/echo", false);
    report("memory_per_task/echo_with_undo_history", true);
}
