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

use crate::reference::{digest_hex, is_digest};

pub const TMP_PREFIX: &str = ".tmp-";

/// The prefix of this process's temp names.
pub fn tmp_prefix() -> String {
    format!("{TMP_PREFIX}{}-", std::process::id())
}

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

pub fn blob_path(root: &Path, digest: &str) -> PathBuf {
    root.join("blobs/sha256").join(digest_hex(digest))
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
    if !is_digest(digest) {
        bail!("unsupported digest {digest:?}");
    }
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
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(e).context(format!(
                    "download {} (after {written} bytes)",
                    short(digest)
                ))
            }
        };
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n]).context("write blob")?;
        written += n as u64;
        if size.is_some_and(|s| written > s) {
            bail!(
                "blob {} is larger than the {} bytes the manifest says",
                short(digest),
                size.unwrap_or(0)
            );
        }
        progress(n as u64);
    }
    if let Some(s) = size {
        if written != s {
            bail!(
                "blob {} is truncated: got {written} of {s} bytes",
                short(digest)
            );
        }
    }
    let got = format!("sha256:{}", hex::encode(hasher.finalize()));
    if got != digest {
        bail!(
            "blob {} does not match its digest (got {got}); the registry sent wrong data",
            short(digest)
        );
    }
    tmp.as_file().sync_data().ok();
    let dest = blob_path(root, digest);
    tmp.persist(&dest)
        .map_err(|e| e.error)
        .with_context(|| format!("store {}", dest.display()))?;
    Ok(dest)
}

/// Store a small blob already in memory (manifests, configs).
pub fn write_bytes(root: &Path, digest: &str, data: &[u8]) -> anyhow::Result<PathBuf> {
    let path = blob_path(root, digest);
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
    let h = digest_hex(digest);
    &h[..h.len().min(12)]
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
        assert!(err.to_string().contains("larger"), "{err}");
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
