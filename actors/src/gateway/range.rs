//! The `Range` request header, single byte ranges (RFC 9110 14.1.2).
//!
//! A malformed header or several ranges are ignored (the whole object is
//! served, which the RFC allows); a syntactically valid range that starts past
//! the end is unsatisfiable (416).

/// What to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    Whole,
    /// `start..end`, end exclusive, non-empty.
    Partial {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
}

pub fn resolve(header: Option<&str>, len: u64) -> Served {
    let Some(h) = header else {
        return Served::Whole;
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Served::Whole;
    };
    if spec.contains(',') {
        return Served::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Served::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // Suffix: the last n bytes.
        let Ok(n) = b.parse::<u64>() else {
            return Served::Whole;
        };
        if n == 0 || len == 0 {
            return Served::Unsatisfiable;
        }
        return Served::Partial {
            start: len.saturating_sub(n),
            end: len,
        };
    }
    let Ok(start) = a.parse::<u64>() else {
        return Served::Whole;
    };
    let end = if b.is_empty() {
        len
    } else {
        match b.parse::<u64>() {
            Ok(last) if last >= start => last.saturating_add(1).min(len),
            _ => return Served::Whole,
        }
    };
    if start >= len {
        return Served::Unsatisfiable;
    }
    Served::Partial { start, end }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(resolve(None, 10), Served::Whole);
        assert_eq!(
            resolve(Some("bytes=0-3"), 10),
            Served::Partial { start: 0, end: 4 }
        );
        assert_eq!(
            resolve(Some("bytes=5-"), 10),
            Served::Partial { start: 5, end: 10 }
        );
        assert_eq!(
            resolve(Some("bytes=-3"), 10),
            Served::Partial { start: 7, end: 10 }
        );
        assert_eq!(
            resolve(Some("bytes=-30"), 10),
            Served::Partial { start: 0, end: 10 }
        );
        assert_eq!(
            resolve(Some("bytes=8-100"), 10),
            Served::Partial { start: 8, end: 10 }
        );
        assert_eq!(resolve(Some("bytes=10-"), 10), Served::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=-0"), 10), Served::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=0-0"), 0), Served::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=3-1"), 10), Served::Whole);
        assert_eq!(resolve(Some("bytes=0-1,4-5"), 10), Served::Whole);
        assert_eq!(resolve(Some("items=0-1"), 10), Served::Whole);
        assert_eq!(resolve(Some("bytes=x-1"), 10), Served::Whole);
    }
}
