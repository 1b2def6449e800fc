//! Fragment header decoder: never panics, and whatever it accepts is canonical
//! (re-encoding gives back the same 512 bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stripecast_persistence::FragmentHeader;

fuzz_target!(|data: &[u8]| {
    // Give the fuzzer a head start past the version and checksum checks half the time.
    let mut block = data.to_vec();
    if block.len() == 512 && block[0] & 1 == 1 {
        block[0] = 1;
        block[1] = 1;
        let sum = crc32c_of(&block[..508]);
        block[508..].copy_from_slice(&sum.to_le_bytes());
    }
    if let Ok(h) = FragmentHeader::decode(&block) {
        if h.full_name().is_some() {
            let again = h.encode().expect("an accepted header re-encodes");
            assert_eq!(
                &again[..],
                &block[..],
                "decoder accepted a non-canonical header"
            );
        }
        let _ = h.block_count();
    }
});

fn crc32c_of(b: &[u8]) -> u32 {
    stripecast_persistence::checksum::crc32c(b)
}
