//! Names of fragment files on a member's disk.
//!
//! ```text
//! <prefix>-<hash>.i<incarnation>.<index>of<count>.frag
//! movies_trailer.mp4-3f2a9c1d0e4b5a6778c0d1e2f3a4b5c6.i7.0of3.frag
//! ```
//!
//! * `hash`: the first 16 bytes of BLAKE3 of the full object name, 32 lowercase
//!   hex digits. It makes the file name unique per object whatever the name holds
//!   (any UTF-8 up to 1024 bytes, `/` included).
//! * `prefix`: the first 40 characters of the name with everything outside
//!   `[A-Za-z0-9._-]` replaced by `_` and a leading `.` replaced by `_`, for humans
//!   running `ls`; it carries no meaning.
//! * `index` is the fragment index (member column), 0-based; `count` the fragment
//!   count, so the modulus-N and modulus-N+1 sets of one object coexist.
//!
//! A file name is at most ~110 bytes. Files being written have a temporary name
//! that starts with `.` and ends in `.tmp`, so they are never taken for a
//! fragment. [`FragmentName::parse`] accepts only the canonical rendering
//! (re-rendering the parsed name must give the same string), so two different
//! strings never name the same fragment.

use crate::error::DecodeError;
use crate::incarnation::Incarnation;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// File name suffix of a complete fragment.
pub const FRAG_SUFFIX: &str = ".frag";
/// File name suffix of a fragment being written.
pub const TEMP_SUFFIX: &str = ".tmp";
/// Characters of the readable prefix.
pub const PREFIX_MAX: usize = 40;

const WHAT: &str = "fragment file name";

/// A parsed fragment file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FragmentName {
    /// Sanitised prefix of the object name.
    pub prefix: String,
    /// First 16 bytes of BLAKE3 of the full object name.
    pub hash: [u8; 16],
    /// Object incarnation.
    pub incarnation: Incarnation,
    /// Fragment index (member column), 0-based.
    pub index: u8,
    /// Fragment count.
    pub count: u8,
}

/// The 16-byte object hash used in file names.
pub fn object_hash(object: &str) -> [u8; 16] {
    let h = blake3::hash(object.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.as_bytes()[..16]);
    out
}

/// The readable prefix for an object name.
pub fn sanitize_prefix(object: &str) -> String {
    let mut s: String = object
        .chars()
        .take(PREFIX_MAX)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with('.') {
        s.replace_range(..1, "_");
    }
    s
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 || !s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl FragmentName {
    /// The name of fragment `index` of `count` of `object` at `incarnation`.
    pub fn new(object: &str, incarnation: Incarnation, index: u8, count: u8) -> FragmentName {
        FragmentName {
            prefix: sanitize_prefix(object),
            hash: object_hash(object),
            incarnation,
            index,
            count,
        }
    }

    /// The file name.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}.i{}.{}of{}{FRAG_SUFFIX}",
            self.prefix,
            hex(&self.hash),
            self.incarnation,
            self.index,
            self.count
        )
    }

    /// The fan-out subdirectory of this fragment under a member's fragment
    /// directory: the first byte of the object hash in hex (`00`..`ff`), so
    /// every incarnation of one object shares it (see [`crate::fragment::tree`]).
    pub fn shard(&self) -> String {
        format!("{:02x}", self.hash[0])
    }

    /// Where this fragment lives under the fragment directory `root`.
    pub fn path_in(&self, root: &Path) -> PathBuf {
        root.join(self.shard()).join(self.file_name())
    }

    /// True if this file belongs to `object` (compares the hash).
    pub fn is_for(&self, object: &str) -> bool {
        self.hash == object_hash(object)
    }

    /// Parses a file name (not a path). Only canonical names are accepted.
    pub fn parse(file_name: &str) -> Result<FragmentName, DecodeError> {
        let bad = |reason: &str| {
            DecodeError::invalid(WHAT, "file name", format!("{file_name:?}: {reason}"))
        };
        let stem = file_name
            .strip_suffix(FRAG_SUFFIX)
            .ok_or_else(|| bad("does not end in .frag"))?;
        let mut parts = stem.rsplitn(3, '.');
        let of = parts.next().ok_or_else(|| bad("no <index>of<count>"))?;
        let inc = parts.next().ok_or_else(|| bad("no incarnation"))?;
        let base = parts.next().ok_or_else(|| bad("no object part"))?;
        let (index, count) = of
            .split_once("of")
            .ok_or_else(|| bad("no <index>of<count>"))?;
        let index: u8 = index.parse().map_err(|_| bad("bad index"))?;
        let count: u8 = count.parse().map_err(|_| bad("bad count"))?;
        if count == 0 || index >= count {
            return Err(bad("index must be below a non-zero count"));
        }
        let incarnation: u32 = inc
            .strip_prefix('i')
            .ok_or_else(|| bad("no incarnation"))?
            .parse()
            .map_err(|_| bad("bad incarnation"))?;
        let (prefix, hash) = base.rsplit_once('-').ok_or_else(|| bad("no hash"))?;
        let hash = unhex(hash).ok_or_else(|| bad("hash is not 32 lowercase hex digits"))?;
        if prefix.is_empty()
            || prefix.chars().count() > PREFIX_MAX
            || prefix.starts_with('.')
            || !prefix
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        {
            return Err(bad("bad prefix"));
        }
        let parsed = FragmentName {
            prefix: prefix.to_owned(),
            hash,
            incarnation: Incarnation::new(incarnation),
            index,
            count,
        };
        if parsed.file_name() != file_name {
            return Err(bad("not in canonical form"));
        }
        Ok(parsed)
    }
}

impl std::fmt::Display for FragmentName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.file_name())
    }
}

/// A fresh temporary name in `dir` (the fragment directory's `.tmp/`) for
/// writing `final_name`.
pub fn temp_path(dir: &Path, final_name: &str) -> PathBuf {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(
        ".{final_name}.{}-{seq}{TEMP_SUFFIX}",
        std::process::id()
    ))
}

/// True for names this module gives to fragments being written.
pub fn is_temp_name(file_name: &str) -> bool {
    file_name.starts_with('.')
        && file_name.ends_with(TEMP_SUFFIX)
        && file_name.contains(FRAG_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn example() {
        let n = FragmentName::new("movies/trailer.mp4", Incarnation::new(7), 0, 3);
        let f = n.file_name();
        assert!(f.starts_with("movies_trailer.mp4-"));
        assert!(f.ends_with(".i7.0of3.frag"));
        assert_eq!(FragmentName::parse(&f).unwrap(), n);
        assert!(n.is_for("movies/trailer.mp4"));
        assert!(!n.is_for("movies/trailer.mp5"));
        assert_eq!(sanitize_prefix(".."), "_.");
        assert_eq!(sanitize_prefix("é/x"), "__x");
    }

    #[test]
    fn every_incarnation_of_an_object_shares_its_shard() {
        let a = FragmentName::new("movies/x.ts", Incarnation::new(3), 1, 3);
        let b = FragmentName::new("movies/x.ts", Incarnation::new(900), 0, 4);
        assert_eq!(a.shard(), b.shard());
        assert_eq!(a.shard().len(), 2);
        let p = a.path_in(Path::new("/d"));
        assert_eq!(p, Path::new("/d").join(a.shard()).join(a.file_name()));
    }

    #[test]
    fn n_and_n_plus_1_coexist() {
        let a = FragmentName::new("obj", Incarnation::new(3), 1, 3).file_name();
        let b = FragmentName::new("obj", Incarnation::new(3), 1, 4).file_name();
        assert_ne!(a, b);
    }

    #[test]
    fn rejects() {
        for bad in [
            "x.frag",
            "a-00.i1.0of3.frag",
            "a-0123456789abcdef0123456789ABCDEF.i1.0of3.frag",
            "a-0123456789abcdef0123456789abcdef.i1.3of3.frag",
            "a-0123456789abcdef0123456789abcdef.i01.0of3.frag",
            "a-0123456789abcdef0123456789abcdef.1.0of3.frag",
            ".a-0123456789abcdef0123456789abcdef.i1.0of3.frag",
            "a/b-0123456789abcdef0123456789abcdef.i1.0of3.frag",
            "a-0123456789abcdef0123456789abcdef.i1.0of3.frag.tmp",
            "a-0123456789abcdef0123456789abcdef.i1.0of0.frag",
        ] {
            assert!(FragmentName::parse(bad).is_err(), "{bad}");
        }
        assert!(FragmentName::parse("a-0123456789abcdef0123456789abcdef.i1.0of3.frag").is_ok());
    }

    proptest! {
        #[test]
        fn any_name_round_trips(name in "\\PC{1,300}", inc in any::<u32>(), count in 1u8..=255, idx in any::<u8>()) {
            let n = FragmentName::new(&name, Incarnation::new(inc), idx % count, count);
            let f = n.file_name();
            prop_assert!(f.len() < 255);
            prop_assert!(!f.contains('/') && !f.starts_with('.'));
            prop_assert_eq!(FragmentName::parse(&f).unwrap(), n);
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,120}") {
            let _ = FragmentName::parse(&s);
        }
    }
}
