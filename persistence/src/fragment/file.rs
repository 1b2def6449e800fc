//! Writing, reading and repairing one named fragment file.
//!
//! ```text
//! [0, 512)                 header block (header.rs)
//! [512, 512 + B*S)         the member's blocks in local-block order, each S bytes
//! [T, T + B*4)             checksum table: CRC-32C of each block, u32 LE, T = 512 + B*S
//! [T + B*4, .. + L)        name tail: the full object name when it is longer than
//!                          fits in the header (L = its length), else nothing
//! ```
//!
//! B is the block count (rows of the object), S the stripe size. A zero-length
//! object has B = 0: its fragment is the header (plus name tail) and nothing else;
//! every member still has one, so its presence and incarnation are checkable.
//!
//! Invariants:
//! * A complete fragment is exactly as long as its header implies; any other
//!   length is [`FragmentError::Length`], so a truncated file is never read as whole.
//! * Writers build the file under a temporary name in the fragment
//!   directory's `.tmp/`, `fsync` it, rename it to its final name in its
//!   shard (see [`crate::fragment::tree`]) and `fsync` the shard: after a
//!   crash a fragment either exists whole under its final name or not at
//!   all (temporary files end in `.tmp`, live outside the shards and are
//!   removed when the store opens).
//! * Every block read is verified against its table entry; a mismatch is
//!   [`FragmentError::ChecksumMismatch`] with the block's number and a tracing
//!   warning, never bad bytes. A corrupt table entry shows up the same way and is
//!   healed by [`FragmentReader::rewrite_block`].

use super::header::{check_name, FragmentHeader, HeaderName, HEADER_LEN};
use super::name::{temp_path, FragmentName};
use crate::checksum::{crc32c, crc32c_append, ChecksumKind};
use crate::error::{DecodeError, FragmentError};
use crate::incarnation::Incarnation;
use crate::layout::{check_stripe, Layout};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// What a new fragment is, known before its first block is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentSpec {
    /// Full object name (1..=1024 bytes).
    pub name: String,
    /// Object incarnation.
    pub incarnation: Incarnation,
    /// Creation time, ns since the Unix epoch.
    pub creation_time_ns: u64,
    /// Stripe (block) size.
    pub stripe_size: u32,
    /// The layout the object is striped with.
    pub layout: Layout,
    /// This fragment's index (member column) in `0..layout.members()`.
    pub fragment_index: usize,
}

impl FragmentSpec {
    /// The spec of fragment `fragment_index` of the object a catalog record describes.
    pub fn from_record(
        record: &crate::record::ObjectRecord,
        fragment_index: usize,
    ) -> Result<FragmentSpec, FragmentError> {
        Ok(FragmentSpec {
            name: record.name.clone(),
            incarnation: record.incarnation,
            creation_time_ns: record.creation_time_ns,
            stripe_size: record.stripe_size,
            layout: record
                .layout()
                .map_err(|e| FragmentError::Params(e.to_string()))?,
            fragment_index,
        })
    }

    /// The fragment's name.
    pub fn fragment_name(&self) -> FragmentName {
        // validated by `FragmentWriter::create` before any use that matters
        FragmentName::new(
            &self.name,
            self.incarnation,
            u8::try_from(self.fragment_index).unwrap_or(u8::MAX),
            u8::try_from(self.layout.members()).unwrap_or(u8::MAX),
        )
    }

    /// The fragment's file name.
    pub fn file_name(&self) -> String {
        self.fragment_name().file_name()
    }

    fn header(&self, object_len: u64) -> FragmentHeader {
        FragmentHeader {
            fragment_count: u8::try_from(self.layout.members()).unwrap_or(u8::MAX),
            parity: u8::try_from(self.layout.parity()).unwrap_or(u8::MAX),
            fragment_index: u8::try_from(self.fragment_index).unwrap_or(u8::MAX),
            stripe_size: self.stripe_size,
            incarnation: self.incarnation,
            creation_time_ns: self.creation_time_ns,
            object_len,
            checksum_kind: ChecksumKind::Crc32c,
            name: HeaderName::Full(self.name.clone()),
        }
    }
}

/// Streams one fragment to disk: create, append blocks in LBN order, finish.
/// Dropping an unfinished writer removes its temporary file.
#[derive(Debug)]
pub struct FragmentWriter {
    spec: FragmentSpec,
    dir: PathBuf,
    temp: PathBuf,
    file: Option<BufWriter<File>>,
    checksums: Vec<u32>,
    zeros: Vec<u8>,
}

impl FragmentWriter {
    /// Starts a fragment in its shard of the fragment directory `root`
    /// (which must exist; see [`crate::fragment::tree`]) under a temporary name.
    pub fn create(root: &Path, spec: FragmentSpec) -> Result<FragmentWriter, FragmentError> {
        check_name(&spec.name).map_err(|e| FragmentError::Params(e.to_string()))?;
        check_stripe(u64::from(spec.stripe_size))
            .map_err(|e| FragmentError::Params(e.to_string()))?;
        if spec.fragment_index >= spec.layout.members() {
            return Err(FragmentError::Params(format!(
                "fragment index {} >= fragment count {}",
                spec.fragment_index,
                spec.layout.members()
            )));
        }
        let dir = &root.join(spec.fragment_name().shard());
        match std::fs::create_dir(dir) {
            // A new shard's entry in `root` must be durable before a
            // fragment in it is acknowledged.
            Ok(()) => sync_dir(root)?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(FragmentError::io(dir, e)),
        }
        let tmp = super::tree::temp_dir(root);
        if let Err(e) = std::fs::create_dir(&tmp) {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(FragmentError::io(&tmp, e));
            }
        }
        let temp = temp_path(&tmp, &spec.file_name());
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| FragmentError::io(&temp, e))?;
        let mut file = BufWriter::with_capacity(256 << 10, file);
        // Placeholder for the header, written last so a partial file never has a valid one.
        file.write_all(&[0u8; HEADER_LEN])
            .map_err(|e| FragmentError::io(&temp, e))?;
        Ok(FragmentWriter {
            zeros: Vec::new(),
            dir: dir.to_path_buf(),
            temp,
            file: Some(file),
            checksums: Vec::new(),
            spec,
        })
    }

    /// The spec this writer was created with.
    pub fn spec(&self) -> &FragmentSpec {
        &self.spec
    }

    /// Blocks appended so far (= the next block's LBN).
    pub fn blocks_appended(&self) -> u64 {
        self.checksums.len() as u64
    }

    /// Where the fragment will be once finished.
    pub fn final_path(&self) -> PathBuf {
        self.dir.join(self.spec.file_name())
    }

    /// Appends the next block (LBN = `blocks_appended()`). A block shorter than the
    /// stripe size (the object's last data block) is zero-padded.
    pub fn append_block(&mut self, block: &[u8]) -> Result<(), FragmentError> {
        let stripe = self.spec.stripe_size as usize;
        if block.len() > stripe {
            return Err(FragmentError::BlockSize {
                got: block.len(),
                stripe: self.spec.stripe_size,
            });
        }
        let pad = stripe - block.len();
        if self.zeros.len() < pad {
            self.zeros.resize(pad, 0);
        }
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| FragmentError::Params("append after a failed write".into()))?;
        let padding = &self.zeros[..pad];
        let crc = crc32c_append(crc32c(block), padding);
        file.write_all(block)
            .and_then(|()| file.write_all(padding))
            .map_err(|e| FragmentError::io(&self.temp, e))?;
        self.checksums.push(crc);
        Ok(())
    }

    /// Completes the fragment of an object of `object_len` bytes: writes the
    /// checksum table, name tail and header, fsyncs, renames to the final name
    /// and fsyncs the directory. Returns the final path.
    pub fn finish(mut self, object_len: u64) -> Result<PathBuf, FragmentError> {
        let header = self.spec.header(object_len);
        let expected = self
            .spec
            .layout
            .geometry(object_len, self.spec.stripe_size)
            .rows();
        if expected != self.blocks_appended() {
            return Err(FragmentError::BlockCount {
                object_len,
                expected,
                appended: self.blocks_appended(),
            });
        }
        let block = header
            .encode()
            .map_err(|e| FragmentError::Params(e.to_string()))?;
        let mut file = self
            .file
            .take()
            .ok_or_else(|| FragmentError::Params("finish after a failed write".into()))?;
        let temp = self.temp.clone();
        let io = |e| FragmentError::io(&temp, e);
        let mut table = Vec::with_capacity(self.checksums.len() * 4);
        for c in &self.checksums {
            table.extend_from_slice(&c.to_le_bytes());
        }
        file.write_all(&table).map_err(io)?;
        file.write_all(header.name_tail()).map_err(io)?;
        let file = file.into_inner().map_err(|e| io(e.into_error()))?;
        file.write_all_at(&block, 0).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        let final_path = self.final_path();
        std::fs::rename(&self.temp, &final_path).map_err(|e| FragmentError::io(&final_path, e))?;
        sync_dir(&self.dir)?;
        // Renamed: nothing left for Drop to clean up.
        self.temp = PathBuf::new();
        Ok(final_path)
    }

    /// Abandons the fragment, removing the temporary file.
    pub fn abort(self) {}
}

impl Drop for FragmentWriter {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            self.file = None;
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// fsyncs a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), FragmentError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| FragmentError::io(dir, e))
}

/// Removes a fragment file and fsyncs its directory, so the removal is durable.
/// A file that is already gone is not an error.
pub fn delete_fragment(path: &Path) -> Result<(), FragmentError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(FragmentError::io(path, e)),
    }
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => sync_dir(Path::new(".")),
    }
}

/// Where a reader's bytes are: a fragment file, or a fragment's image in memory.
#[derive(Debug)]
enum Source {
    File(File),
    Image(Vec<u8>),
}

impl Source {
    fn len(&self) -> std::io::Result<u64> {
        match self {
            Source::File(f) => Ok(f.metadata()?.len()),
            Source::Image(b) => Ok(b.len() as u64),
        }
    }

    fn image_range(b: &[u8], len: usize, off: u64) -> std::io::Result<std::ops::Range<usize>> {
        usize::try_from(off)
            .ok()
            .and_then(|start| Some(start..start.checked_add(len)?))
            .filter(|r| r.end <= b.len())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
    }

    fn read_exact_at(&self, buf: &mut [u8], off: u64) -> std::io::Result<()> {
        match self {
            Source::File(f) => f.read_exact_at(buf, off),
            Source::Image(b) => {
                let r = Self::image_range(b, buf.len(), off)?;
                buf.copy_from_slice(&b[r]);
                Ok(())
            }
        }
    }

    fn write_all_at(&mut self, data: &[u8], off: u64) -> std::io::Result<()> {
        match self {
            Source::File(f) => f.write_all_at(data, off),
            Source::Image(b) => {
                let r = Self::image_range(b, data.len(), off)?;
                b[r].copy_from_slice(data);
                Ok(())
            }
        }
    }

    /// Makes written blocks durable (an image is made durable by whoever stores it).
    fn sync(&self) -> std::io::Result<()> {
        match self {
            Source::File(f) => f.sync_data(),
            Source::Image(_) => Ok(()),
        }
    }
}

/// The whole fragment (index `spec.fragment_index`) of an object of
/// `object_len` bytes whose blocks are `blocks` (one per row, each at most
/// the stripe size, zero-padded): exactly the bytes [`FragmentWriter`]
/// writes into a file for the same input. For fragments of few rows, kept
/// where a file of their own would cost more than the bytes.
pub fn fragment_image(
    spec: &FragmentSpec,
    object_len: u64,
    blocks: &[&[u8]],
) -> Result<Vec<u8>, FragmentError> {
    check_name(&spec.name).map_err(|e| FragmentError::Params(e.to_string()))?;
    check_stripe(u64::from(spec.stripe_size)).map_err(|e| FragmentError::Params(e.to_string()))?;
    if spec.fragment_index >= spec.layout.members() {
        return Err(FragmentError::Params(format!(
            "fragment index {} >= fragment count {}",
            spec.fragment_index,
            spec.layout.members()
        )));
    }
    let expected = spec.layout.geometry(object_len, spec.stripe_size).rows();
    if expected != blocks.len() as u64 {
        return Err(FragmentError::BlockCount {
            object_len,
            expected,
            appended: blocks.len() as u64,
        });
    }
    let stripe = spec.stripe_size as usize;
    let header = spec.header(object_len);
    let encoded = header
        .encode()
        .map_err(|e| FragmentError::Params(e.to_string()))?;
    let mut image =
        Vec::with_capacity(HEADER_LEN + blocks.len() * (stripe + 4) + header.name_tail().len());
    image.extend_from_slice(&encoded);
    let mut table = Vec::with_capacity(blocks.len() * 4);
    for block in blocks {
        if block.len() > stripe {
            return Err(FragmentError::BlockSize {
                got: block.len(),
                stripe: spec.stripe_size,
            });
        }
        let start = image.len();
        image.extend_from_slice(block);
        image.resize(start + stripe, 0);
        table.extend_from_slice(&crc32c(&image[start..]).to_le_bytes());
    }
    image.extend_from_slice(&table);
    image.extend_from_slice(header.name_tail());
    debug_assert_eq!(encoded.len(), HEADER_LEN);
    Ok(image)
}

/// Result of checking one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockCheck {
    /// Local block number.
    pub lbn: u64,
    /// Checksum in the table.
    pub stored: u32,
    /// Checksum of the bytes on disk.
    pub computed: u32,
}

impl BlockCheck {
    /// True if the block matches its checksum.
    pub fn ok(&self) -> bool {
        self.stored == self.computed
    }
}

/// An open, validated fragment file: header decoded, length checked, checksum
/// table in memory. Reads use positioned I/O, so `&self` reads may run concurrently.
#[derive(Debug)]
pub struct FragmentReader {
    path: PathBuf,
    file: Source,
    header: FragmentHeader,
    layout: Layout,
    checksums: Vec<u32>,
    writable: bool,
}

impl FragmentReader {
    /// Opens a fragment read-only.
    pub fn open(path: impl AsRef<Path>) -> Result<FragmentReader, FragmentError> {
        Self::open_impl(path.as_ref(), false)
    }

    /// Opens a fragment for reading and in-place block repair.
    pub fn open_rw(path: impl AsRef<Path>) -> Result<FragmentReader, FragmentError> {
        Self::open_impl(path.as_ref(), true)
    }

    fn open_impl(path: &Path, writable: bool) -> Result<FragmentReader, FragmentError> {
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(|e| FragmentError::io(path, e))?;
        Self::from_source(path, Source::File(file), writable)
    }

    /// Reads a fragment from its image (the bytes a fragment file holds, kept
    /// elsewhere than in a file of its own; see [`fragment_image`]), with the
    /// same checks as a file. `label` names it in errors and logs. It can be
    /// repaired in memory ([`FragmentReader::rewrite_block`]); the caller
    /// stores [`FragmentReader::image`] back.
    pub fn from_image(label: &Path, image: Vec<u8>) -> Result<FragmentReader, FragmentError> {
        Self::from_source(label, Source::Image(image), true)
    }

    /// The fragment's bytes, when it was read from an image.
    pub fn image(&self) -> Option<&[u8]> {
        match &self.file {
            Source::Image(b) => Some(b),
            Source::File(_) => None,
        }
    }

    fn from_source(
        path: &Path,
        file: Source,
        writable: bool,
    ) -> Result<FragmentReader, FragmentError> {
        let io = |e| FragmentError::io(path, e);
        let hdr_err = |source: DecodeError| FragmentError::Header {
            path: path.to_path_buf(),
            source,
        };
        let actual = file.len().map_err(io)?;
        let mut block = vec![0u8; HEADER_LEN.min(usize::try_from(actual).unwrap_or(HEADER_LEN))];
        file.read_exact_at(&mut block, 0).map_err(io)?;
        let mut header = FragmentHeader::decode(&block).map_err(|e| {
            tracing::warn!(path = %path.display(), error = %e, "bad fragment header");
            hdr_err(e)
        })?;
        let layout = header.layout().map_err(hdr_err)?;
        let blocks = header.block_count().map_err(hdr_err)?;
        let stripe = u64::from(header.stripe_size);
        let sum_len = header.checksum_kind.size() as u64;
        // validate() bounded blocks * (stripe + sum_len) well below u64::MAX.
        let table_off = HEADER_LEN as u64 + blocks * stripe;
        let tail_off = table_off + blocks * sum_len;
        let expected = tail_off + header.name_tail_len() as u64;
        if actual != expected {
            tracing::warn!(path = %path.display(), expected, actual, "fragment length mismatch");
            return Err(FragmentError::Length {
                path: path.to_path_buf(),
                expected,
                actual,
            });
        }
        let table_len = usize::try_from(blocks * sum_len).map_err(|_| {
            hdr_err(DecodeError::invalid(
                "fragment header",
                "block count",
                "too large",
            ))
        })?;
        let mut table = vec![0u8; table_len];
        file.read_exact_at(&mut table, table_off).map_err(io)?;
        let checksums = table
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if header.full_name().is_none() {
            let mut tail = vec![0u8; header.name_tail_len()];
            file.read_exact_at(&mut tail, tail_off).map_err(io)?;
            header.attach_name_tail(&tail).map_err(hdr_err)?;
        }
        Ok(FragmentReader {
            path: path.to_path_buf(),
            file,
            header,
            layout,
            checksums,
            writable,
        })
    }

    /// The decoded header (with the full name).
    pub fn header(&self) -> &FragmentHeader {
        &self.header
    }

    /// The layout from the header.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The full object name.
    pub fn object_name(&self) -> &str {
        self.header.full_name().unwrap_or_default()
    }

    /// Blocks in the fragment.
    pub fn block_count(&self) -> u64 {
        self.checksums.len() as u64
    }

    /// Stripe (block) size.
    pub fn stripe_size(&self) -> u32 {
        self.header.stripe_size
    }

    /// True if `name` (parsed from the file name) describes this fragment's header.
    pub fn matches_name(&self, name: &FragmentName) -> bool {
        name.is_for(self.object_name())
            && name.incarnation == self.header.incarnation
            && name.index == self.header.fragment_index
            && name.count == self.header.fragment_count
    }

    fn block_offset(&self, lbn: u64) -> Result<u64, FragmentError> {
        if lbn >= self.block_count() {
            return Err(FragmentError::BlockOutOfRange {
                path: self.path.clone(),
                lbn,
                blocks: self.block_count(),
            });
        }
        Ok(HEADER_LEN as u64 + lbn * u64::from(self.header.stripe_size))
    }

    fn check_buf(&self, len: usize) -> Result<(), FragmentError> {
        if len != self.header.stripe_size as usize {
            return Err(FragmentError::BlockSize {
                got: len,
                stripe: self.header.stripe_size,
            });
        }
        Ok(())
    }

    /// Reads block `lbn` into `buf` (exactly stripe-size bytes), unchecked.
    fn read_raw_into(&self, lbn: u64, buf: &mut [u8]) -> Result<(), FragmentError> {
        let off = self.block_offset(lbn)?;
        self.check_buf(buf.len())?;
        self.file
            .read_exact_at(buf, off)
            .map_err(|e| FragmentError::io(&self.path, e))
    }

    /// Reads block `lbn` into `buf` (exactly stripe-size bytes) and verifies its checksum.
    pub fn read_block_into(&self, lbn: u64, buf: &mut [u8]) -> Result<(), FragmentError> {
        self.read_raw_into(lbn, buf)?;
        let stored = self
            .checksums
            .get(lbn as usize)
            .copied()
            .unwrap_or_default();
        let computed = crc32c(buf);
        if stored != computed {
            tracing::warn!(
                path = %self.path.display(), lbn, stored, computed,
                "fragment block checksum mismatch"
            );
            return Err(FragmentError::ChecksumMismatch {
                path: self.path.clone(),
                lbn,
                stored,
                computed,
            });
        }
        Ok(())
    }

    /// Reads block `lbn` without checking its checksum. Never on the data
    /// path: it exists for a test-only hook that plants a fault on purpose.
    pub fn read_block_unverified(&self, lbn: u64) -> Result<Vec<u8>, FragmentError> {
        let mut buf = vec![0u8; self.header.stripe_size as usize];
        self.read_raw_into(lbn, &mut buf)?;
        Ok(buf)
    }

    /// Reads and verifies block `lbn`.
    pub fn read_block(&self, lbn: u64) -> Result<Vec<u8>, FragmentError> {
        let mut buf = vec![0u8; self.header.stripe_size as usize];
        self.read_block_into(lbn, &mut buf)?;
        Ok(buf)
    }

    /// Checks every block against its checksum (I/O errors abort, mismatches are reported).
    pub fn verify_all(&self) -> Result<Vec<BlockCheck>, FragmentError> {
        let mut buf = vec![0u8; self.header.stripe_size as usize];
        let mut out = Vec::with_capacity(self.checksums.len());
        for lbn in 0..self.block_count() {
            let off = self.block_offset(lbn)?;
            self.file
                .read_exact_at(&mut buf, off)
                .map_err(|e| FragmentError::io(&self.path, e))?;
            let check = BlockCheck {
                lbn,
                stored: self.checksums[lbn as usize],
                computed: crc32c(&buf),
            };
            if !check.ok() {
                tracing::warn!(
                    path = %self.path.display(), lbn, stored = check.stored,
                    computed = check.computed, "fragment block checksum mismatch"
                );
            }
            out.push(check);
        }
        Ok(out)
    }

    /// Replaces block `lbn` in place (e.g. with its reconstruction) and its checksum,
    /// then fsyncs. A block shorter than the stripe size is zero-padded. Needs
    /// [`FragmentReader::open_rw`].
    pub fn rewrite_block(&mut self, lbn: u64, data: &[u8]) -> Result<(), FragmentError> {
        if !self.writable {
            return Err(FragmentError::ReadOnly {
                path: self.path.clone(),
            });
        }
        let off = self.block_offset(lbn)?;
        let stripe = self.header.stripe_size as usize;
        if data.len() > stripe {
            return Err(FragmentError::BlockSize {
                got: data.len(),
                stripe: self.header.stripe_size,
            });
        }
        let mut block = Vec::with_capacity(stripe);
        block.extend_from_slice(data);
        block.resize(stripe, 0);
        let crc = crc32c(&block);
        let io = |e| FragmentError::io(&self.path, e);
        // Block first, checksum second: a crash in between leaves a mismatch that
        // the next read reports and repairs again, never a silently wrong block.
        self.file.write_all_at(&block, off).map_err(io)?;
        let table_off =
            HEADER_LEN as u64 + self.block_count() * u64::from(self.header.stripe_size) + lbn * 4;
        self.file
            .write_all_at(&crc.to_le_bytes(), table_off)
            .map_err(io)?;
        self.file.sync().map_err(io)?;
        if let Some(slot) = self.checksums.get_mut(lbn as usize) {
            *slot = crc;
        }
        tracing::info!(path = %self.path.display(), lbn, "fragment block rewritten");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files (not directories) under `root`, shards included.
    fn files_under(root: &Path) -> usize {
        std::fs::read_dir(root)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    files_under(&e.path())
                } else {
                    1
                }
            })
            .sum()
    }

    fn spec(name: &str, layout: Layout, index: usize) -> FragmentSpec {
        FragmentSpec {
            name: name.into(),
            incarnation: Incarnation::new(4),
            creation_time_ns: 99,
            stripe_size: 4096,
            layout,
            fragment_index: index,
        }
    }

    fn block(seed: u8) -> Vec<u8> {
        (0..4096u32).map(|i| (i as u8).wrapping_mul(seed)).collect()
    }

    proptest::proptest! {
        /// A damaged image (bytes flipped, truncated or extended) gives typed
        /// errors, never a panic and never a block that fails its checksum
        /// silently; an undamaged one verifies.
        #[test]
        fn damaged_images_never_panic(
            len in 0u64..3 * 4096,
            flips in proptest::collection::vec((0usize..20_000, 1u8..=255), 0..4),
            cut in proptest::option::of(0usize..20_000),
            extra in 0usize..3,
        ) {
            let layout = Layout::raid5(3).unwrap();
            let sp = spec("p/image", layout, 1);
            let rows = layout.geometry(len, 4096).rows() as usize;
            let blocks: Vec<Vec<u8>> = (0..rows).map(|r| block(r as u8 + 1)).collect();
            let refs: Vec<&[u8]> = blocks.iter().map(Vec::as_slice).collect();
            let good = fragment_image(&sp, len, &refs).unwrap();
            let r = FragmentReader::from_image(Path::new("p"), good.clone()).unwrap();
            proptest::prop_assert!(r.verify_all().unwrap().iter().all(BlockCheck::ok));
            let mut bad = good.clone();
            for (at, mask) in &flips {
                if let Some(b) = bad.get_mut(*at) {
                    *b ^= mask;
                }
            }
            if let Some(c) = cut {
                bad.truncate(c);
            }
            bad.extend(std::iter::repeat_n(0u8, extra));
            if let Ok(r) = FragmentReader::from_image(Path::new("p"), bad.clone()) {
                for lbn in 0..r.block_count() {
                    // A block that reads is the block that was written:
                    // damage is a typed error, never other bytes.
                    if let Ok(b) = r.read_block(lbn) {
                        let off = HEADER_LEN + lbn as usize * 4096;
                        proptest::prop_assert_eq!(&b[..], &good[off..off + 4096]);
                    }
                }
                let _ = r.verify_all();
            }
        }
    }

    /// An image is byte for byte the file the writer makes of the same
    /// blocks (long names with a tail, short last block, zero rows), and
    /// reads, verifies and repairs the same way.
    #[test]
    fn an_image_is_the_file_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::raid5(3).unwrap();
        let long = "n/".repeat(200);
        for (name, object_len, blocks) in [
            (
                "a/b",
                5 * 4096 + 10,
                vec![block(1), block(2), block(3)[..10].to_vec()],
            ),
            (long.as_str(), 4096, vec![block(7)]),
            ("empty", 0, vec![]),
        ] {
            let sp = spec(name, layout, 2);
            let mut w = FragmentWriter::create(dir.path(), sp.clone()).unwrap();
            for b in &blocks {
                w.append_block(b).unwrap();
            }
            let path = w.finish(object_len).unwrap();
            let refs: Vec<&[u8]> = blocks.iter().map(Vec::as_slice).collect();
            let image = fragment_image(&sp, object_len, &refs).unwrap();
            assert_eq!(image, std::fs::read(&path).unwrap(), "{name}");
            let mut r = FragmentReader::from_image(Path::new("label"), image.clone()).unwrap();
            assert_eq!(r.object_name(), name);
            assert_eq!(r.block_count(), blocks.len() as u64);
            for (lbn, b) in blocks.iter().enumerate() {
                let mut want = b.clone();
                want.resize(4096, 0);
                assert_eq!(r.read_block(lbn as u64).unwrap(), want);
            }
            if blocks.is_empty() {
                continue;
            }
            // A flipped bit is caught, never served, and repaired in memory.
            let mut bad = image.clone();
            bad[HEADER_LEN + 3] ^= 0x01;
            let mut rb = FragmentReader::from_image(Path::new("label"), bad).unwrap();
            assert!(matches!(
                rb.read_block(0),
                Err(FragmentError::ChecksumMismatch { lbn: 0, .. })
            ));
            rb.rewrite_block(0, &blocks[0]).unwrap();
            assert_eq!(rb.image().unwrap(), &image[..]);
            r.rewrite_block(0, &blocks[0]).unwrap();
            // A truncated image is a length error.
            assert!(matches!(
                FragmentReader::from_image(Path::new("label"), image[..image.len() - 1].to_vec()),
                Err(FragmentError::Length { .. })
            ));
        }
        // The block count must match the object's rows.
        let sp = spec("x", layout, 0);
        assert!(matches!(
            fragment_image(&sp, 3 * 4096, &[&block(1)]),
            Err(FragmentError::BlockCount { .. })
        ));
        assert!(FragmentReader::from_image(Path::new("label"), vec![0u8; 10]).is_err());
    }

    #[test]
    fn write_read_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::raid5(3).unwrap();
        let mut w = FragmentWriter::create(dir.path(), spec("a/b", layout, 2)).unwrap();
        // object of 5 blocks + 10 bytes -> 6 data blocks -> 3 rows.
        for s in 1..=3 {
            w.append_block(&block(s)).unwrap();
        }
        let path = w.finish(5 * 4096 + 10).unwrap();
        assert!(path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with(".i4.2of3.frag"));
        let names = crate::fragment::list_fragments(dir.path()).unwrap();
        assert_eq!(names.len(), 1);
        assert_eq!(files_under(dir.path()), 1, "temp file left");
        let mut r = FragmentReader::open_rw(&path).unwrap();
        assert!(r.matches_name(&names[0].1));
        assert_eq!(r.block_count(), 3);
        assert_eq!(r.object_name(), "a/b");
        assert_eq!(r.read_block(1).unwrap(), block(2));
        assert!(matches!(
            r.read_block(3),
            Err(FragmentError::BlockOutOfRange { .. })
        ));
        assert!(r.verify_all().unwrap().iter().all(BlockCheck::ok));

        // Flip one bit of block 1 on disk.
        let f = OpenOptions::new()
            .write(true)
            .read(true)
            .open(&path)
            .unwrap();
        let off = 512 + 4096 + 100;
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, off).unwrap();
        f.write_all_at(&[b[0] ^ 0x10], off).unwrap();
        drop(f);
        match r.read_block(1) {
            Err(FragmentError::ChecksumMismatch { lbn: 1, .. }) => {}
            other => panic!("{other:?}"),
        }
        let bad: Vec<u64> = r
            .verify_all()
            .unwrap()
            .iter()
            .filter(|c| !c.ok())
            .map(|c| c.lbn)
            .collect();
        assert_eq!(bad, vec![1]);
        r.rewrite_block(1, &block(2)).unwrap();
        assert_eq!(r.read_block(1).unwrap(), block(2));
        let r2 = FragmentReader::open(&path).unwrap();
        assert_eq!(r2.read_block(1).unwrap(), block(2));
        let mut ro = FragmentReader::open(&path).unwrap();
        delete_fragment(&path).unwrap();
        delete_fragment(&path).unwrap();
        assert!(!path.exists());
        assert!(matches!(
            ro.rewrite_block(0, &block(1)),
            Err(FragmentError::ReadOnly { .. })
        ));
    }

    #[test]
    fn zero_length_object() {
        let dir = tempfile::tempdir().unwrap();
        let w = FragmentWriter::create(dir.path(), spec("empty", Layout::raid5(3).unwrap(), 0))
            .unwrap();
        let path = w.finish(0).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 512);
        let r = FragmentReader::open(&path).unwrap();
        assert_eq!(r.block_count(), 0);
        assert_eq!(r.header().object_len, 0);
    }

    #[test]
    fn long_name_tail() {
        let dir = tempfile::tempdir().unwrap();
        let name = "dir/".repeat(256);
        let mut w =
            FragmentWriter::create(dir.path(), spec(&name, Layout::new(2, 1).unwrap(), 1)).unwrap();
        w.append_block(&block(9)).unwrap();
        let path = w.finish(1).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            512 + 4096 + 4 + 1024
        );
        let r = FragmentReader::open(&path).unwrap();
        assert_eq!(r.object_name(), name);
        let mut short = vec![9u8];
        short.resize(4096, 0);
        assert_eq!(r.read_block(0).unwrap(), block(9));
        let _ = short;
    }

    #[test]
    fn wrong_block_count_and_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            FragmentWriter::create(dir.path(), spec("x", Layout::raid5(3).unwrap(), 0)).unwrap();
        assert!(matches!(
            w.append_block(&[0u8; 4097]),
            Err(FragmentError::BlockSize { .. })
        ));
        w.append_block(&[1u8; 10]).unwrap();
        assert!(matches!(
            w.finish(3 * 4096 * 2),
            Err(FragmentError::BlockCount { .. })
        ));
        // The failed finish dropped the writer: no temp file remains.
        assert_eq!(files_under(dir.path()), 0);
        assert!(
            FragmentWriter::create(dir.path(), spec("x", Layout::raid5(3).unwrap(), 3)).is_err()
        );
        assert!(
            FragmentWriter::create(dir.path(), spec("", Layout::raid5(3).unwrap(), 0)).is_err()
        );
    }

    #[test]
    fn truncated_or_extended_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            FragmentWriter::create(dir.path(), spec("t", Layout::raid5(3).unwrap(), 0)).unwrap();
        w.append_block(&block(3)).unwrap();
        let path = w.finish(100).unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        for new_len in [0, 100, 512, len - 1, len + 1] {
            let f = OpenOptions::new().write(true).open(&path).unwrap();
            f.set_len(new_len).unwrap();
            drop(f);
            assert!(FragmentReader::open(&path).is_err(), "len {new_len}");
        }
    }

    #[test]
    fn crash_mid_write_is_never_taken_for_a_fragment() {
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            FragmentWriter::create(dir.path(), spec("c", Layout::raid5(3).unwrap(), 0)).unwrap();
        w.append_block(&block(1)).unwrap();
        let final_path = w.final_path();
        // A crash: no finish, no Drop.
        std::mem::forget(w);
        assert!(!final_path.exists());
        assert_eq!(files_under(dir.path()), 1);
        assert!(crate::fragment::list_fragments(dir.path())
            .unwrap()
            .is_empty());
        assert_eq!(crate::fragment::remove_stale_temps(dir.path()).unwrap(), 1);
        assert_eq!(files_under(dir.path()), 0);
    }

    #[test]
    fn unfinished_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            FragmentWriter::create(dir.path(), spec("u", Layout::raid5(3).unwrap(), 0)).unwrap();
        w.append_block(&block(1)).unwrap();
        drop(w);
        assert_eq!(files_under(dir.path()), 0);
    }
}
