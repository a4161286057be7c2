//! Frame CPU time of the Tasks and TodoMVC views, scrolling, with 100k tasks, side by side
//! with the same views over 100 tasks (the baseline: what a frame costs when the list is
//! small). Drawn in a kittest harness (no GPU: layout, tessellation-free egui pass and the
//! AccessKit tree), one mouse-wheel step per frame. Target: <= 2 ms per frame at 100k.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use dxos::ui::plugin::Surface;
use dxos::ui::state::{AppState, Services};
use dxos_client::{Local, Profile};
use dxos_echo::{Space, SpaceOptions, Task};
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn space_with(n: usize) -> Space {
    let id = dxos_halo::KeyPair::generate().public();
    let space = Space::in_memory(id, SpaceOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..n {
        let t = Task { title: format!("Task number {i}"), completed: i % 3 == 0, order: Some(format!("a{i:08}")) };
        space.add_typed(&t).unwrap_or_else(|e| panic!("{e}"));
    }
    space
}

fn wheel(dy: f32) -> egui::Event {
    egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, dy),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Wheel,
        modifiers: egui::Modifiers::NONE,
    }
}

type Make = fn(&egui::Context, Space) -> Box<dyn Surface>;

fn harness(local: &Arc<Local>, space: Space, make: Make) -> Harness<'static, (AppState, Option<Box<dyn Surface>>)> {
    let app = AppState::new(Services::new(local.clone(), None), Some(space));
    Harness::builder().with_size(egui::vec2(900.0, 700.0)).with_step_dt(1.0 / 60.0).build_ui_state(
        move |ui, s: &mut (AppState, Option<Box<dyn Surface>>)| {
            let (app, view) = s;
            let space = app.space.clone().unwrap_or_else(|| panic!("no space"));
            view.get_or_insert_with(|| make(ui.ctx(), space)).ui(ui, app);
        },
        (app, None),
    )
}

fn scroll_frames(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("dxos-frame-bench-{}", std::process::id()));
    let local = Arc::new(
        Local::open(&Profile::new(Some(dir.clone())).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let views: [(&str, Make); 2] = [
        ("tasks", |ctx, s| Box::new(dxos::ui::tasks::TasksView::new(ctx, s))),
        ("todomvc", |ctx, s| Box::new(dxos::ui::todomvc::TodoMvcView::new(ctx, s))),
    ];
    let big = space_with(100_000);
    let small = space_with(100);
    let mut g = c.benchmark_group("frame_scrolling");
    for (name, make) in views {
        for (size, space) in [("100", &small), ("100k", &big)] {
            let mut h = harness(&local, space.clone(), make);
            h.run_steps(3);
            // The pointer over the list, where the wheel scrolls it.
            h.event(egui::Event::PointerMoved(egui::pos2(450.0, 450.0)));
            h.step();
            // The wheel does scroll the list (else this would time the top of it only).
            for _ in 0..20 {
                h.event(wheel(-120.0));
                h.step();
            }
            assert!(h.query_by_label("Task number 0").is_none(), "{name}/{size}: the list scrolled");
            let mut down = true;
            let mut n = 0u32;
            g.bench_function(format!("{name}/{size}"), |b| {
                b.iter(|| {
                    // Scroll down for a while, then back up, a wheel step per frame.
                    n += 1;
                    if n.is_multiple_of(400) {
                        down = !down;
                    }
                    h.event(wheel(if down { -120.0 } else { 120.0 }));
                    h.step();
                })
            });
        }
    }
    g.finish();
    drop(local);
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = scroll_frames
}
criterion_main!(benches);
