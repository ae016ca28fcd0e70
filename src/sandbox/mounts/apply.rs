//! Apply a [`MountPlan`] in the container init, then pivot into it.
//! Runs in a fresh mount namespace owned by the container's user
//! namespace, so every mount here vanishes with the container.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::bind::{bind, dir_at, file_at};
use super::plan::{resolve_in_root, MountOp, MountPlan};
use crate::sandbox::Network;

/// Everything a mount needs besides the op.
pub struct Ctx<'a> {
    pub merged: &'a Path,
    pub network: Network,
}

/// Make our mounts private, apply the plan under `merged`, pivot_root into
/// it. On return `/` is the container's root and the host is gone.
pub fn apply(plan: &MountPlan, ctx: &Ctx) -> anyhow::Result<()> {
    crate::userns::make_private().context("make mounts private")?;
    let mut read_only = false;
    for op in &plan.ops {
        if *op == MountOp::ReadOnlyRoot {
            read_only = true;
            continue;
        }
        apply_op(op, ctx).with_context(|| describe(op))?;
    }
    if read_only {
        mount(
            None::<&str>,
            ctx.merged,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .context("make the root read-only")?;
    }
    pivot(ctx.merged)
}

fn describe(op: &MountOp) -> String {
    match op {
        MountOp::Overlay { .. } => "mount the overlay rootfs".into(),
        MountOp::FuseOverlay { .. } => "use the FUSE overlay rootfs".into(),
        MountOp::Proc { target } => format!("mount proc on {target}"),
        MountOp::Sys { target } => format!("mount sysfs on {target}"),
        MountOp::Tmpfs { target, .. } => format!("mount tmpfs on {target}"),
        MountOp::Device { name } => format!("bind /dev/{name}"),
        MountOp::Devpts { target, .. } => format!("mount devpts on {target}"),
        MountOp::Mqueue { target } => format!("mount mqueue on {target}"),
        MountOp::Symlink { link, .. } => format!("symlink {link}"),
        MountOp::Bind { source, target, .. } => {
            format!("bind mount {} on {target}", source.display())
        }
        MountOp::Fill { target, .. } => format!("fill the new volume at {target} from the image"),
        MountOp::EnsureDir { path } => format!("create working dir {path}"),
        MountOp::Mask { path } => format!("mask {path}"),
        MountOp::HostRoot => "bind the host's / read-only".into(),
        MountOp::ReadOnlyPath { path } => format!("make {path} read-only"),
        MountOp::ReadOnlyRoot => "make the root read-only".into(),
        MountOp::Spec(m) => format!("mount {} ({}) on {}", m.source, m.fstype, m.target),
    }
}

const NOSUID_NODEV_NOEXEC: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

fn apply_op(op: &MountOp, ctx: &Ctx) -> anyhow::Result<()> {
    let at = |p: &str| resolve_in_root(ctx.merged, p).context("resolve path in the rootfs");
    match op {
        MountOp::Overlay {
            lower,
            upper,
            work,
            volatile,
        } => root_overlay(lower, upper, work, *volatile, ctx.merged),
        MountOp::FuseOverlay { .. } => fuse_root_is_mounted(ctx.merged),
        MountOp::Proc { target } => {
            let t = dir_at(&at(target)?)?;
            mount(
                Some("proc"),
                &t,
                Some("proc"),
                NOSUID_NODEV_NOEXEC,
                None::<&str>,
            )
            .context("mount proc (is /proc partly hidden on the host, as in a container?)")
        }
        MountOp::Sys { target } => sys(&dir_at(&at(target)?)?, &ctx.network),
        MountOp::Tmpfs {
            target,
            options,
            noexec,
        } => tmpfs(&dir_at(&at(target)?)?, options, *noexec),
        MountOp::Device { name } => {
            let t = file_at(&at(&format!("/dev/{name}"))?)?;
            let src = PathBuf::from(format!("/dev/{name}"));
            mount(Some(&src), &t, None::<&str>, MsFlags::MS_BIND, None::<&str>)?;
            Ok(())
        }
        MountOp::Devpts { target, tty_gid } => devpts(&dir_at(&at(target)?)?, *tty_gid),
        MountOp::Mqueue { target } => {
            // Best effort: some kernels refuse mqueue in a user namespace.
            let t = dir_at(&at(target)?)?;
            let _ = mount(
                Some("mqueue"),
                &t,
                Some("mqueue"),
                NOSUID_NODEV_NOEXEC,
                None::<&str>,
            );
            Ok(())
        }
        MountOp::Symlink { link, to } => {
            let l = at(link)?;
            match symlink(to, &l) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                other => other.context("create symlink"),
            }
        }
        MountOp::Bind {
            source,
            target,
            readonly,
        } => bind(source, &at(target)?, *readonly),
        MountOp::Fill { source, target } => super::fill::fill(source, &at(target)?),
        MountOp::EnsureDir { path } => {
            let p = at(path)?;
            fs::create_dir_all(&p)?;
            if !p.is_dir() {
                bail!("it is not a directory");
            }
            Ok(())
        }
        MountOp::Mask { path } => mask(&at(path)?),
        MountOp::HostRoot => host_root(ctx.merged),
        MountOp::ReadOnlyPath { path } => {
            let p = at(path)?;
            if fs::symlink_metadata(&p).is_err() {
                return Ok(()); // not on this kernel
            }
            bind(&p, &p, true)
        }
        MountOp::ReadOnlyRoot => Ok(()),
        MountOp::Spec(m) => super::spec::apply(m, &at(&m.target)?),
    }
}

/// The kernel overlay at `merged`, with the mount point layer stacked on
/// the image's lower dirs when it fits.
fn root_overlay(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    volatile: bool,
    merged: &Path,
) -> anyhow::Result<()> {
    let stacked = super::mountpoints::with_layer(lower);
    // One more lower dir can overflow the options' page.
    overlay(&stacked, upper, work, volatile, merged).or_else(|e| {
        if stacked.len() == lower.len() {
            return Err(e);
        }
        overlay(lower, upper, work, volatile, merged)
    })
}

/// Mounted by the supervisor's FUSE server in the namespace ours was
/// copied from; a plain dir here would mean the init is about to run on
/// the empty mount point.
fn fuse_root_is_mounted(merged: &Path) -> anyhow::Result<()> {
    let st = nix::sys::statfs::statfs(merged).context("statfs the mount point")?;
    if st.filesystem_type() != nix::sys::statfs::FUSE_SUPER_MAGIC {
        bail!("the FUSE overlay is not mounted on {}", merged.display());
    }
    Ok(())
}

fn tmpfs(t: &Path, options: &str, noexec: bool) -> anyhow::Result<()> {
    let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    if noexec {
        flags |= MsFlags::MS_NOEXEC;
    }
    mount(Some("tmpfs"), t, Some("tmpfs"), flags, Some(options))?;
    Ok(())
}

fn devpts(t: &Path, tty_gid: bool) -> anyhow::Result<()> {
    let mut opts = String::from("newinstance,ptmxmode=0666,mode=0620");
    if tty_gid {
        opts.push_str(",gid=5");
    }
    mount(
        Some("devpts"),
        t,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(opts.as_str()),
    )?;
    Ok(())
}

/// `burrow sandbox`: the host's / bound at `merged`, read-only all the way
/// down.
fn host_root(merged: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(merged).context("create the mount point")?;
    mount(
        Some("/"),
        merged,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )?;
    crate::sys::make_readonly_recursive(merged)
        .context("make the host's / read-only (mount_setattr, Linux >= 5.12)")
}

/// Hide `p` (a host path under the new root's /proc or /sys).
fn mask(p: &Path) -> anyhow::Result<()> {
    match super::masks::mask_kind(p) {
        super::masks::Mask::Absent => Ok(()),
        super::masks::Mask::DevNull => {
            mount(
                Some("/dev/null"),
                p,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )?;
            Ok(())
        }
        super::masks::Mask::EmptyDir => {
            mount(
                Some("tmpfs"),
                p,
                Some("tmpfs"),
                NOSUID_NODEV_NOEXEC | MsFlags::MS_RDONLY,
                None::<&str>,
            )?;
            Ok(())
        }
    }
}

/// The kernel overlay with `userxattr` (whiteouts as 0:0 char devices and
/// opaque dirs as user.overlay.opaque, as the image store writes them).
fn overlay(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    volatile: bool,
    merged: &Path,
) -> anyhow::Result<()> {
    fs::create_dir_all(merged).context("create the mount point")?;
    let (dir, opts) = overlay_options(lower, upper, work, volatile)?;
    if let Some(p) = &dir {
        std::env::set_current_dir(p).with_context(|| format!("enter {}", p.display()))?;
    }
    let r = mount(
        Some("overlay"),
        merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(opts.as_str()),
    );
    let _ = std::env::set_current_dir("/");
    r.context("mount overlay (kernel >= 5.11 needed for overlay in a user namespace)")
}

/// The kernel overlay's mount options, and the dir to mount from: when the
/// lower dirs share a parent, they are named relative to it, since the
/// options must fit in one page.
fn overlay_options(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    volatile: bool,
) -> anyhow::Result<(Option<PathBuf>, String)> {
    let parent = lower.first().and_then(|p| p.parent());
    let common = parent.filter(|p| lower.iter().all(|l| l.parent() == Some(*p)));
    let names: Vec<String> = match common {
        Some(_) => lower
            .iter()
            .map(|l| l.file_name().unwrap_or_default().to_string_lossy().into())
            .collect(),
        None => lower.iter().map(|l| l.to_string_lossy().into()).collect(),
    };
    for p in names
        .iter()
        .map(String::as_str)
        .chain([upper.to_str().unwrap_or(","), work.to_str().unwrap_or(",")])
    {
        if p.contains([',', ':']) || p.is_empty() {
            bail!("path {p:?} has a ',' or ':', which overlayfs options cannot carry");
        }
    }
    // A single lower dir with no upper would be fine too, but we always
    // give an upper so the container can write.
    let mut opts = format!(
        "lowerdir={},upperdir={},workdir={},userxattr",
        names.join(":"),
        upper.display(),
        work.display()
    );
    if volatile {
        opts.push_str(",volatile");
    }
    if opts.len() >= 4000 {
        bail!("too many layers for one overlay mount ({})", lower.len());
    }
    Ok((common.map(Path::to_path_buf), opts))
}

/// Why the kernel overlay cannot be given these layers and dirs (the
/// options must fit in a page, no path may have a ',' or ':'); `auto` picks
/// our FUSE overlay, which has no such limits, for such an image.
pub fn kernel_overlay_refuses(lower: &[PathBuf], upper: &Path, work: &Path) -> Option<String> {
    overlay_options(lower, upper, work, true)
        .err()
        .map(|e| format!("{e:#}"))
}

fn sys(target: &Path, network: &Network) -> anyhow::Result<()> {
    // sysfs needs CAP_SYS_ADMIN over the network namespace: only ours.
    if *network != Network::Host
        && mount(
            Some("sysfs"),
            target,
            Some("sysfs"),
            NOSUID_NODEV_NOEXEC | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .is_ok()
    {
        return Ok(());
    }
    bind(Path::new("/sys"), target, true)
}

/// pivot_root into `new_root` and detach the old root.
fn pivot(new_root: &Path) -> anyhow::Result<()> {
    std::env::set_current_dir(new_root).context("enter the new root")?;
    nix::unistd::pivot_root(".", ".").context("pivot_root")?;
    umount2(".", MntFlags::MNT_DETACH).context("detach the old root")?;
    std::env::set_current_dir("/").context("chdir /")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_name_layers_from_their_parent_and_fit_a_page() {
        let lower: Vec<PathBuf> = (0..3)
            .map(|i| format!("/s/layers/{i:064x}").into())
            .collect();
        let (dir, opts) = overlay_options(
            &lower,
            Path::new("/s/c/upper"),
            Path::new("/s/c/work"),
            false,
        )
        .unwrap();
        assert_eq!(dir.as_deref(), Some(Path::new("/s/layers")));
        assert!(opts.starts_with(&format!("lowerdir={:064x}:", 0)), "{opts}");
        let refuses = |l: &[PathBuf], u: &str| {
            kernel_overlay_refuses(l, Path::new(u), Path::new("/s/c/work"))
        };
        assert_eq!(refuses(&lower, "/s/c/upper"), None);
        // Docker allows 127 layers; one page of options does not.
        let many: Vec<PathBuf> = (0..100)
            .map(|i| format!("/s/layers/{i:064x}").into())
            .collect();
        assert!(refuses(&many, "/s/c/upper")
            .unwrap()
            .contains("too many layers"));
        assert!(refuses(&lower, "/s,t/upper").unwrap().contains("','"));
    }
}
