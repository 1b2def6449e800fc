//! TLS, end to end with real member processes: HTTPS on the HTTP and S3
//! listeners (`[http] tls_cert`/`tls_key`) and the encrypted peer mesh
//! (`[cluster] peer_tls`), with a local CA the clients trust.

mod common;

use std::time::Duration;

use common::{have, pattern, AwsCli, Cluster, Opts};
use stripecast_actors::transport::handshake::{self, HandshakeConfig};
use stripecast_actors::transport::wire::FrameCodec;
use stripecast_actors::transport::{secure, PeerStream, PeerTlsConfig};
use stripecast_config::{MemberId, PeerTls};
use tokio_util::codec::Framed;

const ROOT_ID: &str = "ROOTTLSKEY";
const ROOT_SECRET: &str = "root-tls-secret-0123456789";
/// The harness's cluster secret (tests/common).
const CLUSTER_SECRET: &str = "0123456789abcdef-test-secret";

fn tls_cluster(n: usize) -> Cluster {
    Cluster::start_with(
        n,
        Opts {
            s3: true,
            tls: true,
            peer_tls: PeerTls::On,
            auth: Some((ROOT_ID.into(), ROOT_SECRET.into())),
            ..Opts::default()
        },
    )
}

fn bearer() -> String {
    format!("Bearer {ROOT_ID}:{ROOT_SECRET}")
}

#[test]
fn https_listeners_and_an_encrypted_mesh_serve_bytes_through_a_member_restart() {
    // The members found each other (start_with waits for every one up):
    // the mesh works inside TLS.
    let mut c = tls_cluster(3);
    assert!(c.url(0).starts_with("https://"));
    let data = pattern(3 * 1024 * 1024 + 5, 41);
    let put = c
        .agent
        .put(&format!("{}/v1/objects/tls/one", c.url(0)))
        .set("Authorization", &bearer())
        .send_bytes(&data)
        .expect("PUT over https");
    assert_eq!(put.status(), 201);
    let get = |c: &Cluster, i: usize| -> Vec<u8> {
        let r = c
            .agent
            .get(&format!("{}/v1/objects/tls/one", c.url(i)))
            .set("Authorization", &bearer())
            .call()
            .expect("GET over https");
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut body).unwrap();
        body
    };
    for i in 0..3 {
        assert_eq!(get(&c, i), data, "through member {i}");
    }

    // Plain HTTP to an HTTPS port gets no HTTP answer, and changes nothing.
    let plain = format!("http://{}/v1/objects/tls/one", c.configs[0].me().http);
    assert!(matches!(
        ureq::put(&plain)
            .timeout(Duration::from_secs(5))
            .set("Authorization", &bearer())
            .send_bytes(b"overwritten?"),
        Err(ureq::Error::Transport(_))
    ));
    assert_eq!(get(&c, 1), data);

    // A member killed and restarted rejoins over TLS and serves the bytes.
    c.kill(2);
    c.wait_down(&[2], Duration::from_secs(20));
    c.spawn(2);
    c.wait_all_up(Duration::from_secs(30));
    assert_eq!(get(&c, 2), data);

    // The S3 listener speaks HTTPS too: anonymous ListBuckets is an S3
    // AccessDenied over TLS; plain HTTP there gets no answer.
    let s3 = c.configs[1].me().s3.unwrap();
    match c.agent.get(&format!("https://{s3}/")).call() {
        Err(ureq::Error::Status(403, r)) => {
            let body = r.into_string().unwrap();
            assert!(body.contains("AccessDenied"), "{body}");
        }
        other => panic!("anonymous S3 over https: {other:?}"),
    }
    assert!(matches!(
        ureq::get(&format!("http://{s3}/"))
            .timeout(Duration::from_secs(5))
            .call(),
        Err(ureq::Error::Transport(_))
    ));
}

#[test]
fn the_peer_port_speaks_only_tls_and_proofs_are_bound_to_the_session() {
    let c = tls_cluster(2);
    let peer_addr = c.configs[1].me().peer;
    let members = [MemberId::new(0), MemberId::new(1)];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // The right secret over plain TCP: the member expects TLS first.
        let hs = HandshakeConfig::new(MemberId::new(0), "test", CLUSTER_SECRET, members);
        let tcp = tokio::net::TcpStream::connect(peer_addr).await.unwrap();
        let mut framed = Framed::new(PeerStream::from(tcp), FrameCodec::handshake());
        let plain = tokio::time::timeout(
            Duration::from_secs(10),
            handshake::dial(&mut framed, &hs, MemberId::new(1), &[]),
        )
        .await
        .expect("the member answers or closes");
        assert!(plain.is_err(), "a plain handshake is refused");

        // TLS with the right secret but proofs made for another session
        // (what a relay in the middle would forward): refused.
        let tls = PeerTlsConfig::generate().unwrap();
        let tcp = tokio::net::TcpStream::connect(peer_addr).await.unwrap();
        let stream = tls.connect(tcp).await.expect("the peer port speaks TLS");
        assert!(stream.is_tls());
        let mut wrong = secure::channel_binding(&stream);
        assert_eq!(wrong.len(), secure::BINDING_LEN);
        wrong[0] ^= 1;
        let mut framed = Framed::new(stream, FrameCodec::handshake());
        let relayed = tokio::time::timeout(
            Duration::from_secs(10),
            handshake::dial(&mut framed, &hs, MemberId::new(1), &wrong),
        )
        .await
        .expect("the member answers or closes");
        assert!(relayed.is_err(), "a proof for another session is refused");

        // TLS with a wrong secret: refused.
        let bad = HandshakeConfig::new(MemberId::new(0), "test", "not-the-secret-at-all", members);
        let tcp = tokio::net::TcpStream::connect(peer_addr).await.unwrap();
        let stream = tls.connect(tcp).await.unwrap();
        let binding = secure::channel_binding(&stream);
        let mut framed = Framed::new(stream, FrameCodec::handshake());
        let r = handshake::dial(&mut framed, &bad, MemberId::new(1), &binding).await;
        assert!(r.is_err());
    });
    // None of it took the real link down.
    c.wait_all_up(Duration::from_secs(10));
    let (status, _) = c.put(0, "after", b"still one cluster");
    assert_eq!(status, 401, "keys are needed; the cluster answers");
}

#[test]
fn aws_cli_over_https_with_the_clusters_ca() {
    if !have("aws", &["--version"]) {
        return;
    }
    let c = tls_cluster(3);
    let dir = c.dir.path();
    let endpoint = format!("https://{}", c.configs[2].me().s3.unwrap());
    let ca = c.ca.clone().expect("a local CA");
    let cli = AwsCli::new(dir, &endpoint, (ROOT_ID, ROOT_SECRET)).with_ca(&ca);
    let aws = |args: &[&str]| cli.run(args);
    aws(&["s3", "mb", "s3://secure"]);
    let big = pattern(9 * 1024 * 1024 + 3, 43);
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    aws(&[
        "s3",
        "cp",
        dir.join("big.bin").to_str().unwrap(),
        "s3://secure/big.bin",
    ]);
    assert!(aws(&["s3", "ls", "s3://secure/"]).contains("big.bin"));
    aws(&[
        "s3",
        "cp",
        "s3://secure/big.bin",
        dir.join("back.bin").to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(dir.join("back.bin")).unwrap(), big);
}
