//! HomeBlock decoder: never panics, and whatever it accepts re-encodes to the same 84 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stripecast_persistence::HomeBlock;

fuzz_target!(|data: &[u8]| {
    let mut b = data.to_vec();
    if b.len() == 84 && b[0] & 1 == 1 {
        b[0] = 1;
        b[1] = 0;
        let sum = stripecast_persistence::checksum::crc32c(&b[..80]);
        b[80..].copy_from_slice(&sum.to_le_bytes());
    }
    if let Ok(h) = HomeBlock::decode(&b) {
        assert_eq!(&h.encode()[..], &b[..]);
    }
});
