//! Content-addressed blobs (`blobs/sha256/<hex>`), per-item locks, and the
//! sweep of temp files a killed burrow left behind.
//!
//! Temp names carry the writer's pid (`.tmp-<pid>-...`), so a sweep removes
//! only what belongs to processes that are gone.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nix::fcntl::{Flock, FlockArg};
use sha2::{Digest, Sha256};

use crate::fsutil::{tmp_prefix, TMP_PREFIX};
use crate::reference::{digest_hex, shown_hex};

/// Take an exclusive flock on `locks/<name>.lock`, waiting for it.
pub fn lock(root: &Path, name: &str) -> anyhow::Result<Flock<File>> {
    let dir = root.join("locks");
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let path = dir.join(format!("{name}.lock"));
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("open {}", path.display()))?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .with_context(|| format!("lock {}", path.display()))
}

/// `blobs/sha256/<hex>`; a digest that is not sha256 and 64 lowercase hex
/// digits is refused here, whatever the caller checked before.
pub fn blob_path(root: &Path, digest: &str) -> anyhow::Result<PathBuf> {
    Ok(root.join("blobs/sha256").join(digest_hex(digest)?))
}

/// Copy `reader` into a temp file in the blob dir, hashing as it goes.
/// Stops with an error as soon as more than `limit` bytes arrive; `what`
/// names the source in a read error. Returns the file, digest and size.
fn stream_to_temp(
    root: &Path,
    reader: &mut dyn Read,
    limit: Option<u64>,
    what: &str,
    progress: &mut dyn FnMut(u64),
) -> anyhow::Result<(tempfile::NamedTempFile, String, u64)> {
    let dir = root.join("blobs/sha256");
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&tmp_prefix())
        .tempfile_in(&dir)
        .with_context(|| format!("create a temp file in {}", dir.display()))?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        crate::interrupt::check()?;
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context(format!("{what} interrupted after {written} bytes")),
        };
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n]).context("write blob")?;
        written += n as u64;
        if let Some(limit) = limit.filter(|l| written > *l) {
            bail!("the registry sent more than the {limit} bytes the manifest says");
        }
        progress(n as u64);
    }
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    Ok((tmp, digest, written))
}

fn persist(tmp: tempfile::NamedTempFile, dest: &Path) -> anyhow::Result<()> {
    tmp.persist(dest)
        .map_err(|e| e.error)
        .with_context(|| format!("store {}", dest.display()))?;
    Ok(())
}

/// Stream `reader` into the blob store, hashing as it goes. The blob
/// appears under its name only when its digest and size match; otherwise
/// the temp file is removed and the error says which check failed.
/// `progress` is told of every chunk written.
pub fn write_verified(
    root: &Path,
    digest: &str,
    size: Option<u64>,
    reader: &mut dyn Read,
    progress: &mut dyn FnMut(u64),
) -> anyhow::Result<PathBuf> {
    let dest = blob_path(root, digest)?;
    let (tmp, got, written) = stream_to_temp(root, reader, size, "download", progress)?;
    if let Some(s) = size {
        if written != s {
            bail!("the download was truncated: got {written} of {s} bytes");
        }
    }
    if got != digest {
        bail!("the data does not match its digest (got {got}); the registry sent wrong data");
    }
    tmp.as_file().sync_data().ok();
    persist(tmp, &dest)?;
    Ok(dest)
}

/// A blob on its way from the registry to the unpacker: every byte read
/// through it is hashed, counted and written to a temp file in the store.
/// `finish` names the blob when digest and size match. A download error is
/// kept in `error`, so it can be reported as the cause of whatever the
/// unpacker saw.
pub struct TeeBlob<'a> {
    inner: Box<dyn Read + Send + 'a>,
    tmp: tempfile::NamedTempFile,
    hasher: Sha256,
    written: u64,
    size: u64,
    digest: String,
    progress: &'a (dyn Fn(u64) + Sync),
    pub error: Option<String>,
}

impl<'a> TeeBlob<'a> {
    pub fn new(
        root: &Path,
        digest: &str,
        size: u64,
        inner: Box<dyn Read + Send + 'a>,
        progress: &'a (dyn Fn(u64) + Sync),
    ) -> anyhow::Result<TeeBlob<'a>> {
        blob_path(root, digest)?;
        let dir = root.join("blobs/sha256");
        let tmp = tempfile::Builder::new()
            .prefix(&tmp_prefix())
            .tempfile_in(&dir)
            .with_context(|| format!("create a temp file in {}", dir.display()))?;
        Ok(TeeBlob {
            inner,
            tmp,
            hasher: Sha256::new(),
            written: 0,
            size,
            digest: digest.to_string(),
            progress,
            error: None,
        })
    }

    fn fail(&mut self, msg: String) -> io::Error {
        let e = io::Error::other(msg.clone());
        self.error.get_or_insert(msg);
        e
    }

    /// Read what the unpacker left, then check size and digest.
    pub fn verify(&mut self) -> anyhow::Result<()> {
        // Whatever the reader did not consume still belongs to the blob.
        io::copy(self, &mut io::sink()).ok();
        if let Some(e) = self.error.take() {
            bail!("{e}");
        }
        if self.written != self.size {
            bail!(
                "the download was truncated: got {} of {} bytes",
                self.written,
                self.size
            );
        }
        let got = format!(
            "sha256:{}",
            hex::encode(std::mem::take(&mut self.hasher).finalize())
        );
        if got != self.digest {
            bail!("the data does not match its digest (got {got}); the registry sent wrong data");
        }
        Ok(())
    }

    /// Store the verified blob under its digest.
    pub fn persist(self, root: &Path) -> anyhow::Result<PathBuf> {
        let dest = blob_path(root, &self.digest)?;
        self.tmp
            .persist(&dest)
            .map_err(|e| e.error)
            .with_context(|| format!("store {}", dest.display()))?;
        Ok(dest)
    }
}

impl Read for TeeBlob<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.error {
            return Err(io::Error::other(e.clone()));
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let msg = format!("download interrupted after {} bytes: {e}", self.written);
                return Err(self.fail(msg));
            }
        };
        self.written += n as u64;
        if self.written > self.size {
            let msg = format!(
                "the registry sent more than the {} bytes the manifest says",
                self.size
            );
            return Err(self.fail(msg));
        }
        self.hasher.update(&buf[..n]);
        if let Err(e) = self.tmp.write_all(&buf[..n]) {
            return Err(self.fail(format!("write blob: {e}")));
        }
        (self.progress)(n as u64);
        Ok(n)
    }
}

/// Stream `reader` into the blob store under its own digest (for input
/// that names no digest: `import`, `load`). Returns the digest and size.
pub fn write_hashed(root: &Path, reader: &mut dyn Read) -> anyhow::Result<(String, u64)> {
    let (tmp, digest, size) = stream_to_temp(root, reader, None, "reading the input", &mut |_| {})?;
    persist(tmp, &blob_path(root, &digest)?)?;
    Ok((digest, size))
}

/// Store a small blob already in memory (manifests, configs).
pub fn write_bytes(root: &Path, digest: &str, data: &[u8]) -> anyhow::Result<PathBuf> {
    let path = blob_path(root, digest)?;
    if path.exists() {
        return Ok(path);
    }
    write_verified(
        root,
        digest,
        Some(data.len() as u64),
        &mut &data[..],
        &mut |_| {},
    )
}

/// `sha256:<hex>` of some bytes.
pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The first 12 hex digits, as docker shows ids.
pub fn short(digest: &str) -> &str {
    let h = shown_hex(digest);
    // get(): never split a character, whatever the string.
    h.get(..12).unwrap_or(h)
}

/// Temp entries in `dir` whose writer process is gone.
pub fn stale_temps(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let Some(rest) = name.strip_prefix(TMP_PREFIX) else {
                return false;
            };
            let pid: i32 = match rest.split('-').next().and_then(|p| p.parse().ok()) {
                Some(p) => p,
                None => return true,
            };
            !process_alive(pid)
        })
        .map(|e| e.path())
        .collect()
}

fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::ESRCH) => false,
        Err(_) => true, // EPERM: alive, someone else's
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_write_keeps_only_good_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let data = b"layer bytes";
        let d = sha256(data);
        let mut seen = 0;
        let p =
            write_verified(dir.path(), &d, Some(11), &mut &data[..], &mut |n| seen += n).unwrap();
        assert_eq!(fs::read(p).unwrap(), data);
        assert_eq!(seen, 11);

        let other = sha256(b"something else");
        let err =
            write_verified(dir.path(), &other, Some(11), &mut &data[..], &mut |_| {}).unwrap_err();
        assert!(
            err.to_string().contains("does not match its digest"),
            "{err}"
        );
        let err =
            write_verified(dir.path(), &d, Some(20), &mut &data[..5], &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        let err = write_verified(dir.path(), &d, Some(3), &mut &data[..], &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
        // Only the good blob is left: no temp files, no bad names.
        let names: Vec<_> = fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn sweeps_only_dead_writers() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join(format!("{}x", tmp_prefix()));
        // pid 2^22+1 is above pid_max's ceiling, so never alive.
        let dead = dir.path().join(format!("{TMP_PREFIX}4194305-x"));
        fs::write(&mine, b"").unwrap();
        fs::write(&dead, b"").unwrap();
        assert_eq!(stale_temps(dir.path()), vec![dead]);
    }
}
