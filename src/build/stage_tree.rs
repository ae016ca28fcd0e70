//! The files of a stage or image as its root shows them, for `COPY
//! --from`: a directory's entries come from every layer that has it (the
//! top-most one's copy of each name wins), less what a whiteout deletes
//! and what an opaque directory hides, as the overlay mount shows them.
//! Layers are unpacked dirs, top-most first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::rootfs::fuse::{is_opaque, is_whiteout};

/// `rel` (relative, `/`-separated, "" for the root) and everything under
/// it: (path relative to `rel`, "" for itself; the file that shows it).
/// Empty when the root does not show `rel`.
pub fn tree(layers: &[PathBuf], rel: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    if let Some(top) = shown(layers, rel) {
        walk(layers, rel, top, "", &mut out);
    }
    out
}

/// The index of the layer whose copy of `rel` the root shows.
fn shown(layers: &[PathBuf], rel: &str) -> Option<usize> {
    for (i, l) in layers.iter().enumerate() {
        let p = l.join(rel);
        if let Ok(m) = p.symlink_metadata() {
            return (!is_whiteout(&m)).then_some(i);
        }
        // A non-dir on the way in this layer hides the layers below.
        if hidden_on_the_way(l, rel) {
            return None;
        }
    }
    None
}

/// Whether a parent of `rel` in layer `l` is a whiteout, a non-dir or an
/// opaque dir (which hides what lower layers have under it).
fn hidden_on_the_way(l: &Path, rel: &str) -> bool {
    let mut p = l.to_path_buf();
    let parts: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    for c in &parts[..parts.len().saturating_sub(1)] {
        p.push(c);
        match p.symlink_metadata() {
            Ok(m) if m.is_dir() => {
                if is_opaque(&p) {
                    return true;
                }
            }
            Ok(_) => return true,
            Err(_) => return false,
        }
    }
    false
}

fn walk(
    layers: &[PathBuf],
    rel: &str,
    top: usize,
    out_rel: &str,
    out: &mut Vec<(String, PathBuf)>,
) {
    let path = layers[top].join(rel);
    out.push((out_rel.to_string(), path.clone()));
    if !path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        return;
    }
    // Each name's top-most layer; None for a name a whiteout deletes.
    let mut names: BTreeMap<String, Option<usize>> = BTreeMap::new();
    for (i, l) in layers.iter().enumerate().skip(top) {
        let d = l.join(rel);
        match d.symlink_metadata() {
            Ok(m) if m.is_dir() => {}
            // Absent here: unchanged by this layer, look below.
            Err(_) => continue,
            // A non-dir (or whiteout) here hides the layers below.
            Ok(_) => break,
        }
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if names.contains_key(&n) {
                    continue;
                }
                let white = e.metadata().is_ok_and(|m| is_whiteout(&m));
                names.insert(n, (!white).then_some(i));
            }
        }
        if is_opaque(&d) {
            break;
        }
    }
    for (n, at) in names {
        let Some(at) = at else { continue };
        let child = if rel.is_empty() {
            n.clone()
        } else {
            format!("{rel}/{n}")
        };
        let child_out = if out_rel.is_empty() {
            n
        } else {
            format!("{out_rel}/{n}")
        };
        walk(layers, &child, at, &child_out, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dir_shows_the_entries_of_every_layer_less_whiteouts_and_opaque_dirs() {
        let t = tempfile::tempdir().unwrap();
        let (top, mid, low) = (
            t.path().join("top"),
            t.path().join("mid"),
            t.path().join("low"),
        );
        for d in ["low/app/sub", "low/old", "mid/app", "mid/old", "top/app"] {
            std::fs::create_dir_all(t.path().join(d)).unwrap();
        }
        for (f, c) in [
            ("low/app/a", "low a"),
            ("low/app/gone", "x"),
            ("low/app/sub/s", "s"),
            ("low/old/hidden", "h"),
            ("mid/app/b", "b"),
            ("mid/old/seen", "m"),
            ("top/app/a", "top a"),
        ] {
            std::fs::write(t.path().join(f), c).unwrap();
        }
        crate::rootfs::fuse::make_whiteout(&top.join("app/gone")).unwrap();
        crate::rootfs::fuse::set_opaque(&mid.join("old")).unwrap();
        let layers = vec![top.clone(), mid.clone(), low.clone()];
        let got: Vec<(String, String)> = tree(&layers, "app")
            .into_iter()
            .map(|(r, p)| (r, p.strip_prefix(t.path()).unwrap().display().to_string()))
            .collect();
        let want = [
            ("", "top/app"),
            ("a", "top/app/a"),
            ("b", "mid/app/b"),
            ("sub", "low/app/sub"),
            ("sub/s", "low/app/sub/s"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want);
        let old: Vec<String> = tree(&layers, "old").into_iter().map(|(r, _)| r).collect();
        assert_eq!(old, ["", "seen"]);
        assert!(tree(&layers, "app/gone").is_empty());
        assert!(tree(&layers, "old/hidden").is_empty());
    }
}
