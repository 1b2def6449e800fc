//! The integer algorithm of the patent's FIG. 8 / 9A / 9B / 9C, verbatim.
//!
//! Block numbers come in two spaces. A *data block number* (BN) counts only the
//! object's data blocks. A *final block number* (FBN) counts every slot of the
//! striped volume, parity included, row by row: `FBN = row * CS + member`, so
//! `member = FBN mod CS` and the local block number `LBN = FBN / CS`. Row `r`
//! keeps its parity on member `r mod CS` (FIG. 7).
//!
//! These functions are the reference that [`crate::Layout`] is tested against
//! (and that it calls for RAID-5 and the mirror); they need `cs >= 2` and do no
//! range checking beyond that, so keep `cs` small (the layout caps it at 255) and
//! block numbers below `u64::MAX / cs^2`.

/// Where FIG. 9A puts data block `bn` in a volume of `cs` members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fig9a {
    /// Parity blocks in the full rows before `bn` (PBC).
    pub pbc: u64,
    /// Adjusted block number, `bn + pbc` (ABN).
    pub abn: u64,
    /// Optional parity count: 1 if the row's parity sits before the block (OPC).
    pub opc: u64,
    /// Final block number, `abn + opc` (FBN).
    pub fbn: u64,
    /// Cluster member holding the block (CM).
    pub member: u64,
    /// Local block number on that member (LBN).
    pub lbn: u64,
}

/// FIG. 9A: data block number -> (member, local block number).
pub fn locate(bn: u64, cs: u64) -> Fig9a {
    debug_assert!(cs >= 2);
    let pbc = bn / (cs - 1); // step 300
    let abn = bn + pbc; // step 302
    let abn_z = abn % (cs * cs); // step 304
    let opc = u64::from(abn_z / cs <= abn_z % cs); // steps 306-310
    let fbn = abn + opc; // step 320
    Fig9a {
        pbc,
        abn,
        opc,
        fbn,
        member: fbn % cs, // step 330
        lbn: fbn / cs,    // step 340
    }
}

/// FIG. 9B: the final block number of the parity block in the row of `fbn`.
pub fn parity_of(fbn: u64, cs: u64) -> u64 {
    debug_assert!(cs >= 2);
    let pbn = cs * (fbn / cs); // step 400
    pbn + (fbn % (cs * cs)) / cs // step 420
}

/// FIG. 9C: the final block numbers of the data blocks covered by parity block `pbn`,
/// in member order.
pub fn data_of(pbn: u64, cs: u64) -> Vec<u64> {
    debug_assert!(cs >= 2);
    let pbn_row = cs * (pbn / cs); // step 430
    let parity_pos = (pbn % (cs * cs)) / cs; // step 440
                                             // The patent's C loop: for (i=0; i<CS; i++) if (PBNrow+i != PBN) FBN=PBNrow+i
    (0..cs)
        .filter(|&i| i != parity_pos)
        .map(|i| pbn_row + i)
        .collect()
}

/// The inverse of FIG. 9A for a data slot: the data block number stored at `fbn`,
/// or `None` if `fbn` is the row's parity slot.
pub fn data_block_at(fbn: u64, cs: u64) -> Option<u64> {
    debug_assert!(cs >= 2);
    let row = fbn / cs;
    let col = fbn % cs;
    let parity_col = row % cs;
    if col == parity_col {
        return None;
    }
    let j = if col > parity_col { col - 1 } else { col };
    Some(row * (cs - 1) + j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fig7_by_hand() {
        // (bn, member, lbn) straight from FIG. 7.
        let expect = [
            (0, 1, 0),
            (1, 2, 0),
            (2, 0, 1),
            (3, 2, 1),
            (4, 0, 2),
            (5, 1, 2),
            (6, 1, 3),
            (7, 2, 3),
        ];
        for (bn, member, lbn) in expect {
            let l = locate(bn, 3);
            assert_eq!((l.member, l.lbn), (member, lbn), "block {bn}");
        }
        // Parity of rows 0..4 is on members 0, 1, 2, 0.
        for row in 0..4u64 {
            assert_eq!(parity_of(row * 3, 3), row * 3 + row % 3);
        }
    }

    #[test]
    fn patent_example_block_7() {
        // "if cluster member 2 were unavailable, and block 7 was requested, parity
        // block 6|7 and block 6 would be read".
        let b7 = locate(7, 3);
        assert_eq!(b7.member, 2);
        let p = parity_of(b7.fbn, 3);
        assert_eq!(p % 3, 0);
        let data = data_of(p, 3);
        let bns: Vec<_> = data.iter().filter_map(|&f| data_block_at(f, 3)).collect();
        assert_eq!(bns, vec![6, 7]);
    }
}
