//! Multipart uploads: each part is a cluster object of its own while it
//! waits (striped and protected like any object), named
//! `.multipart/BUCKET/UPLOAD_ID/pNNNNN`, beside an empty `info` object whose
//! attributes hold the final key, Content-Type and user metadata. None of
//! these names is in a bucket (a bucket name never starts with `.`), so
//! no listing shows them and they keep no bucket from being deleted.
//!
//! Completing streams the named parts, in order, into the final object
//! (one ordinary PUT: acknowledged only once committed; its ETag is the
//! MD5 of the parts' MD5s with `-N`), then removes the parts and the info.
//! Aborting removes them. Invariant: a completed or aborted upload leaves
//! no object behind; an upload left open is removed with its parts once it
//! is older than `[store] multipart_expiry_s` (see `expiry`).

use md5::{Digest, Md5};

/// Part numbers S3 allows.
pub const MAX_PART_NUMBER: i32 = 10_000;

/// Where the uploads of every bucket live.
pub const ROOT: &str = ".multipart";

/// The user-metadata name under which `info` keeps the final key.
pub const KEY_ATTR: &str = "x-stripecast-key";

/// The prefix (under [`ROOT`]) of one upload's objects.
pub fn upload_prefix(bucket: &str, upload_id: &str) -> String {
    format!("{bucket}/{upload_id}/")
}

/// The name of an upload's info object.
pub fn info_name(bucket: &str, upload_id: &str) -> String {
    format!("{ROOT}/{}info", upload_prefix(bucket, upload_id))
}

/// The name of part `n`.
pub fn part_name(bucket: &str, upload_id: &str, n: i32) -> String {
    format!("{ROOT}/{}p{n:05}", upload_prefix(bucket, upload_id))
}

/// The part number of a part's name (past the upload's prefix).
pub fn part_number(rest: &str) -> Option<i32> {
    rest.strip_prefix('p')?.parse().ok()
}

/// A fresh upload id: 32 random hex digits.
pub fn new_upload_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `id` looks like an upload id (so it cannot reach other names).
pub fn valid_upload_id(id: &str) -> bool {
    id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit())
}

/// The ETag of a multipart object: MD5 of the parts' binary MD5s, `-N`.
pub fn multipart_etag(part_md5_hex: &[String]) -> Option<String> {
    let mut h = Md5::new();
    for hex in part_md5_hex {
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|b| u8::from_str_radix(b, 16).ok())
            })
            .collect();
        h.update(bytes?);
    }
    let sum: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("{sum}-{}", part_md5_hex.len()))
}

/// One open upload as ListMultipartUploads shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OpenUpload {
    pub key: String,
    pub upload_id: String,
    pub initiated_ns: u64,
}

/// The page of `uploads` after the markers (S3's order: key, then upload
/// id; `key_marker` alone skips that key's uploads, with `id_marker` only
/// those up to it), at most `max`; and whether more follow.
pub fn page_uploads(
    mut uploads: Vec<OpenUpload>,
    key_marker: &str,
    id_marker: &str,
    max: usize,
) -> (Vec<OpenUpload>, bool) {
    uploads.sort();
    let after = |u: &OpenUpload| {
        key_marker.is_empty()
            || u.key.as_str() > key_marker
            || (u.key == key_marker && !id_marker.is_empty() && u.upload_id.as_str() > id_marker)
    };
    let mut page: Vec<OpenUpload> = uploads.into_iter().filter(after).take(max + 1).collect();
    let truncated = page.len() > max;
    page.truncate(max);
    (page, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_pages_follow_key_then_id_and_say_when_more_follow() {
        let u = |key: &str, id: &str| OpenUpload {
            key: key.into(),
            upload_id: id.into(),
            initiated_ns: 0,
        };
        let all = vec![u("b", "2"), u("a", "9"), u("b", "1"), u("c", "5")];
        let (p, more) = page_uploads(all.clone(), "", "", 2);
        assert_eq!(p, vec![u("a", "9"), u("b", "1")]);
        assert!(more);
        let (p, more) = page_uploads(all.clone(), "b", "1", 2);
        assert_eq!(p, vec![u("b", "2"), u("c", "5")]);
        assert!(!more);
        let (p, _) = page_uploads(all.clone(), "b", "", 10);
        assert_eq!(p, vec![u("c", "5")], "a key marker alone skips that key");
        let (p, more) = page_uploads(all, "", "", 10);
        assert_eq!(p.len(), 4);
        assert!(!more);
    }

    #[test]
    fn names_and_etags() {
        let id = new_upload_id();
        assert!(valid_upload_id(&id));
        assert_ne!(id, new_upload_id());
        assert!(!valid_upload_id("../x"));
        assert_eq!(part_name("b", &id, 7), format!(".multipart/b/{id}/p00007"));
        assert_eq!(part_number("p00007"), Some(7));
        assert_eq!(part_number("info"), None);
        // Two parts "a" and "b": MD5(md5("a") ++ md5("b")) with "-2".
        let a = "0cc175b9c0f1b6a831c399e269772661".to_string();
        let b = "92eb5ffee6ae2fec3ad71c777531578f".to_string();
        let tag = multipart_etag(&[a, b]).unwrap();
        assert!(tag.ends_with("-2") && tag.len() == 34, "{tag}");
        assert_eq!(multipart_etag(&["zz".into()]), None);
    }
}
