//! Every class of configuration error names the right file, line and field.
//!
//! The fixture's line numbers are listed in `common/mod.rs`; each test edits
//! one or two lines of the valid fixture and checks the error's location.

mod common;

use common::{assert_error, edit, first_lines, mirror, parse, parse_err, with, BASE, ORIGIN};
use stripecast_config::ErrorKind;

#[test]
fn fixture_is_valid() {
    let c = parse(BASE).unwrap();
    assert_eq!(c.id.get(), 0);
    assert_eq!(c.member_count(), 3);
    assert_eq!(c.members[2].http.to_string(), "127.0.0.1:8402");
}

// ---- TOML syntax -----------------------------------------------------------

#[test]
fn syntax_error_has_line_and_column() {
    let e = parse_err(&with(&[(7, "stripe_size = = 3")]));
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert_eq!(e.line(), Some(7));
    assert_eq!(e.column(), Some(15));
    assert!(
        e.to_string().starts_with(&format!("{ORIGIN}:7:15: ")),
        "{e}"
    );
}

#[test]
fn unterminated_string_is_a_syntax_error_on_its_line() {
    let e = parse_err(&with(&[(5, "name = \"demo")]));
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert_eq!(e.line(), Some(5));
}

#[test]
fn duplicate_key_names_the_field_and_second_line() {
    assert_error(
        &with(&[(9, "name = \"again\"")]),
        ErrorKind::Syntax,
        9,
        "cluster.name",
    );
}

#[test]
fn duplicate_table_is_a_syntax_error() {
    assert_error(
        &with(&[(17, "[cluster]")]),
        ErrorKind::Syntax,
        17,
        "cluster",
    );
}

// ---- unknown keys ----------------------------------------------------------

#[test]
fn unknown_top_level_key() {
    let e = assert_error(
        &with(&[(3, "colour = \"blue\"")]),
        ErrorKind::UnknownKey,
        3,
        "colour",
    );
    assert_eq!(e.column(), Some(1));
    assert!(e.message().contains("`colour`"), "{e}");
}

#[test]
fn unknown_key_in_cluster() {
    assert_error(
        &with(&[(9, "stripe = 4096")]),
        ErrorKind::UnknownKey,
        9,
        "cluster.stripe",
    );
}

#[test]
fn unknown_key_in_timeouts() {
    assert_error(
        &with(&[(17, "heartbeat_ms = 5")]),
        ErrorKind::UnknownKey,
        17,
        "timeouts.heartbeat_ms",
    );
}

#[test]
fn unknown_key_in_a_member() {
    assert_error(
        &with(&[(27, "host = \"db1\"")]),
        ErrorKind::UnknownKey,
        27,
        "members[1].host",
    );
}

#[test]
fn unknown_table() {
    assert_error(&with(&[(3, "[extra]")]), ErrorKind::UnknownKey, 3, "extra");
}

#[test]
fn unknown_sub_table() {
    assert_error(
        &with(&[(9, "[cluster.extra]")]),
        ErrorKind::UnknownKey,
        9,
        "cluster.extra",
    );
}

#[test]
fn unknown_key_in_inline_member_table() {
    // Inserted at line 3, before the first table header.
    let members = "members = [\n  { id = 0, peer = \"127.0.0.1:1\", http = \"127.0.0.1:2\" },\n  \
                   { id = 1, peer = \"127.0.0.1:3\", http = \"127.0.0.1:4\", x = 1 },\n]";
    let text = edit(&first_lines(16), &[(3, members)]);
    assert_error(&text, ErrorKind::UnknownKey, 5, "members[1].x");
}

// ---- missing keys ----------------------------------------------------------

#[test]
fn missing_key_points_at_its_table() {
    let e = assert_error(
        &with(&[(6, "")]),
        ErrorKind::MissingKey,
        4,
        "cluster.secret",
    );
    assert!(e.message().contains("`secret`"), "{e}");
}

#[test]
fn missing_key_in_a_member_points_at_its_header() {
    assert_error(
        &with(&[(26, "")]),
        ErrorKind::MissingKey,
        23,
        "members[1].http",
    );
}

#[test]
fn missing_top_level_key() {
    assert_error(&with(&[(2, "")]), ErrorKind::MissingKey, 1, "data_dir");
}

#[test]
fn missing_cluster_table() {
    let text = with(&[(4, ""), (5, ""), (6, ""), (7, ""), (8, "")]);
    assert_error(&text, ErrorKind::MissingKey, 1, "cluster");
}

#[test]
fn missing_member_list() {
    assert_error(&first_lines(16), ErrorKind::MissingKey, 1, "members");
}

// ---- wrong types -----------------------------------------------------------

#[test]
fn string_where_a_number_is_expected() {
    let e = assert_error(
        &with(&[(7, "stripe_size = \"big\"")]),
        ErrorKind::InvalidValue,
        7,
        "cluster.stripe_size",
    );
    assert_eq!(e.column(), Some(15));
}

#[test]
fn wrong_type_in_a_member() {
    assert_error(
        &with(&[(24, "id = \"one\"")]),
        ErrorKind::InvalidValue,
        24,
        "members[1].id",
    );
}

#[test]
fn negative_id() {
    assert_error(&with(&[(1, "id = -1")]), ErrorKind::InvalidValue, 1, "id");
}

#[test]
fn parity_out_of_u8_range() {
    assert_error(
        &with(&[(8, "parity = 300")]),
        ErrorKind::InvalidValue,
        8,
        "cluster.parity",
    );
}

#[test]
fn float_timeout() {
    assert_error(
        &with(&[(11, "heartbeat_interval_ms = 1.5")]),
        ErrorKind::InvalidValue,
        11,
        "timeouts.heartbeat_interval_ms",
    );
}

#[test]
fn table_where_a_value_is_expected() {
    assert_error(
        &with(&[
            (3, "cluster = 5"),
            (4, ""),
            (5, ""),
            (6, ""),
            (7, ""),
            (8, ""),
        ]),
        ErrorKind::InvalidValue,
        3,
        "cluster",
    );
}

#[test]
fn members_as_a_single_table() {
    let text = edit(&first_lines(21), &[(18, "[members]")]);
    assert_error(&text, ErrorKind::InvalidValue, 18, "members");
}

#[test]
fn date_time_is_named_in_the_message() {
    let e = assert_error(
        &with(&[(1, "id = 1979-05-27T07:32:00Z")]),
        ErrorKind::InvalidValue,
        1,
        "id",
    );
    assert!(e.message().contains("date-time"), "{e}");
}

// ---- socket addresses ------------------------------------------------------

#[test]
fn host_name_is_not_a_socket_address() {
    let e = assert_error(
        &with(&[(25, "peer = \"localhost:7401\"")]),
        ErrorKind::BadAddress,
        25,
        "members[1].peer",
    );
    assert_eq!(e.column(), Some(8));
    assert!(e.message().contains("localhost:7401"), "{e}");
}

#[test]
fn address_without_port() {
    assert_error(
        &with(&[(31, "http = \"127.0.0.1\"")]),
        ErrorKind::BadAddress,
        31,
        "members[2].http",
    );
}

#[test]
fn port_zero() {
    assert_error(
        &with(&[(20, "peer = \"127.0.0.1:0\"")]),
        ErrorKind::BadAddress,
        20,
        "members[0].peer",
    );
}

#[test]
fn ipv6_addresses_are_accepted() {
    let c = parse(&with(&[(20, "peer = \"[::1]:7400\"")])).unwrap();
    assert_eq!(c.members[0].peer.to_string(), "[::1]:7400");
}

// ---- member list -----------------------------------------------------------

#[test]
fn duplicate_member_id_points_at_the_second_occurrence() {
    let e = assert_error(
        &with(&[(29, "id = 1")]),
        ErrorKind::DuplicateMemberId,
        29,
        "members[2].id",
    );
    assert!(e.message().contains("members[1]"), "{e}");
}

#[test]
fn member_id_outside_zero_to_n() {
    assert_error(
        &with(&[(29, "id = 7")]),
        ErrorKind::MemberIdOutOfRange,
        29,
        "members[2].id",
    );
}

#[test]
fn member_ids_may_come_in_any_order() {
    let c = parse(&with(&[(19, "id = 2"), (29, "id = 0")])).unwrap();
    assert_eq!(c.me().peer.to_string(), "127.0.0.1:7402");
}

#[test]
fn a_single_member_is_too_few() {
    let e = assert_error(&first_lines(21), ErrorKind::TooFewMembers, 18, "members");
    assert!(e.message().contains("found 1"), "{e}");
}

#[test]
fn an_empty_member_list_is_too_few() {
    let text = edit(&first_lines(17), &[(3, "members = []")]);
    assert_error(&text, ErrorKind::TooFewMembers, 3, "members");
}

#[test]
fn more_than_255_members_is_too_many() {
    let mut text = first_lines(17);
    for i in 0..256u32 {
        text += &format!(
            "[[members]]\nid = {i}\npeer = \"10.0.{}.{}:7400\"\nhttp = \"10.0.{}.{}:8400\"\n",
            i / 256,
            i % 256,
            i / 256,
            i % 256
        );
    }
    assert_error(&text, ErrorKind::TooManyMembers, 18, "members");
}

#[test]
fn own_id_not_in_member_list() {
    let e = assert_error(&with(&[(1, "id = 5")]), ErrorKind::SelfNotMember, 1, "id");
    assert_eq!(e.column(), Some(6));
}

// ---- addresses -------------------------------------------------------------

#[test]
fn duplicate_peer_address() {
    let e = assert_error(
        &with(&[(30, "peer = \"127.0.0.1:7401\"")]),
        ErrorKind::DuplicateAddress,
        30,
        "members[2].peer",
    );
    assert!(e.message().contains("members[1].peer"), "{e}");
}

#[test]
fn duplicate_http_address() {
    assert_error(
        &with(&[(31, "http = \"127.0.0.1:8400\"")]),
        ErrorKind::DuplicateAddress,
        31,
        "members[2].http",
    );
}

#[test]
fn http_address_equal_to_a_peer_address() {
    let e = assert_error(
        &with(&[(31, "http = \"127.0.0.1:7400\"")]),
        ErrorKind::DuplicateAddress,
        31,
        "members[2].http",
    );
    assert!(e.message().contains("members[0].peer"), "{e}");
}

#[test]
fn peer_and_http_of_one_member_must_differ() {
    assert_error(
        &with(&[(21, "http = \"127.0.0.1:7400\"")]),
        ErrorKind::DuplicateAddress,
        21,
        "members[0].http",
    );
}

// ---- cluster settings ------------------------------------------------------

#[test]
fn stripe_size_not_a_power_of_two_displays_exactly() {
    let e = assert_error(
        &with(&[(7, "stripe_size = 1000")]),
        ErrorKind::StripeSize,
        7,
        "cluster.stripe_size",
    );
    assert_eq!(
        e.to_string(),
        "/etc/sc/member-0.toml:7:15: cluster.stripe_size: 1000 is not a power of two"
    );
}

#[test]
fn stripe_size_zero() {
    assert_error(
        &with(&[(7, "stripe_size = 0")]),
        ErrorKind::StripeSize,
        7,
        "cluster.stripe_size",
    );
}

#[test]
fn stripe_size_below_4_kib() {
    let e = assert_error(
        &with(&[(7, "stripe_size = 2048")]),
        ErrorKind::StripeSize,
        7,
        "cluster.stripe_size",
    );
    assert!(e.message().contains("out of range"), "{e}");
}

#[test]
fn stripe_size_above_16_mib() {
    assert_error(
        &with(&[(7, "stripe_size = 33554432")]),
        ErrorKind::StripeSize,
        7,
        "cluster.stripe_size",
    );
}

#[test]
fn stripe_size_bounds_are_inclusive() {
    assert_eq!(
        parse(&with(&[(7, "stripe_size = 4096")]))
            .unwrap()
            .cluster
            .stripe_size,
        4096
    );
    assert_eq!(
        parse(&with(&[(7, "stripe_size = 16777216")]))
            .unwrap()
            .cluster
            .stripe_size,
        16 << 20
    );
}

#[test]
fn parity_must_be_less_than_member_count() {
    assert_error(
        &with(&[(8, "parity = 3")]),
        ErrorKind::Parity,
        8,
        "cluster.parity",
    );
}

#[test]
fn parity_zero_and_reed_solomon_are_accepted_with_three_members() {
    assert_eq!(
        parse(&with(&[(8, "parity = 0")])).unwrap().data_members(),
        3
    );
    assert_eq!(
        parse(&with(&[(8, "parity = 2")])).unwrap().data_members(),
        1
    );
}

#[test]
fn mirror_requires_parity_one() {
    let ok = parse(&mirror()).unwrap();
    assert!(ok.is_mirror());
    for bad in ["parity = 0", "parity = 2"] {
        let e = assert_error(
            &edit(&mirror(), &[(8, bad)]),
            ErrorKind::Parity,
            8,
            "cluster.parity",
        );
        assert!(e.message().contains("mirror"), "{e}");
    }
}

#[test]
fn empty_secret() {
    assert_error(
        &with(&[(6, "secret = \"\"")]),
        ErrorKind::Secret,
        6,
        "cluster.secret",
    );
}

#[test]
fn short_secret_is_rejected_without_echoing_it() {
    let e = assert_error(
        &with(&[(6, "secret = \"hunter2hunter2\"")]),
        ErrorKind::Secret,
        6,
        "cluster.secret",
    );
    assert!(e.message().contains("14 bytes"), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[test]
fn sixteen_byte_secret_is_enough() {
    assert!(parse(&with(&[(6, "secret = \"0123456789abcdef\"")])).is_ok());
}

#[test]
fn empty_cluster_name() {
    assert_error(
        &with(&[(5, "name = \"\"")]),
        ErrorKind::ClusterName,
        5,
        "cluster.name",
    );
}

#[test]
fn blank_cluster_name() {
    assert_error(
        &with(&[(5, "name = \"  \"")]),
        ErrorKind::ClusterName,
        5,
        "cluster.name",
    );
}

#[test]
fn empty_data_dir() {
    assert_error(
        &with(&[(2, "data_dir = \"\"")]),
        ErrorKind::DataDir,
        2,
        "data_dir",
    );
}

// ---- timeouts --------------------------------------------------------------

#[test]
fn heartbeat_timeout_equal_to_interval() {
    assert_error(
        &with(&[(12, "heartbeat_timeout_ms = 100")]),
        ErrorKind::Timeout,
        12,
        "timeouts.heartbeat_timeout_ms",
    );
}

#[test]
fn heartbeat_timeout_below_interval() {
    assert_error(
        &with(&[(11, "heartbeat_interval_ms = 900")]),
        ErrorKind::Timeout,
        12,
        "timeouts.heartbeat_timeout_ms",
    );
}

#[test]
fn interval_above_the_default_timeout_blames_the_written_key() {
    // heartbeat_timeout_ms is omitted (default 500), so the interval is the
    // only line the operator can fix.
    assert_error(
        &with(&[(11, "heartbeat_interval_ms = 600"), (12, "")]),
        ErrorKind::Timeout,
        11,
        "timeouts.heartbeat_interval_ms",
    );
}

#[test]
fn zero_timeouts() {
    for (line, key) in [
        (11, "heartbeat_interval_ms"),
        (13, "connect_timeout_ms"),
        (14, "request_timeout_ms"),
        (15, "reconnect_backoff_initial_ms"),
    ] {
        let text = with(&[(line, &format!("{key} = 0"))]);
        assert_error(&text, ErrorKind::Timeout, line, &format!("timeouts.{key}"));
    }
}

#[test]
fn timeout_longer_than_a_day() {
    assert_error(
        &with(&[(14, "request_timeout_ms = 86400001")]),
        ErrorKind::Timeout,
        14,
        "timeouts.request_timeout_ms",
    );
}

#[test]
fn backoff_max_below_initial() {
    assert_error(
        &with(&[(16, "reconnect_backoff_max_ms = 10")]),
        ErrorKind::Timeout,
        16,
        "timeouts.reconnect_backoff_max_ms",
    );
}

// ---- other layouts ---------------------------------------------------------

#[test]
fn dotted_keys_are_accepted() {
    let text = "id = 1\ndata_dir = \"d\"\ncluster.name = \"demo\"\n\
                cluster.secret = \"0123456789abcdef\"\ntimeouts.connect_timeout_ms = 7\n\
                members = [{ id = 0, peer = \"127.0.0.1:1\", http = \"127.0.0.1:2\" },\n\
                { id = 1, peer = \"127.0.0.1:3\", http = \"127.0.0.1:4\" }]\n";
    let c = parse(text).unwrap();
    assert_eq!(c.cluster.name, "demo");
    assert_eq!(c.timeouts.connect_timeout_ms, 7);
}

#[test]
fn errors_under_dotted_keys_still_have_a_line() {
    let text = "id = 1\ndata_dir = \"d\"\ncluster.name = \"demo\"\ncluster.secret = 5\n";
    let e = parse_err(text);
    assert_eq!(e.kind(), ErrorKind::InvalidValue);
    assert_eq!(e.line(), Some(4));
    let text = "id = 1\ndata_dir = \"d\"\ncluster.name.x = \"demo\"\n";
    let e = parse_err(text);
    assert_eq!(e.line(), Some(3));
}

#[test]
fn rule_errors_in_inline_members_have_lines() {
    let members = "members = [\n  { id = 0, peer = \"127.0.0.1:1\", http = \"127.0.0.1:2\" },\n  \
                   { id = 0, peer = \"127.0.0.1:3\", http = \"127.0.0.1:4\" },\n]";
    let text = edit(&first_lines(16), &[(3, members)]);
    let e = assert_error(&text, ErrorKind::DuplicateMemberId, 5, "members[1].id");
    assert_eq!(e.column(), Some(10));
}

#[test]
fn origin_is_only_used_for_naming() {
    let e = stripecast_config::MemberConfig::parse(
        &with(&[(7, "stripe_size = 1000")]),
        std::path::Path::new("cluster/a.toml"),
    )
    .unwrap_err();
    assert_eq!(e.file(), std::path::Path::new("cluster/a.toml"));
    assert!(e.to_string().starts_with("cluster/a.toml:7:15: "), "{e}");
}

#[test]
fn key_without_value_at_end_of_file_still_has_a_message() {
    let e = parse_err("id =");
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert_eq!((e.line(), e.column()), (Some(1), Some(5)));
    assert!(!e.message().is_empty());
}

#[test]
fn an_allowed_host_with_a_scheme_or_blank() {
    let base = with(&[]);
    for (value, column_of) in [
        (
            "allowed_hosts = [\"localhost\", \"http://storage.example\"]",
            1,
        ),
        ("allowed_hosts = [\"\"]", 0),
        ("allowed_hosts = [\"two words\"]", 0),
    ] {
        let text = format!("{base}\n[http]\n{value}\n");
        let line = text.lines().count();
        let e = assert_error(
            &text,
            ErrorKind::AllowedHost,
            line,
            &format!("http.allowed_hosts[{column_of}]"),
        );
        assert!(e.to_string().contains("host name"), "{e}");
    }
}

// ---- [auth] and the S3 address -----------------------------------------------

#[test]
fn a_malformed_root_credential_names_its_line() {
    let base = with(&[]);
    for (table, field) in [
        (
            "access_key_id = \"has space\"\nsecret_access_key = \"0123456789abcdefXYZ\"",
            "auth.access_key_id",
        ),
        (
            "access_key_id = \"ROOTKEY\"\nsecret_access_key = \"short\"",
            "auth.secret_access_key",
        ),
    ] {
        let text = format!("{base}\n[auth]\n{table}\n");
        let line = text.lines().count() - usize::from(field == "auth.access_key_id");
        let e = assert_error(&text, ErrorKind::Auth, line, field);
        assert!(!e.to_string().contains("short\""), "never the secret: {e}");
    }
}

#[test]
fn a_non_loopback_address_needs_auth() {
    // members[0] is this member (id = 0): its HTTP on all interfaces.
    let text = with(&[(21, "http = \"0.0.0.0:8400\"")]);
    let e = assert_error(&text, ErrorKind::Auth, 21, "members[0].http");
    assert!(e.to_string().contains("[auth]"), "{e}");
    // With a root credential it is served.
    let ok = format!(
        "{text}\n[auth]\naccess_key_id = \"ROOTKEY1\"\nsecret_access_key = \"0123456789abcdefXYZ\"\n"
    );
    let c = parse(&ok).unwrap();
    assert_eq!(c.auth.unwrap().access_key_id, "ROOTKEY1");
    // Another member's address is its own config's business.
    parse(&with(&[(26, "http = \"0.0.0.0:8401\"")])).unwrap();
}

#[test]
fn an_s3_address_is_parsed_checked_and_rendered() {
    let c = parse(&with(&[(22, "s3 = \"127.0.0.1:9400\"")])).unwrap();
    assert_eq!(c.members[0].s3.map(|a| a.port()), Some(9400));
    assert_eq!(c.members[1].s3, None);
    let again = parse(&c.to_toml_string()).unwrap();
    assert_eq!(again, c, "a rendered config reads back the same");
    assert_error(
        &with(&[(22, "s3 = \"127.0.0.1:8400\"")]),
        ErrorKind::DuplicateAddress,
        22,
        "members[0].s3",
    );
    assert_error(
        &with(&[(22, "s3 = \"0.0.0.0:9400\"")]),
        ErrorKind::Auth,
        22,
        "members[0].s3",
    );
}

#[test]
fn an_s3_domain_with_a_port_or_scheme() {
    let base = with(&[]);
    for value in [
        "s3_domains = [\"s3.example.com:9000\"]",
        "s3_domains = [\"http://s3.example\"]",
        "s3_domains = [\"\"]",
    ] {
        let text = format!("{base}\n[http]\n{value}\n");
        let line = text.lines().count();
        assert_error(&text, ErrorKind::AllowedHost, line, "http.s3_domains[0]");
    }
    let ok = parse(&format!(
        "{base}\n[http]\ns3_domains = [\"s3.example.com\"]\n"
    ))
    .unwrap();
    assert_eq!(ok.http.s3_domains, ["s3.example.com"]);
}

// ---- TLS -------------------------------------------------------------------

#[test]
fn a_certificate_without_its_key_and_an_unknown_peer_tls_name_their_lines() {
    let base = with(&[]);
    for (table, value, field) in [
        ("http", "tls_cert = \"cert.pem\"", "http.tls_cert"),
        ("http", "tls_key = \"key.pem\"", "http.tls_key"),
        (
            "http",
            "tls_cert = \"\"\ntls_key = \"key.pem\"",
            "http.tls_cert",
        ),
    ] {
        let text = format!("{base}\n[{table}]\n{value}\n");
        let line = text
            .lines()
            .position(|l| l.starts_with(field.rsplit('.').next().unwrap()))
            .unwrap()
            + 1;
        let e = assert_error(&text, ErrorKind::Tls, line, field);
        assert!(e.to_string().contains("tls_"), "{e}");
    }
    let text = base.replacen("[cluster]\n", "[cluster]\npeer_tls = \"maybe\"\n", 1);
    assert_ne!(text, base, "the fixture has a [cluster] table");
    let line = text
        .lines()
        .position(|l| l.starts_with("peer_tls"))
        .unwrap()
        + 1;
    let e = assert_error(&text, ErrorKind::Tls, line, "cluster.peer_tls");
    assert!(e.to_string().contains("\"auto\""), "{e}");
}

#[test]
fn peer_tls_auto_encrypts_only_beyond_loopback() {
    let base = with(&[]);
    let c = stripecast_config::MemberConfig::parse(&base, std::path::Path::new("m.toml")).unwrap();
    assert_eq!(c.peer_encrypted(), !c.all_peers_loopback());
    let on = base.replacen("[cluster]\n", "[cluster]\npeer_tls = \"on\"\n", 1);
    let c = stripecast_config::MemberConfig::parse(&on, std::path::Path::new("m.toml")).unwrap();
    assert!(c.peer_encrypted());
    let off = base.replacen("[cluster]\n", "[cluster]\npeer_tls = \"off\"\n", 1);
    let c = stripecast_config::MemberConfig::parse(&off, std::path::Path::new("m.toml")).unwrap();
    assert!(!c.peer_encrypted());
}

#[test]
fn a_short_read_token_names_its_line() {
    let base = with(&[]);
    let text = format!("{base}\n[http]\nread_token = \"short\"\n");
    let line = text.lines().count();
    let e = assert_error(&text, ErrorKind::Auth, line, "http.read_token");
    assert!(e.to_string().contains("16-128"), "{e}");
    assert!(
        !e.to_string().contains("\"short\""),
        "the token is not repeated: {e}"
    );
}

#[test]
fn a_multipart_expiry_of_zero_names_its_line() {
    let base = with(&[]);
    let text = format!("{base}\n[store]\nmultipart_expiry_s = 0\n");
    let line = text.lines().count();
    let e = assert_error(&text, ErrorKind::Store, line, "store.multipart_expiry_s");
    assert!(e.to_string().contains("seconds"), "{e}");
}
