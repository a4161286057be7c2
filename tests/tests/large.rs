//! A 100k-object space syncs to an empty device in full, over QUIC and over WebRTC-direct
//! (whose 8 KiB message limit the framing cuts under).

mod common;

use common::logs;

use std::time::{Duration, Instant};

use dxos_echo::{Space, SpaceOptions, Task};
use dxos_halo::{KeyPair, Role};
use dxos_net::Transport;
use dxos_net::testing::{TestProfile, TestResult, wait_until};
use yrs::updates::decoder::Decode;

fn n() -> usize {
    std::env::var("DXOS_LARGE_N").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000)
}

/// One Yjs update holding `n` tasks.
fn tasks_update(n: usize) -> TestResult<Vec<u8>> {
    let scratch = Space::in_memory(KeyPair::generate().public(), SpaceOptions::default())?;
    for i in 0..n {
        scratch.add_typed(&Task {
            title: format!("Task {i}"),
            completed: i % 3 == 0,
            order: Some(format!("a{i:06}")),
        })?;
    }
    Ok(scratch.export()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_object_space_syncs_in_full_to_an_empty_device() -> TestResult<()> {
    logs();
    let n = n();
    let update = tasks_update(n)?;
    let only = std::env::var("DXOS_TRANSPORT").ok();
    for t in [Transport::Quic, Transport::WebRtcDirect] {
        if only.as_deref().is_some_and(|o| o != t.as_str()) {
            continue;
        }
        let a = TestProfile::new("Ada")?;
        let b = TestProfile::new("Bob")?;
        let (key, sa) = a.create_space("Big")?;
        sa.import(&update)?;
        assert_eq!(sa.len(), n);
        a.admit(&key, &b, Role::Editor)?;
        let na = a.start(a.config(&[t])).await?;
        let nb = b.start(b.config(&[t])).await?;
        let start = Instant::now();
        nb.dial(na.listen_addrs().await?.into_iter().next().ok_or("no address")?).await?;
        let sb = b.echo.open_replica(key.public())?;
        let took = wait_until(Duration::from_secs(120), || sb.len() == n).await;
        assert!(took.is_some(), "{t:?}: B has {} of {n} objects", sb.len());
        println!("{t:?}: {n} objects synced in {} ms (debug build)", start.elapsed().as_millis());
        // Compared decoded: the encoding lists clients in no fixed order.
        let sv = |bytes: Vec<u8>| yrs::StateVector::decode_v1(&bytes);
        assert_eq!(sv(sb.state_vector()?)?, sv(sa.state_vector()?)?, "{t:?}: same state");
        assert_eq!(sb.tasks(), sa.tasks(), "{t:?}: same tasks, same order");
        na.shutdown().await?;
        nb.shutdown().await?;
    }
    Ok(())
}
