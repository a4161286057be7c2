//! Presence (`/dxos/presence/1`) between real nodes on loopback: a member hears another
//! member's state (what they view, their cursor) over WebRTC-direct, it expires once they stop
//! saying it, and a device that is not a member of the space neither hears it nor is heard.

mod common;

use std::time::Duration;

use dxos_net::presence::LocalPresence;
use dxos_net::testing::{TestProfile, TestResult, wait_until};
use dxos_net::{Node, Transport};

async fn connect(from: &Node, to: &Node) -> TestResult<()> {
    let addr = to.listen_addrs().await?.into_iter().next().ok_or("no listen address")?;
    from.dial(addr).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_see_each_others_cursor_until_it_expires() -> TestResult<()> {
    common::logs();
    let (a, b, key, _space) = TestProfile::ada_and_bob()?;
    let na = a.start(a.config(&[Transport::WebRtcDirect])).await?;
    let nb = b.start(b.config(&[Transport::WebRtcDirect])).await?;
    connect(&nb, &na).await?;
    let space = key.public();
    let bob = b.halo.identity().ok_or("no identity")?;
    let here = LocalPresence { object: Some("doc-1".into()), anchor: Some(vec![1, 2, 3]), head: Some(vec![4, 5]) };
    nb.live_presence().set(space, Some(here.clone()));
    let heard = wait_until(Duration::from_secs(20), || {
        na.live_presence().peers(&space).iter().any(|p| p.identity == bob.identity_key && p.state == here)
    })
    .await;
    assert!(heard.is_some(), "Ada hears Bob's cursor: {:?}", na.live_presence().peers(&space));
    let p = na.live_presence().peers(&space);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].device, bob.device_key);
    // A move arrives without waiting for the heartbeat.
    let moved = LocalPresence { head: Some(vec![9]), ..here.clone() };
    nb.live_presence().set(space, Some(moved.clone()));
    let t = wait_until(Duration::from_secs(5), || {
        na.live_presence().peers(&space).first().map(|p| &p.state) == Some(&moved)
    })
    .await;
    assert!(t.is_some_and(|t| t < Duration::from_millis(900)), "a move arrives before the next heartbeat: {t:?}");
    // Bob stops saying it: it is gone within the time to live (plus a heartbeat).
    nb.live_presence().set(space, None);
    let gone = wait_until(Duration::from_secs(10), || na.live_presence().peers(&space).is_empty()).await;
    assert!(gone.is_some(), "Bob's presence expires");
    na.shutdown().await?;
    nb.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_outside_the_space_neither_hears_nor_is_heard() -> TestResult<()> {
    common::logs();
    let (a, _b, key, _space) = TestProfile::ada_and_bob()?;
    let carol = TestProfile::new("Carol")?;
    let na = a.start(a.config(&[Transport::Tcp])).await?;
    let nc = carol.start(carol.config(&[Transport::Tcp])).await?;
    connect(&nc, &na).await?;
    let space = key.public();
    na.live_presence().set(space, Some(LocalPresence { object: Some("secret-doc".into()), ..Default::default() }));
    // Carol knows the space's id (it is in every invitation) and says she is in it.
    nc.live_presence().set(space, Some(LocalPresence { object: Some("x".into()), ..Default::default() }));
    let mut connected = false;
    for _ in 0..100 {
        if na.is_connected(nc.peer_id()).await {
            connected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(connected, "Carol reached Ada");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(nc.live_presence().peers(&space).is_empty(), "Carol learns nothing of the space");
    assert!(na.live_presence().peers(&space).is_empty(), "Ada takes nothing from Carol");
    na.shutdown().await?;
    nc.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readers_presence_is_shown_and_their_edits_are_still_refused() -> TestResult<()> {
    common::logs();
    let a = TestProfile::new("Ada")?;
    let r = TestProfile::new("Rita")?;
    let (key, space) = a.create_space("Shared")?;
    space.add_task("milk")?;
    a.admit(&key, &r, dxos_halo::Role::Reader)?;
    let na = a.start(a.config(&[Transport::Tcp])).await?;
    let nr = r.start(r.config(&[Transport::Tcp])).await?;
    connect(&nr, &na).await?;
    let replica = r.echo.open_replica(key.public())?;
    assert!(wait_until(Duration::from_secs(20), || dxos_net::testing::titles(&replica) == ["milk"]).await.is_some());
    let rita = r.halo.identity().ok_or("no identity")?;
    let here = LocalPresence { object: Some("doc".into()), anchor: None, head: Some(vec![7]) };
    nr.live_presence().set(key.public(), Some(here.clone()));
    let heard = wait_until(Duration::from_secs(10), || {
        na.live_presence().peers(&key.public()).iter().any(|p| p.identity == rita.identity_key && p.state == here)
    })
    .await;
    assert!(heard.is_some(), "a reader's presence is shown");
    replica.add_task("from a reader")?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(dxos_net::testing::titles(&space), ["milk"], "a reader's edit is refused");
    na.shutdown().await?;
    nr.shutdown().await?;
    Ok(())
}
