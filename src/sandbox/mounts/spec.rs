//! Apply one mount of an OCI config (`MountOp::Spec`), as runc does
//! without root: binds are made then remounted with their flags (keeping
//! what the kernel locked), and the file systems a user namespace may not
//! mount fall back to binds of the host's (sysfs, cgroup), as runc's
//! rootless mode does. `oci::mounts` parses the options.

use std::fs;
use std::path::Path;

use anyhow::Context;
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};

use super::bind::{bind, dir_at, file_at, remount_readonly};
use super::plan::SpecMount;

pub(super) fn apply(m: &SpecMount, target: &Path) -> anyhow::Result<()> {
    let flags = MsFlags::from_bits_truncate(m.flags);
    if flags.contains(MsFlags::MS_BIND) {
        bind_with_flags(m, flags, target)?;
    } else {
        filesystem(m, flags, target)?;
    }
    if m.propagation != 0 {
        mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::from_bits_truncate(m.propagation),
            None::<&str>,
        )
        .context("set the mount's propagation")?;
    }
    Ok(())
}

fn bind_with_flags(m: &SpecMount, flags: MsFlags, target: &Path) -> anyhow::Result<()> {
    let source = Path::new(&m.source);
    let meta = fs::metadata(source).with_context(|| format!("bind source {}", m.source))?;
    if meta.is_dir() {
        dir_at(target)?;
    } else {
        file_at(target)?;
    }
    let rec = flags & MsFlags::MS_REC;
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | rec,
        None::<&str>,
    )?;
    let extra = flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
    if extra.is_empty() {
        return Ok(());
    }
    let wanted = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | extra;
    match mount(None::<&str>, target, None::<&str>, wanted, None::<&str>) {
        Ok(()) => Ok(()),
        // The kernel refuses to clear flags it locked on the source
        // (nosuid, nodev... of a mount made in another user namespace):
        // keep those and add ours.
        Err(Errno::EPERM) if extra.contains(MsFlags::MS_RDONLY) => {
            remount_readonly(target).context("remount read-only")
        }
        Err(e) => Err(e).context("remount with the mount's options"),
    }
}

fn filesystem(m: &SpecMount, flags: MsFlags, target: &Path) -> anyhow::Result<()> {
    dir_at(target)?;
    let data = (!m.data.is_empty()).then_some(m.data.as_str());
    let source = if m.source.is_empty() {
        m.fstype.as_str()
    } else {
        m.source.as_str()
    };
    let r = mount(Some(source), target, Some(m.fstype.as_str()), flags, data);
    let ro = flags.contains(MsFlags::MS_RDONLY);
    match (r, m.fstype.as_str()) {
        (Ok(()), _) => Ok(()),
        // sysfs needs CAP_SYS_ADMIN over the network namespace's owner.
        (Err(Errno::EPERM), "sysfs") => bind(Path::new("/sys"), target, ro),
        (Err(Errno::EPERM | Errno::EBUSY), "cgroup" | "cgroup2") => {
            bind(Path::new("/sys/fs/cgroup"), target, true)
        }
        // gid=5 is not mapped with a single id: devpts without it.
        (Err(Errno::EINVAL), "devpts") if m.data.contains("gid=") => {
            let data: Vec<&str> = m
                .data
                .split(',')
                .filter(|o| !o.starts_with("gid="))
                .collect();
            mount(
                Some(source),
                target,
                Some("devpts"),
                flags,
                Some(data.join(",").as_str()),
            )
            .context("mount devpts")
        }
        // Some kernels refuse mqueue in a user namespace: the host's.
        (Err(Errno::EPERM), "mqueue") => bind(Path::new("/dev/mqueue"), target, false),
        (Err(e), t) => Err(e).with_context(|| format!("mount {t}")),
    }
}
