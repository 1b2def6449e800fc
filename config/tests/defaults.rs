//! Omitted keys take their defaults, and `to_toml_string` spells every key out.

mod common;

use std::collections::BTreeSet;

use common::{edit, parse, with, BASE};
use stripecast_config::limits::{DEFAULT_PARITY, DEFAULT_STRIPE_SIZE};
use stripecast_config::{MemberConfig, Timeouts};

/// BASE without `stripe_size`, `parity` and the whole `[timeouts]` table.
fn minimal() -> String {
    let blank: Vec<(usize, &str)> = [7, 8, 10, 11, 12, 13, 14, 15, 16]
        .into_iter()
        .map(|n| (n, ""))
        .collect();
    with(&blank)
}

#[test]
fn omitted_keys_take_defaults() {
    let c = parse(&minimal()).unwrap();
    assert_eq!(c.cluster.stripe_size, DEFAULT_STRIPE_SIZE);
    assert_eq!(c.cluster.stripe_size, 65536);
    assert_eq!(c.cluster.parity, DEFAULT_PARITY);
    assert_eq!(c.cluster.parity, 1);
    assert_eq!(c.timeouts, Timeouts::default());
}

#[test]
fn a_partial_timeouts_table_keeps_the_other_defaults() {
    let text = edit(
        &minimal(),
        &[(10, "[timeouts]"), (13, "connect_timeout_ms = 250")],
    );
    let c = parse(&text).unwrap();
    assert_eq!(
        c.timeouts,
        Timeouts {
            connect_timeout_ms: 250,
            ..Timeouts::default()
        }
    );
}

#[test]
fn an_empty_timeouts_table_is_all_defaults() {
    let c = parse(&edit(&minimal(), &[(10, "[timeouts]")])).unwrap();
    assert_eq!(c.timeouts, Timeouts::default());
}

#[test]
fn the_fixture_spells_out_the_defaults() {
    // BASE writes exactly the default values, so it equals the minimal file.
    assert_eq!(parse(BASE).unwrap(), parse(&minimal()).unwrap());
}

/// Every key of a TOML document, as dotted paths (array items collapsed).
fn keys(table: &toml::Table, prefix: &str, out: &mut BTreeSet<String>) {
    for (k, v) in table {
        let path = format!("{prefix}{k}");
        match v {
            toml::Value::Table(t) => keys(t, &format!("{path}."), out),
            toml::Value::Array(items) if items.iter().any(toml::Value::is_table) => {
                for item in items {
                    if let toml::Value::Table(t) = item {
                        keys(t, &format!("{path}[]."), out);
                    }
                }
            }
            _ => {
                out.insert(path);
            }
        }
    }
}

#[test]
fn to_toml_string_contains_every_key_even_defaulted_ones() {
    let c = parse(&minimal()).unwrap();
    let text = c.to_toml_string();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let mut found = BTreeSet::new();
    keys(&table, "", &mut found);
    let expected: BTreeSet<String> = [
        "id",
        "data_dir",
        "cluster.name",
        "cluster.secret",
        "cluster.stripe_size",
        "cluster.parity",
        "cluster.peer_tls",
        "timeouts.heartbeat_interval_ms",
        "timeouts.heartbeat_timeout_ms",
        "timeouts.connect_timeout_ms",
        "timeouts.request_timeout_ms",
        "timeouts.reconnect_backoff_initial_ms",
        "timeouts.reconnect_backoff_max_ms",
        "timeouts.body_progress_timeout_ms",
        "store.reader_cache_files",
        "store.heal_objects_in_flight",
        "store.heal_max_mb_per_s",
        "store.multipart_expiry_s",
        "http.allowed_hosts",
        "http.s3_domains",
        "members[].id",
        "members[].peer",
        "members[].http",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(found, expected, "{text}");
    assert_eq!(table["members"].as_array().map(Vec::len), Some(3));
    assert_eq!(table["cluster"]["stripe_size"].as_integer(), Some(65536));
    assert_eq!(
        table["timeouts"]["heartbeat_timeout_ms"].as_integer(),
        Some(500)
    );
}

#[test]
fn to_toml_string_round_trips_the_fixture() {
    let c = parse(BASE).unwrap();
    assert_eq!(parse(&c.to_toml_string()).unwrap(), c);
}

#[test]
fn serde_shape_matches_the_file_shape() {
    // Deserializing straight into the public structs (no validation) must read
    // the same file the same way, defaults included.
    let direct: MemberConfig = toml::from_str(&minimal()).unwrap();
    assert_eq!(direct, parse(&minimal()).unwrap());
    let rendered = toml::to_string(&direct).unwrap();
    assert_eq!(parse(&rendered).unwrap(), direct);
}
