//! The numeric limits and defaults that validation enforces.
//!
//! They live in one place because the rendering comments, the validation rules,
//! `local_cluster` and the tests all have to agree on them. The reasons for each
//! bound are on-disk or protocol facts from `DESIGN.md`, noted per constant.

/// Default stripe (block) size in bytes: 64 KiB, as in the design document.
pub const DEFAULT_STRIPE_SIZE: u32 = 64 * 1024;

/// Smallest accepted stripe size: one page; smaller blocks make the per-block
/// checksum and message overhead dominate.
pub const MIN_STRIPE_SIZE: u32 = 4 * 1024;

/// Largest accepted stripe size: 16 MiB; a block is held in memory whole while
/// it is rebuilt or sent as one frame, so this bounds per-request memory.
pub const MAX_STRIPE_SIZE: u32 = 16 * 1024 * 1024;

/// Default parity count: one XOR parity block per row (RAID-5), or the mirror
/// when the cluster has two members.
pub const DEFAULT_PARITY: u8 = 1;

/// Minimum cluster secret length in bytes, so the HMAC handshake key is not
/// trivially guessable.
pub const MIN_SECRET_LEN: usize = 16;

/// A secret shorter than this (bytes), or with fewer than
/// [`STRONG_SECRET_DISTINCT`] distinct bytes, is accepted with a warning:
/// 16 bytes of a word or a date can be guessed offline from one captured
/// handshake.
pub const STRONG_SECRET_LEN: usize = 32;
pub const STRONG_SECRET_DISTINCT: usize = 10;

/// Fewest members a cluster can have (two members form the mirror).
pub const MIN_MEMBERS: usize = 2;

/// Most members a cluster can have: the fragment header and the HomeBlock store
/// the member count and the logical id in one byte each.
pub const MAX_MEMBERS: usize = 255;

/// Upper bound for every timeout: one day. Far beyond any sensible value, and it
/// keeps `Instant + Duration` arithmetic in other crates from overflowing and
/// every value representable as a TOML (signed 64-bit) integer.
pub const MAX_TIMEOUT_MS: u64 = 24 * 60 * 60 * 1000;

/// Default number of open fragment files a member keeps for reads.
pub const DEFAULT_READER_CACHE_FILES: u32 = 256;

/// Most open fragment files a member may keep for reads: each is a file
/// descriptor, and the process's limit is usually a few thousand to 1 Mi.
pub const MAX_READER_CACHE_FILES: u32 = 65_536;

/// Objects a returning member rebuilds at once, by default.
pub const DEFAULT_HEAL_OBJECTS_IN_FLIGHT: u32 = 4;

/// Most objects a returning member may rebuild at once.
pub const MAX_HEAL_OBJECTS_IN_FLIGHT: u32 = 64;

/// Highest heal throttle in MB/s (0 means unthrottled).
pub const MAX_HEAL_MB_PER_S: u32 = 1_000_000;

/// Seconds a multipart upload may stay open before it is removed, by
/// default (a day, as MinIO's stale-upload sweep).
pub const DEFAULT_MULTIPART_EXPIRY_S: u64 = 86_400;

/// Longest multipart expiry: a year, in seconds.
pub const MAX_MULTIPART_EXPIRY_S: u64 = 31_536_000;

/// Most feeds a ring can have: the switch splices every output on one actor,
/// and the ring's status and tests stay readable.
pub const MAX_RING_FEEDS: usize = 64;

/// Most finished inserts a switch keeps (`keep_finished_inserts`).
pub const MAX_KEEP_FINISHED_INSERTS: usize = 1_000_000;
