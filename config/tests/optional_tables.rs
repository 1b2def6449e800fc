//! The `[witness]` table (a metadata-only voter beside an even number of
//! members) and the `[store]` bounds. Their mistakes name the file, line
//! and field like every other.

mod common;

use common::{assert_error, mirror, parse, with};
use stripecast_config::ErrorKind;

/// The mirror fixture (26 lines) with a `[witness]` table appended.
fn mirror_with(witness: &str) -> String {
    format!("{}\n{witness}", mirror())
}

const WITNESS: &str = "[witness]\nid = 2\npeer = \"127.0.0.1:7402\"\n";

#[test]
fn a_mirror_with_a_witness_parses_and_renders_back() {
    let c = parse(&mirror_with(WITNESS)).unwrap();
    let w = c.witness.clone().unwrap();
    assert_eq!((w.id.get(), w.peer.port()), (2, 7402));
    let voters: Vec<u32> = c.voters().into_iter().map(|v| v.get()).collect();
    assert_eq!(voters, vec![0, 1, 2]);
    assert_eq!(parse(&c.to_toml_string()).unwrap(), c);
}

#[test]
fn the_witness_own_config_has_its_id() {
    let text = mirror_with(WITNESS).replacen("id = 0", "id = 2", 1);
    let c = parse(&text).unwrap();
    assert!(c.is_witness());
    assert_eq!(c.my_peer_addr().port(), 7402);
    let links: Vec<u32> = c.links().map(|(id, _)| id.get()).collect();
    assert_eq!(links, vec![0, 1]);
}

#[test]
fn a_witness_with_a_member_id_is_refused_on_its_line() {
    let e = assert_error(
        &mirror_with("[witness]\nid = 1\npeer = \"127.0.0.1:7402\"\n"),
        ErrorKind::Witness,
        29,
        "witness.id",
    );
    assert!(e.to_string().contains("member's id"), "{e}");
}

#[test]
fn a_witness_beside_an_odd_member_count_is_refused() {
    let text = format!(
        "{}\n[witness]\nid = 3\npeer = \"127.0.0.1:7403\"\n",
        with(&[])
    );
    let e = assert_error(&text, ErrorKind::Witness, 34, "witness.id");
    assert!(e.to_string().contains("even number"), "{e}");
}

#[test]
fn a_witness_on_a_member_address_is_refused() {
    assert_error(
        &mirror_with("[witness]\nid = 2\npeer = \"127.0.0.1:8401\"\n"),
        ErrorKind::DuplicateAddress,
        30,
        "witness.peer",
    );
}

#[test]
fn an_unknown_witness_key_is_refused() {
    let e = common::parse_err(&mirror_with(
        "[witness]\nid = 2\npeer = \"127.0.0.1:7402\"\nhttp = \"127.0.0.1:8402\"\n",
    ));
    assert_eq!(e.kind(), ErrorKind::UnknownKey, "{e}");
    assert_eq!(e.line(), Some(31), "{e}");
}

#[test]
fn the_reader_cache_bound_is_checked_on_its_line() {
    let c = parse(&mirror_with("[store]\nreader_cache_files = 1024\n")).unwrap();
    assert_eq!(c.store.reader_cache_files, 1024);
    assert_eq!(parse(&mirror()).unwrap().store.reader_cache_files, 256);
    let e = assert_error(
        &mirror_with("[store]\nreader_cache_files = 0\n"),
        ErrorKind::Store,
        29,
        "store.reader_cache_files",
    );
    assert!(e.to_string().contains("1..=65536"), "{e}");
}

#[test]
fn the_heal_settings_are_checked_on_their_lines() {
    let c = parse(&mirror_with(
        "[store]\nheal_objects_in_flight = 8\nheal_max_mb_per_s = 50\n",
    ))
    .unwrap();
    assert_eq!(c.store.heal_objects_in_flight, 8);
    assert_eq!(c.store.heal_max_mb_per_s, 50);
    let d = parse(&mirror()).unwrap();
    assert_eq!(d.store.heal_objects_in_flight, 4);
    assert_eq!(d.store.heal_max_mb_per_s, 0);
    let e = assert_error(
        &mirror_with("[store]\nheal_objects_in_flight = 0\n"),
        ErrorKind::Store,
        29,
        "store.heal_objects_in_flight",
    );
    assert!(e.to_string().contains("1..=64"), "{e}");
    assert_error(
        &mirror_with("[store]\nreader_cache_files = 9\nheal_max_mb_per_s = 1000001\n"),
        ErrorKind::Store,
        30,
        "store.heal_max_mb_per_s",
    );
}
