//! The optional `[ring]` table of a member file: parsing, errors, rendering.

mod common;

use std::net::SocketAddr;

use common::{assert_error, parse, BASE, ORIGIN};
use stripecast_config::{ErrorKind, RingLink};

/// `BASE` with a `[ring]` table holding `body` inserted before the members
/// (at line 18; `[ring]` itself is line 18, the body starts at line 19).
fn with_ring(body: &str) -> String {
    let (head, members) = BASE.split_at(BASE.find("[[members]]").unwrap_or(0));
    format!("{head}[ring]\n{body}\n\n{members}")
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn a_member_file_without_ring_has_none() {
    assert_eq!(parse(BASE).unwrap().ring, None);
}

#[test]
fn ring_table_is_parsed() {
    let text = with_ring("switch = \"127.0.0.1:8600\"\nswitch_http = \"127.0.0.1:8601\"");
    let c = parse(&text).unwrap();
    assert_eq!(
        c.ring,
        Some(RingLink {
            switch: addr("127.0.0.1:8600"),
            switch_http: addr("127.0.0.1:8601"),
        })
    );
}

#[test]
fn ring_round_trips_through_text() {
    let text = with_ring("switch = \"[::1]:8600\"\nswitch_http = \"127.0.0.1:8601\"");
    let c = parse(&text).unwrap();
    let rendered = c.to_toml_string();
    assert!(rendered.contains("[ring]"), "{rendered}");
    assert_eq!(parse(&rendered).unwrap(), c);

    let mut without = c.clone();
    without.ring = None;
    let rendered = without.to_toml_string();
    assert!(!rendered.contains("[ring]"), "{rendered}");
    assert_eq!(parse(&rendered).unwrap(), without);
}

#[test]
fn bad_switch_address_names_ring_switch() {
    let text = with_ring("switch = \"switch.local:8600\"\nswitch_http = \"127.0.0.1:8601\"");
    let e = assert_error(&text, ErrorKind::BadAddress, 19, "ring.switch");
    assert!(
        e.to_string().starts_with(&format!(
            "{ORIGIN}:19:10: ring.switch: \"switch.local:8600\" is not a socket address"
        )),
        "{e}"
    );
}

#[test]
fn port_zero_is_refused() {
    let text = with_ring("switch = \"127.0.0.1:8600\"\nswitch_http = \"127.0.0.1:0\"");
    assert_error(&text, ErrorKind::BadAddress, 20, "ring.switch_http");
}

#[test]
fn the_two_addresses_must_differ() {
    let text = with_ring("switch = \"127.0.0.1:8600\"\nswitch_http = \"127.0.0.1:8600\"");
    let e = assert_error(&text, ErrorKind::DuplicateAddress, 20, "ring.switch_http");
    assert_eq!(
        e.to_string(),
        format!(
            "{ORIGIN}:20:15: ring.switch_http: address 127.0.0.1:8600 is already used by ring.switch"
        )
    );
}

#[test]
fn unknown_and_missing_keys_are_refused() {
    let text =
        with_ring("switch = \"127.0.0.1:8600\"\nswitch_http = \"127.0.0.1:8601\"\nextra = 1");
    assert_error(&text, ErrorKind::UnknownKey, 21, "ring.extra");

    let text = with_ring("switch = \"127.0.0.1:8600\"");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MissingKey, "{e}");
    assert_eq!(e.field(), Some("ring.switch_http"), "{e}");
}

#[test]
fn wrong_type_names_the_field() {
    let text = with_ring("switch = 8600\nswitch_http = \"127.0.0.1:8601\"");
    assert_error(&text, ErrorKind::InvalidValue, 19, "ring.switch");
}

#[test]
fn validate_checks_hand_built_links() {
    let mut c = parse(BASE).unwrap();
    c.ring = Some(RingLink {
        switch: addr("127.0.0.1:8600"),
        switch_http: addr("127.0.0.1:8600"),
    });
    let e = c.validate().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DuplicateAddress);
    assert_eq!(e.field(), Some("ring.switch_http"));
}
