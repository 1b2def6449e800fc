//! Property tests: text round trip of any valid config, and no panic (and a
//! sane error position) on any input.

mod common;

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use stripecast_config::limits::{MAX_READER_CACHE_FILES, MAX_TIMEOUT_MS};
use stripecast_config::{
    ClusterConfig, HttpSettings, MemberConfig, MemberEntry, MemberId, RingLink, StoreSettings,
    Timeouts, WitnessEntry,
};

/// Any string of arbitrary chars (control characters, quotes, newlines and
/// astral-plane characters included), with a length in `len`.
fn any_text(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), len).prop_map(String::from_iter)
}

/// Socket addresses that survive Display -> FromStr unchanged: IPv6 flow info
/// and scope id are not part of the textual form, so they stay zero.
fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    let v4 = (any::<[u8; 4]>(), 1..=u16::MAX).prop_map(|(ip, port)| SocketAddr::from((ip, port)));
    let v6 = (any::<[u16; 8]>(), 1..=u16::MAX).prop_map(|(s, port)| {
        let ip = Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
        SocketAddr::V6(SocketAddrV6::new(ip, port, 0, 0))
    });
    prop_oneof![
        v4,
        v6,
        (1..=u16::MAX).prop_map(|p| SocketAddr::new(IpAddr::from([127, 0, 0, 1]), p))
    ]
}

fn timeouts() -> impl Strategy<Value = Timeouts> {
    let ms = || 1..=MAX_TIMEOUT_MS;
    (1..MAX_TIMEOUT_MS, ms(), ms(), ms(), ms())
        .prop_flat_map(|(interval, connect, request, backoff_initial, _)| {
            (
                Just(interval),
                interval + 1..=MAX_TIMEOUT_MS,
                Just(connect),
                Just(request),
                Just(backoff_initial),
                backoff_initial..=MAX_TIMEOUT_MS,
            )
        })
        .prop_map(|(hi, ht, c, r, bi, bm)| Timeouts {
            heartbeat_interval_ms: hi,
            heartbeat_timeout_ms: ht,
            connect_timeout_ms: c,
            request_timeout_ms: r,
            reconnect_backoff_initial_ms: bi,
            reconnect_backoff_max_ms: bm,
            body_progress_timeout_ms: r,
        })
}

/// No `[ring]` table, or one with two distinct switch addresses.
fn ring_link() -> impl Strategy<Value = Option<RingLink>> {
    prop::option::of(
        (socket_addr(), socket_addr())
            .prop_filter("distinct switch addresses", |(a, b)| a != b)
            .prop_map(|(switch, switch_http)| RingLink {
                switch,
                switch_http,
            }),
    )
}

/// Whether the members (two addresses each, plus the witness's) are even in number.
fn members_even(addrs: &[SocketAddr]) -> bool {
    (addrs.len() / 2) % 2 == 0
}

/// Any valid member configuration.
fn valid_config() -> impl Strategy<Value = MemberConfig> {
    (2usize..=12)
        .prop_flat_map(|n| {
            let ids: Vec<u32> = (0..n as u32).collect();
            let parity = if n == 2 {
                Just(1u8).boxed()
            } else {
                (0..n as u8).boxed()
            };
            (
                Just(ids).prop_shuffle(),
                prop::collection::hash_set(socket_addr(), 2 * n + 1),
                0..n as u32,
                parity,
            )
        })
        .prop_flat_map(|(ids, addrs, me, parity)| {
            let addrs: Vec<SocketAddr> = addrs.into_iter().collect();
            let members: Vec<MemberEntry> = ids
                .iter()
                .enumerate()
                .map(|(i, &id)| MemberEntry {
                    id: MemberId::new(id),
                    peer: addrs[2 * i],
                    http: addrs[2 * i + 1],
                    s3: None,
                })
                .collect();
            (
                Just(members),
                Just(me),
                Just(parity),
                any_text(1..20).prop_filter("blank name", |s| !s.trim().is_empty()),
                any_text(16..40),
                any_text(1..30),
                12u32..=24,
                timeouts(),
                ring_link(),
                // A witness only beside an even member count; its id from N up.
                if members_even(&addrs) {
                    prop::option::of(0u32..3).boxed()
                } else {
                    Just(None).boxed()
                },
                Just(addrs[addrs.len() - 1]),
            )
        })
        .prop_map(
            |(
                members,
                id,
                parity,
                name,
                secret,
                dir,
                stripe_log2,
                timeouts,
                ring,
                witness,
                peer,
            )| MemberConfig {
                witness: witness.map(|k| WitnessEntry {
                    id: MemberId::new(members.len() as u32 + k),
                    peer,
                }),
                id: MemberId::new(id),
                data_dir: PathBuf::from(dir),
                cluster: ClusterConfig {
                    name,
                    secret,
                    stripe_size: 1 << stripe_log2,
                    parity,
                    peer_tls: match stripe_log2 % 3 {
                        0 => stripecast_config::PeerTls::Auto,
                        1 => stripecast_config::PeerTls::On,
                        _ => stripecast_config::PeerTls::Off,
                    },
                },
                timeouts,
                store: StoreSettings {
                    reader_cache_files: 1 + (stripe_log2 * 997) % MAX_READER_CACHE_FILES,
                    heal_objects_in_flight: 1 + stripe_log2 % 64,
                    heal_max_mb_per_s: stripe_log2 * 13,
                    multipart_expiry_s: 1 + u64::from(stripe_log2) * 3_600,
                },
                http: HttpSettings {
                    allowed_hosts: match stripe_log2 % 3 {
                        0 => Vec::new(),
                        1 => vec!["localhost".into()],
                        _ => vec!["storage.example".into(), "127.0.0.1".into(), "::1".into()],
                    },
                    s3_domains: match stripe_log2 % 2 {
                        0 => Vec::new(),
                        _ => vec!["s3.storage.example".into()],
                    },
                    tls_cert: (stripe_log2 % 2 == 1).then(|| PathBuf::from("tls/cert \"1\".pem")),
                    tls_key: (stripe_log2 % 2 == 1).then(|| PathBuf::from("tls/key.pem")),
                    read_token: (stripe_log2 % 3 == 1).then(|| {
                        stripecast_config::Token(format!("scrape-\"token\"-{stripe_log2:0>8}"))
                    }),
                },
                members,
                ring,
                // Random addresses are seldom loopback: serving them needs a credential.
                auth: Some(stripecast_config::AuthSettings {
                    access_key_id: format!("ROOT{stripe_log2}"),
                    secret_access_key: format!("{:0>16}-secret", stripe_log2),
                }),
            },
        )
}

/// Checks the promises every error makes about its position.
fn check_error_position(text: &str, result: Result<MemberConfig, stripecast_config::ConfigError>) {
    if let Err(e) = result {
        let lines = text.split('\n').count();
        if let Some(line) = e.line() {
            assert!(line >= 1 && line <= lines, "line {line} of {lines}: {e}");
            assert!(e.column().is_some_and(|c| c >= 1), "{e}");
        }
        assert!(!e.message().is_empty());
        let _ = e.to_string();
    }
}

proptest! {
    #[test]
    fn text_round_trip(c in valid_config()) {
        c.validate().unwrap();
        let text = c.to_toml_string();
        let back = MemberConfig::parse(&text, Path::new("rt.toml"));
        prop_assert_eq!(back.as_ref().ok(), Some(&c), "text:\n{}\nresult: {:?}", text, back);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in any_text(0..200)) {
        let result = MemberConfig::parse(&text, Path::new("fuzz.toml"));
        check_error_position(&text, result);
    }

    #[test]
    fn parse_never_panics_on_a_mangled_valid_file(
        line in 1usize..=31,
        replacement in r#"[a-z_.\[\]"'{}=, 0-9:#-]{0,40}"#,
    ) {
        let text = common::with(&[(line, &replacement)]);
        let result = MemberConfig::parse(&text, Path::new("fuzz.toml"));
        check_error_position(&text, result);
    }

    #[test]
    fn parse_never_panics_on_truncated_files(cut in 0usize..common::BASE.len()) {
        let text = &common::BASE[..cut];
        let result = MemberConfig::parse(text, Path::new("cut.toml"));
        check_error_position(text, result);
    }
}
