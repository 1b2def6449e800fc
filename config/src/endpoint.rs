//! The switch file's feed endpoints: `udp://IP:PORT` inputs and
//! `udp://IP:PORT` or `file://PATH` outputs, text to model.
//!
//! Host names are not resolved (the switch binds inputs and must know exactly
//! which address it sends to), so the host must be a literal IP. `file://` is
//! followed by the path itself, absolute or relative: `file:///tmp/a.ts` is
//! `/tmp/a.ts`, `file://out/0.ts` is the relative `out/0.ts`. The error texts
//! say which form is expected; the caller attaches the field.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::{ErrorKind, OutputTarget};

const UDP: &str = "udp://";
const FILE: &str = "file://";

/// A feed input: `udp://IP:PORT`.
pub(crate) fn parse_input(text: &str) -> Result<SocketAddr, (ErrorKind, String)> {
    text.strip_prefix(UDP)
        .and_then(|rest| rest.parse().ok())
        .ok_or_else(|| {
            (
                ErrorKind::BadAddress,
                format!(
                    "{text:?} is not a UDP input; expected udp://IP:PORT such as \
                     \"udp://127.0.0.1:9000\" or \"udp://[::1]:9000\" (host names are not resolved)"
                ),
            )
        })
}

/// A feed output: `udp://IP:PORT` or `file://PATH`.
pub(crate) fn parse_output(text: &str) -> Result<OutputTarget, (ErrorKind, String)> {
    if let Some(rest) = text.strip_prefix(UDP) {
        return rest.parse().map(OutputTarget::Udp).map_err(|_| {
            (
                ErrorKind::BadAddress,
                format!(
                    "{text:?} is not a UDP output; expected udp://IP:PORT such as \
                     \"udp://127.0.0.1:9100\" (host names are not resolved)"
                ),
            )
        });
    }
    if let Some(path) = text.strip_prefix(FILE) {
        if path.is_empty() {
            return Err((
                ErrorKind::BadOutput,
                format!(
                    "{text:?} names no file; expected file://PATH such as \"file:///tmp/out.ts\""
                ),
            ));
        }
        return Ok(OutputTarget::File(PathBuf::from(path)));
    }
    Err((
        ErrorKind::BadOutput,
        format!(
            "{text:?} is not an output; expected udp://IP:PORT (e.g. \"udp://127.0.0.1:9100\") \
             or file://PATH (e.g. \"file:///tmp/out.ts\")"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs() {
        assert_eq!(
            parse_input("udp://127.0.0.1:9000").ok(),
            "127.0.0.1:9000".parse().ok()
        );
        assert!(parse_input("udp://[::1]:9000").is_ok());
        for bad in [
            "127.0.0.1:9000",
            "udp://localhost:9000",
            "tcp://1.2.3.4:5",
            "",
        ] {
            assert_eq!(
                parse_input(bad).map_err(|e| e.0),
                Err(ErrorKind::BadAddress)
            );
        }
    }

    #[test]
    fn outputs() {
        assert_eq!(
            parse_output("file:///tmp/a.ts").ok(),
            Some(OutputTarget::File("/tmp/a.ts".into()))
        );
        assert_eq!(
            parse_output("file://out/0.ts").ok(),
            Some(OutputTarget::File("out/0.ts".into()))
        );
        assert!(matches!(
            parse_output("udp://127.0.0.1:9100"),
            Ok(OutputTarget::Udp(_))
        ));
        assert_eq!(
            parse_output("file://").map_err(|e| e.0),
            Err(ErrorKind::BadOutput)
        );
        assert_eq!(
            parse_output("/tmp/a.ts").map_err(|e| e.0),
            Err(ErrorKind::BadOutput)
        );
        assert_eq!(
            parse_output("udp://host:1").map_err(|e| e.0),
            Err(ErrorKind::BadAddress)
        );
    }

    #[test]
    fn outputs_round_trip_through_display() {
        for text in ["file:///tmp/a.ts", "file://out/0.ts", "udp://[::1]:9100"] {
            let parsed = parse_output(text).map_err(|e| e.1);
            assert_eq!(parsed.map(|o| o.to_string()).as_deref(), Ok(text));
        }
    }
}
