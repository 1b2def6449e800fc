//! `local_cluster`: generated configs for `stripecast up`.

use std::path::Path;

use stripecast_config::{local_cluster, try_local_cluster, ErrorKind, MemberConfig};

const SECRET: &str = "0123456789abcdef";

#[test]
fn members_get_consecutive_ports_and_their_own_data_dirs() {
    let root = Path::new("/tmp/sc-data");
    let configs = local_cluster("demo", SECRET, 4, root, 8400, 7400, 1);
    assert_eq!(configs.len(), 4);
    for (i, c) in configs.iter().enumerate() {
        assert_eq!(c.id.position(), i);
        assert_eq!(c.data_dir, root.join(format!("member-{i}")));
        assert_eq!(c.me().peer.to_string(), format!("127.0.0.1:{}", 7400 + i));
        assert_eq!(c.me().http.to_string(), format!("127.0.0.1:{}", 8400 + i));
        assert_eq!(c.members, configs[0].members);
        assert_eq!(c.cluster.name, "demo");
        assert_eq!(c.data_members(), 3);
        c.validate().unwrap();
    }
}

#[test]
fn generated_configs_survive_a_text_round_trip() {
    for c in local_cluster("demo", SECRET, 5, Path::new("data"), 9000, 9100, 2) {
        let back = MemberConfig::parse(&c.to_toml_string(), Path::new("gen.toml")).unwrap();
        assert_eq!(back, c);
    }
}

#[test]
fn two_nodes_make_a_mirror() {
    let configs = local_cluster("m", SECRET, 2, Path::new("d"), 8400, 7400, 1);
    assert!(configs.iter().all(MemberConfig::is_mirror));
}

#[test]
fn invalid_parameters_are_errors_naming_the_config_field() {
    let root = Path::new("d");
    let cases = [
        (
            try_local_cluster("x", SECRET, 1, root, 8400, 7400, 1),
            ErrorKind::TooFewMembers,
            "members",
        ),
        (
            try_local_cluster("x", SECRET, 256, root, 8400, 7400, 1),
            ErrorKind::TooManyMembers,
            "members",
        ),
        (
            try_local_cluster("x", SECRET, u32::MAX, root, 8400, 7400, 1),
            ErrorKind::TooManyMembers,
            "members",
        ),
        (
            try_local_cluster("x", SECRET, 3, root, 8400, 7400, 3),
            ErrorKind::Parity,
            "cluster.parity",
        ),
        (
            try_local_cluster("x", SECRET, 2, root, 8400, 7400, 0),
            ErrorKind::Parity,
            "cluster.parity",
        ),
        (
            try_local_cluster("x", SECRET, 3, root, 8400, 65534, 1),
            ErrorKind::BadAddress,
            "members[2].peer",
        ),
        (
            try_local_cluster("x", SECRET, 3, root, 8400, 8401, 1),
            ErrorKind::DuplicateAddress,
            "members[1].http",
        ),
        (
            try_local_cluster("x", "short", 3, root, 8400, 7400, 1),
            ErrorKind::Secret,
            "cluster.secret",
        ),
        (
            try_local_cluster("", SECRET, 3, root, 8400, 7400, 1),
            ErrorKind::ClusterName,
            "cluster.name",
        ),
    ];
    for (result, kind, field) in cases {
        let e = result.unwrap_err();
        assert_eq!(e.kind(), kind, "{e}");
        assert_eq!(e.field(), Some(field), "{e}");
    }
}

#[test]
#[should_panic(expected = "invalid local cluster parameters")]
fn local_cluster_panics_on_invalid_parameters() {
    let _ = local_cluster("x", SECRET, 1, Path::new("d"), 8400, 7400, 1);
}
