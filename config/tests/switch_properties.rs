//! Property tests for the switch file: text round trip of any valid config,
//! and no panic (and a sane error position) on mangled or truncated files.

mod common;

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use stripecast_config::limits::MAX_TIMEOUT_MS;
use stripecast_config::{
    ConfigError, FeedConfig, MemberId, OutputTarget, RingDirection, SwitchConfig, SwitchTimeouts,
    SystemConfig,
};

fn any_text(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), len).prop_map(String::from_iter)
}

/// Socket addresses that survive Display -> FromStr unchanged.
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

fn timeouts() -> impl Strategy<Value = SwitchTimeouts> {
    (1..MAX_TIMEOUT_MS)
        .prop_flat_map(|interval| (Just(interval), interval + 1..=MAX_TIMEOUT_MS))
        .prop_map(|(i, t)| SwitchTimeouts {
            heartbeat_interval_ms: i,
            heartbeat_timeout_ms: t,
        })
}

fn direction() -> impl Strategy<Value = RingDirection> {
    prop_oneof![
        Just(RingDirection::Up),
        Just(RingDirection::Down),
        Just(RingDirection::Either)
    ]
}

/// Any valid switch configuration.
fn valid_config() -> impl Strategy<Value = SwitchConfig> {
    (2usize..=6)
        .prop_flat_map(|n| {
            (
                Just(n),
                prop::collection::hash_set(socket_addr(), 3 * n + 2),
                prop::collection::hash_set(any::<u32>(), n + 1),
                prop::collection::vec(any::<bool>(), n),
                prop::collection::vec(prop::option::of("[^/\\p{Cc}][^\\p{Cc}]{0,30}"), n),
                any_text(0..12),
            )
        })
        .prop_flat_map(|(n, addrs, members, to_file, cues, file_prefix)| {
            let addrs: Vec<SocketAddr> = addrs.into_iter().collect();
            let feeds: Vec<FeedConfig> = (0..n)
                .map(|g| FeedConfig {
                    input: addrs[2 + g],
                    output: if to_file[g] {
                        OutputTarget::File(PathBuf::from(format!("{file_prefix}{g}.ts")))
                    } else {
                        OutputTarget::Udp(addrs[2 + n + g])
                    },
                    cue_object: cues[g].clone(),
                })
                .collect();
            let systems: Vec<SystemConfig> = members
                .into_iter()
                .map(|member| SystemConfig {
                    member: MemberId::new(member),
                })
                .collect();
            (
                Just((addrs[0], addrs[1], feeds)),
                Just(systems).prop_shuffle(),
                direction(),
                any_text(1..20).prop_filter("blank name", |s| !s.trim().is_empty()),
                any_text(16..40),
                any_text(1..30),
                timeouts(),
            )
        })
        .prop_map(
            |((control, http, feeds), systems, direction, name, secret, dir, timeouts)| {
                SwitchConfig {
                    data_dir: PathBuf::from(dir),
                    control,
                    http,
                    direction,
                    cluster_name: name,
                    secret,
                    timeouts,
                    keep_finished_inserts: stripecast_config::DEFAULT_KEEP_FINISHED_INSERTS,
                    feeds,
                    systems,
                }
            },
        )
}

fn check_error_position(text: &str, result: Result<SwitchConfig, ConfigError>) {
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
        let back = SwitchConfig::parse(&text, Path::new("rt.toml"));
        prop_assert_eq!(back.as_ref().ok(), Some(&c), "text:\n{}\nresult: {:?}", text, back);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in any_text(0..200)) {
        let result = SwitchConfig::parse(&text, Path::new("fuzz.toml"));
        check_error_position(&text, result);
    }

    #[test]
    fn parse_never_panics_on_a_mangled_valid_file(
        line in 1usize..=30,
        replacement in r#"[a-z_.\[\]"'{}=, 0-9:/#-]{0,40}"#,
    ) {
        let text = common::switch::with(&[(line, &replacement)]);
        let result = SwitchConfig::parse(&text, Path::new("fuzz.toml"));
        check_error_position(&text, result);
    }

    #[test]
    fn parse_never_panics_on_truncated_files(cut in 0usize..common::switch::BASE.len()) {
        let text = &common::switch::BASE[..cut];
        let result = SwitchConfig::parse(text, Path::new("cut.toml"));
        check_error_position(text, result);
    }
}
