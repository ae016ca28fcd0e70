//! Bind mounts and the mount points they need: a directory or an empty
//! file made at the target, and the read-only remount that keeps the
//! flags the kernel locked. Used by the launcher's own plan (apply) and
//! by an OCI bundle's mounts (spec).

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nix::mount::{mount, MsFlags};

/// Bind (recursively) and, for read-only, make the whole subtree read-only.
pub(super) fn bind(source: &Path, target: &Path, readonly: bool) -> anyhow::Result<()> {
    let meta = fs::metadata(source).context("bind source")?;
    if meta.is_dir() {
        dir_at(target)?;
    } else {
        file_at(target)?;
    }
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )?;
    if readonly {
        crate::sys::make_readonly_recursive(target)
            .or_else(|_| remount_readonly(target))
            .context("make read-only")?;
    }
    Ok(())
}

/// Fallback for kernels without mount_setattr: a read-only remount must
/// keep the flags the kernel locked (nosuid, nodev, noexec...).
pub(super) fn remount_readonly(target: &Path) -> Result<(), nix::errno::Errno> {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let st = statvfs(target)?;
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    for (have, add) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if st.flags().contains(have) {
            flags |= add;
        }
    }
    mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
}

/// A directory at `p` (made if missing).
pub(super) fn dir_at(p: &Path) -> anyhow::Result<PathBuf> {
    fs::create_dir_all(p).with_context(|| format!("create {}", p.display()))?;
    Ok(p.to_path_buf())
}

/// A file at `p` to mount over (made empty if missing, with its parents).
pub(super) fn file_at(p: &Path) -> anyhow::Result<PathBuf> {
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => bail!("{} is a directory", p.display()),
        Ok(_) => {}
        Err(_) => {
            fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(p)
                .with_context(|| format!("create {}", p.display()))?;
        }
    }
    Ok(p.to_path_buf())
}
