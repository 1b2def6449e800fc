//! What an S3 client stores beside an object's bytes: its ETag, Content-Type
//! and `x-amz-meta-*` headers. They are committed in the same log entry as
//! the object's record, so they are current exactly when the record is, and
//! go when the object is overwritten or deleted.
//!
//! Invariant: bounded, like S3's own limit on user metadata: at most
//! [`MAX_ATTR_BYTES`] in all (checked before the write by
//! [`ObjectAttrs::check`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Bytes of Content-Type, ETag and user metadata an object may carry.
pub const MAX_ATTR_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectAttrs {
    /// The ETag, quoted as S3 sends it (MD5 of the body, or of the parts' MD5s with `-N`).
    pub etag: String,
    pub content_type: Option<String>,
    /// `x-amz-meta-*` headers, names without the prefix, lower case.
    pub user: BTreeMap<String, String>,
}

impl ObjectAttrs {
    /// Bytes these attributes take.
    pub fn size_bytes(&self) -> usize {
        self.etag.len()
            + self.content_type.as_ref().map_or(0, String::len)
            + self
                .user
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }

    /// Whether they fit the limit.
    pub fn check(&self) -> Result<(), String> {
        let n = self.size_bytes();
        if n > MAX_ATTR_BYTES {
            return Err(format!(
                "object metadata is {n} bytes; at most {MAX_ATTR_BYTES}"
            ));
        }
        Ok(())
    }
}
