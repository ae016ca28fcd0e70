//! The mount points every container needs (/proc, /sys, /dev and the
//! /etc files we bind), made once per image in a layer of their own that
//! sits on top of the image's layers: `layers/<top layer>.init`.
//!
//! Why: made in each container's overlay, they cost a copy-up of /etc and
//! several new inodes in the upper dir at every start, and as many
//! deletions after `--rm`; they also are not the container's changes.
//! Docker keeps them in an "init layer" for the same reasons.
//!
//! The layer is built by the kernel itself: an overlay of the image with a
//! fresh upper dir, in which the mount points are made as a container's
//! init would make them; that upper dir, renamed into place, is the layer.
//! Built by whichever container starts first; a race is settled by the
//! rename. Any failure just leaves the container without it (its mount
//! points are then made in its own upper dir, as before).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use nix::mount::{umount2, MntFlags};

use super::mounts::{dir_at, file_at, overlay};
use super::plan::resolve_in_root;

/// Directories made in the layer.
const DIRS: [&str; 3] = ["/proc", "/sys", "/dev"];
/// Files made in the layer (bind targets of the container's /etc files).
const FILES: [&str; 3] = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"];

/// Where the layer of an image whose top layer dir is `top` lives.
pub fn layer_for(top: &Path) -> PathBuf {
    let mut name = top.file_name().unwrap_or_default().to_os_string();
    name.push(".init");
    top.with_file_name(name)
}

/// The lower dirs to mount: the mount point layer on top of `lower` when
/// it exists or can be built now (`merged` is a free mount point of ours).
pub fn with_layer(lower: &[PathBuf], merged: &Path) -> Vec<PathBuf> {
    let Some(top) = lower.first() else {
        return lower.to_vec();
    };
    let layer = layer_for(top);
    if !layer.is_dir() {
        if let Err(e) = build(lower, &layer, merged) {
            tracing::debug!("no mount point layer for {}: {e:#}", top.display());
            return lower.to_vec();
        }
    }
    std::iter::once(layer)
        .chain(lower.iter().cloned())
        .collect()
}

fn build(lower: &[PathBuf], layer: &Path, merged: &Path) -> anyhow::Result<()> {
    let parent = layer.parent().context("no parent dir")?;
    let name = layer.file_name().unwrap_or_default().to_string_lossy();
    // A temp name the store sweeps if we die here. It carries our pid as
    // the host sees it (the sweeper checks it): /proc is still the host's.
    let pid = fs::read_link("/proc/self").context("read /proc/self")?;
    let tmp = parent.join(format!(
        "{}{}-{name}",
        crate::image::TMP_PREFIX,
        pid.display()
    ));
    let (upper, work) = (tmp.join("upper"), tmp.join("work"));
    fs::create_dir_all(&upper).with_context(|| format!("create {}", upper.display()))?;
    fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;
    let made = overlay(lower, &upper, &work, false, merged).and_then(|()| {
        let r = make_points(merged);
        umount2(merged, MntFlags::empty()).context("unmount")?;
        r
    });
    let placed = made.and_then(|()| {
        match fs::rename(&upper, layer) {
            Ok(()) => Ok(()),
            // Another container placed it first.
            Err(_) if layer.is_dir() => Ok(()),
            Err(e) => Err(e).context("place the layer"),
        }
    });
    let _ = crate::fsutil::remove_tree(&tmp);
    placed
}

fn make_points(root: &Path) -> anyhow::Result<()> {
    let at = |p: &str| resolve_in_root(root, p).with_context(|| format!("resolve {p}"));
    for d in DIRS {
        dir_at(&at(d)?)?;
    }
    for f in FILES {
        file_at(&at(f)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layer_sits_beside_the_top_layer() {
        assert_eq!(
            layer_for(Path::new("/s/layers/abc")),
            PathBuf::from("/s/layers/abc.init")
        );
    }
}
