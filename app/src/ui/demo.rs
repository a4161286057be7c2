//! `dxos demo`: one window, two devices of one identity side by side, each with its own
//! profile in a temporary folder, paired over loopback WebRTC-direct through the real
//! invitation protocol. Typing in one shows in the other; a readout gives the measured
//! edit-to-screen latency (an edit on one side until the frame that draws it on the other)
//! and the transport.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dxos_client::space::{UpdateListener, UpdateOrigin};
use dxos_client::{Client, ClientError, InviteOptions, InviteStep, JoinStep, Local, NetOptions, Profile, Space};
use eframe::egui;

use super::layout::Layout;
use super::plugin;
use super::state::{AppState, Services};

/// One device of the demo, ready.
struct Device {
    local: Arc<Local>,
    space: Space,
}

fn open(dir: &Path) -> Result<Arc<Local>, ClientError> {
    Local::open(&Profile::new(Some(dir.to_path_buf()))?).map(Arc::new)
}

/// Both devices listen on loopback WebRTC-direct only.
fn net_options() -> NetOptions {
    NetOptions::loopback(&["webrtc-direct"])
}

/// Makes device A (identity, a space with a few tasks), device B (fresh), and pairs them
/// through the client's invitation and join, as two people would.
fn pair(dir: &Path) -> Result<(Device, Device, Duration), ClientError> {
    let (da, db) = (dir.join("a"), dir.join("b"));
    let a = open(&da)?;
    let client_a = Client::in_process(a.clone());
    client_a.create_identity("Demo")?;
    let space_a = a.create_space("Groceries")?;
    for t in ["Milk", "Bread", "Coffee"] {
        space_a.add_task(t)?;
    }
    a.start_node(&net_options())?;
    let b = open(&db)?;
    b.prepare_to_join()?;
    b.start_node(&net_options())?;
    let client_b = Client::in_process(b.clone());
    let start = Instant::now();
    let timeout = || ClientError::Timeout("pairing took too long".into());
    // Kept open until B has joined (dropping it earlier would cancel the invitation).
    let invite = client_a.invite(InviteOptions { space: None, role: None, timeout_secs: 60, code: false });
    let uri = match invite.recv_timeout(Duration::from_secs(30)) {
        Ok(Some(Ok(InviteStep::Open { uri, .. }))) => uri,
        Ok(Some(Err(e))) => return Err(e),
        _ => return Err(timeout()),
    };
    let join = client_b.join(&uri, None);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match join.recv_timeout(left) {
            Ok(Some(Ok(JoinStep::JoinedIdentity { .. }))) => break,
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(e),
            Ok(None) => return Err(timeout()),
            Err(_) => return Err(ClientError::Network("the join stopped".into())),
        }
    }
    let paired = start.elapsed();
    drop(invite);
    let space_b = b.space_by_id(&space_a.id())?;
    Ok((Device { local: a, space: space_a }, Device { local: b, space: space_b }, paired))
}

/// When an edit was made on one side and whether the other side has applied it.
#[derive(Default)]
struct Latency {
    edited: Option<Instant>,
    applied: bool,
    last: Option<Duration>,
}

struct Side {
    name: &'static str,
    app: AppState,
    layout: Layout,
    _listener: UpdateListener,
}

struct Running {
    sides: [Side; 2],
    /// Per side: edits made there, seen on the other.
    latency: [Arc<Mutex<Latency>>; 2],
    paired: Duration,
    stop: Arc<AtomicBool>,
}

enum Step {
    Pairing(Receiver<Result<(Device, Device, Duration), ClientError>>),
    Running(Box<Running>),
    Failed(String),
}

/// The demo window.
pub struct DemoApp {
    step: Step,
    dir: PathBuf,
}

fn side(
    ctx: &egui::Context,
    name: &'static str,
    d: Device,
    mine: Arc<Mutex<Latency>>,
    theirs: Arc<Mutex<Latency>>,
    stop: &Arc<AtomicBool>,
) -> Side {
    let listener = d.space.on_update(move |_, origin| match origin {
        UpdateOrigin::Local => {
            let mut m = mine.lock().unwrap_or_else(|e| e.into_inner());
            m.edited = Some(Instant::now());
            m.applied = false;
        }
        UpdateOrigin::Remote(_) => theirs.lock().unwrap_or_else(|e| e.into_inner()).applied = true,
    });
    let services = Services::new(d.local, None);
    let app = AppState::new(services, Some(d.space));
    app.start_refresh(ctx, stop.clone());
    let registry = plugin::registry(&super::plugins());
    let layout = Layout::new(&registry, ctx, &app);
    Side { name, app, layout, _listener: listener }
}

impl DemoApp {
    /// Starts pairing two fresh devices in `dir` in the background.
    pub fn new(ctx: &egui::Context, dir: PathBuf) -> Self {
        for p in super::plugins() {
            p.setup(ctx);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let (d, ctx) = (dir.clone(), ctx.clone());
        dxos_client::Jobs::new().spawn("pair the two devices", move |_job| -> Result<(), ClientError> {
            let _ = tx.send(pair(&d));
            ctx.request_repaint();
            Ok(())
        });
        Self { step: Step::Pairing(rx), dir }
    }

    /// Draws one frame.
    pub fn frame(&mut self, ui: &mut egui::Ui) {
        let _no_disk = dxos_client::forbid_storage("the demo's UI thread drawing a frame");
        if let Step::Pairing(rx) = &self.step {
            match rx.try_recv() {
                Ok(Ok((a, b, paired))) => {
                    let stop = Arc::new(AtomicBool::new(false));
                    let la = Arc::new(Mutex::new(Latency::default()));
                    let lb = Arc::new(Mutex::new(Latency::default()));
                    let sides = [
                        side(ui.ctx(), "Device A", a, la.clone(), lb.clone(), &stop),
                        side(ui.ctx(), "Device B", b, lb.clone(), la.clone(), &stop),
                    ];
                    self.step = Step::Running(Box::new(Running { sides, latency: [la, lb], paired, stop }));
                }
                Ok(Err(e)) => self.step = Step::Failed(e.to_string()),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => self.step = Step::Failed("pairing stopped".into()),
            }
        }
        match &mut self.step {
            Step::Pairing(_) => {
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.vertical_centered(|ui| {
                        ui.add_space(80.0);
                        ui.spinner();
                        ui.label("Making two devices and pairing them over WebRTC with an invitation…");
                    });
                });
            }
            Step::Failed(e) => {
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.colored_label(ui.visuals().error_fg_color, format!("The demo could not start: {e}"));
                });
            }
            Step::Running(r) => {
                let transport =
                    r.sides[0].app.snapshot.transports.first().cloned().unwrap_or_else(|| "not connected".into());
                let readout = {
                    let fmt = |l: &Arc<Mutex<Latency>>| {
                        l.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .last
                            .map(|d| format!("{:.1} ms", d.as_secs_f64() * 1000.0))
                    };
                    match (fmt(&r.latency[0]), fmt(&r.latency[1])) {
                        (None, None) => "edit on either side to measure".to_owned(),
                        (a, b) => {
                            format!(
                                "A to B {}, B to A {}",
                                a.unwrap_or_else(|| "–".into()),
                                b.unwrap_or_else(|| "–".into())
                            )
                        }
                    }
                };
                egui::Panel::top("readout").show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.strong("Two devices of one identity, paired by invitation.");
                        ui.label(format!(
                            "Paired in {} ms. Transport: {transport}. Edit to screen: {readout}.",
                            r.paired.as_millis()
                        ));
                    });
                });
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.columns(2, |cols| {
                        for (i, s) in r.sides.iter_mut().enumerate() {
                            s.app.begin_frame();
                            let col = &mut cols[i];
                            col.push_id(s.name, |ui| {
                                ui.heading(s.name);
                                ui.label(super::sync::describe(&s.app.snapshot));
                                ui.separator();
                                s.layout.main_ui(ui, &mut s.app);
                            });
                        }
                    });
                });
                // The other side's view drew the edit in this frame: edit-to-screen done.
                for l in &r.latency {
                    let mut l = l.lock().unwrap_or_else(|e| e.into_inner());
                    if l.applied
                        && let Some(t) = l.edited.take()
                    {
                        l.last = Some(t.elapsed());
                        l.applied = false;
                    }
                }
            }
        }
    }

    fn shutdown(&mut self) {
        if let Step::Running(r) = &mut self.step {
            r.stop.store(true, Ordering::SeqCst);
            for s in &r.sides {
                let _ = s.app.services.local.flush();
                s.app.services.local.stop_node();
            }
        }
        self.step = Step::Failed("closed".into());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl eframe::App for DemoApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame(ui);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.shutdown();
    }
}

/// Opens the demo window; returns when it closes (its profiles are removed).
pub fn run() -> Result<(), ClientError> {
    let dir = std::env::temp_dir().join(format!("dxos-demo-{}-{}", std::process::id(), dxos_client::now_ms()));
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Glow,
        viewport: egui::ViewportBuilder::default().with_title("DXOS demo").with_inner_size([1100.0, 620.0]),
        // The Theme plugin installs our own fallback to the system's fonts (ui::fonts).
        system_font_fallback: false,
        ..Default::default()
    };
    let d = dir.clone();
    let r = eframe::run_native("DXOS demo", options, Box::new(move |cc| Ok(Box::new(DemoApp::new(&cc.egui_ctx, d)))));
    let _ = std::fs::remove_dir_all(&dir);
    r.map_err(|e| ClientError::Internal(format!("the window could not be opened: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_pairs_two_devices_through_an_invitation_and_they_sync_live() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (a, b, paired) = pair(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        println!("demo pairing over loopback WebRTC: {paired:?}");
        let ia = a.local.identity().map(|i| i.identity_key);
        assert_eq!(ia, b.local.identity().map(|i| i.identity_key), "one identity");
        let titles = |s: &Space| s.tasks().into_iter().map(|(_, t)| t.title).collect::<Vec<_>>();
        assert_eq!(titles(&b.space), ["Milk", "Bread", "Coffee"]);
        assert_eq!(a.local.peers().first().map(|p| p.transport.clone()).as_deref(), Some("webrtc-direct"));
        b.space.add_task("Tea").unwrap_or_else(|e| panic!("{e}"));
        let start = Instant::now();
        while titles(&a.space).len() < 4 && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(titles(&a.space), ["Milk", "Bread", "Coffee", "Tea"]);
        for d in [a, b] {
            d.local.stop_node();
        }
    }
}
