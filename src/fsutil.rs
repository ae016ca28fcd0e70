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

#[cfg(test)]
mod tests {
    use super::*;

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
