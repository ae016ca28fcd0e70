//! Unpacking one layer tar into its own directory, safe against hostile
//! layers.
//!
//! Every layer is unpacked into an empty directory of its own, so the only
//! tricks to defeat are within one tar: `..` and absolute paths, entries
//! that reach through a symlink (or a hardlink to outside), device nodes.
//! Each entry's parent is resolved one component at a time with lstat, and
//! any symlink on the way is an error: we never follow a link that a layer
//! made. Symlinks themselves are created as they are (an absolute target
//! means the container's root, and is only ever followed inside it).
//!
//! Whiteouts become what the kernel overlay (with `userxattr`) reads: a
//! `.wh.NAME` entry a 0:0 character device at NAME, a `.wh..wh..opq` entry
//! the xattr `user.overlay.opaque=y` on its directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context};
use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use sha2::{Digest, Sha256};

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
pub const OPAQUE_XATTR: &str = "user.overlay.opaque";

#[derive(Debug, Clone, Copy)]
pub struct UnpackOptions {
    /// Set the owners from the tar (we run as root of a user namespace
    /// with the user's subordinate ids mapped). Otherwise all files are
    /// the user's.
    pub keep_owners: bool,
    /// Without real owners (single-id mode): keep each file's and dir's
    /// owner from the tar, when not root, in `user.burrow.override`, as
    /// chown in the container does (`sandbox::ids::owners`).
    pub record_owners: bool,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Unpacked {
    /// sha256 of the uncompressed tar: the layer's diff id.
    pub diff_id: String,
    /// Bytes of file content in the layer.
    pub size: u64,
    /// Device nodes left out (paths in the layer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_devices: Vec<String>,
}

/// Unpack a (possibly compressed) layer blob into `dest`, an empty dir.
pub fn unpack_file(blob: &Path, dest: &Path, opts: UnpackOptions) -> anyhow::Result<Unpacked> {
    let f = File::open(blob).with_context(|| format!("open {}", blob.display()))?;
    unpack(f, dest, opts)
}

/// Unpack a layer from a reader; gzip and zstd are recognised by their
/// magic bytes, anything else is read as a plain tar.
///
/// Decompressing and hashing run on a second thread while this one writes
/// files, so the two costs overlap instead of adding up. The thread is
/// joined before this returns.
pub fn unpack(
    reader: impl Read + Send,
    dest: &Path,
    opts: UnpackOptions,
) -> anyhow::Result<Unpacked> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(16);
    let cap = LayerCap::for_dir(dest);
    std::thread::scope(|s| {
        let producer = s.spawn(move || produce(reader, cap, tx));
        let mut chunks = ChannelReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        };
        let result = Unpacker::new(dest, opts)
            .run(&mut chunks)
            .context("unpack layer")
            .and_then(|r| {
                // The diff id covers the whole stream, padding included.
                io::copy(&mut chunks, &mut io::sink()).context("read layer to its end")?;
                Ok(r)
            });
        // Dropping the receiver stops the producer if we gave up early.
        drop(chunks);
        let diff_id = producer
            .join()
            .map_err(|_| anyhow::anyhow!("the decompressing thread panicked"))?;
        // A broken stream is the cause of whatever the tar reader saw.
        let diff_id = diff_id?;
        let (size, skipped_devices) = result?;
        Ok(Unpacked {
            diff_id,
            size,
            skipped_devices,
        })
    })
}

/// Decompress and hash `reader`, sending the plain tar in chunks; the
/// diff id when the stream ended.
fn produce(
    reader: impl Read,
    cap: LayerCap,
    tx: std::sync::mpsc::SyncSender<io::Result<Vec<u8>>>,
) -> anyhow::Result<String> {
    let mut plain = match decompressed(reader) {
        Ok((p, _)) => cap.wrap(p),
        Err(e) => {
            let _ = tx.send(Err(io::Error::other(format!("{e:#}"))));
            return Err(e);
        }
    };
    let mut hasher = Sha256::new();
    loop {
        let mut buf = vec![0u8; 256 * 1024];
        let n = match plain.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                return Err(e).context("decompress layer");
            }
        };
        buf.truncate(n);
        hasher.update(&buf);
        if tx.send(Ok(buf)).is_err() {
            break; // the unpacker stopped; its error is reported
        }
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// Reads the chunks `produce` sends.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.cur = chunk?;
                    self.pos = 0;
                }
                Err(_) => return Ok(0), // the producer is done
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The OCI layer media type for this compression.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// The plain tar inside a layer blob, found by its magic bytes.
pub fn decompressed<'a>(
    reader: impl Read + 'a,
) -> anyhow::Result<(Box<dyn Read + 'a>, Compression)> {
    let mut buffered = BufReader::with_capacity(256 * 1024, reader);
    let head = buffered.fill_buf().context("read layer")?.to_vec();
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        (
            Box::new(flate2::read::MultiGzDecoder::new(buffered)),
            Compression::Gzip,
        )
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let d = zstd::stream::read::Decoder::with_buffer(buffered).context("start zstd")?;
        (Box::new(d), Compression::Zstd)
    } else {
        (Box::new(buffered), Compression::None)
    })
}

/// The largest plain tar a layer may expand to: what is free on the
/// store's file system (a tar bigger than that cannot be unpacked anyway),
/// or less through BURROW_MAX_LAYER_SIZE. It stops a decompression bomb
/// with a clear error instead of a full disk.
#[derive(Debug, Clone, Copy)]
pub struct LayerCap {
    bytes: u64,
    from_env: bool,
}

pub const MAX_LAYER_ENV: &str = "BURROW_MAX_LAYER_SIZE";

impl LayerCap {
    /// The cap for a layer unpacked into (or stored beside) `dir`.
    pub fn for_dir(dir: &Path) -> LayerCap {
        let free = super::free_space(dir).unwrap_or(u64::MAX);
        let env = std::env::var(MAX_LAYER_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok());
        match env {
            Some(e) if e < free => LayerCap {
                bytes: e,
                from_env: true,
            },
            _ => LayerCap {
                bytes: free,
                from_env: false,
            },
        }
    }

    fn wrap<'a>(self, inner: Box<dyn Read + 'a>) -> Box<dyn Read + 'a> {
        Box::new(Capped {
            inner,
            cap: self,
            seen: 0,
        })
    }
}

/// The plain tar, failing once it grows past the cap or burrow is
/// interrupted.
struct Capped<'a> {
    inner: Box<dyn Read + 'a>,
    cap: LayerCap,
    seen: u64,
}

impl Read for Capped<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::interrupt::check()?;
        let n = self.inner.read(buf)?;
        self.seen += n as u64;
        if self.seen > self.cap.bytes {
            let why = if self.cap.from_env {
                format!("the {MAX_LAYER_ENV} limit")
            } else {
                "the space free on the store's file system".to_string()
            };
            return Err(io::Error::other(format!(
                "the layer expands to more than {} bytes, {why} (a decompression bomb?)",
                self.cap.bytes
            )));
        }
        Ok(n)
    }
}

/// The diff id (sha256 of the plain tar) of a layer blob.
pub fn diff_id_of(blob: &Path) -> anyhow::Result<(String, Compression)> {
    let f = File::open(blob).with_context(|| format!("open {}", blob.display()))?;
    let (plain, compression) = decompressed(f)?;
    let dir = blob.parent().unwrap_or(Path::new("."));
    let mut hashing = HashingReader {
        inner: LayerCap::for_dir(dir).wrap(plain),
        hasher: Sha256::new(),
    };
    io::copy(&mut hashing, &mut io::sink()).context("read layer")?;
    Ok((
        format!("sha256:{}", hex::encode(hashing.hasher.finalize())),
        compression,
    ))
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Metadata applied to a directory after its contents are written (a
/// read-only dir would refuse its children; writing children moves mtime).
struct DirMeta {
    path: PathBuf,
    mode: u32,
    owner: Option<(u32, u32)>,
    /// The owner to record instead (`UnpackOptions::record_owners`).
    record: Option<(u32, u32)>,
    mtime: i64,
}

struct Unpacker<'a> {
    dest: &'a Path,
    opts: UnpackOptions,
    dirs: Vec<DirMeta>,
    warned_ids: bool,
    skipped: Vec<String>,
    /// Directories already checked to be real (not symlinks), so deep
    /// trees are not lstat'ed component by component for every entry.
    /// An entry that replaces one of them drops it and all below.
    known_dirs: std::collections::HashSet<PathBuf>,
    /// File contents are copied through this (fewer, larger writes).
    buf: Vec<u8>,
    /// The current entry's owner to record, if any.
    record: Option<(u32, u32)>,
}

impl<'a> Unpacker<'a> {
    fn new(dest: &'a Path, opts: UnpackOptions) -> Self {
        Unpacker {
            dest,
            opts,
            dirs: Vec::new(),
            warned_ids: false,
            skipped: Vec::new(),
            known_dirs: std::collections::HashSet::new(),
            buf: vec![0; 256 * 1024],
            record: None,
        }
    }

    fn run(mut self, reader: &mut dyn Read) -> anyhow::Result<(u64, Vec<String>)> {
        let mut archive = tar::Archive::new(reader);
        let mut size = 0u64;
        for entry in archive.entries().context("read tar")? {
            let mut entry = entry.context("read tar entry")?;
            let raw = entry.path().context("tar entry path")?.into_owned();
            size += self.entry(&mut entry, &raw).with_context(|| {
                format!(
                    "entry {}",
                    crate::text::escape_control(&raw.to_string_lossy())
                )
            })?;
        }
        // Deepest first, so a parent's mtime is set after its children's.
        self.dirs.sort_by(|a, b| {
            b.path
                .components()
                .count()
                .cmp(&a.path.components().count())
        });
        for d in &self.dirs {
            self.apply_dir(d)?;
        }
        Ok((size, self.skipped))
    }

    fn entry(
        &mut self,
        entry: &mut tar::Entry<'_, &mut dyn Read>,
        raw: &Path,
    ) -> anyhow::Result<u64> {
        let rel = clean(raw)?;
        let header = entry.header();
        let kind = header.entry_type();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let mtime = header.mtime().unwrap_or(0) as i64;
        let owner = match (header.uid(), header.gid()) {
            (Ok(u), Ok(g)) => Some((u as u32, g as u32)),
            _ => None,
        };
        let record = self.opts.record_owners && !self.opts.keep_owners;
        self.record = owner.filter(|&o| record && o != (0, 0));
        let owner = owner.filter(|_| self.opts.keep_owners);
        // The root of the layer itself ("./").
        let Some(name) = rel.file_name().map(|n| n.to_os_string()) else {
            if kind.is_dir() {
                self.dirs.push(DirMeta {
                    path: self.dest.to_path_buf(),
                    mode,
                    owner,
                    record: self.record,
                    mtime,
                });
            }
            return Ok(0);
        };
        let parent = self.resolve_dir(rel.parent().unwrap_or(Path::new("")))?;
        let name_str = name.to_string_lossy();
        if name_str == OPAQUE {
            xattr::set(&parent, OPAQUE_XATTR, b"y").context("mark the directory opaque")?;
            return Ok(0);
        }
        if let Some(hidden) = name_str.strip_prefix(WHITEOUT) {
            self.whiteout(&parent, hidden)?;
            return Ok(0);
        }
        let target = parent.join(&name);
        if kind != tar::EntryType::Directory {
            self.forget(&target);
        }
        match kind {
            tar::EntryType::Directory => {
                self.directory(entry, target, mode, owner, mtime)?;
                Ok(0)
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                self.regular_file(entry, &target, mode, owner, mtime)
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .context("symlink target")?
                    .context("symlink without a target")?;
                remove_existing(&target)?;
                std::os::unix::fs::symlink(&link, &target).context("create symlink")?;
                if let Some((u, g)) = owner {
                    if let Err(e) = std::os::unix::fs::lchown(&target, Some(u), Some(g)) {
                        self.warn_ids(u, g, &e);
                    }
                }
                set_mtime_nofollow(&target, mtime)?;
                Ok(0)
            }
            tar::EntryType::Link => {
                let link = entry
                    .link_name()
                    .context("hardlink target")?
                    .context("hardlink without a target")?;
                let source = self.resolve_link_target(&link)?;
                if source == target {
                    return Ok(0);
                }
                remove_existing(&target)?;
                fs::hard_link(&source, &target).context("create hardlink")?;
                Ok(0)
            }
            tar::EntryType::Fifo => {
                remove_existing(&target)?;
                nix::unistd::mkfifo(&target, Mode::from_bits_truncate(mode)).context("mkfifo")?;
                if let Some((u, g)) = owner {
                    if let Err(e) = std::os::unix::fs::lchown(&target, Some(u), Some(g)) {
                        self.warn_ids(u, g, &e);
                    }
                }
                Ok(0)
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                // Reported once per layer by the caller.
                self.skipped.push(format!("/{}", rel.display()));
                Ok(0)
            }
            // pax and GNU long-name headers are consumed by the tar crate;
            // anything else (sparse files, volume labels) is not an image's.
            other => bail!("unsupported tar entry type {other:?}"),
        }
    }

    /// A whiteout: `hidden` in `parent` is deleted in this layer, kept as
    /// overlayfs marks it (a 0:0 character device).
    fn whiteout(&mut self, parent: &Path, hidden: &str) -> anyhow::Result<()> {
        if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.contains('/') {
            bail!("bad whiteout name");
        }
        let target = parent.join(hidden);
        self.forget(&target);
        remove_existing(&target)?;
        nix::sys::stat::mknod(
            &target,
            SFlag::S_IFCHR,
            Mode::empty(),
            nix::sys::stat::makedev(0, 0),
        )
        .context("create whiteout (a 0:0 character device; needs Linux >= 5.8)")?;
        Ok(())
    }

    /// A directory entry: made (or kept) now, its mode, owner and mtime
    /// set at the end of the layer (`dirs`).
    fn directory(
        &mut self,
        entry: &mut tar::Entry<'_, &mut dyn Read>,
        target: PathBuf,
        mode: u32,
        owner: Option<(u32, u32)>,
        mtime: i64,
    ) -> anyhow::Result<()> {
        match fs::symlink_metadata(&target) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                remove_existing(&target)?;
                mkdir(&target)?;
            }
            Err(_) => mkdir(&target)?,
        }
        self.dirs.push(DirMeta {
            path: target.clone(),
            mode,
            owner,
            record: self.record,
            mtime,
        });
        self.xattrs(entry, &target)
    }

    /// A regular file: written through an fd opened without following a
    /// link, then owned, moded and dated. Returns the bytes written.
    fn regular_file(
        &mut self,
        entry: &mut tar::Entry<'_, &mut dyn Read>,
        target: &Path,
        mode: u32,
        owner: Option<(u32, u32)>,
        mtime: i64,
    ) -> anyhow::Result<u64> {
        remove_existing(target)?;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(target)
            .context("create file")?;
        let n = copy_with(&mut self.buf, entry, &mut f).context("write file")?;
        if let Some((u, g)) = owner {
            if let Err(e) = std::os::unix::fs::fchown(&f, Some(u), Some(g)) {
                self.warn_ids(u, g, &e);
            }
        }
        // After chown, which clears setuid bits.
        f.set_permissions(fs::Permissions::from_mode(mode))
            .context("chmod")?;
        record_owner(target, self.record, mode)?;
        self.xattrs(entry, target)?;
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime.max(0) as u64);
        f.set_times(fs::FileTimes::new().set_modified(t).set_accessed(t))
            .context("set mtime")?;
        Ok(n)
    }

    /// Walk `rel` from the layer root, creating missing directories and
    /// refusing any component that is not a real directory.
    fn resolve_dir(&mut self, rel: &Path) -> anyhow::Result<PathBuf> {
        let mut cur = self.dest.to_path_buf();
        for comp in rel.components() {
            cur.push(comp);
            if self.known_dirs.contains(&cur) {
                continue;
            }
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => {
                    self.known_dirs.insert(cur.clone());
                }
                Ok(m) if m.file_type().is_symlink() => {
                    bail!("path goes through a symlink at /{} (refused: it could lead outside the layer)",
                        cur.strip_prefix(self.dest).unwrap_or(&cur).display())
                }
                Ok(_) => bail!(
                    "path goes through a non-directory at /{}",
                    cur.strip_prefix(self.dest).unwrap_or(&cur).display()
                ),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // Implicit parents, as docker makes them: root-owned 0755.
                    mkdir(&cur)?;
                    self.known_dirs.insert(cur.clone());
                    self.dirs.push(DirMeta {
                        path: cur.clone(),
                        mode: 0o755,
                        owner: None,
                        record: None,
                        mtime: 0,
                    });
                }
                Err(e) => return Err(e).with_context(|| format!("stat {}", cur.display())),
            }
        }
        Ok(cur)
    }

    /// A hardlink's target must be an existing non-directory inside the
    /// layer, reached without symlinks.
    fn resolve_link_target(&mut self, link: &Path) -> anyhow::Result<PathBuf> {
        let rel = clean(link)?;
        let name = rel.file_name().context("hardlink to the layer root")?;
        let parent = self.resolve_dir(rel.parent().unwrap_or(Path::new("")))?;
        let source = parent.join(name);
        match fs::symlink_metadata(&source) {
            Ok(m) if m.is_dir() => bail!("hardlink to a directory"),
            Ok(_) => Ok(source),
            Err(_) => bail!("hardlink to {} which is not in the layer", rel.display()),
        }
    }

    fn xattrs(
        &self,
        entry: &mut tar::Entry<'_, &mut dyn Read>,
        target: &Path,
    ) -> anyhow::Result<()> {
        let Some(exts) = entry.pax_extensions().context("read pax headers")? else {
            return Ok(());
        };
        for ext in exts {
            let ext = ext.context("read pax header")?;
            let Ok(key) = ext.key() else { continue };
            let Some(name) = key.strip_prefix("SCHILY.xattr.") else {
                continue;
            };
            // A layer must not forge overlay metadata (the kernel's, or
            // the owners our FUSE overlay keeps) or reach trusted.*.
            if name.starts_with("user.overlay.")
                || name.starts_with("user.burrow.")
                || name.starts_with("trusted.")
            {
                tracing::warn!(
                    "ignoring xattr {} in a layer",
                    crate::text::escape_control(name)
                );
                continue;
            }
            if let Err(e) = xattr::set(target, name, ext.value_bytes()) {
                tracing::debug!("xattr {name} on {}: {e}", target.display());
            }
        }
        Ok(())
    }

    fn apply_dir(&self, d: &DirMeta) -> anyhow::Result<()> {
        if let Some((u, g)) = d.owner {
            if let Err(e) = std::os::unix::fs::lchown(&d.path, Some(u), Some(g)) {
                tracing::debug!("chown {}: {e}", d.path.display());
            }
        }
        fs::set_permissions(&d.path, fs::Permissions::from_mode(d.mode))
            .with_context(|| format!("chmod {}", d.path.display()))?;
        record_owner(&d.path, d.record, d.mode)?;
        set_mtime_nofollow(&d.path, d.mtime)
    }

    /// `p` is about to stop being a directory: drop it and all below it
    /// from the known directories.
    fn forget(&mut self, p: &Path) {
        if self.known_dirs.contains(p) {
            self.known_dirs.retain(|d| !d.starts_with(p));
        }
    }

    fn warn_ids(&mut self, u: u32, g: u32, e: &io::Error) {
        if !self.warned_ids {
            tracing::warn!("cannot give a file owner {u}:{g} ({e}); it keeps the default owner (is your subuid range smaller than 65536?)");
            self.warned_ids = true;
        }
    }
}

fn copy_with(buf: &mut [u8], from: &mut impl Read, to: &mut File) -> io::Result<u64> {
    let mut total = 0;
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        io::Write::write_all(to, &buf[..n])?;
        total += n as u64;
    }
}

/// A tar path made relative to the layer root: leading `/` and `.` dropped;
/// `..` anywhere is refused.
pub fn clean(p: &Path) -> anyhow::Result<PathBuf> {
    let mut out = PathBuf::new();
    for comp in p.components() {
        match comp {
            Component::Normal(c) => out.push(c),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                bail!("path contains '..' (refused: it could lead outside the layer)")
            }
            Component::Prefix(_) => bail!("bad path"),
        }
    }
    Ok(out)
}

fn mkdir(p: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(p)
        .with_context(|| format!("mkdir {}", p.display()))
}

use std::os::unix::fs::DirBuilderExt;

/// Remove whatever a previous entry of this layer left at `p`.
fn remove_existing(p: &Path) -> anyhow::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            crate::fsutil::remove_tree(p).with_context(|| format!("remove {}", p.display()))
        }
        Ok(_) => fs::remove_file(p).with_context(|| format!("remove {}", p.display())),
        Err(_) => Ok(()),
    }
}

fn set_mtime_nofollow(p: &Path, mtime: i64) -> anyhow::Result<()> {
    let t = TimeSpec::new(mtime, 0);
    nix::sys::stat::utimensat(None, p, &t, &t, UtimensatFlags::NoFollowSymlink)
        .with_context(|| format!("set mtime of {}", p.display()))
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;

/// Keep `owner` in `user.burrow.override` (single-id mode; see
/// `UnpackOptions::record_owners`).
fn record_owner(path: &Path, owner: Option<(u32, u32)>, mode: u32) -> anyhow::Result<()> {
    let Some((uid, gid)) = owner else {
        return Ok(());
    };
    let o = crate::rootfs::fuse::ownership::Override { uid, gid, mode };
    crate::rootfs::fuse::ownership::write(path, &o)
        .with_context(|| format!("record the owner of {}", path.display()))
}
