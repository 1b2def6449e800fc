//! Link faults that a real network produces must cost speed, never a
//! request: a duplicated frame is served once (it used to fail a PUT with
//! 400 "block sent twice").

mod common;

use std::time::Duration;

use common::{pattern, Cluster};

fn set_faults(c: &Cluster, from: usize, to: usize, spec: serde_json::Value) {
    let r = ureq::put(&format!("{}/v1/faults/{to}", c.url(from)))
        .send_json(spec)
        .expect("set faults");
    assert_eq!(r.status(), 200);
}

#[test]
fn every_frame_duplicated_still_writes_and_reads_exactly() {
    let c = Cluster::start(3);
    for a in 0..3 {
        for b in (0..3).filter(|&b| b != a) {
            set_faults(&c, a, b, serde_json::json!({"duplicate": 1.0, "seed": 7}));
        }
    }
    // Give the links a moment to carry the new faults (they take effect per frame).
    std::thread::sleep(Duration::from_millis(100));
    for (i, len) in [40usize, 65_536, 1_000_000].into_iter().enumerate() {
        let data = pattern(len, i as u64);
        let name = format!("dup/{i}");
        let (status, body) = c.put(i % 3, &name, &data);
        assert_eq!(status, 201, "PUT {name}: {body}");
        for m in 0..3 {
            assert_eq!(
                c.get(m, &name),
                (200, data.clone()),
                "GET {name} from member {m}"
            );
        }
        assert_eq!(c.delete((i + 1) % 3, &name), 204);
    }
}
