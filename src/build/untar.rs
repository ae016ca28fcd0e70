//! ADD of a local archive: its entries unpacked into the step's upper dir
//! the way Docker unpacks them, with the destination as the root (Docker
//! untars chrooted there; podman agrees): a symlink on an entry's way is
//! followed within that root (`dir -> ..` at the top, then `dir/etc/f`
//! writes `DEST/etc/f`), where the tar crate's `unpack` refuses the entry.
//! Every path is resolved by `destpath::resolve` before anything is
//! written, so nothing lands outside the destination.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::destpath;

/// Unpack `archive` (plain or gzip tar) at `dest` (absolute, in the image)
/// into `upper`; `layers` are the image's layer dirs, top-most first.
pub fn extract(archive: &Path, upper: &Path, dest: &str, layers: &[PathBuf]) -> anyhow::Result<()> {
    let mut f = std::fs::File::open(archive)?;
    let mut head = [0u8; 2];
    let gz = f.read(&mut head)? == 2 && head == [0x1f, 0x8b];
    let f = std::fs::File::open(archive)?;
    let input: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(f))
    } else {
        Box::new(f)
    };
    // The archive is unpacked with the destination as its root, as
    // Docker's chrooted untar does: `symldir1 -> ..` at the top of the
    // archive stays inside the destination. The upper dir first: links
    // the archive made earlier count.
    let mut image_view = vec![upper.to_path_buf()];
    image_view.extend(layers.iter().cloned());
    let at = destpath::resolve(&image_view, &format!("{}/", dest.trim_end_matches('/')));
    let at = at.trim_matches('/');
    let view: Vec<PathBuf> = image_view.iter().map(|l| l.join(at)).collect();
    let upper = &upper.join(at);
    std::fs::create_dir_all(upper)?;
    let base = "";
    let mut a = tar::Archive::new(input);
    let what = || format!("extract {}", archive.display());
    let mut dirs_made = Vec::new();
    for entry in a.entries().with_context(what)? {
        let mut e = entry.with_context(what)?;
        let name = e.path().with_context(what)?.to_string_lossy().into_owned();
        let clean: Vec<&str> = name
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        let Some((last, dirs)) = clean.split_last() else {
            continue;
        };
        if *last == ".." {
            continue;
        }
        let parent = destpath::resolve(&view, &format!("{base}/{}/", dirs.join("/")));
        let parent = upper.join(parent.trim_start_matches('/'));
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("{}: create {}", what(), parent.display()))?;
        let target = parent.join(last);
        let kind = e.header().entry_type();
        let owner = (e.header().uid().unwrap_or(0), e.header().gid().unwrap_or(0));
        if kind.is_dir() {
            if target.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                std::fs::remove_file(&target)?;
            }
            std::fs::create_dir_all(&target)?;
            // Its mode and owner once its entries are in: a dir of mode
            // 0500 would refuse them.
            let mode = e.header().mode().unwrap_or(0o755) & 0o7777;
            dirs_made.push((target.clone(), mode, owner));
        } else if kind.is_hard_link() {
            let link = e
                .link_name()
                .with_context(what)?
                .context("a hard link without a target")?;
            let src = destpath::resolve(&view, &format!("/{}", link.to_string_lossy()));
            let _ = std::fs::remove_file(&target);
            std::fs::hard_link(upper.join(src.trim_start_matches('/')), &target)
                .with_context(|| format!("{}: link {}", what(), name))?;
            continue;
        } else if !(kind.is_file() || kind.is_symlink()) {
            // Devices and fifos cannot be made without privileges here.
            continue;
        } else if target.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            std::fs::remove_dir_all(&target)?;
        } else {
            let _ = std::fs::remove_file(&target);
        }
        e.set_preserve_permissions(true);
        e.set_preserve_mtime(true);
        e.unpack(&target)
            .with_context(|| format!("{}: {}", what(), name))?;
        if kind.is_file() || kind.is_symlink() {
            keep_owner(&target, owner).with_context(what)?;
        }
    }
    for (dir, mode, owner) in dirs_made.into_iter().rev() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("{}: set the mode of {}", what(), dir.display()))?;
        keep_owner(&dir, owner).with_context(what)?;
    }
    Ok(())
}

/// The archive's owner of `path`, as `tar -x` by root keeps it (Docker's
/// ADD does): recorded in the override xattr the layer writer reads, as
/// `--chown` records its owner (a symlink's on its parent dir). Root
/// needs no record.
fn keep_owner(path: &Path, (uid, gid): (u64, u64)) -> anyhow::Result<()> {
    use crate::rootfs::fuse::ownership::{self, Override};
    use std::os::unix::fs::MetadataExt;
    if uid == 0 && gid == 0 {
        return Ok(());
    }
    let id = |v: u64| u32::try_from(v).context("an owner id beyond 32 bits");
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return ownership::write_link(path, id(uid)?, id(gid)?)
            .with_context(|| format!("set the owner of {}", path.display()));
    }
    let mode = meta.mode() & 0o7777;
    let o = Override {
        uid: id(uid)?,
        gid: id(gid)?,
        mode,
    };
    ownership::write(path, &o).with_context(|| format!("set the owner of {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &str)]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut b = tar::Builder::new(f.reopen().unwrap());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            if *kind == tar::EntryType::Symlink {
                h.set_size(0);
                b.append_link(&mut h, name, data).unwrap();
            } else {
                h.set_size(data.len() as u64);
                b.append_data(&mut h, name, data.as_bytes()).unwrap();
            }
        }
        b.finish().unwrap();
        f
    }

    #[test]
    fn the_archives_owners_are_recorded() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut b = tar::Builder::new(f.reopen().unwrap());
        for (name, kind, uid) in [
            ("d/", tar::EntryType::Directory, 2510),
            ("d/f", tar::EntryType::Regular, 2511),
            ("r", tar::EntryType::Regular, 0),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(0o750);
            h.set_uid(uid);
            h.set_gid(if uid == 0 { 0 } else { uid + 5 });
            h.set_size(0);
            b.append_data(&mut h, name, &b""[..]).unwrap();
        }
        b.finish().unwrap();
        let upper = tempfile::tempdir().unwrap();
        extract(f.path(), upper.path(), "/x", &[]).unwrap();
        use crate::rootfs::fuse::ownership::read;
        let got = |p: &str| read(&upper.path().join(p)).map(|o| (o.uid, o.gid, o.mode));
        assert_eq!(got("x/d"), Some((2510, 2515, 0o750)));
        assert_eq!(got("x/d/f"), Some((2511, 2516, 0o750)));
        assert_eq!(got("x/r"), None);
    }

    #[test]
    fn a_link_to_the_parent_stays_inside_the_destination() {
        let t = tar_of(&[
            ("symldir1", tar::EntryType::Symlink, ".."),
            ("symldir1/etc/myfile", tar::EntryType::Regular, "hello"),
            ("escape", tar::EntryType::Symlink, "/../../.."),
            ("escape/outside", tar::EntryType::Regular, "x"),
        ]);
        let upper = tempfile::tempdir().unwrap();
        let u = upper.path().join("u");
        std::fs::create_dir(&u).unwrap();
        extract(t.path(), &u, "/testsubdir", &[]).unwrap();
        assert_eq!(
            std::fs::read_to_string(u.join("testsubdir/etc/myfile")).unwrap(),
            "hello"
        );
        assert_eq!(
            std::fs::read_link(u.join("testsubdir/symldir1")).unwrap(),
            Path::new("..")
        );
        // An absolute link to above the root stays at the destination.
        assert_eq!(
            std::fs::read_to_string(u.join("testsubdir/outside")).unwrap(),
            "x"
        );
        assert!(!u.join("etc").exists() && !u.join("outside").exists());
        assert!(!upper.path().join("outside").exists());
    }
}
