//! The transport over real TCP on 127.0.0.1: several members in one process.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Member 1, as a pattern.
const M1: MemberId = MemberId::new(1);
use futures::future::join_all;
use stripecast_actors::membership::MemberState;
use stripecast_actors::protocol::{ErrorKind, Request, Response};
use stripecast_actors::transport::handshake::{self, HandshakeConfig};
use stripecast_actors::transport::wire::FrameCodec;
use stripecast_actors::transport::{LinkFaults, TransportError, TransportLimits};
use stripecast_config::MemberId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

fn echo(tag: &str, n: usize) -> Vec<u8> {
    let mut p = tag.as_bytes().to_vec();
    p.extend((0..n).map(|i| i as u8));
    p
}

async fn round_trip(from: &Node, to: MemberId, payload: Vec<u8>) {
    let got = from
        .peers
        .request(
            to,
            Request::Echo {
                payload: payload.clone(),
            },
        )
        .await;
    assert_eq!(got, Ok(Response::Echo { payload }), "{} -> {to}", from.id);
}

#[actix_rt::test]
async fn full_mesh_one_connection_per_pair_and_requests_both_ways() {
    init_tracing();
    let t = fast_timeouts();
    let cfgs = configs(3, t.clone());
    let nodes = start_cluster(&cfgs).await;
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_mesh(&refs, Duration::from_secs(5)).await;

    // Requests in both directions of every pair, small and large.
    for a in &nodes {
        for b in &nodes {
            if a.id != b.id {
                assert_eq!(
                    a.peers.request(b.id, Request::Ping).await,
                    Ok(Response::Pong)
                );
                round_trip(a, b.id, echo(&format!("{}->{}", a.id, b.id), 100)).await;
            }
        }
    }
    round_trip(&nodes[2], MemberId::new(0), vec![0x5A; 4 << 20]).await;
    // A request to oneself is served locally; an unknown id is refused.
    assert_eq!(
        nodes[1]
            .peers
            .request(MemberId::new(1), Request::Ping)
            .await,
        Ok(Response::Pong)
    );
    assert_eq!(
        nodes[1]
            .peers
            .request(MemberId::new(7), Request::Ping)
            .await,
        Err(TransportError::UnknownPeer(MemberId::new(7)))
    );

    // No false "down" while heartbeats flow: 3 heartbeat timeouts of quiet.
    tokio::time::sleep(t.heartbeat_timeout() * 3).await;
    for n in &nodes {
        for p in 0..3 {
            assert_eq!(
                n.transitions(MemberId::new(p)),
                vec![MemberState::Up],
                "member {} sees {p}",
                n.id
            );
        }
        assert_eq!(lowest_live_with_majority(&n.view), Some(MemberId::new(0)));
    }

    // Exactly one connection per pair: member i accepted one from each lower
    // id and dialed each higher id, once, and nothing else.
    for n in &nodes {
        let s = n.peers.stats();
        assert_eq!(s.handshakes_accepted, u64::from(n.id.get()), "{s:?}");
        assert_eq!(s.handshakes_dialed, u64::from(2 - n.id.get()), "{s:?}");
        assert_eq!(s.tcp_accepted, u64::from(n.id.get()), "{s:?}");
        assert_eq!(s.handshake_failures + s.bad_frames, 0, "{s:?}");
    }
    for n in &nodes {
        n.sup.shutdown().await;
    }
}

#[actix_rt::test]
async fn a_wrong_secret_is_refused_and_the_good_peers_carry_on() {
    init_tracing();
    let mut cfgs = configs(3, fast_timeouts());
    cfgs[2].cluster.secret = "another secret, same length".into();
    let nodes = start_cluster(&cfgs).await;
    wait_mesh(&[&nodes[0], &nodes[1]], Duration::from_secs(5)).await;
    // Give the dialers time for several attempts against member 2.
    assert!(
        wait_for(Duration::from_secs(5), || nodes[2]
            .peers
            .stats()
            .handshake_failures
            >= 2)
        .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in &nodes[..2] {
        assert!(n.sees_down(MemberId::new(2)));
        assert!(n.peers.stats().handshake_failures >= 1);
        assert!(n.transitions(MemberId::new(2)).is_empty(), "never up");
        assert_eq!(
            n.peers.request(MemberId::new(2), Request::Ping).await,
            Err(TransportError::PeerDown(MemberId::new(2)))
        );
    }
    assert!(nodes[2].sees_down(MemberId::new(0)) && nodes[2].sees_down(MemberId::new(1)));
    assert_eq!(nodes[2].peers.stats().handshakes_accepted, 0);
    round_trip(&nodes[0], MemberId::new(1), echo("ok", 10)).await;
    round_trip(&nodes[1], MemberId::new(0), echo("ok", 10)).await;
    for n in &nodes {
        n.sup.shutdown().await;
    }
}

/// Reads until the server closes the connection; panics if it does not
/// within `limit`.
async fn expect_closed(mut s: TcpStream, limit: Duration, what: &str) {
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "{what}: connection still open after {limit:?}"
    );
}

#[actix_rt::test]
async fn garbage_on_the_peer_port_costs_only_that_connection() {
    init_tracing();
    let t = fast_timeouts();
    let cfgs = configs(3, t.clone());
    let nodes = start_cluster(&cfgs).await;
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_mesh(&refs, Duration::from_secs(5)).await;
    let target = cfgs[2].me().peer;
    let limit = t.connect_timeout() * 3;
    let failures_before = nodes[2].peers.stats().handshake_failures;

    // Random bytes.
    let mut s = TcpStream::connect(target).await.unwrap();
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let _ = s.write_all(&noise).await;
    expect_closed(s, limit, "random bytes").await;

    // An HTTP request.
    let mut s = TcpStream::connect(target).await.unwrap();
    s.write_all(b"GET /v1/cluster HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    expect_closed(s, limit, "http").await;

    // A plausible length, half a frame, then silence: closed by the handshake timeout.
    let mut s = TcpStream::connect(target).await.unwrap();
    s.write_all(&[0, 0, 0, 100, 1, 2, 3]).await.unwrap();
    expect_closed(s, limit, "half a frame").await;

    // Half a frame, then our own close.
    let mut s = TcpStream::connect(target).await.unwrap();
    s.write_all(&[0, 0, 0, 100, 1, 2, 3]).await.unwrap();
    drop(s);

    // A connection that says nothing.
    let s = TcpStream::connect(target).await.unwrap();
    expect_closed(s, limit, "silent").await;

    // A well-formed hello from a member that may not dial member 2's side
    // (id 2 claims to dial itself), and one from a stranger.
    for (me, members) in [(2u32, vec![0, 1, 2]), (9, vec![0, 1, 2, 9])] {
        let hs = HandshakeConfig::new(
            MemberId::new(me),
            "transport-test",
            SECRET,
            MemberId::from_numbers(members.iter().copied()),
        );
        let mut f = Framed::new(
            TcpStream::connect(target).await.unwrap(),
            FrameCodec::handshake(),
        );
        assert!(handshake::dial(&mut f, &hs, MemberId::new(2), &[])
            .await
            .is_err());
    }

    assert!(
        wait_for(Duration::from_secs(2), || {
            nodes[2].peers.stats().handshake_failures >= failures_before + 6
        })
        .await,
        "{:?}",
        nodes[2].peers.stats()
    );
    // Nothing else was touched: the links never went down and requests flow.
    for n in &nodes {
        for p in 0..3 {
            assert_eq!(n.transitions(MemberId::new(p)), vec![MemberState::Up]);
        }
    }
    round_trip(&nodes[0], MemberId::new(2), echo("after", 64)).await;
    round_trip(&nodes[2], MemberId::new(1), echo("after", 64)).await;
    for n in &nodes {
        n.sup.shutdown().await;
    }
}

#[actix_rt::test]
async fn a_stopped_member_is_down_at_once_pending_requests_fail_and_it_comes_back() {
    init_tracing();
    let mut t = fast_timeouts();
    t.request_timeout_ms = 30_000;
    let cfgs = configs(3, t.clone());
    let n0 = Node::start(&cfgs[0]).await;
    let n1 = Node::start(&cfgs[1]).await;
    let n2 = Node::start_with(
        &cfgs[2],
        TestHandler::with_delay(20_000),
        TransportLimits::default(),
    )
    .await;
    wait_mesh(&[&n0, &n1, &n2], Duration::from_secs(5)).await;

    // A request member 2 will never answer in time.
    let peers = n0.peers.clone();
    let pending = actix_rt::spawn(async move {
        let start = Instant::now();
        (
            peers.request(MemberId::new(2), Request::Ping).await,
            start.elapsed(),
        )
    });
    tokio::time::sleep(Duration::from_millis(100)).await;

    let stopped = Instant::now();
    n2.sup.shutdown().await;
    assert!(
        wait_for(t.heartbeat_timeout() * 3, || n0.sees_down(MemberId::new(2))
            && n1.sees_down(MemberId::new(2)))
        .await
    );
    // A closed connection is a failure at once, not after the heartbeat timeout.
    assert!(
        stopped.elapsed() < t.heartbeat_timeout(),
        "took {:?}",
        stopped.elapsed()
    );
    let (result, took) = pending.await.unwrap();
    assert_eq!(result, Err(TransportError::PeerDown(MemberId::new(2))));
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(lowest_live_with_majority(&n0.view), Some(MemberId::new(0)));

    // Member 2 comes back on the same port: the dialers (0 and 1) reconnect.
    let n2 = Node::start(&cfgs[2]).await;
    wait_mesh(&[&n0, &n1, &n2], Duration::from_secs(5)).await;
    round_trip(&n0, MemberId::new(2), echo("back", 10)).await;
    round_trip(&n2, MemberId::new(1), echo("back", 10)).await;
    for n in [&n0, &n1] {
        assert_eq!(
            n.transitions(MemberId::new(2)),
            vec![MemberState::Up, MemberState::Down, MemberState::Up]
        );
        assert!(
            n.down_reasons(MemberId::new(2))
                .iter()
                .any(|r| r.contains("link stopped")),
            "{:?}",
            n.down_reasons(MemberId::new(2))
        );
    }

    // The same for member 0, which dials: it redials everybody when it returns.
    n0.sup.shutdown().await;
    assert!(
        wait_for(t.heartbeat_timeout(), || n1.sees_down(MemberId::new(0))
            && n2.sees_down(MemberId::new(0)))
        .await
    );
    assert_eq!(lowest_live_with_majority(&n1.view), Some(MemberId::new(1)));
    let n0 = Node::start(&cfgs[0]).await;
    wait_mesh(&[&n0, &n1, &n2], Duration::from_secs(5)).await;
    assert_eq!(lowest_live_with_majority(&n1.view), Some(MemberId::new(0)));
    round_trip(&n1, MemberId::new(0), echo("again", 10)).await;
    for n in [&n0, &n1, &n2] {
        n.sup.shutdown().await;
    }
}

#[actix_rt::test]
async fn a_silent_peer_is_down_within_the_heartbeat_timeout() {
    init_tracing();
    let mut t = fast_timeouts();
    t.request_timeout_ms = 30_000;
    let cfgs = configs(3, t.clone());
    // Members 1 and 2 are real; "member 0" is a raw client that completes the
    // handshake with member 1 and then neither sends nor reads anything.
    let n1 = Node::start(&cfgs[1]).await;
    let n2 = Node::start(&cfgs[2]).await;
    wait_mesh(&[&n1, &n2], Duration::from_secs(5)).await;
    let hs = HandshakeConfig::from_config(&cfgs[0]);
    let mut fake = Framed::new(
        TcpStream::connect(cfgs[1].me().peer).await.unwrap(),
        FrameCodec::handshake(),
    );
    handshake::dial(&mut fake, &hs, MemberId::new(1), &[])
        .await
        .unwrap();
    assert!(wait_for(Duration::from_secs(2), || n1.sees_up(MemberId::new(0))).await);
    let up_at = Instant::now();

    let peers = n1.peers.clone();
    let pending =
        actix_rt::spawn(async move { peers.request(MemberId::new(0), Request::Ping).await });

    assert!(wait_for(t.heartbeat_timeout() * 3, || n1.sees_down(MemberId::new(0))).await);
    let took = up_at.elapsed();
    assert!(
        took >= t.heartbeat_timeout() / 2,
        "down too early: {took:?}"
    );
    assert_eq!(
        pending.await.unwrap(),
        Err(TransportError::PeerDown(MemberId::new(0)))
    );
    assert!(n1
        .down_reasons(MemberId::new(0))
        .iter()
        .any(|r| r.contains("heartbeat timeout")));
    // Member 2 was never affected.
    assert_eq!(n1.transitions(MemberId::new(2)), vec![MemberState::Up]);
    drop(fake);
    n1.sup.shutdown().await;
    n2.sup.shutdown().await;
}

#[actix_rt::test]
async fn backpressure_beyond_the_window_and_queue_is_busy_and_nothing_is_mismatched() {
    init_tracing();
    let cfgs = configs(3, fast_timeouts());
    let limits = TransportLimits {
        max_in_flight: 4,
        max_queued: 4,
        ..TransportLimits::default()
    };
    let n0 = Node::start_with(&cfgs[0], TestHandler::new(), limits).await;
    let slow = TestHandler::with_delay(250);
    let n1 = Node::start_with(&cfgs[1], slow.clone(), limits).await;
    wait_mesh(&[&n0, &n1], Duration::from_secs(5)).await;

    let start = Instant::now();
    let calls = (0..20).map(|i| {
        let peers = n0.peers.clone();
        async move {
            let payload = echo(&format!("req-{i}"), i);
            (
                payload.clone(),
                peers
                    .request(MemberId::new(1), Request::Echo { payload })
                    .await,
            )
        }
    });
    let results = join_all(calls).await;
    let mut ok = 0;
    let mut busy = 0;
    for (payload, r) in results {
        match r {
            Ok(Response::Echo { payload: got }) => {
                assert_eq!(got, payload, "response matched to the wrong request");
                ok += 1;
            }
            Err(TransportError::Busy(M1)) => busy += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    // 4 in flight + 4 queued are admitted; the other 12 are refused at once.
    assert_eq!((ok, busy), (8, 12));
    assert_eq!(slow.max_active.load(std::sync::atomic::Ordering::SeqCst), 4);
    // Two waves of 4 behind a 250 ms handler.
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    // The window is free again afterwards.
    round_trip(&n0, MemberId::new(1), echo("after", 3)).await;
    n0.sup.shutdown().await;
    n1.sup.shutdown().await;
}

#[actix_rt::test]
async fn a_partition_takes_the_link_down_and_healing_brings_it_back() {
    init_tracing();
    let t = fast_timeouts();
    let cfgs = configs(3, t.clone());
    let nodes = start_cluster(&cfgs).await;
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_mesh(&refs, Duration::from_secs(5)).await;

    let cut = Instant::now();
    nodes[0].peers.faults().partition(MemberId::new(1), true);
    assert!(
        wait_for(t.heartbeat_timeout() * 3, || nodes[0]
            .sees_down(MemberId::new(1))
            && nodes[1].sees_down(MemberId::new(0)))
        .await
    );
    assert!(
        cut.elapsed() >= t.heartbeat_timeout() / 2,
        "{:?}",
        cut.elapsed()
    );
    assert_eq!(
        nodes[0]
            .peers
            .request(MemberId::new(1), Request::Ping)
            .await,
        Err(TransportError::PeerDown(MemberId::new(1)))
    );
    // The third member still sees both, and both still reach it.
    assert!(nodes[2].sees_up(MemberId::new(0)) && nodes[2].sees_up(MemberId::new(1)));
    round_trip(&nodes[0], MemberId::new(2), echo("via 2", 5)).await;
    round_trip(&nodes[1], MemberId::new(2), echo("via 2", 5)).await;
    // It stays down while partitioned (no flapping through redials).
    tokio::time::sleep(t.heartbeat_timeout() * 2).await;
    assert_eq!(
        nodes[0].transitions(MemberId::new(1)),
        vec![MemberState::Up, MemberState::Down]
    );

    nodes[0].peers.faults().partition(MemberId::new(1), false);
    wait_mesh(&refs, Duration::from_secs(3)).await;
    round_trip(&nodes[0], MemberId::new(1), echo("healed", 5)).await;
    round_trip(&nodes[1], MemberId::new(0), echo("healed", 5)).await;
    for n in &nodes {
        n.sup.shutdown().await;
    }
}

#[actix_rt::test]
async fn a_corrupt_frame_costs_the_connection_and_the_dialer_reconnects() {
    init_tracing();
    let cfgs = configs(3, fast_timeouts());
    let nodes = start_cluster(&cfgs).await;
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_mesh(&refs, Duration::from_secs(5)).await;

    nodes[0].peers.faults().set(
        MemberId::new(1),
        LinkFaults {
            corrupt: 1.0,
            ..LinkFaults::default()
        },
    );
    assert!(
        wait_for(Duration::from_secs(2), || nodes[1].peers.stats().bad_frames
            >= 1)
        .await
    );
    assert!(
        wait_for(Duration::from_secs(2), || nodes[1]
            .transitions(MemberId::new(0))
            .len()
            >= 2)
        .await
    );
    assert!(
        nodes[1]
            .down_reasons(MemberId::new(0))
            .iter()
            .any(|r| r.contains("checksum")),
        "{:?}",
        nodes[1].down_reasons(MemberId::new(0))
    );
    nodes[0].peers.faults().clear(MemberId::new(1));
    wait_mesh(&refs, Duration::from_secs(3)).await;
    round_trip(&nodes[0], MemberId::new(1), echo("clean", 50)).await;
    // Member 2's links were not touched.
    assert_eq!(
        nodes[2].transitions(MemberId::new(0)),
        vec![MemberState::Up]
    );
    for n in &nodes {
        n.sup.shutdown().await;
    }
}

#[actix_rt::test]
async fn an_injected_delay_shows_in_the_round_trip_time() {
    init_tracing();
    let cfgs = configs(2, fast_timeouts());
    let nodes = start_cluster(&cfgs).await;
    wait_mesh(&[&nodes[0], &nodes[1]], Duration::from_secs(5)).await;
    nodes[0]
        .peers
        .faults()
        .update(MemberId::new(1), |f| f.delay_ms = 120);
    nodes[1]
        .peers
        .faults()
        .update(MemberId::new(0), |f| f.delay_ms = 60);
    for _ in 0..3 {
        let start = Instant::now();
        assert_eq!(
            nodes[0]
                .peers
                .request(MemberId::new(1), Request::Ping)
                .await,
            Ok(Response::Pong)
        );
        assert!(
            start.elapsed() >= Duration::from_millis(180),
            "{:?}",
            start.elapsed()
        );
    }
    // Delayed heartbeats still arrive in time: the link stays up.
    assert_eq!(
        nodes[0].transitions(MemberId::new(1)),
        vec![MemberState::Up]
    );
    for n in &nodes {
        n.sup.shutdown().await;
    }
}

#[actix_rt::test]
async fn duplicated_reordered_and_dropped_frames_never_mismatch_responses() {
    init_tracing();
    let mut t = fast_timeouts();
    t.request_timeout_ms = 800;
    // Dropped heartbeats should rarely add up to a failure here.
    t.heartbeat_timeout_ms = 600;
    let cfgs = configs(2, t);
    let nodes = start_cluster(&cfgs).await;
    wait_mesh(&[&nodes[0], &nodes[1]], Duration::from_secs(5)).await;

    let burst = |tag: &'static str| {
        let peers = nodes[0].peers.clone();
        join_all((0..40).map(move |i| {
            let peers = peers.clone();
            async move {
                let payload = echo(&format!("{tag}-{i}"), i);
                (
                    payload.clone(),
                    peers
                        .request(MemberId::new(1), Request::Echo { payload })
                        .await,
                )
            }
        }))
    };

    // Duplicates and swaps both ways: every request gets its own answer.
    for (a, b) in [(0usize, 1u32), (1, 0)] {
        nodes[a].peers.faults().set(
            MemberId::new(b),
            LinkFaults {
                duplicate: 0.5,
                reorder: true,
                ..LinkFaults::default()
            },
        );
    }
    for (payload, r) in burst("dup").await {
        assert_eq!(r, Ok(Response::Echo { payload }));
    }

    // Dropped responses time out; whatever arrives is the right answer.
    nodes[0].peers.faults().clear_all();
    nodes[1].peers.faults().set(
        MemberId::new(0),
        LinkFaults {
            drop: 0.3,
            ..LinkFaults::default()
        },
    );
    let (mut ok, mut lost) = (0, 0);
    for (payload, r) in burst("drop").await {
        match r {
            Ok(resp) => {
                assert_eq!(resp, Response::Echo { payload });
                ok += 1;
            }
            // A lost response times out; if enough heartbeats are lost in a
            // row the link itself goes down, which fails what is pending.
            Err(TransportError::Timeout(M1) | TransportError::PeerDown(M1)) => lost += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(ok > 0 && lost > 0, "ok {ok} lost {lost}");
    for n in &nodes {
        n.sup.shutdown().await;
    }
}

#[actix_rt::test]
async fn restarted_links_and_membership_reattach() {
    init_tracing();
    let t = fast_timeouts();
    let cfgs = configs(3, t.clone());
    let nodes = start_cluster(&cfgs).await;
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_mesh(&refs, Duration::from_secs(5)).await;

    // Kill member 1's link to 0 (member 1 accepts it) and to 2 (member 1 dials it).
    for peer in [0, 2] {
        let pid = nodes[1].peers.link_pid(MemberId::new(peer)).unwrap();
        pid.kill();
        pid.wait_exit().await;
        assert!(
            wait_for(Duration::from_secs(1), || nodes[1]
                .peers
                .link_pid(MemberId::new(peer))
                != Some(pid.clone()))
            .await
        );
        wait_mesh(&refs, Duration::from_secs(3)).await;
        round_trip(&nodes[1], MemberId::new(peer), echo("relinked", 8)).await;
        round_trip(&nodes[peer as usize], MemberId::new(1), echo("relinked", 8)).await;
    }

    // Kill member 0's membership actor; the restarted one keeps the view and
    // the subscribers and still learns every change.
    let pid = nodes[0].membership.pid().unwrap();
    pid.kill();
    pid.wait_exit().await;
    let epoch = nodes[0].view.epoch();
    nodes[2].sup.shutdown().await;
    assert!(
        wait_for(t.heartbeat_timeout() * 3, || nodes[0]
            .sees_down(MemberId::new(2)))
        .await
    );
    assert!(
        wait_for(Duration::from_secs(1), || nodes[0]
            .transitions(MemberId::new(2))
            .last()
            == Some(&MemberState::Down))
        .await
    );
    assert!(nodes[0].view.epoch() > epoch);
    assert_eq!(nodes[0].view.live(), MemberId::from_numbers([0, 1]));
    assert_eq!(
        lowest_live_with_majority(&nodes[0].view),
        Some(MemberId::new(0))
    );
    nodes[0].sup.shutdown().await;
    nodes[1].sup.shutdown().await;
}

#[actix_rt::test]
async fn the_controller_needs_a_live_majority() {
    init_tracing();
    let t = fast_timeouts();
    let cfgs = configs(3, t.clone());
    let nodes = start_cluster(&cfgs).await;
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_mesh(&refs, Duration::from_secs(5)).await;
    assert!(nodes
        .iter()
        .all(|n| lowest_live_with_majority(&n.view) == Some(MemberId::new(0))));

    nodes[0].sup.shutdown().await;
    assert!(
        wait_for(t.heartbeat_timeout() * 3, || nodes[1]
            .sees_down(MemberId::new(0))
            && nodes[2].sees_down(MemberId::new(0)))
        .await
    );
    assert_eq!(
        lowest_live_with_majority(&nodes[1].view),
        Some(MemberId::new(1))
    );
    assert_eq!(
        lowest_live_with_majority(&nodes[2].view),
        Some(MemberId::new(1))
    );

    // Split the remaining two: each is alone, a minority, with no controller.
    nodes[1].peers.faults().partition(MemberId::new(2), true);
    assert!(
        wait_for(t.heartbeat_timeout() * 3, || nodes[1]
            .sees_down(MemberId::new(2))
            && nodes[2].sees_down(MemberId::new(1)))
        .await
    );
    assert_eq!(lowest_live_with_majority(&nodes[1].view), None);
    assert_eq!(lowest_live_with_majority(&nodes[2].view), None);
    // Subscribers saw each step.
    let last = nodes[2].changes.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.live(), MemberId::from_numbers([2]));

    nodes[1].peers.faults().partition(MemberId::new(2), false);
    assert!(
        wait_for(Duration::from_secs(3), || nodes[1]
            .sees_up(MemberId::new(2))
            && nodes[2].sees_up(MemberId::new(1)))
        .await
    );
    assert_eq!(
        lowest_live_with_majority(&nodes[2].view),
        Some(MemberId::new(1))
    );
    nodes[1].sup.shutdown().await;
    nodes[2].sup.shutdown().await;
}

#[actix_rt::test]
async fn raft_messages_pass_a_full_request_window() {
    init_tracing();
    let cfgs = configs(2, fast_timeouts());
    let limits = TransportLimits {
        max_in_flight: 4,
        max_queued: 4,
        max_inbound: 4,
        ..TransportLimits::default()
    };
    let n0 = Node::start_with(&cfgs[0], TestHandler::new(), limits).await;
    let slow = TestHandler::with_delay(400);
    let n1 = Node::start_with(&cfgs[1], slow.clone(), limits).await;
    wait_mesh(&[&n0, &n1], Duration::from_secs(5)).await;
    // Fill the sender's window and queue, and every inbound slot of the
    // receiver, with slow data requests.
    let data: Vec<_> = (0..8)
        .map(|i| {
            let peers = n0.peers.clone();
            actix_rt::spawn(async move {
                peers
                    .request(
                        MemberId::new(1),
                        Request::Echo {
                            payload: echo("d", i),
                        },
                    )
                    .await
            })
        })
        .collect();
    while slow.active.load(std::sync::atomic::Ordering::SeqCst) < 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        n0.peers.request(MemberId::new(1), Request::Ping).await,
        Err(TransportError::Busy(MemberId::new(1))),
        "the data window is full"
    );
    // A Raft message still goes through, ahead of every data request.
    let got = n0
        .peers
        .request(MemberId::new(1), Request::Raft { msg: vec![1, 2, 3] })
        .await;
    assert_eq!(got, Ok(Response::Done));
    assert_eq!(
        slow.served.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the Raft message waited for a data request"
    );
    assert_eq!(
        slow.control_served
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    for d in data {
        let r = d.await.unwrap();
        assert!(matches!(r, Ok(Response::Echo { .. })), "{r:?}");
    }
    n0.sup.shutdown().await;
    n1.sup.shutdown().await;
}

#[actix_rt::test]
async fn inbound_requests_beyond_the_limit_are_refused_not_queued() {
    init_tracing();
    let cfgs = configs(2, fast_timeouts());
    let n0 = Node::start(&cfgs[0]).await;
    let slow = TestHandler::with_delay(200);
    let n1 = Node::start_with(
        &cfgs[1],
        slow.clone(),
        TransportLimits {
            max_inbound: 2,
            ..TransportLimits::default()
        },
    )
    .await;
    wait_mesh(&[&n0, &n1], Duration::from_secs(5)).await;
    let results = futures::future::join_all(
        (0..6).map(|_| n0.peers.request(MemberId::new(1), Request::Ping)),
    )
    .await;
    let pongs = results.iter().filter(|r| **r == Ok(Response::Pong)).count();
    let refused = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Ok(Response::Error {
                    kind: ErrorKind::Unavailable,
                    ..
                })
            )
        })
        .count();
    assert_eq!((pongs, refused), (2, 4), "{results:?}");
    assert_eq!(slow.max_active.load(std::sync::atomic::Ordering::SeqCst), 2);
    n0.sup.shutdown().await;
    n1.sup.shutdown().await;
}

/// The closest to SIGKILL in one process: the member's whole actix system
/// (its own thread and runtime) stops, no actor gets to shut down in order.
#[actix_rt::test]
async fn a_member_whose_runtime_dies_is_down_at_once() {
    init_tracing();
    let t = fast_timeouts();
    let cfgs = configs(3, t.clone());
    let n0 = Node::start(&cfgs[0]).await;
    let n1 = Node::start(&cfgs[1]).await;
    let cfg2 = cfgs[2].clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let sys = actix::System::new();
        let node = sys.block_on(async move {
            let node = Node::start(&cfg2).await;
            tx.send(actix::System::current()).unwrap();
            node
        });
        sys.run().unwrap();
        drop(node);
        // `sys` (and with it the runtime, its tasks and sockets) drops here.
    });
    let system2 = rx.recv().unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || {
            n0.sees_up(MemberId::new(1))
                && n0.sees_up(MemberId::new(2))
                && n1.sees_up(MemberId::new(0))
                && n1.sees_up(MemberId::new(2))
        })
        .await
    );
    let killed = Instant::now();
    system2.stop();
    thread.join().unwrap();
    assert!(
        wait_for(t.heartbeat_timeout() * 3, || n0.sees_down(MemberId::new(2))
            && n1.sees_down(MemberId::new(2)))
        .await
    );
    assert!(
        killed.elapsed() < t.heartbeat_timeout(),
        "took {:?}",
        killed.elapsed()
    );
    assert!(n0.sees_up(MemberId::new(1)) && n1.sees_up(MemberId::new(0)));
    round_trip(&n0, MemberId::new(1), echo("still", 4)).await;
    n0.sup.shutdown().await;
    n1.sup.shutdown().await;
}

/// The lowest live member if the live members are a strict majority: the
/// view facts these tests check (who leads is the metadata group's business).
fn lowest_live_with_majority(
    view: &stripecast_actors::membership::MembershipView,
) -> Option<MemberId> {
    let snap = view.snapshot();
    if snap.has_majority() {
        snap.live().first().copied()
    } else {
        None
    }
}

/// Opens connections to `target` without a word, as fast as it can, holding
/// the newest `hold` open, until `stop` is set; returns how many it opened.
fn flood(
    target: std::net::SocketAddr,
    hold: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut open = std::collections::VecDeque::new();
        let mut opened = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(s) = std::net::TcpStream::connect(target) {
                opened += 1;
                open.push_back(s);
                if open.len() > hold {
                    open.pop_front();
                }
            }
        }
        opened
    })
}

/// Strangers flooding a member's peer port with idle connections cannot keep
/// its peers out: a link cut during the flood comes back while the flood
/// goes on, because the oldest silent handshake gives way to each newcomer
/// and a peer's handshake talks at once.
#[actix_rt::test]
async fn a_flood_of_idle_connections_does_not_keep_peers_apart() {
    init_tracing();
    let t = fast_timeouts();
    let cfgs = configs(3, t.clone());
    let nodes = start_cluster(&cfgs).await;
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_mesh(&refs, Duration::from_secs(5)).await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooder = flood(cfgs[2].me().peer, 2_000, stop.clone());
    // The flood fills every handshake slot of member 2 before the cut.
    let flooded_from = nodes[2].peers.stats().tcp_accepted;
    assert!(
        wait_for(Duration::from_secs(10), || nodes[2]
            .peers
            .stats()
            .tcp_accepted
            >= flooded_from + 500)
        .await,
        "{:?}",
        nodes[2].peers.stats()
    );
    let accepted_before = nodes[2].peers.stats().handshakes_accepted;
    nodes[0].peers.faults().partition(MemberId::new(2), true);
    assert!(
        wait_for(t.heartbeat_timeout() * 5, || nodes[0]
            .sees_down(MemberId::new(2)))
        .await
    );
    nodes[0].peers.faults().partition(MemberId::new(2), false);
    // Member 0 dials member 2 again, through the flood.
    let back = wait_for(Duration::from_secs(15), || {
        nodes[0].sees_up(MemberId::new(2)) && nodes[2].sees_up(MemberId::new(0))
    })
    .await;
    let flooding = !stop.load(std::sync::atomic::Ordering::Relaxed);
    let stats = nodes[2].peers.stats();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let opened = flooder.join().unwrap();
    assert!(back && flooding, "peer kept out by the flood: {stats:?}");
    assert!(stats.handshakes_accepted > accepted_before, "{stats:?}");
    assert!(
        stats.handshakes_evicted > 0,
        "the port was crowded: {stats:?}"
    );
    assert!(opened >= 500, "the flood opened {opened} connections");
    // Three members and the flood share this test's one thread, so a
    // heartbeat may be late while the flood's sockets close: requests flow
    // again once it settles.
    let mut answered = false;
    for _ in 0..50 {
        let got = nodes[0]
            .peers
            .request(MemberId::new(2), Request::Ping)
            .await;
        if got == Ok(Response::Pong) {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "no answer from member 2 after the flood");
    for n in &nodes {
        n.sup.shutdown().await;
    }
}
