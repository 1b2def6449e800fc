//! How stripecast's bytes lie on disk and in sled. No actors, no network.
//!
//! * [`layout`]: which member and local block hold each data and parity block
//!   (FIG. 9A-9C, FIG. 7), for RAID-0, the 2-member mirror, RAID-5 and k+m
//!   Reed-Solomon, behind one [`Layout`] type.
//! * [`codec`]: parity of a row and reconstruction of missing shards ([`Codec`]).
//! * [`fragment`]: named fragment files (FIG. 6D header, per-block CRC-32C,
//!   crash-safe writes) and their file names.
//! * [`checksum`]: the checksum kinds and why CRC-32C.
//! * [`homeblock`]: the 84-byte FIG. 6 HomeBlock.
//! * [`record`]: encodings of catalog values (object records, envelopes).
//! * [`catalog`]: the sled catalog: objects, HomeBlock, dirty sets, job
//!   checkpoints, the controller journal, atomic durable batches.
//!
//! Every decoder of on-disk bytes returns a typed [`DecodeError`] (truncated,
//! unsupported version, non-zero MBZ, checksum mismatch, invalid field) and never
//! panics; all integers on disk are little-endian (sled keys big-endian for order).

pub mod catalog;
pub mod checksum;
pub mod codec;
pub mod error;
pub mod fragment;
pub mod homeblock;
pub mod incarnation;
pub mod layout;
pub mod packed;
pub mod record;
pub mod volume_incarnation;

pub use catalog::{Applied, Batch, BatchOp, Catalog, DurableDb, MirrorMark};
pub use codec::{Codec, CodecKind};
pub use error::{CatalogError, CodecError, DecodeError, FragmentError, LayoutError};
pub use fragment::{FragmentHeader, FragmentName, FragmentReader, FragmentSpec, FragmentWriter};
pub use homeblock::HomeBlock;
pub use incarnation::Incarnation;
pub use layout::{Cell, Geometry, Layout, Location, RaidLevel, Scheme};
pub use packed::{packed_key, PackedFragments};
pub use record::ObjectRecord;
pub use volume_incarnation::VolumeIncarnation;

#[cfg(test)]
mod tests {
    /// The member runtime shares these across threads and actors.
    #[test]
    fn shareable() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<crate::Codec>();
        send_sync::<crate::Catalog>();
        send_sync::<crate::FragmentReader>();
        send_sync::<crate::Layout>();
        send_sync::<crate::FragmentWriter>();
    }
}
