//! Fragment file name parser: never panics, accepts only canonical names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stripecast_persistence::FragmentName;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(n) = FragmentName::parse(s) {
            assert_eq!(n.file_name(), s);
        }
    }
});
