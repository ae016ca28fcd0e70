//! COPY/ADD's rules that are not about reading files: `--chown` names
//! resolved in the stage's own /etc/passwd and /etc/group, owners put on a
//! step's new files, wildcard sources, `--parents`' kept paths and
//! `--exclude`.
//!
//! Owners: the files of a COPY layer are made by us in a host temp dir, so
//! they all belong to the host user. The owner the image should show goes
//! in each file's `user.burrow.override` xattr (the single-id mode's own
//! form), and the layer writer reads it in both id-map modes; the tar
//! then holds the ids as a container sees them.

use std::path::{Path, PathBuf};

use super::ignore::Matcher;
use crate::rootfs::fuse::ownership::{self, Override};
use crate::rootfs::lookup;

/// `--chown=USER[:GROUP]` as ids: names looked up in the stage's files,
/// numbers taken as they are; a user without a group gives its uid as the
/// gid, as Docker does.
pub fn resolve_chown(spec: &str, layers: &[PathBuf]) -> Result<(u32, u32), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() || group == Some("") {
        return Err(format!("invalid --chown={spec:?}"));
    }
    let read = |path: &str| -> Result<String, String> {
        match lookup::read_in_layers(layers, path) {
            Ok(Some(t)) => Ok(t),
            Ok(None) => Ok(String::new()),
            Err(e) => Err(format!("read {path} of the stage: {e}")),
        }
    };
    let uid = match user.parse::<u32>() {
        Ok(n) => n,
        Err(_) => id_of(&read("/etc/passwd")?, user).ok_or_else(|| {
            format!("unable to find user {user}: no matching entries in passwd file")
        })?,
    };
    let gid = match group {
        None => uid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => id_of(&read("/etc/group")?, g).ok_or_else(|| {
                format!("unable to find group {g}: no matching entries in group file")
            })?,
        },
    };
    Ok((uid, gid))
}

/// The id (third field) of `name` in a passwd or group file.
fn id_of(text: &str, name: &str) -> Option<u32> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.next()?;
        f.next()?.trim().parse().ok()
    })
}

/// Give every file under `upper` (made by this step) the owner `ids`,
/// keeping its mode (a symlink's owner goes on its parent dir).
pub fn set_owners(upper: &Path, ids: (u32, u32)) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::os::unix::fs::MetadataExt;
    let mut stack = vec![upper.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let p = e?.path();
            let m = std::fs::symlink_metadata(&p)?;
            if m.file_type().is_symlink() {
                ownership::write_link(&p, ids.0, ids.1)
                    .with_context(|| format!("set the owner of {}", p.display()))?;
                continue;
            }
            if m.is_dir() {
                stack.push(p.clone());
            }
            ownership::write(
                &p,
                &Override {
                    uid: ids.0,
                    gid: ids.1,
                    mode: m.mode() & 0o7777,
                },
            )
            .with_context(|| format!("set the owner of {}", p.display()))?;
        }
    }
    Ok(())
}

/// Make a step's temp dir what unpacking its layer blob would give: the
/// root dir 0755, every time whole seconds (clamped to `epoch`, as the
/// tar has them), the access time the modified one. Returns the bytes of
/// file content, the layer's size. Called before the blob is written, so
/// the blob carries exactly these times.
pub fn settle_tree(upper: &Path, epoch: Option<i64>) -> anyhow::Result<u64> {
    use anyhow::Context;
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::fs::set_permissions(upper, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod {}", upper.display()))?;
    let mut size = 0;
    let mut stack = vec![upper.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let p = e?.path();
            let m = std::fs::symlink_metadata(&p)?;
            if m.is_dir() {
                stack.push(p.clone());
            } else if m.is_file() {
                size += m.len();
            }
            let secs = match epoch {
                Some(e) if m.mtime() > e => e,
                _ => m.mtime(),
            };
            let t = TimeSpec::new(secs.max(0), 0);
            utimensat(None, &p, &t, &t, UtimensatFlags::NoFollowSymlink)
                .with_context(|| format!("set the times of {}", p.display()))?;
        }
    }
    Ok(size)
}

/// Give the dirs of `upper` that the base image has (`layers`, top-most
/// first; such a dir is only on the way to the copied files) the base's
/// mode, as the layer writer gives them in the blob (`TarOptions::base`).
/// False when one's owner is not the containers' root: then the tree is
/// not what unpacking the blob makes, and must not become the layer.
pub fn mirror_base_dirs(upper: &Path, layers: &[PathBuf]) -> anyhow::Result<bool> {
    use anyhow::Context;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let me = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let mut same = true;
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let dir = upper.join(&rel);
        for e in std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let e = e?;
            if !e.file_type()?.is_dir() {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let base = crate::image::layer_tar::base_dir(layers, &child);
            if let Some((bpath, bmeta)) = base {
                // Its owner as a container sees it: the recorded one in
                // single-id mode, else the mapped root is us.
                let (uid, gid, mode) = match ownership::read(&bpath) {
                    Some(o) => (o.uid, o.gid, o.mode),
                    None if (bmeta.uid(), bmeta.gid()) == me => (0, 0, bmeta.mode() & 0o7777),
                    None => (bmeta.uid(), bmeta.gid(), bmeta.mode() & 0o7777),
                };
                same &= uid == 0 && gid == 0;
                std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(mode))
                    .with_context(|| format!("chmod {}", e.path().display()))?;
            }
            stack.push(child);
        }
    }
    Ok(same)
}

/// A source with wildcards (Go's filepath.Match: `*`, `?`, `[...]`).
pub fn is_glob(src: &str) -> bool {
    src.contains(['*', '?', '['])
}

/// The context paths (relative, `/`-separated) a wildcard source matches,
/// component by component as Go's filepath.Match does (`*` stays within
/// one name).
pub fn glob_matches<'a>(
    pattern: &str,
    paths: impl Iterator<Item = &'a str>,
) -> Result<Vec<String>, String> {
    let clean = super::ignore::clean(pattern);
    let clean = clean.trim_start_matches('/');
    let m = Matcher::new(&[clean.to_string()])?;
    let depth = clean.split('/').count();
    Ok(paths
        .filter(|p| p.split('/').count() == depth)
        // A non-empty parent list turns off the parent-dir rule: the path
        // itself must match.
        .filter(|p| m.excludes_below(p, &[false]).0)
        .map(String::from)
        .collect())
}

/// The dir a wildcard source's literal components name (relative, ""
/// for the root): `/app/*/x.js` -> `app`.
pub fn literal_prefix(pattern: &str) -> String {
    let clean = super::ignore::clean(pattern);
    clean
        .trim_start_matches('/')
        .split('/')
        .take_while(|c| !is_glob(c))
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// `--parents`: the part of a source path kept under the destination;
/// a `/./` in it marks where the kept part starts, as BuildKit reads it.
pub fn kept_path(src: &str) -> String {
    let s = match src.find("/./") {
        Some(i) => &src[i + 3..],
        None => src,
    };
    super::ignore::clean(s)
        .trim_start_matches('/')
        .trim_start_matches("./")
        .to_string()
}

/// `--exclude` patterns, matched against a source's paths as
/// `.dockerignore` patterns are (a matching dir excludes what is in it).
pub fn excluder(patterns: &[String]) -> anyhow::Result<Option<Matcher>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    Ok(Some(Matcher::new(patterns).map_err(|e| {
        crate::error::Coded::new(1, format!("invalid --exclude: {e}"))
    })?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nbin:x:1:1:bin:/bin:/bin/sh\n\
                          app:x:1000:1001::/home/app:/bin/sh\n";

    #[test]
    fn chown_names_and_numbers() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), PASSWD).unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\nstaff:x:50:app\n").unwrap();
        let layers = [d.path().to_path_buf()];
        assert_eq!(resolve_chown("app", &layers), Ok((1000, 1000)));
        assert_eq!(resolve_chown("app:staff", &layers), Ok((1000, 50)));
        assert_eq!(resolve_chown("42:7", &layers), Ok((42, 7)));
        assert_eq!(resolve_chown("bin:0", &layers), Ok((1, 0)));
        assert!(resolve_chown("nobody", &layers)
            .unwrap_err()
            .contains("unable to find user nobody"));
        assert!(resolve_chown("app:nogroup", &layers)
            .unwrap_err()
            .contains("unable to find group nogroup"));
    }

    #[test]
    fn globs_match_one_level_per_star() {
        let paths = [
            "a.txt", "b.txt", "c.md", "d", "d/e.txt", "src", "src/x", "src/x/a",
        ];
        let got = |p: &str| glob_matches(p, paths.iter().copied()).unwrap();
        assert_eq!(got("*.txt"), ["a.txt", "b.txt"]);
        assert_eq!(got("src/*/a"), ["src/x/a"]);
        assert_eq!(got("./?.md"), ["c.md"]);
        assert!(got("*.none").is_empty());
    }

    #[test]
    fn parents_keep_the_path() {
        assert_eq!(kept_path("a/b/c.txt"), "a/b/c.txt");
        assert_eq!(kept_path("./a/./b/c.txt"), "b/c.txt");
        assert_eq!(kept_path("/x/y"), "x/y");
    }
}
