//! How stripecast's bytes lie on disk and in sled. No actors, no network.
//!
//! * [`layout`]: which member and local block hold each data and parity block
//!   (FIG. 9A-9C, FIG. 7), for RAID-0, the 2-member mirror, RAID-5 and k+m
//!   Reed-Solomon, behind one [`Layout`] type.
//! * [`codec`]: parity of a row and reconstruction of missing shards ([`Codec`]).
pub mod codec;
pub mod error;
pub mod layout;

pub use codec::{Codec, CodecKind};
pub use error::{CatalogError, CodecError, DecodeError, FragmentError, LayoutError};
pub use layout::{Cell, Geometry, Layout, Location, RaidLevel, Scheme};
