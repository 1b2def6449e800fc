//! The crates depend on each other in one direction only (DESIGN.md,
//! ARCHITECTURE.md): `config`, `persistence`, `supervisors`, `ts` and
//! `chaos` on no other stripecast crate; the member runtime (`actors`) on
//! config, persistence and supervisors, never on the ring or MPEG-TS; the
//! ring on the runtime and ts; the S3 API on the runtime. Read from each crate's Cargo.toml, so a new
//! arrow the wrong way fails here before it shapes the code.

use std::collections::BTreeMap;
use std::path::Path;

/// The stripecast crates each crate's `[dependencies]` name.
fn stripecast_dependencies(krate: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(krate)
        .join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps {
            if let Some(name) = line
                .split(['.', ' ', '='])
                .next()
                .filter(|n| n.starts_with("stripecast-"))
            {
                deps.push(name.to_owned());
            }
        }
    }
    deps.sort();
    deps
}

#[test]
fn crates_depend_in_one_direction() {
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("config", &[][..]),
        ("persistence", &[][..]),
        ("supervisors", &[][..]),
        ("ts", &[][..]),
        ("chaos", &[][..]),
        (
            "actors",
            &[
                "stripecast-config",
                "stripecast-persistence",
                "stripecast-supervisors",
            ][..],
        ),
        (
            "ring",
            &[
                "stripecast-actors",
                "stripecast-config",
                "stripecast-persistence",
                "stripecast-supervisors",
                "stripecast-ts",
            ][..],
        ),
        (
            "s3",
            &[
                "stripecast-actors",
                "stripecast-config",
                "stripecast-supervisors",
            ][..],
        ),
    ]);
    for (krate, allowed) in allowed {
        let deps = stripecast_dependencies(krate);
        for dep in &deps {
            assert!(
                allowed.contains(&dep.as_str()),
                "{krate} depends on {dep}: against the dependency direction"
            );
        }
    }
    // The runtime never knows the systems built on it.
    let runtime = stripecast_dependencies("actors");
    assert!(!runtime
        .iter()
        .any(|d| d == "stripecast-ring" || d == "stripecast-ts" || d == "stripecast-s3"));
    // And the reading works: the ring's arrows are seen.
    assert!(stripecast_dependencies("ring").contains(&"stripecast-actors".to_owned()));
}
