//! The switch file: parsing, every validation rule, rendering, files.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;

use common::switch::{assert_error, parse, with, BASE};
use stripecast_config::limits::MAX_RING_FEEDS;
use stripecast_config::{
    ErrorKind, MemberId, OutputTarget, RingDirection, SwitchConfig, SwitchTimeouts,
};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn base_parses() {
    let c = parse(BASE).unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/tmp/ring/switch"));
    assert_eq!(c.control, addr("127.0.0.1:8600"));
    assert_eq!(c.http, addr("127.0.0.1:8601"));
    assert_eq!(c.direction, RingDirection::Either);
    assert_eq!(c.cluster_name, "demo");
    assert_eq!(c.feed_count(), 2);
    assert_eq!(c.feeds[0].input, addr("127.0.0.1:9000"));
    assert_eq!(c.feeds[0].output, OutputTarget::Udp(addr("127.0.0.1:9100")));
    assert_eq!(c.feeds[0].cue_object.as_deref(), Some("ad-cue"));
    assert_eq!(
        c.feeds[1].output,
        OutputTarget::File(PathBuf::from("/tmp/out1.ts"))
    );
    assert_eq!(c.feeds[1].cue_object, None);
    assert_eq!(c.members(), [0, 1, 2].map(MemberId::new));
}

#[test]
fn optional_keys_take_defaults() {
    let text = with(&[(4, ""), (10, ""), (11, ""), (12, "")]);
    let c = parse(&text).unwrap();
    assert_eq!(c.direction, RingDirection::Either);
    assert_eq!(c.timeouts, SwitchTimeouts::default());
    let c = parse(&with(&[(4, "direction = \"down\""), (11, "")])).unwrap();
    assert_eq!(c.direction, RingDirection::Down);
    assert_eq!(c.timeouts.heartbeat_interval_ms, 100);
}

#[test]
fn relative_file_output() {
    let c = parse(&with(&[(20, "output = \"file://out/0.ts\"")])).unwrap();
    assert_eq!(
        c.feeds[1].output,
        OutputTarget::File(PathBuf::from("out/0.ts"))
    );
}

#[test]
fn exact_messages() {
    let e = assert_error(
        &with(&[(20, "output = \"/tmp/out1.ts\"")]),
        ErrorKind::BadOutput,
        20,
        "feeds[1].output",
    );
    assert_eq!(
        e.to_string(),
        "switch.toml:20:10: feeds[1].output: \"/tmp/out1.ts\" is not an output; expected \
         udp://IP:PORT (e.g. \"udp://127.0.0.1:9100\") or file://PATH (e.g. \"file:///tmp/out.ts\")"
    );

    let e = assert_error(
        &with(&[(19, "input = \"127.0.0.1:9001\"")]),
        ErrorKind::BadAddress,
        19,
        "feeds[1].input",
    );
    assert_eq!(
        e.to_string(),
        "switch.toml:19:9: feeds[1].input: \"127.0.0.1:9001\" is not a UDP input; expected \
         udp://IP:PORT such as \"udp://127.0.0.1:9000\" or \"udp://[::1]:9000\" (host names \
         are not resolved)"
    );

    let e = assert_error(
        &with(&[(12, "heartbeat_timeout_ms = 100")]),
        ErrorKind::Timeout,
        12,
        "timeouts.heartbeat_timeout_ms",
    );
    assert_eq!(
        e.to_string(),
        "switch.toml:12:24: timeouts.heartbeat_timeout_ms: heartbeat_timeout_ms (100) must be \
         greater than heartbeat_interval_ms (100), or every processor would be declared failed \
         between two heartbeats"
    );

    let e = assert_error(
        &with(&[(30, "member = 1")]),
        ErrorKind::DuplicateSystemMember,
        30,
        "systems[2].member",
    );
    assert_eq!(
        e.to_string(),
        "switch.toml:30:10: systems[2].member: member 1 already holds ring position 1 (systems[1])"
    );
}

#[test]
fn system_count_must_be_feeds_plus_one() {
    let text = BASE.replace("[[systems]]\nmember = 2\n", "");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SystemCount, "{e}");
    assert_eq!(e.field(), Some("systems"));
    assert!(e.line().is_some(), "{e}");
    assert!(
        e.message()
            .contains("2 feeds need 3 systems (one per feed plus the spare), found 2"),
        "{e}"
    );
}

/// `BASE` with `n` feeds (and n + 1 systems).
fn with_feeds(n: usize) -> String {
    let head = &BASE[..BASE.find("[[feeds]]").unwrap_or(0)];
    let mut text = head.to_owned();
    for g in 0..n {
        text += &format!(
            "[[feeds]]\ninput = \"udp://127.0.0.1:{}\"\noutput = \"file://out/{g}.ts\"\n",
            10_000 + g
        );
    }
    for p in 0..=n {
        text += &format!("[[systems]]\nmember = {p}\n");
    }
    text
}

#[test]
fn feed_count_limits() {
    let e = parse(&with_feeds(1)).unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (ErrorKind::TooFewFeeds, Some("feeds"))
    );
    assert!(e.line().is_some(), "{e}");
    assert!(parse(&with_feeds(2)).is_ok());
    assert!(parse(&with_feeds(MAX_RING_FEEDS)).is_ok());
    let e = parse(&with_feeds(MAX_RING_FEEDS + 1)).unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (ErrorKind::TooManyFeeds, Some("feeds"))
    );
}

#[test]
fn cluster_rules() {
    let e = assert_error(
        &with(&[(8, "secret = \"short\"")]),
        ErrorKind::Secret,
        8,
        "cluster.secret",
    );
    assert!(!e.to_string().contains("short\""), "leaks the secret: {e}");
    assert_error(
        &with(&[(7, "name = \"  \"")]),
        ErrorKind::ClusterName,
        7,
        "cluster.name",
    );
    assert_error(
        &with(&[(1, "data_dir = \"\"")]),
        ErrorKind::DataDir,
        1,
        "data_dir",
    );
}

#[test]
fn direction_must_be_known() {
    let e = assert_error(
        &with(&[(4, "direction = \"sideways\"")]),
        ErrorKind::InvalidValue,
        4,
        "direction",
    );
    assert!(
        e.message().contains("\"up\", \"down\" or \"either\""),
        "{e}"
    );
    assert_error(
        &with(&[(4, "direction = 1")]),
        ErrorKind::InvalidValue,
        4,
        "direction",
    );
}

#[test]
fn timeout_rules() {
    for (line, text, field) in [
        (
            11,
            "heartbeat_interval_ms = 0",
            "timeouts.heartbeat_interval_ms",
        ),
        (
            12,
            "heartbeat_timeout_ms = 86400001",
            "timeouts.heartbeat_timeout_ms",
        ),
    ] {
        assert_error(&with(&[(line, text)]), ErrorKind::Timeout, line, field);
    }
    // Interval too large with the timeout left to its default: blame the interval.
    assert_error(
        &with(&[(11, "heartbeat_interval_ms = 600"), (12, "")]),
        ErrorKind::Timeout,
        11,
        "timeouts.heartbeat_interval_ms",
    );
}

#[test]
fn address_rules() {
    let cases: &[(usize, &str, ErrorKind, &str)] = &[
        (
            2,
            "control = \"localhost:8600\"",
            ErrorKind::BadAddress,
            "control",
        ),
        (3, "http = \"127.0.0.1:0\"", ErrorKind::BadAddress, "http"),
        (
            3,
            "http = \"127.0.0.1:8600\"",
            ErrorKind::DuplicateAddress,
            "http",
        ),
        (
            14,
            "input = \"udp://127.0.0.1:8601\"",
            ErrorKind::DuplicateAddress,
            "feeds[0].input",
        ),
        (
            19,
            "input = \"udp://127.0.0.1:9000\"",
            ErrorKind::DuplicateAddress,
            "feeds[1].input",
        ),
        (
            19,
            "input = \"udp://127.0.0.1:0\"",
            ErrorKind::BadAddress,
            "feeds[1].input",
        ),
        (
            19,
            "input = \"udp://host:9001\"",
            ErrorKind::BadAddress,
            "feeds[1].input",
        ),
        (
            19,
            "input = \"file:///tmp/in.ts\"",
            ErrorKind::BadAddress,
            "feeds[1].input",
        ),
    ];
    for &(line, text, kind, field) in cases {
        assert_error(&with(&[(line, text)]), kind, line, field);
    }
}

#[test]
fn output_rules() {
    let cases: &[(usize, &str, ErrorKind, &str)] = &[
        (
            20,
            "output = \"udp://127.0.0.1:9100\"",
            ErrorKind::DuplicateAddress,
            "feeds[1].output",
        ),
        (
            20,
            "output = \"udp://127.0.0.1:9000\"",
            ErrorKind::DuplicateAddress,
            "feeds[1].output",
        ),
        (
            20,
            "output = \"udp://127.0.0.1:8600\"",
            ErrorKind::DuplicateAddress,
            "feeds[1].output",
        ),
        (
            15,
            "output = \"udp://127.0.0.1:8601\"",
            ErrorKind::DuplicateAddress,
            "feeds[0].output",
        ),
        (
            20,
            "output = \"udp://127.0.0.1:0\"",
            ErrorKind::BadAddress,
            "feeds[1].output",
        ),
        (
            20,
            "output = \"udp://nowhere:1\"",
            ErrorKind::BadAddress,
            "feeds[1].output",
        ),
        (
            20,
            "output = \"file://\"",
            ErrorKind::BadOutput,
            "feeds[1].output",
        ),
        (
            20,
            "output = \"tcp://127.0.0.1:1\"",
            ErrorKind::BadOutput,
            "feeds[1].output",
        ),
    ];
    for &(line, text, kind, field) in cases {
        assert_error(&with(&[(line, text)]), kind, line, field);
    }
    assert_error(
        &with(&[(15, "output = \"file:///tmp/out1.ts\"")]),
        ErrorKind::DuplicateOutput,
        20,
        "feeds[1].output",
    );
}

#[test]
fn cue_object_rules() {
    let long = format!("cue_object = \"{}\"", "x".repeat(256));
    let ok = format!("cue_object = \"{}\"", "x".repeat(255));
    assert!(parse(&with(&[(16, &ok)])).is_ok());
    for text in [
        "cue_object = \"\"",
        long.as_str(),
        "cue_object = \"a\\tb\"",
        "cue_object = \"/ads/cue\"",
    ] {
        assert_error(
            &with(&[(16, text)]),
            ErrorKind::CueObject,
            16,
            "feeds[0].cue_object",
        );
    }
    // Only one feed needs a cue object; a later feed's is checked too.
    assert_error(
        &with(&[(21, "cue_object = \"/x\"")]),
        ErrorKind::CueObject,
        21,
        "feeds[1].cue_object",
    );
}

#[test]
fn shape_errors_name_the_field() {
    assert_error(
        &with(&[(21, "extra = 1")]),
        ErrorKind::UnknownKey,
        21,
        "feeds[1].extra",
    );
    assert_error(
        &with(&[(9, "stripe_size = 4096")]),
        ErrorKind::UnknownKey,
        9,
        "cluster.stripe_size",
    );
    assert_error(&with(&[(5, "port = 1")]), ErrorKind::UnknownKey, 5, "port");
    assert_error(
        &with(&[(13, "[[feedz]]")]),
        ErrorKind::UnknownKey,
        13,
        "feedz",
    );
    assert_error(
        &with(&[(30, "member = \"two\"")]),
        ErrorKind::InvalidValue,
        30,
        "systems[2].member",
    );
    assert_error(
        &with(&[(30, "member = -1")]),
        ErrorKind::InvalidValue,
        30,
        "systems[2].member",
    );
    assert_error(
        &with(&[(12, "heartbeat_timeout_ms = \"1s\"")]),
        ErrorKind::InvalidValue,
        12,
        "timeouts.heartbeat_timeout_ms",
    );
    let e = parse(&with(&[(19, "")])).unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (ErrorKind::MissingKey, Some("feeds[1].input")),
        "{e}"
    );
    let e = parse(&with(&[(8, "")])).unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (ErrorKind::MissingKey, Some("cluster.secret")),
        "{e}"
    );
    let e = parse(&with(&[(2, "")])).unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (ErrorKind::MissingKey, Some("control")),
        "{e}"
    );
}

#[test]
fn text_round_trip() {
    let c = parse(BASE).unwrap();
    let text = c.to_toml_string();
    assert_eq!(parse(&text).unwrap(), c, "{text}");
    let c = parse(&with(&[
        (4, "direction = \"up\""),
        (16, ""),
        (20, "output = \"file://out/0.ts\""),
    ]))
    .unwrap();
    assert_eq!(parse(&c.to_toml_string()).unwrap(), c);
}

#[test]
fn validate_checks_hand_built_configs() {
    let mut c = parse(BASE).unwrap();
    assert!(c.validate().is_ok());
    c.systems.pop();
    let e = c.validate().unwrap_err();
    assert_eq!(
        (e.kind(), e.field(), e.line()),
        (ErrorKind::SystemCount, Some("systems"), None)
    );
}

#[test]
fn debug_does_not_leak_the_secret() {
    let c = parse(BASE).unwrap();
    assert!(!format!("{c:?}").contains("0123456789abcdef"));
}

#[test]
fn save_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switch.toml");
    let c = parse(BASE).unwrap();
    c.save(&path).unwrap();
    assert_eq!(SwitchConfig::load(&path).unwrap(), c);

    let mut bad = c.clone();
    bad.secret = "short".into();
    let e = bad.save(&dir.path().join("bad.toml")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Secret);
    assert!(!dir.path().join("bad.toml").exists());

    let e = SwitchConfig::load(&dir.path().join("missing.toml")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
}

#[test]
fn keep_finished_inserts_is_bounded() {
    let c = parse(&with(&[(4, "keep_finished_inserts = 5")])).unwrap();
    assert_eq!(c.keep_finished_inserts, 5);
    let c = parse(&with(&[(4, "")])).unwrap();
    assert_eq!(
        c.keep_finished_inserts,
        stripecast_config::DEFAULT_KEEP_FINISHED_INSERTS
    );
    for text in [
        "keep_finished_inserts = 0",
        "keep_finished_inserts = 1000001",
    ] {
        assert_error(
            &with(&[(4, text)]),
            ErrorKind::InvalidValue,
            4,
            "keep_finished_inserts",
        );
    }
}
