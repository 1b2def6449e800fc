//! Named fragment files (FIG. 6B-6D): one file per member per object holding that
//! member's blocks of the object, self-describing through a 512-byte header.
//!
//! * [`header`]: the FIG. 6D header block and its versioned extension area.
//! * [`name`]: file names (`<prefix>-<hash>.i<incarnation>.<index>of<count>.frag`),
//!   their parser, directory listing.
//! * [`tree`]: the fragment directory's 256 fan-out shards, listing shard
//!   by shard, adopting flat files of earlier versions.
//! * [`file`](mod@file): crash-safe writing, verified reading, in-place block repair.

pub mod file;
pub mod header;
pub mod name;
pub mod tree;

pub use file::{
    delete_fragment, fragment_image, sync_dir, BlockCheck, FragmentReader, FragmentSpec,
    FragmentWriter,
};
pub use header::{FragmentHeader, HeaderName, HEADER_LEN, MAX_NAME_LEN};
pub use name::FragmentName;
pub use tree::{list_fragments, list_shard, remove_stale_temps};
