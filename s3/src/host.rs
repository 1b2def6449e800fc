//! Virtual-host-style addressing: `BUCKET.DOMAIN` names the bucket when
//! DOMAIN is `localhost` or one of `[http] s3_domains` (a wildcard DNS
//! name pointing at the members); any other Host (an IP address, a member's
//! own name) is path-style. Pure, table-tested.

use std::borrow::Cow;

use s3s::host::{S3Host, VirtualHost};
use s3s::S3Result;

/// The domain every member answers virtual-host-style requests under.
pub const LOCAL_DOMAIN: &str = "localhost";

/// The domains of one member.
#[derive(Debug, Clone)]
pub struct Domains {
    bases: Vec<String>,
}

impl Domains {
    pub fn new(configured: &[String]) -> Domains {
        let mut bases: Vec<String> = configured.iter().map(|d| d.to_ascii_lowercase()).collect();
        bases.push(LOCAL_DOMAIN.into());
        Domains { bases }
    }

    /// The bucket a Host header names (`None`: path-style).
    pub fn bucket_of<'a>(&self, host: &'a str) -> Option<&'a str> {
        let name = match host.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        };
        self.bases.iter().find_map(|base| {
            let cut = name.len().checked_sub(base.len() + 1)?;
            let (bucket, rest) = name.split_at(cut);
            (rest.len() == base.len() + 1
                && rest.starts_with('.')
                && rest[1..].eq_ignore_ascii_case(base)
                && !bucket.is_empty())
            .then_some(bucket)
        })
    }
}

impl S3Host for Domains {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match self.bucket_of(host) {
            Some(bucket) => VirtualHost::new(Cow::Borrowed(host)).with_bucket(bucket),
            None => VirtualHost::new(Cow::Borrowed(host)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_hosts_name_a_bucket() {
        let d = Domains::new(&["s3.example.com".into()]);
        let table = [
            ("films.localhost:9400", Some("films")),
            ("films.localhost", Some("films")),
            ("my.films.s3.example.com", Some("my.films")),
            ("films.S3.Example.com:443", Some("films")),
            ("localhost:9400", None),
            ("s3.example.com", None),
            (".localhost", None),
            ("127.0.0.1:9400", None),
            ("member-1.internal:9400", None),
            ("evil-s3.example.com", None),
        ];
        for (host, want) in table {
            assert_eq!(d.bucket_of(host), want, "{host}");
        }
    }
}
