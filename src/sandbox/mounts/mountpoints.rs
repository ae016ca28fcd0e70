//! The mount points every container needs (/proc, /sys, /dev and the
//! /etc files we bind), made once per image in a layer of their own that
//! sits on top of the image's layers: `layers/<top layer>.init`.
//!
//! Why: made in each container's root, they cost a copy-up of /etc and
//! several new inodes in the upper dir at every start, and as many
//! deletions after `--rm`; nor are they the container's changes (Docker
//! keeps them in an "init layer" for the same reasons).
//!
//! The layer holds only what the image lacks, found by looking the paths
//! up through the layers as an overlay does (whiteouts, opaque dirs), so
//! it serves the kernel overlay and ours alike. A new /etc copies the
//! mode, owner and times of the image's, as a copy-up would. Built by
//! whichever container starts first (in its user namespace, so owners can
//! be set); a race is settled by a rename. Where the image makes this
//! hard (/etc a symlink) or anything fails, there is no layer and the
//! mount points are made in the container's upper dir, as before.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::rootfs::fuse::{is_opaque, is_whiteout};

/// Directories made at the root.
const DIRS: [&str; 3] = ["proc", "sys", "dev"];
/// Files made in /etc (bind targets of the container's /etc files).
const ETC_FILES: [&str; 3] = ["hosts", "hostname", "resolv.conf"];

/// Where the layer of an image whose top layer dir is `top` lives (the
/// store removes it with that layer).
pub fn layer_for(top: &Path) -> PathBuf {
    let mut name = top.file_name().unwrap_or_default().to_os_string();
    name.push(".init");
    top.with_file_name(name)
}

/// The lower dirs to mount: the mount point layer on top of `lower` when
/// the image lacks any of them and the layer exists or can be built now.
pub fn with_layer(lower: &[PathBuf]) -> Vec<PathBuf> {
    let Some(top) = lower.first() else {
        return lower.to_vec();
    };
    let layer = layer_for(top);
    if !layer.is_dir() {
        if let Err(e) = build(lower, &layer) {
            tracing::debug!("no mount point layer for {}: {e:#}", top.display());
            return lower.to_vec();
        }
    }
    // An image that has them all gets an empty layer: no use mounting it.
    let empty = fs::read_dir(&layer).map_or(true, |mut d| d.next().is_none());
    if empty {
        return lower.to_vec();
    }
    std::iter::once(layer)
        .chain(lower.iter().cloned())
        .collect()
}

/// What a path is in the merged view of the layers.
enum Found {
    Absent,
    Dir(fs::Metadata),
    Other,
}

impl Found {
    fn is_absent(&self) -> bool {
        matches!(self, Found::Absent)
    }
}

/// Look `name` up in the dirs `dirs` (the same dir in each layer, top
/// first, already cut at the first opaque or non-dir one).
fn look_up(dirs: &[PathBuf], name: &str) -> anyhow::Result<(Found, Vec<PathBuf>)> {
    let mut below = Vec::new();
    let mut found = Found::Absent;
    for d in dirs {
        let p = d.join(name);
        let m = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("stat {}", p.display())),
        };
        if is_whiteout(&m) {
            break;
        }
        if !m.is_dir() {
            if found.is_absent() {
                found = Found::Other;
            }
            break;
        }
        if found.is_absent() {
            found = Found::Dir(m);
        }
        below.push(p.clone());
        if is_opaque(&p) {
            break;
        }
    }
    Ok((found, below))
}

/// The layer dirs that make up the merged root.
fn roots(lower: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for l in lower {
        out.push(l.clone());
        if is_opaque(l) {
            break;
        }
    }
    out
}

fn build(lower: &[PathBuf], layer: &Path) -> anyhow::Result<()> {
    let parent = layer.parent().context("no parent dir")?;
    let name = layer.file_name().unwrap_or_default().to_string_lossy();
    // A temp name the store sweeps if we die here. It carries our pid as
    // the host sees it (the sweeper checks it): /proc is the host's here.
    let pid = fs::read_link("/proc/self").context("read /proc/self")?;
    let tmp = parent.join(format!(
        "{}{}-{name}",
        crate::fsutil::TMP_PREFIX,
        pid.display()
    ));
    let r = fill(lower, &tmp).and_then(|()| match fs::rename(&tmp, layer) {
        Ok(()) => Ok(()),
        // Another container placed it first.
        Err(_) if layer.is_dir() => Ok(()),
        Err(e) => Err(e).context("place the layer"),
    });
    if tmp.exists() {
        let _ = crate::fsutil::remove_tree(&tmp);
    }
    r
}

/// Make in `out` what the image lacks.
fn fill(lower: &[PathBuf], out: &Path) -> anyhow::Result<()> {
    fs::create_dir(out).with_context(|| format!("create {}", out.display()))?;
    let roots = roots(lower);
    for d in DIRS {
        if look_up(&roots, d)?.0.is_absent() {
            make_dir(&out.join(d), None)?;
        }
    }
    let (etc, etc_dirs) = look_up(&roots, "etc")?;
    let like = match etc {
        Found::Absent => None,
        Found::Dir(m) => Some(m),
        Found::Other => bail!("the image's /etc is not a directory"),
    };
    let mut missing = Vec::new();
    for f in ETC_FILES {
        if look_up(&etc_dirs, f)?.0.is_absent() {
            missing.push(f);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let etc = out.join("etc");
    make_dir(&etc, like.as_ref())?;
    for f in missing {
        let p = etc.join(f);
        fs::File::create(&p).with_context(|| format!("create {}", p.display()))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644))?;
    }
    if let Some(m) = &like {
        // The files made it newer: the image's times, as a copy-up keeps.
        set_times(&etc, m)?;
    }
    Ok(())
}

/// A dir with mode 0755, or with the mode, owner and times of `like`.
fn make_dir(p: &Path, like: Option<&fs::Metadata>) -> anyhow::Result<()> {
    fs::create_dir(p).with_context(|| format!("create {}", p.display()))?;
    let mode = like.map_or(0o755, |m| m.mode() & 0o7777);
    fs::set_permissions(p, fs::Permissions::from_mode(mode))?;
    if let Some(m) = like {
        // Unmapped ids (single-id mode) keep ours, as the image's do.
        let _ = std::os::unix::fs::lchown(p, Some(m.uid()), Some(m.gid()));
    }
    Ok(())
}

fn set_times(p: &Path, like: &fs::Metadata) -> anyhow::Result<()> {
    let f = fs::File::open(p)?;
    let t = |s: i64, ns: i64| {
        std::time::UNIX_EPOCH + std::time::Duration::new(s.max(0) as u64, ns.max(0) as u32)
    };
    f.set_times(
        fs::FileTimes::new()
            .set_accessed(t(like.atime(), like.atime_nsec()))
            .set_modified(t(like.mtime(), like.mtime_nsec())),
    )
    .with_context(|| format!("set the times of {}", p.display()))
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

    fn layers(n: usize) -> (tempfile::TempDir, Vec<PathBuf>) {
        let t = tempfile::tempdir().unwrap();
        let ls: Vec<PathBuf> = (0..n).map(|i| t.path().join(format!("l{i}"))).collect();
        for l in &ls {
            fs::create_dir(l).unwrap();
        }
        (t, ls)
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = walk(dir, dir);
        v.sort();
        v
    }

    fn walk(base: &Path, dir: &Path) -> Vec<String> {
        let mut v = Vec::new();
        for e in fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            v.push(p.strip_prefix(base).unwrap().display().to_string());
            if p.is_dir() {
                v.extend(walk(base, &p));
            }
        }
        v
    }

    #[test]
    fn only_what_the_image_lacks_with_the_etc_of_the_image() {
        let (_t, ls) = layers(2);
        fs::create_dir(ls[1].join("etc")).unwrap();
        fs::write(ls[1].join("etc/hosts"), "x").unwrap();
        fs::create_dir(ls[0].join("etc")).unwrap();
        fs::create_dir(ls[0].join("proc")).unwrap();
        fs::set_permissions(ls[0].join("etc"), fs::Permissions::from_mode(0o750)).unwrap();
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        fs::File::open(ls[0].join("etc"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let stacked = with_layer(&ls);
        assert_eq!(stacked.len(), 3);
        assert_eq!(
            listing(&stacked[0]),
            ["dev", "etc", "etc/hostname", "etc/resolv.conf", "sys"]
        );
        let m = fs::metadata(stacked[0].join("etc")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o750);
        assert_eq!(m.modified().unwrap(), old);
        // Built once: a second start reuses it.
        assert_eq!(with_layer(&ls), stacked);
    }

    #[test]
    fn whiteouts_and_opaque_dirs_hide_lower_entries() {
        let (_t, ls) = layers(2);
        fs::create_dir_all(ls[1].join("etc")).unwrap();
        for f in ETC_FILES {
            fs::write(ls[1].join("etc").join(f), "").unwrap();
        }
        for d in DIRS {
            fs::create_dir(ls[1].join(d)).unwrap();
        }
        // An image with everything needs no layer.
        assert_eq!(with_layer(&ls), ls);
        fs::remove_dir_all(layer_for(&ls[0])).unwrap();
        fs::create_dir(ls[0].join("etc")).unwrap();
        if xattr::set(ls[0].join("etc"), "user.overlay.opaque", b"y").is_err() {
            return; // no user xattrs on this file system
        }
        let dev = nix::sys::stat::makedev(0, 0);
        let whiteout = nix::sys::stat::mknod(
            &ls[0].join("sys"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            dev,
        );
        let stacked = with_layer(&ls);
        let mut want = vec!["etc", "etc/hostname", "etc/hosts", "etc/resolv.conf"];
        if whiteout.is_ok() {
            want.push("sys");
        }
        assert_eq!(listing(&stacked[0]), want);
    }

    #[test]
    fn an_etc_symlink_means_no_layer() {
        let (_t, ls) = layers(1);
        std::os::unix::fs::symlink("/usr/etc", ls[0].join("etc")).unwrap();
        assert_eq!(with_layer(&ls), ls);
        assert!(!layer_for(&ls[0]).exists());
        let left: Vec<_> = fs::read_dir(ls[0].parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 1, "temp dirs left: {left:?}");
    }
}
