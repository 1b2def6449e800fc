//! Loading from and atomically saving to files.

mod common;

use std::fs;

use common::BASE;
use stripecast_config::{local_cluster, ErrorKind, MemberConfig};

#[test]
fn load_reads_and_validates_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("member-0.toml");
    fs::write(&path, BASE).unwrap();
    let c = MemberConfig::load(&path).unwrap();
    assert_eq!(c.member_count(), 3);
}

#[test]
fn load_errors_name_the_file_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    fs::write(&path, common::with(&[(7, "stripe_size = 1000")])).unwrap();
    let e = MemberConfig::load(&path).unwrap_err();
    assert_eq!(e.file(), path);
    assert_eq!(e.line(), Some(7));
    assert_eq!(e.field(), Some("cluster.stripe_size"));
    assert!(e
        .to_string()
        .starts_with(&format!("{}:7:15: ", path.display())));
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let e = MemberConfig::load(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(e.file(), path);
    assert_eq!(e.line(), None);
    assert!(e.to_string().contains("nope.toml"), "{e}");
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn invalid_utf8_is_reported_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.toml");
    let mut bytes = BASE.as_bytes().to_vec();
    let at = BASE.find("demo").unwrap();
    bytes[at] = 0xE9; // a Latin-1 'é', not UTF-8
    fs::write(&path, bytes).unwrap();
    let e = MemberConfig::load(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert_eq!(e.line(), Some(5));
    assert_eq!(e.column(), Some(9));
}

#[test]
fn save_then_load_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let configs = local_cluster("demo", "0123456789abcdef", 3, dir.path(), 8400, 7400, 1);
    for c in &configs {
        let path = dir.path().join(format!("member-{}.toml", c.id));
        c.save(&path).unwrap();
        assert_eq!(&MemberConfig::load(&path).unwrap(), c);
    }
}

#[test]
fn save_replaces_the_file_and_leaves_no_temporary_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("member.toml");
    fs::write(&path, "old contents").unwrap();
    let c = MemberConfig::parse(BASE, &path).unwrap();
    c.save(&path).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), c.to_toml_string());
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("member.toml")]);
}

#[cfg(unix)]
#[test]
fn saved_file_is_private_because_it_holds_the_secret() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("member.toml");
    MemberConfig::parse(BASE, &path)
        .unwrap()
        .save(&path)
        .unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn save_refuses_an_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("member.toml");
    let mut c = MemberConfig::parse(BASE, &path).unwrap();
    c.cluster.parity = 3;
    let e = c.save(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parity);
    assert_eq!(e.field(), Some("cluster.parity"));
    assert_eq!(e.file(), path);
    assert!(!path.exists());
}

#[test]
fn save_into_a_missing_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/member.toml");
    let c = MemberConfig::parse(BASE, &path).unwrap();
    let e = c.save(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(e.file(), path);
}
