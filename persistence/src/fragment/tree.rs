//! A member's fragment directory as a tree: 256 fan-out subdirectories.
//!
//! ```text
//! fragments/
//!   00/ .. ff/                      shard = first byte of the object hash, hex
//!     <prefix>-<hash>.i<inc>.<index>of<count>.frag
//!   .tmp/                           fragments being written (renamed into
//!                                   their shard when finished)
//! ```
//!
//! Why: a fragment is found by computing its path ([`FragmentName::path_in`]),
//! never by listing a directory, and no directory holds more than about
//! 1/256 of a member's fragments, so a million fragments per member is
//! ~4,000 entries per directory. Every incarnation of one object shares a
//! shard (the hash is of the name alone).
//!
//! Listing is for walks that are not on the data path (scrub, start-up
//! clean-up): [`list_shard`] walks one shard, so a walk can go shard by
//! shard; [`list_fragments`] walks them all. Every directory listed is
//! counted ([`directory_scans`]) so tests can assert that reads and writes
//! list nothing.
//!
//! Fragments written by earlier versions sit directly in `fragments/`;
//! [`adopt_flat_fragments`] moves them into their shards (once, at start).
//! Fragments being written live in `.tmp/` until finished, so the clean-up
//! after a crash lists that one directory, not every shard; temporaries an
//! earlier version left in the shards are swept once, when `.tmp/` is
//! first created.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::name::{is_temp_name, FragmentName};

/// Fan-out subdirectories of a fragment directory.
pub const SHARDS: usize = 256;

static DIRECTORY_SCANS: AtomicU64 = AtomicU64::new(0);

/// Directories listed by this process through this module since it started.
pub fn directory_scans() -> u64 {
    DIRECTORY_SCANS.load(Ordering::Relaxed)
}

fn read_dir(dir: &Path) -> std::io::Result<std::fs::ReadDir> {
    DIRECTORY_SCANS.fetch_add(1, Ordering::Relaxed);
    std::fs::read_dir(dir)
}

/// The name of shard `i` (`00`..`ff`).
pub fn shard_name(i: u8) -> String {
    format!("{i:02x}")
}

/// The directory of `root`'s fragments being written.
pub const TEMP_DIR: &str = ".tmp";

/// Where fragments of `root` are written before they are finished.
pub fn temp_dir(root: &Path) -> PathBuf {
    root.join(TEMP_DIR)
}

/// Creates every shard directory of `root` and its temporary directory
/// (idempotent).
pub fn create_shards(root: &Path) -> std::io::Result<()> {
    for i in 0..=u8::MAX {
        std::fs::create_dir_all(root.join(shard_name(i)))?;
    }
    std::fs::create_dir_all(temp_dir(root))
}

/// Complete fragment files directly in `dir`; temporary files and others skipped.
fn fragments_in(dir: &Path, out: &mut Vec<(PathBuf, FragmentName)>) -> std::io::Result<()> {
    let entries = match read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Ok(parsed) = FragmentName::parse(name) {
            if entry.file_type()?.is_file() {
                out.push((entry.path(), parsed));
            }
        }
    }
    Ok(())
}

/// The complete fragment files of shard `shard` of `root`, sorted by name.
pub fn list_shard(root: &Path, shard: u8) -> std::io::Result<Vec<(PathBuf, FragmentName)>> {
    let mut out = Vec::new();
    fragments_in(&root.join(shard_name(shard)), &mut out)?;
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Every complete fragment file under `root` (all shards, and any left
/// flat in `root` itself), sorted by name.
pub fn list_fragments(root: &Path) -> std::io::Result<Vec<(PathBuf, FragmentName)>> {
    let mut out = Vec::new();
    fragments_in(root, &mut out)?;
    for i in 0..=u8::MAX {
        fragments_in(&root.join(shard_name(i)), &mut out)?;
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Removes temporary fragment files left behind by a crash; returns how
/// many. Lists `root`'s temporary directory only, unless it does not exist
/// yet (a store written by an earlier version): then `root` and every shard
/// once. Only call when no writer of `root` runs, before [`create_shards`].
pub fn remove_stale_temps(root: &Path) -> std::io::Result<usize> {
    let tmp = temp_dir(root);
    let dirs: Vec<PathBuf> = if tmp.is_dir() {
        vec![tmp]
    } else {
        std::iter::once(root.to_path_buf())
            .chain((0..=u8::MAX).map(|i| root.join(shard_name(i))))
            .collect()
    };
    let mut n = 0;
    for dir in dirs {
        let entries = match read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_name().to_str().is_some_and(is_temp_name) && entry.file_type()?.is_file()
            {
                std::fs::remove_file(entry.path())?;
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Moves fragments written flat into `root` by earlier versions into their
/// shards, fsyncing each shard and `root`; returns how many moved.
pub fn adopt_flat_fragments(root: &Path) -> std::io::Result<usize> {
    let mut flat = Vec::new();
    fragments_in(root, &mut flat)?;
    let mut touched = std::collections::BTreeSet::new();
    for (path, name) in &flat {
        let to = name.path_in(root);
        if let Some(shard) = to.parent() {
            std::fs::create_dir_all(shard)?;
            touched.insert(shard.to_path_buf());
        }
        std::fs::rename(path, &to)?;
    }
    if !flat.is_empty() {
        for dir in touched.iter().chain(std::iter::once(&root.to_path_buf())) {
            std::fs::File::open(dir)?.sync_all()?;
        }
    }
    Ok(flat.len())
}

#[cfg(test)]
mod tests {
    use super::super::name::temp_path;
    use super::*;

    #[test]
    fn lists_skip_temps_and_junk_and_count_as_scans() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        create_shards(root).unwrap();
        let a = FragmentName::new("a", crate::Incarnation::new(1), 0, 3);
        let b = FragmentName::new("b", crate::Incarnation::new(1), 2, 3);
        std::fs::write(a.path_in(root), b"").unwrap();
        std::fs::write(b.path_in(root), b"").unwrap();
        let shard_a = a.path_in(root).parent().unwrap().to_path_buf();
        let t = temp_path(&temp_dir(root), &a.file_name());
        std::fs::write(&t, b"").unwrap();
        std::fs::write(shard_a.join("notes.txt"), b"").unwrap();
        let before = directory_scans();
        let got: Vec<_> = list_fragments(root)
            .unwrap()
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        assert!(directory_scans() >= before + 257);
        assert_eq!(got.len(), 2);
        assert!(got.contains(&a) && got.contains(&b));
        let one = list_shard(root, a.hash[0]).unwrap();
        assert!(one.iter().any(|(p, n)| *n == a && *p == a.path_in(root)));
        let before = directory_scans();
        assert_eq!(remove_stale_temps(root).unwrap(), 1);
        assert_eq!(
            directory_scans(),
            before + 1,
            "only the temporary directory"
        );
        assert!(!t.exists());
    }

    /// A store of an earlier version kept temporaries in its shards: the
    /// first open (no `.tmp/` yet) sweeps them all, later opens list one
    /// directory.
    #[test]
    fn temporaries_an_earlier_version_left_in_shards_are_swept_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for i in 0..=u8::MAX {
            std::fs::create_dir_all(root.join(shard_name(i))).unwrap();
        }
        let a = FragmentName::new("a", crate::Incarnation::new(1), 0, 3);
        let shard_a = a.path_in(root).parent().unwrap().to_path_buf();
        let old = temp_path(&shard_a, &a.file_name());
        std::fs::write(&old, b"").unwrap();
        assert_eq!(remove_stale_temps(root).unwrap(), 1);
        assert!(!old.exists());
        create_shards(root).unwrap();
        let before = directory_scans();
        assert_eq!(remove_stale_temps(root).unwrap(), 0);
        assert_eq!(directory_scans(), before + 1);
    }

    #[test]
    fn flat_fragments_of_an_older_version_move_into_their_shards() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let names: Vec<FragmentName> = (0..20)
            .map(|i| FragmentName::new(&format!("obj-{i}"), crate::Incarnation::new(i), 1, 3))
            .collect();
        for n in &names {
            std::fs::write(root.join(n.file_name()), n.file_name()).unwrap();
        }
        assert_eq!(adopt_flat_fragments(root).unwrap(), 20);
        for n in &names {
            assert_eq!(
                std::fs::read_to_string(n.path_in(root)).unwrap(),
                n.file_name()
            );
            assert!(!root.join(n.file_name()).exists());
        }
        assert_eq!(adopt_flat_fragments(root).unwrap(), 0, "idempotent");
        assert_eq!(list_fragments(root).unwrap().len(), 20);
    }
}
