//! Lookup across layers and merged directory listings.
//!
//! A name in a merged dir is looked for top-most layer first: a whiteout
//! hides it, a non-dir ends the search, a dir merges with the dirs of the
//! same name below it until one of them is opaque or a lower layer has a
//! non-dir or whiteout there.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use fuser::FileType;

use super::layers::{is_opaque, is_whiteout, Layers};

/// Where a name resolved to.
#[derive(Debug)]
pub struct Found {
    pub rel: PathBuf,
    pub layer: usize,
    pub meta: Metadata,
    /// For a dir: the layers that merge into it, top-most first.
    pub stack: Vec<usize>,
}

pub fn child_path(parent: &Path, name: &OsStr) -> PathBuf {
    if parent.as_os_str().is_empty() {
        PathBuf::from(name)
    } else {
        parent.join(name)
    }
}

/// Resolve `name` in the merged dir `parent` made of `stack`.
pub fn resolve(
    layers: &Layers,
    parent: &Path,
    stack: &[usize],
    name: &OsStr,
) -> io::Result<Option<Found>> {
    let rel = child_path(parent, name);
    for (i, &layer) in stack.iter().enumerate() {
        let Some(meta) = layers.stat(layer, &rel)? else {
            continue;
        };
        if is_whiteout(&meta) {
            return Ok(None);
        }
        if !meta.is_dir() {
            return Ok(Some(Found {
                rel,
                layer,
                meta,
                stack: vec![layer],
            }));
        }
        let dir_stack = dir_stack(layers, &rel, layer, &stack[i + 1..])?;
        return Ok(Some(Found {
            rel,
            layer,
            meta,
            stack: dir_stack,
        }));
    }
    Ok(None)
}

/// The layers a dir found in `top` merges with, among `below`.
pub fn dir_stack(
    layers: &Layers,
    rel: &Path,
    top: usize,
    below: &[usize],
) -> io::Result<Vec<usize>> {
    let mut out = vec![top];
    if is_opaque(&layers.real(top, rel)) {
        return Ok(out);
    }
    for &layer in below {
        match layers.stat(layer, rel)? {
            None => continue,
            Some(m) if m.is_dir() => {
                out.push(layer);
                if is_opaque(&layers.real(layer, rel)) {
                    break;
                }
            }
            // A whiteout or a non-dir hides what lies below.
            Some(_) => break,
        }
    }
    Ok(out)
}

/// Does a layer other than `skip` show `name` in `parent` (so removing the
/// upper entry needs a whiteout)?
pub fn shown_below(
    layers: &Layers,
    parent: &Path,
    stack: &[usize],
    skip: usize,
    name: &OsStr,
) -> io::Result<bool> {
    let rel = child_path(parent, name);
    for &layer in stack.iter().filter(|&&l| l != skip) {
        match layers.stat(layer, &rel)? {
            None => continue,
            Some(m) => return Ok(!is_whiteout(&m)),
        }
    }
    Ok(false)
}

/// One entry of a merged listing.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: OsString,
    pub kind: FileType,
}

/// The merged listing of dir `rel` (without "." and ".."), top-most first.
pub fn list(layers: &Layers, rel: &Path, stack: &[usize]) -> io::Result<Vec<Entry>> {
    let mut seen: HashSet<OsString> = HashSet::new();
    let mut out = Vec::new();
    for &layer in stack {
        let rd = match std::fs::read_dir(layers.real(layer, rel)) {
            Ok(rd) => rd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        for entry in rd {
            let entry = entry?;
            let name = entry.file_name();
            if !seen.insert(name.clone()) {
                continue;
            }
            let ft = entry.file_type()?;
            if ft.is_char_device() && entry.metadata().map(|m| is_whiteout(&m)).unwrap_or(false) {
                continue;
            }
            let kind = FileType::from_std(ft).unwrap_or(FileType::RegularFile);
            out.push(Entry { name, kind });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::fuse::layers::{make_whiteout, set_opaque};

    fn names(v: &[Entry]) -> Vec<String> {
        let mut n: Vec<String> = v
            .iter()
            .map(|e| e.name.to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn whiteouts_and_opaque_dirs_hide_lower_entries() {
        let t = tempfile::tempdir().unwrap();
        let (u, l1, l2) = (t.path().join("u"), t.path().join("l1"), t.path().join("l2"));
        for d in [&u, &l1, &l2] {
            std::fs::create_dir_all(d.join("d")).unwrap();
        }
        std::fs::write(l2.join("a"), "a").unwrap();
        std::fs::write(l2.join("b"), "b").unwrap();
        std::fs::write(l2.join("d/old"), "x").unwrap();
        std::fs::write(l1.join("c"), "c").unwrap();
        std::fs::write(l1.join("d/new"), "y").unwrap();
        let l = Layers::new(u.clone(), vec![l1.clone(), l2.clone()], t.path().join("w"));
        if let Err(e) = make_whiteout(&l1.join("b")).and_then(|()| set_opaque(&l1.join("d"))) {
            return crate::testkit::skip(&format!("no mknod 0:0 or user xattrs here ({e})"));
        }
        let root = list(&l, Path::new(""), &[0, 1, 2]).unwrap();
        assert_eq!(names(&root), ["a", "c", "d"]);
        assert!(resolve(&l, Path::new(""), &[0, 1, 2], OsStr::new("b"))
            .unwrap()
            .is_none());
        let d = resolve(&l, Path::new(""), &[0, 1, 2], OsStr::new("d"))
            .unwrap()
            .unwrap();
        assert_eq!(d.stack, [0, 1], "opaque l1/d cuts l2/d");
        assert_eq!(names(&list(&l, &d.rel, &d.stack).unwrap()), ["new"]);
        let a = resolve(&l, Path::new(""), &[0, 1, 2], OsStr::new("a"))
            .unwrap()
            .unwrap();
        assert_eq!(a.layer, 2);
        assert!(shown_below(&l, Path::new(""), &[0, 1, 2], 0, OsStr::new("a")).unwrap());
        assert!(!shown_below(&l, Path::new(""), &[0, 1, 2], 0, OsStr::new("b")).unwrap());
    }
}
