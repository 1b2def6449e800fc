//! CRC-32/MPEG-2 (poly 0x04C11DB7, init 0xFFFFFFFF, not reflected, no final
//! xor), the checksum that ends every PSI long-form section and SCTE-35 section.
//!
//! Invariant: `crc32_mpeg2(section)` over a whole section including its CRC
//! field is 0 exactly when the CRC matches.

const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04C1_1DB7
            } else {
                c << 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static TABLE: [u32; 256] = table();

/// CRC-32/MPEG-2 of `data`.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(0xFFFF_FFFFu32, |c, &b| {
        (c << 8) ^ TABLE[((c >> 24) ^ u32::from(b)) as usize]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_crc_check_value() {
        // The catalogued check value of CRC-32/MPEG-2 for "123456789".
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
    }

    #[test]
    fn ts_crc_over_section_with_crc_is_zero() {
        let mut d = b"hello section".to_vec();
        let c = crc32_mpeg2(&d);
        d.extend_from_slice(&c.to_be_bytes());
        assert_eq!(crc32_mpeg2(&d), 0);
    }
}
