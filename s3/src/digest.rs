//! The digests of a body as it streams past: MD5 (the ETag and
//! Content-MD5) and the checksum an SDK sent (`x-amz-checksum-crc32`,
//! `-crc32c`, `-crc64nvme`, `-sha1`, `-sha256`, in a header or in the
//! trailer of an `aws-chunked` body). [`Expected::verify`] compares them
//! before the object is committed: a body that does not match is dropped
//! and nothing is stored.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::Bytes;
use futures::Stream;
use md5::{Digest, Md5};
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};

/// What the client says the body is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Content-MD5, base64.
    pub md5: Option<String>,
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
}

/// Why a body is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error("the Content-MD5 you specified did not match what we received")]
    Md5,
    #[error("the {0} checksum you specified did not match what we received")]
    Checksum(&'static str),
}

/// The digests of what streamed past.
pub struct Sums {
    md5: Md5,
    hasher: ChecksumHasher,
}

impl Sums {
    /// Sums for a body expected to match `e` (only the checksums it names).
    pub fn for_expected(e: &Expected, trailer_algorithm: Option<&str>) -> Sums {
        let wants = |name: &str, given: &Option<String>| {
            given.is_some() || trailer_algorithm.is_some_and(|a| a.eq_ignore_ascii_case(name))
        };
        Sums {
            md5: Md5::new(),
            hasher: ChecksumHasher {
                crc32: wants("crc32", &e.crc32).then(Crc32::new),
                crc32c: wants("crc32c", &e.crc32c).then(Crc32c::new),
                sha1: wants("sha1", &e.sha1).then(Sha1::new),
                sha256: wants("sha256", &e.sha256).then(Sha256::new),
                crc64nvme: wants("crc64nvme", &e.crc64nvme).then(Crc64Nvme::new),
            },
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.hasher.update(data);
    }

    /// The MD5 as lower-case hex, and the checksums, comparing them with `e`.
    pub fn verify(self, e: &Expected) -> Result<String, Mismatch> {
        let md5 = self.md5.finalize();
        if let Some(given) = &e.md5 {
            let b64 = base64::engine::general_purpose::STANDARD.encode(md5);
            if given.trim() != b64 {
                return Err(Mismatch::Md5);
            }
        }
        let got = self.hasher.finalize();
        let pairs = [
            ("crc32", &e.crc32, &got.checksum_crc32),
            ("crc32c", &e.crc32c, &got.checksum_crc32c),
            ("crc64nvme", &e.crc64nvme, &got.checksum_crc64nvme),
            ("sha1", &e.sha1, &got.checksum_sha1),
            ("sha256", &e.sha256, &got.checksum_sha256),
        ];
        for (name, want, got) in pairs {
            if let Some(w) = want {
                if got.as_deref() != Some(w.trim()) {
                    return Err(Mismatch::Checksum(name));
                }
            }
        }
        Ok(md5.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// A body stream that feeds every chunk to shared [`Sums`].
pub struct Summed<S> {
    inner: S,
    sums: Arc<Mutex<Option<Sums>>>,
}

impl<S> Summed<S> {
    pub fn new(inner: S, sums: Arc<Mutex<Option<Sums>>>) -> Summed<S> {
        Summed { inner, sums }
    }
}

impl<S, E> Stream for Summed<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &item {
            if let Some(s) = self.sums.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                s.update(chunk);
            }
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_and_checksums_are_checked() {
        let body = b"hello world";
        // MD5 of "hello world".
        let md5_b64 = "XrY7u+Ae7tCTyyK7j1rNww==";
        let ok = Expected {
            md5: Some(md5_b64.into()),
            ..Expected::default()
        };
        let mut s = Sums::for_expected(&ok, None);
        s.update(body);
        assert_eq!(s.verify(&ok).unwrap(), "5eb63bbbe01eeed093cb22bb8f5acdc3");

        let bad = Expected {
            md5: Some("AAAAAAAAAAAAAAAAAAAAAA==".into()),
            ..Expected::default()
        };
        let mut s = Sums::for_expected(&bad, None);
        s.update(body);
        assert_eq!(s.verify(&bad), Err(Mismatch::Md5));

        // CRC32 of "hello world" is 0x0d4a1185.
        let crc = base64::engine::general_purpose::STANDARD.encode(0x0d4a_1185u32.to_be_bytes());
        let e = Expected {
            crc32: Some(crc),
            ..Expected::default()
        };
        let mut s = Sums::for_expected(&e, None);
        s.update(body);
        assert!(s.verify(&e).is_ok());
        let e = Expected {
            crc32: Some("AAAAAA==".into()),
            ..Expected::default()
        };
        let mut s = Sums::for_expected(&e, None);
        s.update(b"hello");
        s.update(b" world");
        assert_eq!(s.verify(&e), Err(Mismatch::Checksum("crc32")));
    }
}
