//! Tests only: cross-checks this module's output with an independent TS
//! reader, the `mpeg2ts-reader` crate (a small, maintained parser with four
//! small dependencies): its packet view must agree with ours on every field,
//! and its demultiplexer must find our PAT, PMT (CRC-checked) and streams,
//! in a generated stream and in a spliced one.

use super::gen::{generate, GenParams};
use super::packet::{packets, PACKET_SIZE};
use super::splice::{Insert, Splicer};
use mpeg2ts_reader::demultiplex;
use mpeg2ts_reader::{demux_context, packet_filter_switch, psi};
use std::cell::RefCell;
use std::time::Duration;

thread_local! {
    /// (elementary PID, stream_type, PCR PID) of every stream the demultiplexer announced.
    static STREAMS: RefCell<Vec<(u16, u8, u16)>> = const { RefCell::new(Vec::new()) };
}

packet_filter_switch! {
    XFilter<XContext> {
        Pat: demultiplex::PatPacketFilter<XContext>,
        Pmt: demultiplex::PmtPacketFilter<XContext>,
        Null: demultiplex::NullPacketFilter<XContext>,
    }
}
demux_context!(XContext, XFilter);
impl XContext {
    fn do_construct(&mut self, req: demultiplex::FilterRequest<'_, '_>) -> XFilter {
        match req {
            demultiplex::FilterRequest::ByPid(psi::pat::PAT_PID) => {
                XFilter::Pat(demultiplex::PatPacketFilter::default())
            }
            demultiplex::FilterRequest::Pmt {
                pid,
                program_number,
            } => XFilter::Pmt(demultiplex::PmtPacketFilter::new(pid, program_number)),
            demultiplex::FilterRequest::ByStream {
                pmt, stream_info, ..
            } => {
                let entry = (
                    u16::from(stream_info.elementary_pid()),
                    u8::from(stream_info.stream_type()),
                    u16::from(pmt.pcr_pid()),
                );
                STREAMS.with(|s| s.borrow_mut().push(entry));
                XFilter::Null(demultiplex::NullPacketFilter::default())
            }
            _ => XFilter::Null(demultiplex::NullPacketFilter::default()),
        }
    }
}

fn cross_check(ts: &[u8]) -> Vec<(u16, u8, u16)> {
    for (ours, c) in packets(ts).zip(ts.chunks(PACKET_SIZE)) {
        let ours = ours.unwrap();
        let theirs = mpeg2ts_reader::packet::Packet::new(c);
        assert_eq!(u16::from(theirs.pid()), ours.pid());
        assert_eq!(theirs.continuity_counter().count(), ours.cc());
        assert_eq!(theirs.payload_unit_start_indicator(), ours.pusi());
        let pcr = theirs
            .adaptation_field()
            .and_then(|af| af.pcr().ok())
            .map(u64::from);
        assert_eq!(pcr, ours.pcr());
        assert_eq!(theirs.payload().unwrap_or(&[]), ours.payload());
    }
    STREAMS.with(|s| s.borrow_mut().clear());
    let mut ctx = XContext::new();
    let mut demux = demultiplex::Demultiplex::new(&mut ctx);
    demux.push(&mut ctx, ts);
    STREAMS.with(|s| s.borrow().clone())
}

#[test]
fn ts_crosscheck_generated() {
    let ts = generate(Duration::from_secs(1), &GenParams::new("FEED0")).unwrap();
    let streams = cross_check(&ts);
    assert!(streams.contains(&(0x100, 0x06, 0x100)), "{streams:?}");
    assert!(streams.contains(&(0x1F0, 0x86, 0x100)), "{streams:?}");
}

#[test]
fn ts_crosscheck_spliced() {
    let main = generate(Duration::from_secs(3), &GenParams::new("FEED0")).unwrap();
    let mut p = GenParams::new("AD-x");
    p.video_pid = 0x222;
    let ad = generate(Duration::from_secs(1), &p).unwrap();
    let mut s = Splicer::new();
    let mut out = Vec::new();
    for (i, c) in main.chunks(PACKET_SIZE).enumerate() {
        if i == 500 {
            s.arm(Insert::new("AD-x", &ad).unwrap(), 0).unwrap();
        }
        out.extend_from_slice(s.push(c).unwrap().as_bytes());
    }
    let streams = cross_check(&out);
    assert!(streams.contains(&(0x100, 0x06, 0x100)), "{streams:?}");
    assert!(!streams.iter().any(|s| s.0 == 0x222));
    ffprobe_if_present(&out);
}

/// ffprobe, when installed, must read the spliced output without errors and
/// see the program's two streams (skipped silently when it is absent).
fn ffprobe_if_present(ts: &[u8]) {
    let ok = std::process::Command::new("ffprobe")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        return;
    }
    let Ok(dir) = tempfile::tempdir() else { return };
    let f = dir.path().join("spliced.ts");
    std::fs::write(&f, ts).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_programs", "-of", "json"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["programs"][0]["nb_streams"], 2, "{v}");
}
