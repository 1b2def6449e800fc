//! Reading and atomically writing configuration files (member and switch).
//!
//! `save` never leaves a half-written file behind: it writes a temporary file
//! in the same directory, fsyncs it, renames it over the target (atomic on
//! POSIX) and then fsyncs the directory so the rename survives a crash. The
//! file holds the cluster secret, so on Unix it is created with mode 0600.
//! `save` refuses a config that `load` would reject, so what is saved loads.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{ConfigError, ErrorKind};
use crate::{MemberConfig, SwitchConfig};

/// The contents of the file at `path`, which must be UTF-8.
fn read_text(path: &Path) -> Result<String, ConfigError> {
    let bytes = fs::read(path).map_err(|e| ConfigError::io(path, "cannot read", e))?;
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        ConfigError::at(
            path,
            e.as_bytes(),
            Some(offset..offset),
            None,
            ErrorKind::Syntax,
            "the file is not valid UTF-8",
        )
    })
}

impl MemberConfig {
    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<MemberConfig, ConfigError> {
        MemberConfig::parse(&read_text(path)?, path)
    }

    /// Validates the config and writes it to `path` atomically, in the form
    /// of [`MemberConfig::to_toml_string`].
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        self.validate_as(path)?;
        write_atomically(path, self.to_toml_string().as_bytes())
            .map_err(|e| ConfigError::io(path, "cannot write", e))
    }
}

impl SwitchConfig {
    /// Reads, parses and validates the switch file at `path`.
    pub fn load(path: &Path) -> Result<SwitchConfig, ConfigError> {
        SwitchConfig::parse(&read_text(path)?, path)
    }

    /// Validates the config and writes it to `path` atomically (mode 0600 on
    /// Unix: it holds the secret), in the form of
    /// [`SwitchConfig::to_toml_string`].
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        self.validate_as(path)?;
        write_atomically(path, self.to_toml_string().as_bytes())
            .map_err(|e| ConfigError::io(path, "cannot write", e))
    }
}

/// Distinguishes temporary files of concurrent saves within one process.
static SAVE_COUNTER: AtomicU64 = AtomicU64::new(0);

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path names no file"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp: PathBuf = dir.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        SAVE_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_then_rename(&tmp, path, bytes);
    if result.is_err() {
        // Best effort: the original error matters more than a leftover file.
        let _ = fs::remove_file(&tmp);
        return result;
    }
    sync_dir(dir);
    Ok(())
}

fn write_then_rename(tmp: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = create_private(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)
}

#[cfg(unix)]
fn create_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// Makes the rename durable. Best effort: some filesystems refuse to fsync a
/// directory, and the rename is already atomic without it.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
