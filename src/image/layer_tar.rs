//! Trees as tar archives: a container's changes (an overlay upper dir) as
//! an OCI layer, and any tree (a container's root, a path in it) as a
//! plain tar for `export` and `cp`.
//!
//! Same output for the same input, whatever the disk order or the clock:
//! entries sorted by name, no atime/ctime, no user or group names, mtimes
//! clamped to `SOURCE_DATE_EPOCH` when it is set, a gzip header without a
//! time. Owners are what `stat` says in the caller's user namespace (run
//! this in the containers' namespace and they are the container's ids),
//! or, in single-id mode, what our FUSE overlay keeps in
//! `user.burrow.override`.
//!
//! In a layer, an overlay whiteout (char device 0:0) becomes `.wh.NAME`
//! and an opaque dir gets `.wh..wh..opq` right after its own entry, as
//! Docker writes them.

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::rootfs::fuse::{is_opaque, is_whiteout, ownership};

/// The environment variable that fixes the times of what is made.
pub const EPOCH_ENV: &str = "SOURCE_DATE_EPOCH";

/// How a tree becomes a tar.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TarOptions {
    /// The tree is an overlay upper dir: whiteouts and opaque dirs become
    /// OCI markers.
    pub changes: bool,
    /// Owners and modes come from `user.burrow.override` where it is set.
    pub single_id: bool,
    /// Clamp every mtime to this (Unix seconds).
    pub epoch: Option<i64>,
    /// Do not descend into directories on another file system (`/proc`,
    /// `/sys`, volumes in a live container's root).
    pub one_file_system: bool,
    /// A build's COPY layer: the base image's layer dirs (top-most first).
    /// A dir the base has keeps its owner and mode (it is only on the way
    /// to the copied files: COPY into /tmp must not take /tmp's 1777).
    #[serde(default)]
    pub base: Vec<PathBuf>,
}

impl TarOptions {
    /// `SOURCE_DATE_EPOCH` from the environment: None when unset or empty;
    /// an error names a bad value.
    pub fn epoch_from_env() -> anyhow::Result<Option<i64>> {
        match std::env::var(EPOCH_ENV) {
            Ok(v) if !v.trim().is_empty() => v
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| anyhow::anyhow!("{EPOCH_ENV}={v:?} is not a number of seconds")),
            _ => Ok(None),
        }
    }
}

/// The two names of a compressed layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerDigests {
    /// sha256 of the gzip blob, as registries and manifests name it.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// sha256 of the uncompressed tar, as the image config names it.
    pub diff_id: String,
}

/// Write the changes in `upper` as a gzip-compressed OCI layer to `out`,
/// hashing both forms in the one pass.
pub fn write_layer(
    upper: &Path,
    opts: &TarOptions,
    out: impl Write,
) -> anyhow::Result<LayerDigests> {
    let opts = TarOptions {
        changes: true,
        ..opts.clone()
    };
    let compressed = Hashing::new(out);
    let gz = flate2::GzBuilder::new().write(compressed, flate2::Compression::default());
    let mut tar = tar::Builder::new(Hashing::new(gz));
    Walker::new(&opts, upper)?.children(&mut tar, upper, "")?;
    let plain = tar.into_inner().context("finish the layer")?;
    let diff_id = plain.digest();
    let gz = plain.inner;
    let compressed = gz.finish().context("finish the layer")?;
    let size = compressed.written;
    let digest = compressed.digest();
    let mut out = compressed.inner;
    out.flush().context("write the layer")?;
    Ok(LayerDigests {
        digest,
        size,
        diff_id,
    })
}

/// Write the tree at `path` as a plain tar to `out`, its own entry named
/// `name` ("" for the root: only its contents go in, as `export` writes).
pub fn write_tree(
    path: &Path,
    name: &str,
    opts: &TarOptions,
    out: impl Write,
) -> anyhow::Result<()> {
    let mut tar = tar::Builder::new(out);
    let mut w = Walker::new(opts, path)?;
    if name.is_empty() {
        w.children(&mut tar, path, "")?;
    } else {
        w.entry(&mut tar, path, name)?;
    }
    tar.into_inner()
        .context("finish the archive")?
        .flush()
        .context("write the archive")
}

/// The dir at `rel` of the image whose layer dirs are `layers` (top-most
/// first), if it has one there: the top-most layer with that path decides
/// (a whiteout there is no dir). A build's COPY layer gives such dirs the
/// base's owner and mode.
pub fn base_dir(layers: &[PathBuf], rel: &str) -> Option<(PathBuf, Metadata)> {
    layers
        .iter()
        .find_map(|l| {
            let p = l.join(rel);
            let m = fs::symlink_metadata(&p).ok()?;
            Some((p, m))
        })
        .filter(|(_, m)| m.is_dir())
}

struct Walker<'a> {
    opts: &'a TarOptions,
    /// First name of each inode with several links, for hard link entries.
    links: HashMap<(u64, u64), String>,
    root_dev: u64,
}

impl<'a> Walker<'a> {
    fn new(opts: &'a TarOptions, root: &Path) -> anyhow::Result<Walker<'a>> {
        let meta = fs::symlink_metadata(root).with_context(|| format!("{}", root.display()))?;
        Ok(Walker {
            opts,
            links: HashMap::new(),
            root_dev: meta.dev(),
        })
    }

    /// The entries of dir `path` (named `prefix` in the archive), sorted.
    fn children<W: Write>(
        &mut self,
        tar: &mut tar::Builder<W>,
        path: &Path,
        prefix: &str,
    ) -> anyhow::Result<()> {
        let mut names: Vec<_> = fs::read_dir(path)
            .with_context(|| format!("read {}", path.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .with_context(|| format!("read {}", path.display()))?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for n in names {
            let name = format!("{prefix}{}", n.to_string_lossy());
            if n.to_str().is_none() {
                tracing::warn!(
                    "{}: a name that is not UTF-8 is written lossily",
                    path.display()
                );
            }
            self.entry(tar, &path.join(&n), &name)?;
        }
        Ok(())
    }

    fn entry<W: Write>(
        &mut self,
        tar: &mut tar::Builder<W>,
        path: &Path,
        name: &str,
    ) -> anyhow::Result<()> {
        let meta = fs::symlink_metadata(path).with_context(|| format!("{}", path.display()))?;
        let ft = meta.file_type();
        if self.opts.changes && is_whiteout(&meta) {
            let (dir, base) = split(name);
            let mut h = self.header(&meta, path, 0, tar::EntryType::Regular);
            h.set_mode(0o600);
            h.set_uid(0);
            h.set_gid(0);
            tar.append_data(&mut h, format!("{dir}.wh.{base}"), io::empty())?;
            return Ok(());
        }
        self.xattrs(tar, path)?;
        if ft.is_dir() {
            let mut h = self.header(&meta, path, 0, tar::EntryType::Directory);
            if let Some((base, bmeta)) = base_dir(&self.opts.base, name) {
                let b = self.header(&bmeta, &base, 0, tar::EntryType::Directory);
                h.set_uid(b.uid()?);
                h.set_gid(b.gid()?);
                h.set_mode(b.mode()?);
            }
            tar.append_data(&mut h, format!("{name}/"), io::empty())?;
            if self.opts.changes && is_opaque(path) {
                let mut h = self.header(&meta, path, 0, tar::EntryType::Regular);
                h.set_mode(0o600);
                tar.append_data(&mut h, format!("{name}/.wh..wh..opq"), io::empty())?;
            }
            if self.opts.one_file_system && meta.dev() != self.root_dev {
                return Ok(());
            }
            return self.children(tar, path, &format!("{name}/"));
        }
        if ft.is_symlink() {
            let target = fs::read_link(path)?;
            let mut h = self.header(&meta, path, 0, tar::EntryType::Symlink);
            tar.append_link(&mut h, name, target)?;
            return Ok(());
        }
        if meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key) {
                let mut h = self.header(&meta, path, 0, tar::EntryType::Link);
                tar.append_link(&mut h, name, first)?;
                return Ok(());
            }
            self.links.insert(key, name.to_string());
        }
        if ft.is_file() {
            let f = File::open(path).with_context(|| format!("open {}", path.display()))?;
            let mut h = self.header(&meta, path, meta.len(), tar::EntryType::Regular);
            // A file that changes while we read gives an error, not a bad
            // archive: the header's size is what must follow.
            tar.append_data(&mut h, name, f.take(meta.len()))
                .with_context(|| format!("read {}", path.display()))?;
            return Ok(());
        }
        let kind = if ft.is_fifo() {
            tar::EntryType::Fifo
        } else if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else {
            // Sockets have no tar form; Docker leaves them out too.
            return Ok(());
        };
        let mut h = self.header(&meta, path, 0, kind);
        let rdev = meta.rdev();
        h.set_device_major(libc::major(rdev))?;
        h.set_device_minor(libc::minor(rdev))?;
        tar.append_data(&mut h, name, io::empty())?;
        Ok(())
    }

    fn header(&self, meta: &Metadata, path: &Path, size: u64, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        let (mut uid, mut gid, mut mode) = (meta.uid(), meta.gid(), meta.mode() & 0o7777);
        if self.opts.single_id {
            if kind == tar::EntryType::Symlink {
                if let Some(ids) = ownership::read_link(path) {
                    (uid, gid) = ids;
                }
            } else if let Some(o) = ownership::read(path) {
                (uid, gid, mode) = (o.uid, o.gid, o.mode & 0o7777);
            }
        }
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        h.set_mode(mode);
        let mtime = meta.mtime();
        let mtime = match self.opts.epoch {
            Some(e) if mtime > e => e,
            _ => mtime,
        };
        h.set_mtime(mtime.max(0) as u64);
        h
    }

    /// The file's xattrs as PAX records before its entry; overlay and
    /// burrow bookkeeping stays out.
    fn xattrs<W: Write>(&self, tar: &mut tar::Builder<W>, path: &Path) -> anyhow::Result<()> {
        let Ok(names) = xattr::list(path) else {
            return Ok(());
        };
        let mut names: Vec<_> = names
            .filter(|n| {
                let b = n.as_bytes();
                !(b.starts_with(b"user.overlay.")
                    || b.starts_with(b"user.burrow.")
                    || b.starts_with(b"trusted.")
                    || b == b"security.selinux")
            })
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut records = Vec::new();
        for n in names {
            if let Ok(Some(v)) = xattr::get(path, &n) {
                records.push((format!("SCHILY.xattr.{}", n.to_string_lossy()), v));
            }
        }
        tar.append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        Ok(())
    }
}

/// "a/b/c" -> ("a/b/", "c").
fn split(name: &str) -> (&str, &str) {
    match name.rfind('/') {
        Some(i) => (&name[..=i], &name[i + 1..]),
        None => ("", name),
    }
}

/// A writer that hashes and counts what passes.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W> Hashing<W> {
    fn new(inner: W) -> Hashing<W> {
        Hashing {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.clone().finalize()))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn entries(tar: &[u8]) -> Vec<(String, tar::EntryType, u64)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().entry_type(),
                    e.header().mtime().unwrap(),
                )
            })
            .collect()
    }

    fn layer_of(dir: &Path, epoch: Option<i64>) -> (Vec<u8>, LayerDigests) {
        let mut out = Vec::new();
        let opts = TarOptions {
            epoch,
            ..Default::default()
        };
        let d = write_layer(dir, &opts, &mut out).unwrap();
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&out[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(d.size, out.len() as u64);
        assert_eq!(d.digest, crate::image::blobs::sha256(&out));
        assert_eq!(d.diff_id, crate::image::blobs::sha256(&plain));
        (plain, d)
    }

    #[test]
    fn whiteouts_opaque_dirs_links_and_order() {
        let t = tempfile::tempdir().unwrap();
        let up = t.path();
        fs::create_dir(up.join("etc")).unwrap();
        fs::write(up.join("etc/b"), "b").unwrap();
        fs::write(up.join("etc/a"), "a").unwrap();
        fs::hard_link(up.join("etc/a"), up.join("etc/z")).unwrap();
        std::os::unix::fs::symlink("a", up.join("etc/l")).unwrap();
        fs::create_dir(up.join("opq")).unwrap();
        let opaque = xattr::set(up.join("opq"), crate::rootfs::fuse::OPAQUE_XATTR, b"y").is_ok();
        let whiteout = nix::sys::stat::mknod(
            &up.join("gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .is_ok();
        let (plain, _) = layer_of(up, None);
        let got: Vec<String> = entries(&plain).into_iter().map(|e| e.0).collect();
        let mut want = vec!["etc/", "etc/a", "etc/b", "etc/l", "etc/z"];
        // Sorted by the names on disk: the whiteout of "gone" after "etc".
        if whiteout {
            want.push(".wh.gone");
        }
        want.push("opq/");
        if opaque {
            want.push("opq/.wh..wh..opq");
        }
        assert_eq!(got, want);
        let kinds = entries(&plain);
        let z = kinds.iter().find(|e| e.0 == "etc/z").unwrap();
        assert_eq!(z.1, tar::EntryType::Link, "the second name is a hard link");
    }

    #[test]
    fn epoch_clamps_times_and_gives_equal_digests() {
        let make = || {
            let t = tempfile::tempdir().unwrap();
            fs::create_dir(t.path().join("d")).unwrap();
            fs::write(t.path().join("d/f"), "same").unwrap();
            fs::set_permissions(t.path().join("d/f"), fs::Permissions::from_mode(0o640)).unwrap();
            t
        };
        let (a, b) = (make(), make());
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let c = make();
        let (pa, da) = layer_of(a.path(), Some(100));
        let (_, db) = layer_of(b.path(), Some(100));
        let (_, dc) = layer_of(c.path(), Some(100));
        assert_eq!(da, db);
        assert_eq!(da, dc, "made a second later, same digest with the epoch");
        assert!(entries(&pa).iter().all(|e| e.2 == 100));
        let (_, d1) = layer_of(a.path(), None);
        let (_, d2) = layer_of(c.path(), None);
        assert_ne!(d1.diff_id, d2.diff_id, "without the epoch the times differ");
    }
}
