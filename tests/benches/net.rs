//! NET benchmarks, all transports side by side in one run (loopback):
//! - edit on A -> subscription fired on B: criterion's mean, plus p50/p99 over many edits;
//! - initial sync of a 100k-object space to an empty device;
//! - bytes on the wire (our protocol's bytes, and everything the loopback interface carried)
//!   against the raw Yjs update size.
//!
//! Percentiles and byte counts are printed and written to `target/net-bench.json`.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dxos_echo::{Space, SpaceOptions, Task, tasks::task_query};
use dxos_halo::{KeyPair, Role};
use dxos_net::testing::{TestProfile, TestResult, wait_until};
use dxos_net::{Node, Transport};
use serde_json::json;

const TRANSPORTS: [Transport; 3] = [Transport::WebRtcDirect, Transport::Quic, Transport::Tcp];

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

/// A and B with a shared space (B an editor), connected over `t`; B's replica has synced.
struct Pair {
    /// Kept for its folder and stores, which the nodes use.
    _a: TestProfile,
    _b: TestProfile,
    sa: Space,
    sb: Space,
    na: Node,
    nb: Node,
}

/// A node config over `t` speaking replication protocol versions up to `version`.
fn config(p: &TestProfile, t: Transport, version: u8) -> dxos_net::NodeConfig {
    let mut c = p.config(&[t]);
    c.replicate_version = version;
    c
}

async fn pair(t: Transport, version: u8, seed: Option<&[u8]>) -> TestResult<Pair> {
    let a = TestProfile::new("Ada")?;
    let b = TestProfile::new("Bob")?;
    let (key, sa) = a.create_space("Bench")?;
    if let Some(update) = seed {
        sa.import(update)?;
    } else {
        sa.add_task("first")?;
    }
    a.admit(&key, &b, Role::Editor)?;
    let na = a.start(config(&a, t, version)).await?;
    let nb = b.start(config(&b, t, version)).await?;
    nb.dial(na.listen_addrs().await?.into_iter().next().ok_or("no address")?).await?;
    let sb = b.echo.open_replica(key.public())?;
    let n = sa.len();
    wait_until(Duration::from_secs(120), || sb.len() == n).await.ok_or("initial sync timed out")?;
    Ok(Pair { _a: a, _b: b, sa, sb, na, nb })
}

/// One edit on A until B's subscription fires, `n` times; returns each latency.
async fn edit_latencies(p: &Pair, n: usize) -> TestResult<Vec<Duration>> {
    let (tx, rx) = mpsc::channel::<Instant>();
    let _sub = p.sb.subscribe(task_query(), move |_| {
        let _ = tx.send(Instant::now());
    });
    let (id, _) = p.sa.tasks().into_iter().next().ok_or("no task")?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        while rx.try_recv().is_ok() {}
        let t0 = Instant::now();
        p.sa.rename_task(&id, &format!("edit {i}"))?;
        let seen = tokio::task::block_in_place(|| rx.recv_timeout(Duration::from_secs(10)))?;
        out.push(seen.saturating_duration_since(t0));
    }
    Ok(out)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Bytes the loopback interface has carried (received), from /proc/net/dev.
fn loopback_bytes() -> u64 {
    std::fs::read_to_string("/proc/net/dev")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.trim_start().starts_with("lo:"))
                .and_then(|l| l.split(':').nth(1)?.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn tasks_update(n: usize) -> Vec<u8> {
    let s = Space::in_memory(KeyPair::generate().public(), SpaceOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..n {
        s.add_typed(&Task { title: format!("Task {i}"), completed: i % 3 == 0, order: Some(format!("a{i:06}")) })
            .unwrap_or_else(|e| panic!("{e}"));
    }
    s.export().unwrap_or_else(|e| panic!("{e}"))
}

fn bench(c: &mut Criterion) {
    let rt = rt();
    let mut report = serde_json::Map::new();

    // Edit -> remote subscription.
    let mut g = c.benchmark_group("edit_to_remote_subscription");
    g.sample_size(50).measurement_time(Duration::from_secs(5));
    for t in TRANSPORTS {
        let p = rt.block_on(pair(t, 2, None)).unwrap_or_else(|e| panic!("{t:?}: {e}"));
        // Percentiles over 500 edits, outside criterion.
        let mut lat = rt.block_on(edit_latencies(&p, 500)).unwrap_or_else(|e| panic!("{e}"));
        lat.sort();
        let (p50, p99) = (pct(&lat, 0.50), pct(&lat, 0.99));
        println!("edit -> B notified over {:<13} p50 {p50:.3} ms  p99 {p99:.3} ms", t.as_str());
        report.insert(format!("edit_latency_{}", t.as_str()), json!({"p50_ms": p50, "p99_ms": p99, "n": lat.len()}));
        g.bench_function(t.as_str(), |bch| {
            bch.iter_custom(|iters| {
                let lat = rt.block_on(edit_latencies(&p, iters as usize)).unwrap_or_else(|e| panic!("{e}"));
                lat.iter().sum()
            })
        });
        rt.block_on(async {
            let _ = p.na.shutdown().await;
            let _ = p.nb.shutdown().await;
        });
        drop(p);
    }
    g.finish();

    // Initial sync of 100k objects, with the bytes it took.
    let n: usize = std::env::var("DXOS_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let update = tasks_update(n);
    report.insert("raw_update_bytes".into(), json!(update.len()));
    let mut g = c.benchmark_group("initial_sync_100k");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    // Each transport with replication protocol version 1 (messages as they are) and 2
    // (compressed), side by side.
    for (t, v) in TRANSPORTS.iter().flat_map(|t| [(*t, 1u8), (*t, 2u8)]) {
        let name = format!("{}/v{v}", t.as_str());
        // One measured run for the byte counts.
        let (proto0, lo0) = (dxos_net::replicate::driver::bytes_sent(), loopback_bytes());
        let start = Instant::now();
        let p = rt.block_on(pair(t, v, Some(&update))).unwrap_or_else(|e| panic!("{t:?}: {e}"));
        let took = start.elapsed();
        let (proto, lo) = (dxos_net::replicate::driver::bytes_sent() - proto0, loopback_bytes() - lo0);
        println!(
            "initial sync of {n} objects over {:<16} {:.0} ms (with setup); protocol bytes {proto} = {:.3}x raw; loopback bytes {lo} = {:.3}x raw",
            name,
            took.as_secs_f64() * 1000.0,
            proto as f64 / update.len() as f64,
            lo as f64 / update.len() as f64
        );
        report.insert(
            format!("initial_sync_{}_v{v}", t.as_str()),
            json!({"objects": n, "ms_with_setup": took.as_secs_f64() * 1000.0, "protocol_bytes": proto, "loopback_bytes": lo}),
        );
        drop(p);
        g.bench_function(&name, |bch| {
            bch.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let p = rt.block_on(async {
                        let a = TestProfile::new("Ada")?;
                        let b = TestProfile::new("Bob")?;
                        let (key, sa) = a.create_space("Bench")?;
                        sa.import(&update)?;
                        a.admit(&key, &b, Role::Editor)?;
                        let na = a.start(config(&a, t, v)).await?;
                        let nb = b.start(config(&b, t, v)).await?;
                        let addr = na.listen_addrs().await?.into_iter().next().ok_or("no address")?;
                        let sb = b.echo.open_replica(key.public())?;
                        // Timed: from the dial to the last object applied on B.
                        let t0 = Instant::now();
                        nb.dial(addr).await?;
                        wait_until(Duration::from_secs(120), || sb.len() == n).await.ok_or("sync timed out")?;
                        total += t0.elapsed();
                        let _ = na.shutdown().await;
                        let _ = nb.shutdown().await;
                        TestResult::Ok((a, b))
                    });
                    drop(p.unwrap_or_else(|e| panic!("{e}")));
                }
                total
            })
        });
    }
    g.finish();

    // The baseline: decoding and applying the same update with raw yrs.
    let mut g = c.benchmark_group("initial_sync_100k");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("baseline_yrs_decode_apply", |bch| {
        use yrs::updates::decoder::Decode;
        use yrs::{Doc, Transact, Update};
        bch.iter(|| {
            let doc = Doc::new();
            let u = Update::decode_v1(&update).unwrap_or_else(|e| panic!("{e}"));
            doc.transact_mut().apply_update(u).unwrap_or_else(|e| panic!("{e}"));
            doc
        })
    });
    g.finish();

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/net-bench.json");
    let _ = std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap_or_default());
    println!("wrote {}", path.display());
}

criterion_group!(benches, bench);
criterion_main!(benches);
