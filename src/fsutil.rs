//! Small file-system helpers shared by the store and the probes.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The start of every temp name in the store (blobs, layers, records, the
/// driver cache): a name made of it and a pid is swept once that process is
/// gone (`image::blobs` sweeps), so a writer killed mid-way leaves nothing.
pub const TMP_PREFIX: &str = ".tmp-";

/// The prefix of this process's temp names.
pub fn tmp_prefix() -> String {
    format!("{TMP_PREFIX}{}-", std::process::id())
}

/// Replace `path` with `bytes` atomically: they are written to a temp name
/// beside it (this process's `tmp_prefix`, so a writer killed mid-way
/// leaves a name the store's sweep knows), synced when `sync`, then
/// renamed over it. The temp file goes when a step fails.
pub fn write_atomic(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!("{}{name}", tmp_prefix()));
    let written = fs::File::create(&tmp).and_then(|mut f| {
        io::Write::write_all(&mut f, bytes)?;
        if sync {
            f.sync_all()?;
        }
        Ok(())
    });
    match written.and_then(|()| fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Give the owner rwx on every directory under `dir` (overlayfs and images
/// leave dirs with mode 000), so that `remove_dir_all` can empty them.
pub fn make_removable(dir: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    if mode & 0o700 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700))?;
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            make_removable(&entry.path())?;
        }
    }
    Ok(())
}

/// Remove a tree that may hold dirs without write or search permission.
pub fn remove_tree(dir: &Path) -> io::Result<()> {
    match make_removable(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        other => other?,
    }
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Lock `dir/.lock` (made with `dir` when missing), waiting at most
/// `wait`: a stuck holder gives a clear line naming the `store`, not a
/// hang. The container and volume stores share this.
pub fn lock_store(
    dir: &Path,
    store: &str,
    wait: std::time::Duration,
) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    use anyhow::Context;
    use nix::fcntl::{Flock, FlockArg};
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))
        .with_context(|| format!("open the {store} lock"))?;
    let deadline = std::time::Instant::now() + wait;
    // Holders keep it for a few ms (a record's write): look again soon,
    // then less often.
    let mut nap = std::time::Duration::from_millis(1);
    loop {
        match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(l) => return Ok(l),
            Err((back, nix::errno::Errno::EWOULDBLOCK)) => {
                if std::time::Instant::now() >= deadline {
                    anyhow::bail!(
                        "the {store} {} is locked by another burrow process \
                         (waited {}s; try again)",
                        dir.display(),
                        wait.as_secs()
                    );
                }
                f = back;
                std::thread::sleep(nap);
                nap = (nap * 2).min(std::time::Duration::from_millis(20));
            }
            Err((_, e)) => return Err(e).with_context(|| format!("lock the {store}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_whole_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("note");
        write_atomic(&file, b"first", true).unwrap();
        write_atomic(&file, b"second", false).unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"second");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // A failed write (no such dir) leaves nothing behind either.
        assert!(write_atomic(&dir.path().join("gone/note"), b"x", false).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn removes_dirs_with_mode_000() {
        let dir = tempfile::tempdir().unwrap();
        let locked = dir.path().join("a/b");
        fs::create_dir_all(&locked).unwrap();
        fs::write(locked.join("f"), b"x").unwrap();
        fs::set_permissions(dir.path().join("a"), fs::Permissions::from_mode(0o000)).unwrap();
        remove_tree(&dir.path().join("a")).unwrap();
        assert!(!dir.path().join("a").exists());
    }
}
