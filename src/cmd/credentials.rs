//! The key a client command signs with, and the credentials file `up`
//! writes: the AWS shared-credentials format (`[default]`,
//! `aws_access_key_id`, `aws_secret_access_key`), so aws cli, boto3, rclone
//! and this CLI read the same file.
//!
//! Where the CLI finds its key, first found wins: `--key ID:SECRET` or
//! `STRIPECAST_KEY`; `--credentials FILE` or `AWS_SHARED_CREDENTIALS_FILE`
//! (profile `AWS_PROFILE`, else `default`); `./stripecast-data/credentials`
//! (what `stripecast up` writes with its default `--dir`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

/// The file name `up` writes in its directory.
pub const FILE_NAME: &str = "credentials";

/// An access key id and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub access_key_id: String,
    pub secret: String,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({}, <secret>)", self.access_key_id)
    }
}

impl Key {
    /// `ID:SECRET` (what `STRIPECAST_KEY` holds).
    pub fn parse(text: &str) -> anyhow::Result<Key> {
        match text.trim().split_once(':') {
            Some((id, secret)) if !id.is_empty() && !secret.is_empty() => Ok(Key {
                access_key_id: id.to_string(),
                secret: secret.to_string(),
            }),
            _ => bail!("a key is ACCESS_KEY_ID:SECRET"),
        }
    }

    /// The `Authorization` header value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}:{}", self.access_key_id, self.secret)
    }
}

/// The key of `profile` in an AWS shared-credentials file's text.
pub fn from_ini(text: &str, profile: &str) -> Option<Key> {
    let mut in_profile = false;
    let (mut id, mut secret) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = section.trim() == profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_string()),
                "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    Some(Key {
        access_key_id: id?,
        secret: secret?,
    })
}

/// The text of a credentials file holding `key` as `[default]`.
pub fn to_ini(key: &Key) -> String {
    format!(
        "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        key.access_key_id, key.secret
    )
}

/// Writes `key` to `path` readable by its owner only (0600).
pub fn write_file(path: &Path, key: &Key) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // A file that existed keeps its mode through open: set it.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.write_all(to_ini(key).as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// The key the CLI uses (see the module docs), if any.
pub fn resolve(key: Option<&str>, file: Option<&Path>) -> anyhow::Result<Option<Key>> {
    if let Some(k) = key {
        return Key::parse(k).map(Some);
    }
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let path = match file {
        Some(p) => p.to_path_buf(),
        None => {
            let local = PathBuf::from("stripecast-data").join(FILE_NAME);
            if !local.exists() {
                return Ok(None);
            }
            local
        }
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    match from_ini(&text, &profile) {
        Some(k) => Ok(Some(k)),
        None => bail!(
            "{}: no [{profile}] with aws_access_key_id and aws_secret_access_key",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_reads_back_and_profiles_are_kept_apart() {
        let key = Key::parse("SCABC:se/cr+et").unwrap();
        assert_eq!(from_ini(&to_ini(&key), "default"), Some(key.clone()));
        let text = "# mine\n[other]\naws_access_key_id = X\naws_secret_access_key = Y\n\n[default]\naws_access_key_id=SCABC\naws_secret_access_key = se/cr+et\n";
        assert_eq!(from_ini(text, "default"), Some(key));
        assert_eq!(from_ini(text, "other").unwrap().access_key_id, "X");
        assert_eq!(from_ini(text, "missing"), None);
        assert!(Key::parse("nocolon").is_err());
        assert!(!format!("{:?}", Key::parse("A:B").unwrap()).contains('B'));
    }

    #[test]
    fn the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_file(&path, &Key::parse("A:B").unwrap()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            resolve(None, Some(&path)).unwrap(),
            Some(Key::parse("A:B").unwrap())
        );
    }
}
