//! [`VolumeIncarnation`]: the cluster volume's epoch (FIG. 7's HomeBlock
//! incarnation), raised by the controller when a member goes down, so a
//! member that missed writes knows it is behind. Not an object's
//! incarnation (a record's), which names one write of one object.
//!
//! On disk it is the HomeBlock's 4-byte little-endian field; on the wire
//! and in JSON a bare number (`serde(transparent)`); 0 means "no volume
//! yet" (a fresh member).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The cluster volume's incarnation.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VolumeIncarnation(u32);

impl VolumeIncarnation {
    /// The first incarnation of a new volume.
    pub const FIRST: VolumeIncarnation = VolumeIncarnation(1);

    pub const fn new(n: u32) -> VolumeIncarnation {
        VolumeIncarnation(n)
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    /// The controller's next step (wraps, as the on-disk field does).
    pub const fn next(self) -> VolumeIncarnation {
        VolumeIncarnation(self.0.wrapping_add(1))
    }
}

/// The bare number, as in every document and message (not `VolumeIncarnation(n)`).
impl fmt::Debug for VolumeIncarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for VolumeIncarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_wraps_like_the_disk_field() {
        assert_eq!(
            VolumeIncarnation::new(41).next(),
            VolumeIncarnation::new(42)
        );
        assert_eq!(
            VolumeIncarnation::new(u32::MAX).next(),
            VolumeIncarnation::default()
        );
        assert!(VolumeIncarnation::FIRST > VolumeIncarnation::default());
    }
}
