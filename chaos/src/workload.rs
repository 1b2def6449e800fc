//! Each client's seeded sequence of operations.
//!
//! A client loops PUT / GET / DELETE over a few keys; each operation's kind,
//! key, payload size and target member come from the client's own RNG, a
//! function of the run's seed and the client id alone. So the same seed
//! gives every client the same sequence, whatever the timing, and the
//! history says which write is which by (client, sequence number).
//!
//! Sizes span less than a block, exactly one block, several rows and a few
//! MB, so single-block, multi-row and partial-row objects all meet faults.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::history::OpKind;
use crate::payload::MIN_LEN;

/// The workload's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub seed: u64,
    pub keys: Vec<String>,
    pub members: u32,
    /// Payload sizes in bytes, drawn uniformly.
    pub sizes: Vec<usize>,
}

/// One operation a client will run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientOp {
    pub seq: u64,
    pub kind: OpKind,
    pub key: String,
    /// The payload length of a PUT (0 otherwise).
    pub len: usize,
    pub member: u32,
}

impl Workload {
    /// `keys` keys named `chaos/k00`.., payload sizes for a cluster of
    /// `members` members with `data_members` data blocks per row of
    /// `stripe_size` bytes.
    pub fn new(
        seed: u64,
        keys: usize,
        members: u32,
        data_members: usize,
        stripe_size: usize,
    ) -> Workload {
        let row = stripe_size * data_members.max(1);
        Workload {
            seed,
            keys: (0..keys).map(|k| format!("chaos/k{k:02}")).collect(),
            members,
            sizes: vec![
                40.max(MIN_LEN),
                1000,
                stripe_size.max(MIN_LEN),
                3 * row + 123,
                1_300_000,
                3 << 20,
            ],
        }
    }

    /// Client `client`'s endless sequence of operations.
    pub fn client(&self, client: u32) -> ClientOps<'_> {
        let mix = u64::from(client).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        ClientOps {
            w: self,
            rng: ChaCha8Rng::seed_from_u64(self.seed ^ mix ^ 0x5eed),
            seq: 0,
        }
    }
}

/// The operations of one client, in order.
pub struct ClientOps<'a> {
    w: &'a Workload,
    rng: ChaCha8Rng,
    seq: u64,
}

impl Iterator for ClientOps<'_> {
    type Item = ClientOp;

    fn next(&mut self) -> Option<ClientOp> {
        if self.w.keys.is_empty() || self.w.members == 0 {
            return None;
        }
        let roll = self.rng.gen_range(0..100);
        let kind = match roll {
            0..=39 => OpKind::Put,
            40..=84 => OpKind::Get,
            _ => OpKind::Delete,
        };
        let key = self.w.keys[self.rng.gen_range(0..self.w.keys.len())].clone();
        let size = self.w.sizes[self.rng.gen_range(0..self.w.sizes.len())];
        let member = self.rng.gen_range(0..self.w.members);
        let op = ClientOp {
            seq: self.seq,
            kind,
            key,
            len: if kind == OpKind::Put { size } else { 0 },
            member,
        };
        self.seq += 1;
        Some(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_per_client() {
        let w = Workload::new(42, 12, 5, 4, 65536);
        let a: Vec<_> = w.client(1).take(200).collect();
        let b: Vec<_> = w.client(1).take(200).collect();
        assert_eq!(a, b);
        let other_client: Vec<_> = w.client(2).take(200).collect();
        assert_ne!(a, other_client);
        let other_seed: Vec<_> = Workload::new(43, 12, 5, 4, 65536)
            .client(1)
            .take(200)
            .collect();
        assert_ne!(a, other_seed);
    }

    #[test]
    fn covers_every_kind_key_size_and_member() {
        let w = Workload::new(1, 12, 5, 4, 65536);
        let ops: Vec<_> = w.client(0).take(2000).collect();
        for kind in [OpKind::Put, OpKind::Get, OpKind::Delete] {
            assert!(ops.iter().any(|o| o.kind == kind));
        }
        for k in &w.keys {
            assert!(ops.iter().any(|o| &o.key == k));
        }
        for s in &w.sizes {
            assert!(ops.iter().any(|o| o.len == *s));
        }
        for m in 0..5 {
            assert!(ops.iter().any(|o| o.member == m));
        }
        assert!(ops.iter().enumerate().all(|(i, o)| o.seq == i as u64));
        assert!(w.sizes.iter().any(|&s| s < 65536));
        assert!(w.sizes.contains(&65536));
        assert!(w.sizes.iter().any(|&s| s > 2 * 4 * 65536));
    }
}
