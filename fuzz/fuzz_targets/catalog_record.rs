//! Catalog value decoders (object records, envelopes, dirty marks): never panic,
//! and an accepted object record re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stripecast_persistence::record::{decode_mark, frame, unframe, RecordKind};
use stripecast_persistence::ObjectRecord;

fuzz_target!(|data: &[u8]| {
    for kind in [
        RecordKind::Object,
        RecordKind::Checkpoint,
        RecordKind::Journal,
        RecordKind::DirtyMark,
    ] {
        let _ = unframe(kind, data);
    }
    let _ = decode_mark(data);
    if let Ok(r) = ObjectRecord::decode(data) {
        assert_eq!(r.encode().expect("accepted record re-encodes"), data);
    }
    // Also feed the payload decoder directly, past the envelope's checksum.
    let framed = frame(RecordKind::Object, data);
    if let Ok(r) = ObjectRecord::decode(&framed) {
        assert_eq!(r.encode().expect("accepted record re-encodes"), framed);
    }
});
