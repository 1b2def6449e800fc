//! Named fragment files (FIG. 6B-6D): one file per member per object holding that
//! member's blocks of the object, self-describing through a 512-byte header.
//!
//! * [`header`]: the FIG. 6D header block and its versioned extension area.
//! * [`name`]: file names (`<prefix>-<hash>.i<incarnation>.<index>of<count>.frag`),
//!   their parser, directory listing.
//! * [`file`](mod@file): crash-safe writing, verified reading, in-place block repair.

pub mod file;
pub mod header;
pub mod name;

pub use file::{
    delete_fragment, sync_dir, BlockCheck, FragmentReader, FragmentSpec, FragmentWriter,
};
pub use header::{FragmentHeader, HeaderName, HEADER_LEN, MAX_NAME_LEN};
pub use name::{list_fragments, remove_stale_temps, FragmentName};
