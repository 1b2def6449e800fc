//! Which object names the API accepts: 1..=1024 bytes of UTF-8, `/`-separated
//! segments, none empty, `.` or `..`, no control characters.

/// Longest accepted name, in bytes.
pub const MAX_NAME_LEN: usize = 1024;

/// What is wrong with an object name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("object name is empty")]
    Empty,
    #[error("object name is {len} bytes; at most {MAX_NAME_LEN}")]
    TooLong { len: usize },
    #[error("object name contains the control character {0:?}")]
    Control(char),
    #[error("object name has an empty segment (leading, trailing or double '/')")]
    EmptySegment,
    #[error("object name has a {0:?} segment")]
    DotSegment(&'static str),
}

/// Checks an object name; the error says what is wrong with it.
pub fn check(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong { len: name.len() });
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(NameError::Control(c));
    }
    for seg in name.split('/') {
        match seg {
            "" => return Err(NameError::EmptySegment),
            "." => return Err(NameError::DotSegment(".")),
            ".." => return Err(NameError::DotSegment("..")),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_paths_and_rejects_the_rest() {
        for ok in ["a", "movies/intro.ts", "x.y/z..w/ü", &"n".repeat(1024)] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "..",
            "a/../b",
            "./a",
            "a\nb",
            "a\u{7f}",
            &"n".repeat(1025),
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
    }
}
