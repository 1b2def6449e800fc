//! Typed errors of the persistence crate.
//!
//! Invariant: every decoder of bytes that came from disk or from sled (fragment
//! header, HomeBlock, catalog records, fragment file names) reports what is wrong
//! through [`DecodeError`] and never panics. The other enums wrap it with the
//! context of the operation (a file, a catalog key, a block number).

use std::path::PathBuf;

/// What is wrong with a byte string that should hold one of our on-disk formats.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the format needs.
    #[error("{what}: truncated: need {need} bytes, got {got}")]
    Truncated {
        /// Which structure was being decoded.
        what: &'static str,
        /// Bytes the format needs.
        need: usize,
        /// Bytes there were.
        got: usize,
    },
    /// More bytes than the format allows (a fixed-size structure or a framed record).
    #[error("{what}: {extra} trailing bytes")]
    TrailingBytes {
        /// Which structure was being decoded.
        what: &'static str,
        /// Bytes past the end of the structure.
        extra: usize,
    },
    /// A major or minor version this build does not understand.
    #[error("{what}: unsupported version {major}.{minor}")]
    UnsupportedVersion {
        /// Which structure was being decoded.
        what: &'static str,
        /// Major version found.
        major: u8,
        /// Minor version found.
        minor: u8,
    },
    /// A byte that must be zero is not.
    #[error("{what}: must-be-zero byte at offset {offset} is {value:#04x}")]
    NonZeroMbz {
        /// Which structure was being decoded.
        what: &'static str,
        /// Offset of the first non-zero byte.
        offset: usize,
        /// Its value.
        value: u8,
    },
    /// The stored checksum does not match the bytes.
    #[error("{what}: checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// Which structure was being decoded.
        what: &'static str,
        /// Checksum found in the bytes.
        stored: u32,
        /// Checksum computed over the bytes.
        computed: u32,
    },
    /// A field holds a value that is out of range or inconsistent with the others.
    #[error("{what}: invalid {field}: {reason}")]
    InvalidField {
        /// Which structure was being decoded.
        what: &'static str,
        /// The field.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
}

impl DecodeError {
    pub(crate) fn invalid(
        what: &'static str,
        field: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        DecodeError::InvalidField {
            what,
            field,
            reason: reason.into(),
        }
    }
}

/// A member count / parity count combination that has no layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// Fewer members than the scheme needs, or more than a fragment header can count.
    #[error("unsupported layout: {members} members with {parity} parity blocks per row: {reason}")]
    Unsupported {
        /// Members asked for.
        members: usize,
        /// Parity blocks per row asked for.
        parity: usize,
        /// Why there is no such layout.
        reason: &'static str,
    },
    /// A stripe size the fragment format and the codecs cannot use.
    #[error("invalid stripe size {0}: must be a multiple of 64 between 64 bytes and 64 MiB")]
    StripeSize(u64),
}

/// Parity encode/reconstruct failures; all are caller errors or too many losses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// More shards of a row are missing than the parity can restore.
    #[error("cannot reconstruct: {missing} shards missing, parity restores at most {max}")]
    TooManyMissing {
        /// Shards missing.
        missing: usize,
        /// Parity count m.
        max: usize,
    },
    /// The row does not have k data (+ m parity) shards.
    #[error("wrong shard count: expected {expected}, got {got}")]
    ShardCount {
        /// Shards expected.
        expected: usize,
        /// Shards given.
        got: usize,
    },
    /// Shards of one row differ in length.
    #[error("bad shard length: {0}")]
    ShardLength(String),
    /// The scheme has no parity (RAID-0), so there is nothing to encode or reconstruct from.
    #[error("layout has no parity")]
    NoParity,
    /// Reed-Solomon engine failure that the checks above did not anticipate.
    #[error("reed-solomon: {0}")]
    ReedSolomon(String),
}

/// Fragment file failures: I/O, a bad header, or a block that fails its checksum.
#[derive(Debug, thiserror::Error)]
pub enum FragmentError {
    /// An operating-system error on the file or its directory.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The header block (or the name tail) does not decode.
    #[error("{path}: bad fragment header: {source}")]
    Header {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: DecodeError,
    },
    /// The file is not as long as its header says it must be.
    #[error("{path}: file is {actual} bytes, header implies {expected}")]
    Length {
        /// The file.
        path: PathBuf,
        /// Length implied by the header.
        expected: u64,
        /// Length on disk.
        actual: u64,
    },
    /// A block's bytes do not match its stored checksum: reconstruct it from its row.
    #[error(
        "{path}: block {lbn} checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
    )]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// Local block number of the bad block.
        lbn: u64,
        /// Checksum stored in the table.
        stored: u32,
        /// Checksum of the bytes read.
        computed: u32,
    },
    /// A local block number past the end of the fragment.
    #[error("{path}: block {lbn} out of range (fragment has {blocks} blocks)")]
    BlockOutOfRange {
        /// The file.
        path: PathBuf,
        /// Block asked for.
        lbn: u64,
        /// Blocks in the fragment.
        blocks: u64,
    },
    /// A block buffer of the wrong size.
    #[error("block of {got} bytes, stripe size is {stripe}")]
    BlockSize {
        /// Bytes given.
        got: usize,
        /// Stripe size.
        stripe: u32,
    },
    /// `finish` was called with a length that does not match the blocks appended.
    #[error("object of {object_len} bytes needs {expected} blocks in this fragment, {appended} were appended")]
    BlockCount {
        /// Object length given to `finish`.
        object_len: u64,
        /// Blocks the layout needs.
        expected: u64,
        /// Blocks appended.
        appended: u64,
    },
    /// Parameters that cannot make a fragment (bad layout, index, name, stripe size).
    #[error("invalid fragment parameters: {0}")]
    Params(String),
    /// A write on a fragment opened read-only.
    #[error("{path}: fragment opened read-only")]
    ReadOnly {
        /// The file.
        path: PathBuf,
    },
}

impl FragmentError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FragmentError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Catalog failures: sled, or a stored value that does not decode.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// sled reported an error (I/O, corruption of its own log, ...).
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value or key does not decode.
    #[error("corrupt catalog entry in tree {tree} (key {key:?}): {source}")]
    Corrupt {
        /// The sled tree.
        tree: &'static str,
        /// The key, lossily printed.
        key: String,
        /// What is wrong.
        #[source]
        source: DecodeError,
    },
    /// A value the caller passed that cannot be stored (empty or over-long name, member id out of range).
    #[error("invalid argument: {0}")]
    Invalid(String),
}
