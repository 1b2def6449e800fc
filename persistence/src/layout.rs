//! Where every block of an object lies: which member, which local block number.
//!
//! One [`Layout`] type covers every scheme so that callers never special-case them:
//!
//! * **RAID-5** (`parity = 1`, `members >= 3`): FIG. 9A-9C exactly (see [`fig9`]).
//!   Row `r` holds `N-1` data blocks and its XOR parity on member `r mod N`.
//! * **Mirror** (`members = 2`, `parity = 1`): the same FIG. 9 formulas with CS = 2.
//!   A row is one data block plus its "parity", and the XOR of one block is the
//!   block itself, so both members hold every block. Because the parity member
//!   alternates with the row, reading each block from its [`Layout::locate`]
//!   position alternates reads between the two members.
//! * **RAID-0** (`parity = 0`): `k = N` data blocks per row, block `bn` on member
//!   `bn mod N`, no redundancy.
//! * **Reed-Solomon** (`parity = m >= 2`, `k = N - m >= 1`): row `r` keeps parity
//!   shard `P_i` on member `(r + i) mod N`; the data blocks of the row fill the other
//!   members in increasing member order. With `m = 1` this rule *is* FIG. 9's, so
//!   the generalisation keeps the patent's placement as its special case.
//!
//! Invariants (property-tested): each (member, LBN) slot holds exactly one data or
//! parity block; over any `N` consecutive rows every member holds exactly `m`
//! parity blocks; `locate`, `cell`, `parity_members` and `row_blocks` agree with
//! each other and, for `m = 1`, with the literal FIG. 9 functions. The local block
//! number of every block of row `r` is `r`.
//!
//! Shards: codecs see a row as `k + m` shards, data blocks first (in block-number
//! order), then `P0..P(m-1)`; [`Layout::shard_member`] and
//! [`Layout::member_shard`] convert between shard indices and members.
//!
//! Block numbers must stay below `2^60` (no realistic object comes near).

pub mod fig9;

use crate::error::LayoutError;
use std::ops::Range;

/// Most members a layout can have: the fragment header counts them in one byte.
pub const MAX_MEMBERS: usize = 255;

/// Version of the placement rules above, stored in catalog records so that a future
/// change of rotation can coexist with objects written under this one.
pub const LAYOUT_VERSION: u8 = 1;

/// Smallest stripe size accepted.
pub const MIN_STRIPE: u32 = 64;
/// Largest stripe size accepted (blocks are held whole in memory).
pub const MAX_STRIPE: u32 = 64 << 20;
/// The patent's default stripe size.
pub const DEFAULT_STRIPE: u32 = 64 << 10;

/// Checks a stripe size: a multiple of 64 (so XOR runs on whole vectors and
/// Reed-Solomon gets the even shard length it needs) in `MIN_STRIPE..=MAX_STRIPE`.
pub fn check_stripe(stripe: u64) -> Result<u32, LayoutError> {
    if stripe < u64::from(MIN_STRIPE) || stripe > u64::from(MAX_STRIPE) || stripe % 64 != 0 {
        return Err(LayoutError::StripeSize(stripe));
    }
    u32::try_from(stripe).map_err(|_| LayoutError::StripeSize(stripe))
}

/// How a row is made redundant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Scheme {
    /// RAID-0: no parity.
    Striped,
    /// Two members, each holding every block.
    Mirror,
    /// RAID-5: one XOR parity block per row.
    Xor,
    /// `m >= 2` Reed-Solomon parity blocks per row.
    ReedSolomon,
}

/// The RAID level byte of the fragment header (FIG. 6D offset 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RaidLevel {
    /// Striping only.
    Raid0 = 0,
    /// Two-way mirror.
    Raid1 = 1,
    /// Rotating XOR parity.
    Raid5 = 5,
    /// Rotating Reed-Solomon parity, `m >= 2`.
    Raid6 = 6,
}

impl RaidLevel {
    /// The byte stored on disk.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// Parses the on-disk byte.
    pub fn from_u8(v: u8) -> Option<RaidLevel> {
        match v {
            0 => Some(RaidLevel::Raid0),
            1 => Some(RaidLevel::Raid1),
            5 => Some(RaidLevel::Raid5),
            6 => Some(RaidLevel::Raid6),
            _ => None,
        }
    }
}

/// A slot of a fragment: which member, which local block.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Location {
    /// Member (= fragment index), `0..N`.
    pub member: usize,
    /// Local block number within that member's fragment file.
    pub lbn: u64,
}

/// What a slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Cell {
    /// Data block number `bn` of the object (possibly a zero-padding block past its end).
    Data(u64),
    /// Parity shard `index` (`0..m`) of `row`.
    Parity {
        /// Row (= local block number).
        row: u64,
        /// Which parity shard, `P0..P(m-1)`.
        index: usize,
    },
}

/// The placement of blocks over `members` members with `parity` parity blocks per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Layout {
    members: usize,
    parity: usize,
}

impl Layout {
    /// A layout for `members` members and `parity` parity blocks per row.
    ///
    /// `parity = 0`: 1..=255 members. `parity = 1`: 2 (mirror) to 255 members.
    /// `parity >= 2`: at least `parity + 1` members.
    pub fn new(members: usize, parity: usize) -> Result<Layout, LayoutError> {
        let err = |reason| LayoutError::Unsupported {
            members,
            parity,
            reason,
        };
        if members == 0 {
            return Err(err("a layout needs at least one member"));
        }
        if members > MAX_MEMBERS {
            return Err(err("at most 255 members"));
        }
        if parity >= members {
            return Err(err(
                "need at least one data block per row (parity < members)",
            ));
        }
        Ok(Layout { members, parity })
    }

    /// RAID-5 over `members` members (3 or more), or the mirror for 2.
    pub fn raid5(members: usize) -> Result<Layout, LayoutError> {
        Layout::new(members, 1)
    }

    /// Members in the row (N), which is also the fragment count.
    pub fn members(&self) -> usize {
        self.members
    }

    /// Parity blocks per row (m).
    pub fn parity(&self) -> usize {
        self.parity
    }

    /// The fragment count as the formats store it (one byte): `members()`,
    /// which [`Layout::new`] bounds by [`MAX_MEMBERS`].
    pub fn fragment_count(&self) -> u8 {
        debug_assert!(self.members <= MAX_MEMBERS);
        u8::try_from(self.members).unwrap_or(u8::MAX)
    }

    /// Parity blocks per row as the formats store them (one byte; `< members`).
    pub fn parity_count(&self) -> u8 {
        debug_assert!(self.parity < self.members);
        u8::try_from(self.parity).unwrap_or(u8::MAX)
    }

    /// Data blocks per row (k = N - m).
    pub fn data_per_row(&self) -> usize {
        self.members - self.parity
    }

    /// The redundancy scheme.
    pub fn scheme(&self) -> Scheme {
        match (self.members, self.parity) {
            (_, 0) => Scheme::Striped,
            (2, 1) => Scheme::Mirror,
            (_, 1) => Scheme::Xor,
            _ => Scheme::ReedSolomon,
        }
    }

    /// The RAID level recorded in fragment headers.
    pub fn raid_level(&self) -> RaidLevel {
        match self.scheme() {
            Scheme::Striped => RaidLevel::Raid0,
            Scheme::Mirror => RaidLevel::Raid1,
            Scheme::Xor => RaidLevel::Raid5,
            Scheme::ReedSolomon => RaidLevel::Raid6,
        }
    }

    /// True for the 2-member mirror, where both members hold every block.
    pub fn is_mirror(&self) -> bool {
        self.scheme() == Scheme::Mirror
    }

    /// The row (= local block number) of data block `bn`.
    pub fn row_of(&self, bn: u64) -> u64 {
        bn / self.k64()
    }

    /// Position of data block `bn` among the data blocks of its row (its data shard index).
    pub fn index_in_row(&self, bn: u64) -> usize {
        // The remainder is < k <= 255.
        (bn % self.k64()) as usize
    }

    /// FIG. 9A: where data block `bn` lies.
    pub fn locate(&self, bn: u64) -> Location {
        if self.parity == 1 {
            let l = fig9::locate(bn, self.members as u64);
            return Location {
                member: l.member as usize,
                lbn: l.lbn,
            };
        }
        let row = self.row_of(bn);
        Location {
            member: self.data_member(row, self.index_in_row(bn)),
            lbn: row,
        }
    }

    /// Every place the bytes of data block `bn` can be read directly, preferred
    /// first: its own slot, plus for the mirror the copy on the other member.
    pub fn read_locations(&self, bn: u64) -> Vec<Location> {
        let own = self.locate(bn);
        if self.is_mirror() {
            vec![own, self.parity_location(own.lbn, 0)]
        } else {
            vec![own]
        }
    }

    /// The member holding parity shard `index` (`0..m`) of `row`.
    ///
    /// # Panics
    /// In debug builds, if `index >= m`.
    pub fn parity_member(&self, row: u64, index: usize) -> usize {
        debug_assert!(index < self.parity);
        ((row % self.n64()) as usize + index) % self.members
    }

    /// FIG. 9B generalised: the slot of parity shard `index` of `row`.
    pub fn parity_location(&self, row: u64, index: usize) -> Location {
        Location {
            member: self.parity_member(row, index),
            lbn: row,
        }
    }

    /// Members holding `P0..P(m-1)` of `row`, in parity-index order (empty for RAID-0).
    pub fn parity_members(&self, row: u64) -> Vec<usize> {
        (0..self.parity)
            .map(|i| self.parity_member(row, i))
            .collect()
    }

    /// The member holding data shard `j` (`0..k`) of `row`.
    pub fn data_member(&self, row: u64, j: usize) -> usize {
        debug_assert!(j < self.data_per_row());
        let n = self.members;
        let m = self.parity;
        let p = (row % self.n64()) as usize;
        if m == 0 {
            j
        } else if p + m <= n {
            // Parity occupies [p, p+m): data fills [0, p) then [p+m, n).
            if j < p {
                j
            } else {
                j + m
            }
        } else {
            // Parity wraps: [p, n) and [0, p+m-n); data fills [p+m-n, p).
            j + (p + m - n)
        }
    }

    /// Members holding data shards `0..k` of `row`, in data-block order.
    pub fn data_members(&self, row: u64) -> Vec<usize> {
        (0..self.data_per_row())
            .map(|j| self.data_member(row, j))
            .collect()
    }

    /// FIG. 9C generalised: the data block numbers of `row` (including zero-padding
    /// blocks past the end of an object in its last row).
    pub fn row_blocks(&self, row: u64) -> Range<u64> {
        let k = self.k64();
        row * k..(row + 1) * k
    }

    /// The member holding shard `shard` (`0..k` data, `k..k+m` parity) of `row`.
    pub fn shard_member(&self, row: u64, shard: usize) -> usize {
        let k = self.data_per_row();
        if shard < k {
            self.data_member(row, shard)
        } else {
            self.parity_member(row, shard - k)
        }
    }

    /// The shard index (`0..k` data, `k..k+m` parity) that `member` holds in `row`.
    pub fn member_shard(&self, row: u64, member: usize) -> usize {
        debug_assert!(member < self.members);
        let n = self.members;
        let m = self.parity;
        let k = n - m;
        let p = (row % self.n64()) as usize;
        let offset = (member + n - p) % n;
        if m > 0 && offset < m {
            return k + offset;
        }
        if m == 0 {
            member
        } else if p + m <= n {
            if member < p {
                member
            } else {
                member - m
            }
        } else {
            member - (p + m - n)
        }
    }

    /// Members by shard index for `row`: `row_members(r)[s] == shard_member(r, s)`.
    pub fn row_members(&self, row: u64) -> Vec<usize> {
        (0..self.members)
            .map(|s| self.shard_member(row, s))
            .collect()
    }

    /// What the slot (`member`, `lbn`) holds. Inverse of [`Layout::locate`] and
    /// [`Layout::parity_location`].
    pub fn cell(&self, member: usize, lbn: u64) -> Cell {
        let k = self.data_per_row();
        let shard = self.member_shard(lbn, member);
        if shard < k {
            Cell::Data(lbn * self.k64() + shard as u64)
        } else {
            Cell::Parity {
                row: lbn,
                index: shard - k,
            }
        }
    }

    /// Rows needed for `data_blocks` data blocks (the last row zero-padded).
    pub fn rows_for_blocks(&self, data_blocks: u64) -> u64 {
        data_blocks.div_ceil(self.k64())
    }

    /// Geometry of an object of `object_len` bytes at stripe size `stripe`.
    pub fn geometry(&self, object_len: u64, stripe: u32) -> Geometry {
        Geometry {
            layout: *self,
            stripe,
            object_len,
        }
    }

    fn k64(&self) -> u64 {
        self.data_per_row() as u64
    }

    fn n64(&self) -> u64 {
        self.members as u64
    }
}

/// A layout applied to one object: how many blocks and rows, and how long each block is.
///
/// A zero-length object has no data blocks and no rows; its fragments are a
/// header and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// The placement.
    pub layout: Layout,
    /// Stripe size in bytes (block size).
    pub stripe: u32,
    /// Object length in bytes.
    pub object_len: u64,
}

impl Geometry {
    /// Data blocks holding object bytes: `ceil(object_len / stripe)`.
    pub fn data_blocks(&self) -> u64 {
        if self.stripe == 0 {
            return 0;
        }
        self.object_len.div_ceil(u64::from(self.stripe))
    }

    /// Rows, which is also the number of blocks in every fragment:
    /// `ceil(object_len / (stripe * k))`.
    pub fn rows(&self) -> u64 {
        self.layout.rows_for_blocks(self.data_blocks())
    }

    /// Byte offset of data block `bn` within the object.
    pub fn block_offset(&self, bn: u64) -> u64 {
        bn.saturating_mul(u64::from(self.stripe))
    }

    /// Object bytes in data block `bn`: the stripe size, less for the last block,
    /// 0 for padding blocks past the end.
    pub fn block_len(&self, bn: u64) -> usize {
        let start = self.block_offset(bn);
        if start >= self.object_len {
            return 0;
        }
        // Bounded by the stripe size, which fits in u32.
        (self.object_len - start).min(u64::from(self.stripe)) as usize
    }

    /// Data blocks touched by the byte range `start..end` of the object (clamped to its length).
    pub fn blocks_for_range(&self, start: u64, end: u64) -> Range<u64> {
        let end = end.min(self.object_len);
        if start >= end || self.stripe == 0 {
            return 0..0;
        }
        let s = u64::from(self.stripe);
        start / s..end.div_ceil(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn fig7() -> Vec<Vec<&'static str>> {
        vec![
            vec!["P", "B0", "B1"],
            vec!["B2", "P", "B3"],
            vec!["B4", "B5", "P"],
            vec!["P", "B6", "B7"],
        ]
    }

    #[test]
    fn fig7_table_exactly() {
        let l = Layout::raid5(3).unwrap();
        let mut got = vec![vec![String::new(); 3]; 4];
        for bn in 0..8 {
            let loc = l.locate(bn);
            got[loc.lbn as usize][loc.member] = format!("B{bn}");
        }
        for row in 0..4 {
            got[row as usize][l.parity_member(row, 0)] = "P".into();
        }
        assert_eq!(got, fig7());
        for (lbn, row) in fig7().iter().enumerate() {
            for (member, want) in row.iter().enumerate() {
                let c = l.cell(member, lbn as u64);
                let s = match c {
                    Cell::Data(bn) => format!("B{bn}"),
                    Cell::Parity { .. } => "P".into(),
                };
                assert_eq!(&s, want);
            }
        }
    }

    #[test]
    fn rejects_impossible() {
        assert!(Layout::new(0, 0).is_err());
        assert!(Layout::new(256, 1).is_err());
        assert!(Layout::new(2, 2).is_err());
        assert!(Layout::new(1, 1).is_err());
        assert!(Layout::new(1, 0).is_ok());
        assert!(Layout::new(255, 1).is_ok());
        assert!(Layout::new(3, 2).is_ok());
    }

    #[test]
    fn schemes() {
        assert_eq!(Layout::new(4, 0).unwrap().raid_level(), RaidLevel::Raid0);
        assert_eq!(Layout::new(2, 1).unwrap().raid_level(), RaidLevel::Raid1);
        assert_eq!(Layout::new(3, 1).unwrap().raid_level(), RaidLevel::Raid5);
        assert_eq!(Layout::new(10, 2).unwrap().raid_level(), RaidLevel::Raid6);
    }

    #[test]
    fn mirror_alternates_and_holds_everything() {
        let l = Layout::new(2, 1).unwrap();
        let members: Vec<_> = (0..6).map(|bn| l.locate(bn).member).collect();
        assert_eq!(members, vec![1, 0, 1, 0, 1, 0]);
        for bn in 0..6 {
            let locs = l.read_locations(bn);
            assert_eq!(locs.len(), 2);
            assert_eq!(locs[0].lbn, bn);
            assert_eq!(locs[1].lbn, bn);
            assert_ne!(locs[0].member, locs[1].member);
        }
    }

    #[test]
    fn raid0_round_robin() {
        let l = Layout::new(4, 0).unwrap();
        for bn in 0..20 {
            assert_eq!(
                l.locate(bn),
                Location {
                    member: (bn % 4) as usize,
                    lbn: bn / 4
                }
            );
        }
        assert!(l.parity_members(7).is_empty());
    }

    #[test]
    fn geometry_counts() {
        let l = Layout::raid5(3).unwrap();
        let g = l.geometry(0, 64);
        assert_eq!((g.data_blocks(), g.rows()), (0, 0));
        let g = l.geometry(1, 64);
        assert_eq!((g.data_blocks(), g.rows()), (1, 1));
        assert_eq!(g.block_len(0), 1);
        assert_eq!(g.block_len(1), 0);
        let g = l.geometry(129, 64);
        assert_eq!((g.data_blocks(), g.rows()), (3, 2));
        assert_eq!(g.block_len(2), 1);
        assert_eq!(g.blocks_for_range(63, 65), 0..2);
        assert_eq!(g.blocks_for_range(64, 64), 0..0);
        assert_eq!(g.blocks_for_range(100, 1000), 1..3);
    }

    fn layouts() -> impl Strategy<Value = Layout> {
        (1usize..=40, 0usize..=6).prop_filter_map("valid", |(n, m)| Layout::new(n, m).ok())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Every slot of every row holds exactly one block; data blocks fill rows in order.
        #[test]
        fn every_slot_exactly_once(layout in layouts(), blocks in 0u64..300) {
            let n = layout.members();
            let rows = layout.rows_for_blocks(blocks);
            let mut seen: HashMap<Location, Cell> = HashMap::new();
            for bn in 0..rows * layout.data_per_row() as u64 {
                let loc = layout.locate(bn);
                prop_assert!(loc.member < n);
                prop_assert_eq!(loc.lbn, layout.row_of(bn));
                prop_assert!(seen.insert(loc, Cell::Data(bn)).is_none(), "slot {:?} twice", loc);
                prop_assert_eq!(layout.cell(loc.member, loc.lbn), Cell::Data(bn));
            }
            for row in 0..rows {
                for i in 0..layout.parity() {
                    let loc = layout.parity_location(row, i);
                    let fresh = seen.insert(loc, Cell::Parity { row, index: i }).is_none();
                    prop_assert!(fresh, "slot {:?} twice", loc);
                    prop_assert_eq!(layout.cell(loc.member, loc.lbn), Cell::Parity { row, index: i });
                }
            }
            prop_assert_eq!(seen.len() as u64, rows * n as u64);
        }

        /// Over any N consecutive rows each member holds exactly m parity blocks.
        #[test]
        fn parity_spread_evenly(layout in layouts(), start in 0u64..10_000) {
            let n = layout.members();
            let mut count = vec![0usize; n];
            for row in start..start + n as u64 {
                for member in layout.parity_members(row) {
                    count[member] += 1;
                }
            }
            prop_assert!(count.iter().all(|&c| c == layout.parity()), "{:?}", count);
        }

        /// Shard indices and members convert both ways; data shards follow block order.
        #[test]
        fn shards_agree(layout in layouts(), row in 0u64..100_000) {
            let members = layout.row_members(row);
            let mut sorted = members.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, (0..layout.members()).collect::<Vec<_>>());
            for (s, &member) in members.iter().enumerate() {
                prop_assert_eq!(layout.member_shard(row, member), s);
            }
            for (j, bn) in layout.row_blocks(row).enumerate() {
                prop_assert_eq!(layout.locate(bn).member, layout.data_member(row, j));
                prop_assert_eq!(layout.index_in_row(bn), j);
            }
            prop_assert_eq!(layout.data_members(row), members[..layout.data_per_row()].to_vec());
            prop_assert_eq!(layout.parity_members(row), members[layout.data_per_row()..].to_vec());
        }

        /// For m = 1 the layout is FIG. 9 and the 9A/9B/9C functions agree with each other.
        #[test]
        fn fig9_functions_agree(n in 2u64..=40, bn in 0u64..1_000_000) {
            let layout = Layout::raid5(n as usize).unwrap();
            let a = fig9::locate(bn, n);
            prop_assert_eq!(a.fbn, a.lbn * n + a.member);
            prop_assert_eq!(layout.locate(bn), Location { member: a.member as usize, lbn: a.lbn });
            // 9B: the parity block of bn's row is on member row mod n, same row.
            let pbn = fig9::parity_of(a.fbn, n);
            prop_assert_eq!(pbn / n, a.lbn);
            prop_assert_eq!(pbn % n, a.lbn % n);
            prop_assert_eq!(layout.parity_location(a.lbn, 0), Location { member: (pbn % n) as usize, lbn: pbn / n });
            // 9C: the data blocks of that parity block include bn, and are exactly the row.
            let data = fig9::data_of(pbn, n);
            prop_assert_eq!(data.len() as u64, n - 1);
            prop_assert!(data.contains(&a.fbn));
            let bns: Vec<u64> = data.iter().filter_map(|&f| fig9::data_block_at(f, n)).collect();
            prop_assert_eq!(bns, layout.row_blocks(a.lbn).collect::<Vec<_>>());
            prop_assert_eq!(fig9::data_block_at(a.fbn, n), Some(bn));
            prop_assert_eq!(fig9::data_block_at(pbn, n), None);
            // The generalised rule gives the same member as the literal algorithm.
            prop_assert_eq!(layout.data_member(a.lbn, layout.index_in_row(bn)), a.member as usize);
        }
    }
}
