//! /proc as the emulated ids would make it. To the kernel every process
//! of the container is the one mapped id, so /proc/PID/status says
//! `Uid: 0 0 0 0` and /proc/PID is owned by root for all of them; `ps -o
//! user` (procps reads both, status last) and busybox `ps` (the owner of
//! /proc/PID) would show nginx's workers as root. Here:
//! - an open of .../status to read it whole (the exact flags the filter
//!   sends, `filter::READ_FLAGS`) gets a memfd holding the real file's
//!   text with the Uid, Gid and Groups lines of the task's emulated ids;
//! - a stat by name of /proc/PID (or .../task/TID, /proc/self,
//!   /proc/thread-self) shows the task's emulated euid and egid as owner.
//!
//! Names are read as text: absolute ones under /proc, relative ones from a
//! dirfd or cwd that is in /proc (procps 4.0.6 opens "status" from a
//! /proc/PID dirfd). The PIDs are those of the container's pid namespace;
//! the supervisor keys tasks by its own, so a PID is found by the NSpid
//! line of the tasks in the caller's pid namespace (a scan of /proc, kept
//! as a table until a PID is not found in it). Anything else, and every
//! open that does not name a status file (all but a few), runs in the
//! kernel unchanged. Not covered: reads with other flags (O_CLOEXEC:
//! Python, Perl), fstat of a /proc/PID dirfd, and the other files whose
//! owner is the task's (/proc/PID/*).

use std::collections::HashMap;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::creds::Creds;
use super::owners::{Owners, Target};

/// "self" or a number, as a name in /proc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Id {
    Own,
    Num(i32),
}

/// A task named in /proc: a process, or one of its threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    pid: Id,
    tid: Option<Id>,
}

/// What a name under /proc is, of what this module answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// /proc/PID, /proc/PID/task/TID.
    Dir(Task),
    /// Their status file.
    Status(Task),
}

/// The name under /proc of `path` (absolute, or joined to `base`, the
/// dirfd's or cwd's name), if it is one of ours. No `..`.
fn parse(path: &[u8], base: Option<&[u8]>) -> Option<Node> {
    let mut full = Vec::new();
    if path.first() != Some(&b'/') {
        full.extend_from_slice(base?);
        full.push(b'/');
    }
    full.extend_from_slice(path);
    let parts: Vec<&[u8]> = full
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty() && *p != b".")
        .collect();
    if parts.contains(&&b".."[..]) || parts.first() != Some(&&b"proc"[..]) {
        return None;
    }
    let id = |p: &[u8]| match p {
        b"self" => Some(Id::Own),
        _ => std::str::from_utf8(p)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<i32>().ok())
            .filter(|&n| n > 0)
            .map(Id::Num),
    };
    let (task, rest) = match &parts[1..] {
        [b"thread-self", rest @ ..] => (
            Task {
                pid: Id::Own,
                tid: Some(Id::Own),
            },
            rest,
        ),
        [p, b"task", t, rest @ ..] if !matches!(id(t)?, Id::Own) => (
            Task {
                pid: id(p)?,
                tid: Some(id(t)?),
            },
            rest,
        ),
        [p, rest @ ..] => (
            Task {
                pid: id(p)?,
                tid: None,
            },
            rest,
        ),
        [] => return None,
    };
    match rest {
        [] => Some(Node::Dir(task)),
        [b"status"] => Some(Node::Status(task)),
        _ => None,
    }
}

/// Whether an open of `path` may be one of ours: its last name is
/// "status" (the cheap test made before anything else).
pub fn may_be_status(path: &[u8]) -> bool {
    path.ends_with(b"status") && (path.len() == 6 || path[path.len() - 7] == b'/')
}

/// What the supervisor's /proc says of one of its tasks.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Seen {
    /// Its thread group id, here.
    tgid: i32,
    /// Its tid and tgid in the innermost pid namespace (the container's).
    ns_tid: i32,
    ns_tgid: i32,
}

fn seen(tid: i32) -> Option<Seen> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    parse_seen(&s)
}

fn parse_seen(s: &str) -> Option<Seen> {
    let field = |name: &str| s.lines().find_map(|l| l.strip_prefix(name));
    let last = |name: &str| field(name)?.split_whitespace().last()?.parse().ok();
    Some(Seen {
        tgid: field("Tgid:")?.trim().parse().ok()?,
        ns_tid: last("NSpid:")?,
        ns_tgid: last("NStgid:")?,
    })
}

fn pid_ns(tid: i32) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/{tid}/ns/pid")).ok()
}

/// The container's PIDs as the supervisor's: a table, made again when a
/// PID is not in it or its entry no longer matches.
#[derive(Default)]
pub struct Pids {
    table: HashMap<i32, i32>,
}

impl Pids {
    /// The supervisor's tid of the task `ns_tid` of the pid namespace of
    /// `caller` (a thread if `leader`, that process's tgid here, is given).
    fn find(&mut self, caller: i32, ns_tid: i32, leader: Option<i32>) -> Option<i32> {
        let ns = pid_ns(caller)?;
        let matches =
            |t: i32| pid_ns(t).as_ref() == Some(&ns) && seen(t).is_some_and(|s| s.ns_tid == ns_tid);
        if let Some(leader) = leader {
            // A thread: among its process's tasks only.
            let dir = std::fs::read_dir(format!("/proc/{leader}/task")).ok()?;
            return numbers(dir).find(|&t| matches(t));
        }
        if let Some(&t) = self.table.get(&ns_tid) {
            if matches(t) {
                return Some(t);
            }
        }
        self.table.clear();
        for t in numbers(std::fs::read_dir("/proc").ok()?) {
            if pid_ns(t).as_ref() != Some(&ns) {
                continue;
            }
            if let Some(s) = seen(t) {
                self.table.insert(s.ns_tgid, t);
            }
        }
        self.table.get(&ns_tid).copied()
    }
}

fn numbers(dir: std::fs::ReadDir) -> impl Iterator<Item = i32> {
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
}

/// A task named in /proc, found: whose ids to show (the supervisor's
/// tid) and its name in the caller's /proc.
pub struct Found {
    pub tid: i32,
    pub path: String,
}

/// Find `task` as `caller` (a tid of the supervisor's) names it.
pub fn find(pids: &mut Pids, caller: i32, task: Task) -> Option<Found> {
    let me = seen(caller)?;
    let (host_pid, ns_pid) = match task.pid {
        Id::Own => (me.tgid, me.ns_tgid),
        Id::Num(n) if n == me.ns_tgid => (me.tgid, n),
        Id::Num(n) => (pids.find(caller, n, None)?, n),
    };
    match task.tid {
        None => Some(Found {
            tid: host_pid,
            path: format!("/proc/{ns_pid}"),
        }),
        Some(tid) => {
            let (host_tid, ns_tid) = match tid {
                Id::Own => (caller, me.ns_tid),
                Id::Num(t) if t == ns_pid => (host_pid, t),
                Id::Num(t) => (pids.find(caller, t, Some(host_pid))?, t),
            };
            Some(Found {
                tid: host_tid,
                path: format!("/proc/{ns_pid}/task/{ns_tid}"),
            })
        }
    }
}

/// The name of the caller's `dirfd` (AT_FDCWD: its cwd), for a relative
/// name; None unless it is in /proc.
fn base(tid: i32, dirfd: i32) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStringExt;
    let link = match dirfd {
        libc::AT_FDCWD => format!("/proc/{tid}/cwd"),
        fd if fd >= 0 => format!("/proc/{tid}/fd/{fd}"),
        _ => return None,
    };
    let name = std::fs::read_link(link).ok()?.into_os_string().into_vec();
    (name == b"/proc" || name.starts_with(b"/proc/")).then_some(name)
}

/// What `caller` names with `path` from `dirfd`, if one of ours: for an
/// open (`open`), a status file by any name; for a stat, an absolute name
/// only (procps and busybox use those; a relative one would cost a
/// readlink on every stat from a dirfd).
pub fn node(caller: i32, dirfd: i32, path: &[u8], open: bool) -> Option<Node> {
    if open && !may_be_status(path) {
        return None;
    }
    let base = match path.first() {
        Some(b'/') if path.starts_with(b"/proc/") => None,
        Some(b'/') => return None,
        _ if open => Some(base(caller, dirfd)?),
        _ => return None,
    };
    parse(path, base.as_deref())
}

/// Whether a stat of `n` must follow a symlink to be ours: /proc/self
/// and /proc/thread-self are symlinks, lstat shows them as such.
pub fn needs_follow(n: Node) -> bool {
    matches!(n, Node::Dir(Task { pid: Id::Own, .. }))
}

/// The status text of a task, with the lines of its emulated ids.
pub fn rewrite_status(text: &str, c: &Creds) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    for line in text.split_inclusive('\n') {
        let field = line.split(':').next().unwrap_or("");
        match field {
            "Uid" => out.push_str(&format!(
                "Uid:\t{}\t{}\t{}\t{}\n",
                c.ruid, c.euid, c.suid, c.fsuid
            )),
            "Gid" => out.push_str(&format!(
                "Gid:\t{}\t{}\t{}\t{}\n",
                c.rgid, c.egid, c.sgid, c.fsgid
            )),
            "Groups" => {
                // The kernel's form: each group and a space after the last.
                out.push_str("Groups:\t");
                let groups: Vec<String> = c.groups.iter().map(|g| g.to_string()).collect();
                out.push_str(&groups.join(" "));
                out.push_str(" \n");
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// The supervisor's side of an open of a status file: its text, read
/// through the caller's /proc, with `creds` in it, in a memfd opened
/// read-only. None: let the kernel open it.
pub fn status_file(o: &Owners, caller: i32, path: &str, creds: &Creds) -> Option<OwnedFd> {
    let target = Target::Path {
        dirfd: libc::AT_FDCWD,
        path: std::ffi::CString::new(format!("{path}/status")).ok()?,
        follow: true,
    };
    let fd = o.open_with(caller, &target, OFlag::O_RDONLY)?;
    let mut text = String::new();
    std::fs::File::from(fd).read_to_string(&mut text).ok()?;
    let text = rewrite_status(&text, creds);
    let memfd =
        nix::sys::memfd::memfd_create(c"status", nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC)
            .ok()?;
    let mut f = std::fs::File::from(memfd);
    f.write_all(text.as_bytes()).ok()?;
    f.rewind().ok()?;
    // Read-only, as the caller asked: a file description of its own.
    let ro = format!("/proc/thread-self/fd/{}", f.as_raw_fd());
    nix::fcntl::open(
        ro.as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()
    .map(crate::sys::own_fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(pid: Id, tid: Option<Id>) -> Task {
        Task { pid, tid }
    }

    #[test]
    fn names_under_proc_parse() {
        use Id::*;
        let p = |s: &str| parse(s.as_bytes(), None);
        assert_eq!(
            p("/proc/12/status"),
            Some(Node::Status(task(Num(12), None)))
        );
        assert_eq!(p("/proc/self/status"), Some(Node::Status(task(Own, None))));
        assert_eq!(
            p("/proc/thread-self/status"),
            Some(Node::Status(task(Own, Some(Own))))
        );
        assert_eq!(
            p("//proc/./12/task/13/status"),
            Some(Node::Status(task(Num(12), Some(Num(13)))))
        );
        assert_eq!(p("/proc/12/"), Some(Node::Dir(task(Num(12), None))));
        assert_eq!(p("/proc/self"), Some(Node::Dir(task(Own, None))));
        assert_eq!(
            p("/proc/12/task/13"),
            Some(Node::Dir(task(Num(12), Some(Num(13)))))
        );
        for no in [
            "/proc/12/stat",
            "/proc/12/../1/status",
            "/proc/x/status",
            "/proc/-1/status",
            "/proc",
            "/etc/status",
            "/proc/12/task/self/status",
            "/proc/thread-self/task/1/status",
        ] {
            assert_eq!(p(no), None, "{no}");
        }
        // Relative: from a /proc dirfd or a /proc/PID one.
        assert_eq!(
            parse(b"status", Some(b"/proc/7")),
            Some(Node::Status(task(Num(7), None)))
        );
        assert_eq!(
            parse(b"7/status", Some(b"/proc")),
            Some(Node::Status(task(Num(7), None)))
        );
        assert_eq!(parse(b"status", None), None);
    }

    #[test]
    fn only_a_last_name_of_status_is_looked_at() {
        assert!(may_be_status(b"/proc/1/status"));
        assert!(may_be_status(b"status"));
        assert!(!may_be_status(b"/proc/1/xstatus"));
        assert!(!may_be_status(b"/etc/passwd"));
    }

    #[test]
    fn the_id_lines_are_rewritten_in_the_kernels_form() {
        let text = "Name:\tsleep\nUmask:\t0022\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n\
                    FDSize:\t64\nGroups:\t \nNStgid:\t5\n";
        let c = Creds::new(65534, 65534, vec![65534, 27]);
        assert_eq!(
            rewrite_status(text, &c),
            "Name:\tsleep\nUmask:\t0022\nUid:\t65534\t65534\t65534\t65534\n\
             Gid:\t65534\t65534\t65534\t65534\nFDSize:\t64\nGroups:\t65534 27 \nNStgid:\t5\n"
        );
        let root = Creds::new(0, 0, vec![]);
        assert!(rewrite_status(text, &root).contains("Groups:\t \n"));
    }

    #[test]
    fn own_tasks_are_seen_with_their_namespace_ids() {
        let me = std::process::id() as i32;
        let s = seen(me).unwrap();
        assert_eq!(s.tgid, me);
        // The test runs in one pid namespace or below it: the innermost
        // id is ours there.
        assert!(s.ns_tgid > 0 && s.ns_tid > 0);
        let mut pids = Pids::default();
        if s.ns_tgid == me {
            assert_eq!(pids.find(me, me, None), Some(me));
        }
    }
}
