//! MPEG transport stream (ISO/IEC 13818-1) building blocks for ring video
//! insertion (issue #6), in pure Rust.
//!
//! - [`packet`]: the 188-byte TS packet (view and builder, PCR in the adaptation field).
//! - [`psi`]: PAT, PMT and the SCTE-35 `splice_info_section` (`splice_insert`), with CRC-32/MPEG-2.
//! - [`pes`]: PES packets with PTS/DTS, packetized into TS packets.
//! - [`gen`]: a generator of valid synthetic constant-bitrate TS with per-packet markers.
//! - [`pacer`]: wall-clock send times derived from PCR (real bitrate pacing).
//! - [`splice`]: the [`splice::Splicer`] that switches a main feed to an insert and back.
//! - [`check`]: a validator used by tests and `stripecast ts check`.
//!
//! Invariant shared by all modules: parsing never panics on arbitrary input; it
//! returns typed errors.

pub mod check;
pub mod crc;
#[cfg(test)]
mod crosscheck;
pub mod gen;
pub mod pacer;
pub mod packet;
pub mod pes;
pub mod program;
pub mod psi;
pub mod splice;

pub use packet::{Packet, PacketError, PACKET_SIZE};

/// The PCR clock: 27 MHz.
pub const PCR_HZ: u64 = 27_000_000;
/// The PTS/DTS clock: 90 kHz.
pub const PTS_HZ: u64 = 90_000;
/// PTS/DTS values wrap at 2^33.
pub const PTS_WRAP: u64 = 1 << 33;
/// PCR values (base * 300 + extension) wrap at 2^33 * 300.
pub const PCR_WRAP: u64 = PTS_WRAP * 300;
