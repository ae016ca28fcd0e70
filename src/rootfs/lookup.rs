//! Read a file of an image or a container from the host without leaving
//! it. The image is hostile: its `/etc` may be a symlink to the host's
//! `/etc`, or to `../../../../tmp/x`. Inside the container such a link
//! resolves against the container's root; a host-side `open` of
//! `<layer>/etc/passwd` would follow it out to the host. So every
//! component is resolved here as the container would see it:
//! - a stack of layers: by hand, through the merged view (whiteouts,
//!   opaque dirs, a symlink in one layer naming a dir of another), with
//!   absolute links and `..` stopping at the image's root;
//! - a live container's root (`/proc/<pid>/root`): by the kernel, with
//!   openat2's RESOLVE_IN_ROOT, since the container may change its files
//!   while we look.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use super::fuse::{is_opaque, is_whiteout};

/// Files read this way are small (passwd, group); a larger one is hostile.
pub const MAX_FILE: u64 = 16 << 20;

/// Symlinks followed in one lookup before giving up, as the kernel's 40.
const MAX_LINKS: usize = 40;

/// The regular file at `path` in the merged view of `layers` (top first):
/// the layer file that holds it, or None when it is absent, whited out or
/// not a regular file. Symlinks on the way resolve inside the image.
pub fn find_in_layers(layers: &[PathBuf], path: &str) -> io::Result<Option<PathBuf>> {
    let roots = roots(layers);
    let mut todo = parts(Path::new(path));
    // The dirs resolved so far, each as the same dir in every layer that
    // still shows through; the first is the root.
    let mut stack: Vec<Vec<PathBuf>> = vec![roots.clone()];
    let mut links = 0;
    while let Some(part) = todo.pop_front() {
        if part == ".." {
            if stack.len() > 1 {
                stack.pop();
            }
            continue;
        }
        let here = stack.last().expect("the root is never popped");
        match look_up(here, &part)? {
            Entry::Absent => return Ok(None),
            Entry::Dir(below) => stack.push(below),
            Entry::Symlink(to) => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                if to.is_absolute() {
                    stack.truncate(1);
                }
                for p in parts(&to).into_iter().rev() {
                    todo.push_front(p);
                }
            }
            Entry::File(p) if todo.is_empty() => return Ok(Some(p)),
            // A file in the middle of the path, or a device, fifo...
            Entry::File(_) | Entry::Other => return Ok(None),
        }
    }
    Ok(None) // the path names a directory
}

/// Read the regular file at `path` in the merged view of `layers`.
pub fn read_in_layers(layers: &[PathBuf], path: &str) -> io::Result<Option<String>> {
    match find_in_layers(layers, path)? {
        // O_NOFOLLOW: the lookup found a regular file, never a link.
        Some(p) => read_capped(open_no_follow(&p)?).map(Some),
        None => Ok(None),
    }
}

/// Read the regular file at `path` below `root` (a live container's root,
/// `/proc/<pid>/root`), resolved as the container would: absolute links
/// and `..` stop at `root`. None when it is absent or not a regular file.
pub fn read_in_root(root: &Path, path: &str) -> io::Result<Option<String>> {
    let dir = File::open(root)?;
    let rel = path.trim_start_matches('/');
    // O_NONBLOCK: a fifo put there must not hang us; checked below.
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY;
    let file = match crate::sys::open_in_root(&dir, Path::new(rel), flags) {
        Ok(fd) => File::from(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            // Before Linux 5.6: the walk by hand, which a process in the
            // container could race by swapping a dir for a link.
            return read_in_layers(&[root.to_path_buf()], path);
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    read_capped(file).map(Some)
}

/// Read the regular files `paths` of the running container whose process
/// is `pid` (one whose /proc entries are open to us), each as
/// [`read_in_root`] does, from a child that joined the container's user
/// namespace first: a FUSE root (our overlay) serves no process outside
/// it, so a read from here would get EACCES. Call it single-threaded.
pub fn read_in_container(pid: i32, paths: &[&str]) -> io::Result<Vec<Option<String>>> {
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::ForkResult;
    let ns = File::open(format!("/proc/{pid}/ns/user"))?;
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    match crate::sys::fork().map_err(io::Error::from)? {
        ForkResult::Child => {
            drop(r);
            let mut out = File::from(w);
            let code = match child_reads(&ns, &root, paths, &mut out) {
                Ok(()) => 0,
                Err(_) => 1,
            };
            crate::sys::exit_now(code)
        }
        ForkResult::Parent { child } => {
            drop(w);
            let mut bytes = Vec::new();
            // At most the files' cap each, and their framing.
            let cap = (MAX_FILE + 8) * paths.len() as u64;
            let read = File::from(r).take(cap).read_to_end(&mut bytes);
            let status = waitpid(child, None).map_err(io::Error::from)?;
            read?;
            if status != WaitStatus::Exited(child, 0) {
                return Err(io::Error::other("the reader in the container failed"));
            }
            unframe(&bytes, paths.len())
        }
    }
}

/// In the child: join the user namespace, read, write each file framed:
/// a flag byte (present or not), then its length and bytes.
fn child_reads(ns: &File, root: &Path, paths: &[&str], out: &mut File) -> io::Result<()> {
    use std::io::Write;
    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWUSER).map_err(io::Error::from)?;
    for p in paths {
        match read_in_root(root, p)? {
            Some(text) => {
                out.write_all(&[1])?;
                out.write_all(&(text.len() as u64).to_le_bytes())?;
                out.write_all(text.as_bytes())?;
            }
            None => out.write_all(&[0])?,
        }
    }
    Ok(())
}

fn unframe(mut bytes: &[u8], n: usize) -> io::Result<Vec<Option<String>>> {
    let bad = || io::Error::other("a short answer from the reader in the container");
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (&flag, rest) = bytes.split_first().ok_or_else(bad)?;
        bytes = rest;
        if flag == 0 {
            out.push(None);
            continue;
        }
        let len = bytes.get(..8).ok_or_else(bad)?;
        let len = u64::from_le_bytes(len.try_into().map_err(|_| bad())?) as usize;
        let text = bytes.get(8..8 + len).ok_or_else(bad)?;
        out.push(Some(String::from_utf8(text.to_vec()).map_err(|_| bad())?));
        bytes = &bytes[8 + len..];
    }
    Ok(out)
}

/// What a name is in the merged view of one dir.
enum Entry {
    Absent,
    /// A dir: the same dir in each layer that shows through, top first.
    Dir(Vec<PathBuf>),
    Symlink(PathBuf),
    File(PathBuf),
    Other,
}

/// Look `name` up in `dirs` (one dir in each layer, top first): the top
/// entry wins; a whiteout hides what is below; a dir merges with the dirs
/// below it until a non-dir or an opaque dir.
fn look_up(dirs: &[PathBuf], name: &OsString) -> io::Result<Entry> {
    let mut below = Vec::new();
    for d in dirs {
        let p = d.join(name);
        let m = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if !below.is_empty() {
            // Below a dir, only dirs merge into it.
            if !m.is_dir() {
                break;
            }
            let opaque = is_opaque(&p);
            below.push(p);
            if opaque {
                break;
            }
            continue;
        }
        let t = m.file_type();
        if is_whiteout(&m) {
            return Ok(Entry::Absent);
        } else if t.is_symlink() {
            return Ok(Entry::Symlink(fs::read_link(&p)?));
        } else if t.is_file() {
            return Ok(Entry::File(p));
        } else if !t.is_dir() {
            return Ok(Entry::Other);
        }
        let opaque = is_opaque(&p);
        below.push(p);
        if opaque {
            break;
        }
    }
    Ok(if below.is_empty() {
        Entry::Absent
    } else {
        Entry::Dir(below)
    })
}

/// The layers that make up the root: down to the first opaque one.
fn roots(layers: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for l in layers {
        out.push(l.clone());
        if is_opaque(l) {
            break;
        }
    }
    out
}

/// The names and `..`s of a path; `/` and `.` say nothing here.
fn parts(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

fn open_no_follow(p: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(p)
}

fn read_capped(file: File) -> io::Result<String> {
    let mut text = String::new();
    file.take(MAX_FILE + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE {
        return Err(io::Error::other(format!(
            "larger than {} MiB",
            MAX_FILE >> 20
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn layers(n: usize) -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let ls: Vec<PathBuf> = (0..n).map(|i| dir.path().join(format!("l{i}"))).collect();
        for l in &ls {
            fs::create_dir(l).unwrap();
        }
        (dir, ls)
    }

    /// A host dir outside the layers with a passwd the lookup must not see.
    fn host_etc(dir: &Path) -> PathBuf {
        let host = dir.join("host/etc");
        fs::create_dir_all(&host).unwrap();
        fs::write(host.join("passwd"), "marker:x:4321:4321::/:/bin/sh\n").unwrap();
        host
    }

    #[test]
    fn absolute_and_dot_dot_links_stay_in_the_image() {
        let (dir, ls) = layers(1);
        let host = host_etc(dir.path());
        // /etc -> <host>/etc, absolute: resolves to <image>/<host>/etc.
        symlink(&host, ls[0].join("etc")).unwrap();
        assert_eq!(find_in_layers(&ls, "/etc/passwd").unwrap(), None);
        assert_eq!(read_in_layers(&ls, "etc/passwd").unwrap(), None);
        // /etc -> ../../../host/etc: `..` stops at the image's root.
        fs::remove_file(ls[0].join("etc")).unwrap();
        symlink("../../../../../host/etc", ls[0].join("etc")).unwrap();
        assert_eq!(find_in_layers(&ls, "/etc/passwd").unwrap(), None);
        // The same link with the target made inside the image is followed.
        fs::create_dir_all(ls[0].join("host/etc")).unwrap();
        fs::write(ls[0].join("host/etc/passwd"), "in:x:1:1::/:/\n").unwrap();
        assert_eq!(
            read_in_layers(&ls, "/etc/passwd").unwrap().as_deref(),
            Some("in:x:1:1::/:/\n")
        );
        // And a final component that is a link out.
        fs::remove_file(ls[0].join("etc")).unwrap();
        fs::create_dir(ls[0].join("etc")).unwrap();
        symlink(host.join("passwd"), ls[0].join("etc/passwd")).unwrap();
        assert_eq!(find_in_layers(&ls, "/etc/passwd").unwrap(), None);
    }

    #[test]
    fn links_resolve_through_the_merged_view() {
        let (_dir, ls) = layers(3);
        // Top: /etc -> /usr/etc (absolute, so from the image's root);
        // middle: /usr is a dir; bottom: /usr/etc/passwd.
        symlink("/usr/etc", ls[0].join("etc")).unwrap();
        fs::create_dir(ls[1].join("usr")).unwrap();
        fs::create_dir_all(ls[2].join("usr/etc")).unwrap();
        fs::write(ls[2].join("usr/etc/passwd"), "a:x:7:7::/:/\n").unwrap();
        assert_eq!(
            find_in_layers(&ls, "/etc/passwd").unwrap(),
            Some(ls[2].join("usr/etc/passwd"))
        );
        // An opaque /usr in the middle layer hides the bottom's.
        xattr::set(ls[1].join("usr"), crate::rootfs::fuse::OPAQUE_XATTR, b"y").ok();
        if is_opaque(&ls[1].join("usr")) {
            assert_eq!(find_in_layers(&ls, "/etc/passwd").unwrap(), None);
        }
    }

    #[test]
    fn whiteouts_files_in_the_middle_and_loops() {
        let (_dir, ls) = layers(2);
        fs::create_dir_all(ls[1].join("etc")).unwrap();
        fs::write(ls[1].join("etc/group"), "g:x:5:\n").unwrap();
        assert!(find_in_layers(&ls, "etc/group").unwrap().is_some());
        assert_eq!(find_in_layers(&ls, "etc/group/x").unwrap(), None);
        assert_eq!(find_in_layers(&ls, "etc").unwrap(), None);
        let wh = nix::sys::stat::mknod(
            &ls[0].join("etc"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        );
        if wh.is_ok() {
            assert_eq!(find_in_layers(&ls, "etc/group").unwrap(), None);
        }
        symlink("loop", ls[0].join("loop")).unwrap();
        let e = find_in_layers(&ls, "loop/x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
    }

    #[test]
    fn answers_of_the_reader_in_the_container_unframe() {
        let mut b = vec![1];
        b.extend_from_slice(&3u64.to_le_bytes());
        b.extend_from_slice(b"a:b");
        b.push(0);
        assert_eq!(unframe(&b, 2).unwrap(), vec![Some("a:b".into()), None]);
        assert!(unframe(&b, 3).is_err());
        assert!(unframe(&b[..5], 1).is_err());
    }

    #[test]
    fn a_root_is_read_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let host = host_etc(dir.path());
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        symlink(&host, root.join("etc")).unwrap();
        assert_eq!(read_in_root(&root, "/etc/passwd").unwrap(), None);
        fs::remove_file(root.join("etc")).unwrap();
        symlink("../../../../host/etc", root.join("etc")).unwrap();
        assert_eq!(read_in_root(&root, "/etc/passwd").unwrap(), None);
        fs::remove_file(root.join("etc")).unwrap();
        fs::create_dir(root.join("etc")).unwrap();
        fs::write(root.join("etc/passwd"), "r:x:0:0::/:/\n").unwrap();
        assert_eq!(
            read_in_root(&root, "etc/passwd").unwrap().as_deref(),
            Some("r:x:0:0::/:/\n")
        );
        nix::unistd::mkfifo(&root.join("etc/group"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert_eq!(read_in_root(&root, "etc/group").unwrap(), None);
    }
}
