//! Where COPY/ADD put files: the destination as Docker resolves it in the
//! image it writes over. The path is cleaned first (`/symlink/..` is `/`),
//! then every directory on it that is a symlink in the image is followed,
//! inside the image's root (an absolute target starts again at `/`, `..`
//! stops at `/`), so `ADD . /link/sub/` over `link -> real` fills
//! `/real/sub/` and the link stays a link.

use std::path::{Path, PathBuf};

/// At most this many links on one path, as the kernel's ELOOP limit.
const MAX_LINKS: usize = 40;

/// `dest` (absolute) resolved in the image whose layer dirs are `layers`,
/// top-most first; keeps a trailing slash. The last component is followed
/// too when `dest` ends in a slash (it names a directory then).
pub fn resolve(layers: &[PathBuf], dest: &str) -> String {
    let dir = dest.ends_with('/') || dest.ends_with("/.") || dest.ends_with("/..");
    // Lexically clean first, as Docker does (`path.Clean`): `..` in the
    // destination as written never follows a link.
    let mut todo: Vec<String> = Vec::new();
    for c in dest.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if c == ".." {
            todo.pop();
        } else {
            todo.push(c.to_string());
        }
    }
    todo.reverse();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            done.pop();
            continue;
        }
        let last = todo.is_empty();
        let rel: PathBuf = done.iter().chain(std::iter::once(&c)).collect();
        let target = if last && !dir {
            None
        } else {
            link_in(layers, &rel)
        };
        match target {
            Some(t) if links < MAX_LINKS => {
                links += 1;
                if t.starts_with('/') {
                    done.clear();
                }
                todo.extend(
                    t.split('/')
                        .filter(|c| !c.is_empty() && *c != ".")
                        .map(String::from)
                        .rev(),
                );
            }
            _ => done.push(c),
        }
    }
    let mut out = format!("/{}", done.join("/"));
    if dir && out != "/" {
        out.push('/');
    }
    out
}

/// `dest` resolved, as a directory (`/x/`) when it names one in the
/// image already: COPY of a file to an existing directory puts it inside,
/// slash or not, as Docker does (`COPY script /usr/bin`).
pub fn resolve_dest(layers: &[PathBuf], dest: &str) -> String {
    if !dest.ends_with('/') {
        let as_dir = resolve(layers, &format!("{dest}/"));
        if is_dir(layers, &as_dir) {
            return as_dir;
        }
    }
    resolve(layers, dest)
}

/// Whether the top-most entry at `path` (resolved) is a directory.
fn is_dir(layers: &[PathBuf], path: &str) -> bool {
    let rel = path.trim_matches('/');
    if rel.is_empty() {
        return false;
    }
    layers
        .iter()
        .find_map(|l| l.join(rel).symlink_metadata().ok())
        .is_some_and(|m| m.is_dir())
}

/// The link target of `rel` in the top-most layer that has it, if that
/// entry is a symlink.
fn link_in(layers: &[PathBuf], rel: &Path) -> Option<String> {
    for l in layers {
        let p = l.join(rel);
        if let Ok(m) = p.symlink_metadata() {
            if !m.file_type().is_symlink() {
                return None;
            }
            return std::fs::read_link(&p)
                .ok()
                .map(|t| t.to_string_lossy().into_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> (tempfile::TempDir, Vec<PathBuf>) {
        let t = tempfile::tempdir().unwrap();
        let (low, top) = (t.path().join("low"), t.path().join("top"));
        std::fs::create_dir_all(low.join("real/sub")).unwrap();
        std::fs::create_dir_all(&top).unwrap();
        std::os::unix::fs::symlink("/real/sub", top.join("abs")).unwrap();
        std::os::unix::fs::symlink("real", top.join("rel")).unwrap();
        std::os::unix::fs::symlink("../../..", low.join("real/up")).unwrap();
        std::os::unix::fs::symlink("loop", top.join("loop")).unwrap();
        (t, vec![top, low])
    }

    #[test]
    fn dot_dot_is_cleaned_before_links() {
        let (_t, l) = image();
        assert_eq!(resolve(&l, "/abs/.."), "/");
        assert_eq!(resolve(&l, "/a/b/../c"), "/a/c");
    }

    #[test]
    fn links_on_the_way_are_followed_inside_the_root() {
        let (_t, l) = image();
        assert_eq!(resolve(&l, "/rel/subdirectory/"), "/real/subdirectory/");
        assert_eq!(resolve(&l, "/abs/x"), "/real/sub/x");
        assert_eq!(resolve(&l, "/real/up/etc/f"), "/etc/f");
    }

    #[test]
    fn the_last_name_is_followed_only_as_a_directory() {
        let (_t, l) = image();
        assert_eq!(resolve(&l, "/rel"), "/rel");
        assert_eq!(resolve(&l, "/rel/"), "/real/");
        assert_eq!(resolve(&l, "/"), "/");
    }

    #[test]
    fn an_existing_directory_is_a_directory_without_the_slash() {
        let (_t, l) = image();
        assert_eq!(resolve_dest(&l, "/real"), "/real/");
        assert_eq!(resolve_dest(&l, "/rel"), "/real/");
        assert_eq!(resolve_dest(&l, "/real/new"), "/real/new");
        assert_eq!(resolve_dest(&l, "/abs/x"), "/real/sub/x");
    }

    #[test]
    fn a_link_loop_ends() {
        let (_t, l) = image();
        assert_eq!(resolve(&l, "/loop/x"), "/loop/x");
    }
}
