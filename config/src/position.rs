//! Byte offsets (as in TOML spans) to human line/column positions.
//!
//! Lines and columns are 1-based. Columns count Unicode scalar values, not
//! bytes, so they match what an editor shows for non-ASCII text; a leading
//! byte-order mark is not counted. Works on raw bytes so it also serves text
//! that is not valid UTF-8, and never panics: offsets past the end are clamped.

/// A 1-based line and column in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

const BOM: &[u8] = "\u{feff}".as_bytes();

/// The position of byte `offset` in `text`.
pub(crate) fn position(text: &[u8], offset: usize) -> Position {
    let before = text.get(..offset).unwrap_or(text);
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let mut line_text = before.get(line_start..).unwrap_or_default();
    if line_start == 0 {
        line_text = line_text.strip_prefix(BOM).unwrap_or(line_text);
    }
    // UTF-8 continuation bytes (0b10xx_xxxx) do not start a new character.
    let chars = line_text.iter().filter(|&&b| b & 0xC0 != 0x80).count();
    Position {
        line,
        column: chars + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(text: &str, offset: usize) -> (usize, usize) {
        let p = position(text.as_bytes(), offset);
        (p.line, p.column)
    }

    #[test]
    fn first_character_is_line_one_column_one() {
        assert_eq!(pos("abc", 0), (1, 1));
        assert_eq!(pos("", 0), (1, 1));
    }

    #[test]
    fn counts_lines_and_columns() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(pos(text, 6), (2, 1));
        assert_eq!(pos(text, 11), (2, 6));
        assert_eq!(pos(text, text.len()), (3, 1));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "x = \"é\" y";
        assert_eq!(pos(text, text.find('y').unwrap()), (1, 9));
    }

    #[test]
    fn ignores_byte_order_mark() {
        let text = "\u{feff}id = 1";
        assert_eq!(pos(text, text.find('1').unwrap()), (1, 6));
    }

    #[test]
    fn clamps_offsets_past_the_end() {
        assert_eq!(pos("a\nb", 1000), (2, 2));
    }
}
