//! The supervisor's side: answers the notifications of one container
//! run's listener, keeping every task's emulated credentials.
//!
//! A task is keyed by its tid (glibc makes every thread repeat a set*id
//! call, so per-thread state is what it expects) and its start time (so a
//! reused tid never inherits a dead task's ids). A task seen for the first
//! time takes its thread-group leader's ids if it is a thread, else its
//! parent's (/proc/TID/status and stat), as fork and clone would have
//! given them; a task whose line of ancestors leaves the container takes
//! the container's process ids. A process that exits (exit_group) first
//! hands its ids to its children that have none yet, so orphans (a daemon
//! started by `su app -c 'x &'`) keep them. Known limits: a child that
//! makes its first id call after its parent changed ids sees the parent's
//! new ids, not those of its fork; a parent killed by a signal hands
//! nothing on (its orphans take the container's ids).

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::creds::{Creds, Set, KEEP, NGROUPS_MAX};
use super::filter::{self, Access, Call, Entry};
use super::owners::{Caller, Owners, Target};
use super::procfs;
use crate::sys;

/// The kernel's answer for an id a 16-bit call cannot show.
const OVERFLOW_ID: u32 = 65534;
/// Past this many tracked tasks, the dead ones are dropped.
const PRUNE_AT: usize = 4096;
/// Pidfds kept at most (the supervisor's fds are shared with the FUSE
/// overlay and the network; RLIMIT_NOFILE is often 1024).
const MAX_PIDFDS: usize = 256;
/// Ancestors followed at most (a loop in /proc cannot happen, but a
/// bound costs nothing).
const MAX_DEPTH: usize = 64;

struct Tracked {
    start: u64,
    creds: Creds,
    /// The task's pidfd (Linux 6.9): while it has not polled readable, the
    /// tid is still this task's, which saves reading /proc/TID/stat on
    /// every call (the most of a get*id answer's time).
    pidfd: Option<OwnedFd>,
}

impl Tracked {
    fn new(start: u64, creds: Creds) -> Tracked {
        Tracked {
            start,
            creds,
            pidfd: None,
        }
    }

    /// Still the task of that tid, known without /proc.
    fn alive(&self) -> bool {
        let Some(fd) = &self.pidfd else {
            return false;
        };
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
    }
}

pub struct Emulator {
    base: Creds,
    calls: HashMap<(u32, u32), Entry>,
    tasks: HashMap<i32, Tracked>,
    /// The supervisor's pid: ancestry that reaches it left the container.
    own: i32,
    /// Recorded owners (chown and stat); None: not to be had here.
    owners: Option<Owners>,
    /// The container's PIDs as ours (/proc/PID, `procfs`).
    pids: procfs::Pids,
}

/// Serve `listener` until every task that uses its filter has gone (the
/// kernel then reports POLLHUP). Runs on a thread of its own.
pub fn serve(listener: OwnedFd, base: Creds, on_socket: Option<super::OnSocket>) {
    // Shared with the threads that answer a socket call later.
    let listener = std::sync::Arc::new(listener);
    let mut em = Emulator::new(base);
    em.owners = Owners::new();
    // Best effort: only a speed-up (Linux 6.6 and later).
    let _ = sys::seccomp_notif_sync_wakeup(&listener);
    // For tests/bench/single-id: what was answered, by call.
    let mut counts = std::env::var_os("BURROW_IDS_COUNT").map(|_| Counts::default());
    loop {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(_) => return,
        }
        let ready = fds[0].revents().unwrap_or(PollFlags::empty());
        if !ready.contains(PollFlags::POLLIN) {
            if ready.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL) {
                if let Some(c) = counts {
                    c.report();
                }
                return;
            }
            continue;
        }
        let n = match sys::seccomp_notif_recv(&listener) {
            Ok(n) => n,
            // The caller died between poll and receive.
            Err(Errno::ENOENT) => continue,
            Err(_) => return,
        };
        let entry = em.calls.get(&(n.data.arch, n.data.nr as u32)).copied();
        if let (Some(c), Some(e)) = (counts.as_mut(), entry) {
            *c.0.entry(format!("{:?}", e.call)).or_default() += 1;
        }
        let answer = match (entry, &on_socket) {
            (
                Some(Entry {
                    call: Call::Socket(c),
                    ..
                }),
                Some(f),
            ) => match f(&listener, &n, c) {
                super::Reply::Now(r) => Some(r),
                super::Reply::Later => continue,
            },
            (
                Some(Entry {
                    call: Call::Socket(_),
                    ..
                }),
                None,
            ) => Some(Ok(None)),
            (Some(e), _) => Some(em.answer(&listener, &n, e)),
            _ => None,
        };
        let (val, err, go_on) = match answer {
            Some(answer) => match answer {
                Ok(Some(v)) => (v, 0, false),
                Ok(None) => (0, 0, true),
                Err(e) => (0, e as i32, false),
            },
            // Not one of ours (cannot happen with our filter): let it run.
            None => (0, 0, true),
        };
        // ENOENT: the caller was killed meanwhile; nobody waits.
        let _ = sys::seccomp_notif_send(&listener, n.id, val, err, go_on);
    }
}

/// Notifications answered, by call (BURROW_IDS_COUNT).
#[derive(Default)]
struct Counts(std::collections::BTreeMap<String, u64>);

impl Counts {
    fn report(&self) {
        let all: Vec<String> = self.0.iter().map(|(k, v)| format!("{k} {v}")).collect();
        eprintln!("burrow: ids: {}", all.join(", "));
    }
}

impl Emulator {
    pub fn new(base: Creds) -> Emulator {
        let calls = filter::entries(filter::Calls::ALL)
            .into_iter()
            .map(|e| ((e.audit, e.nr), e))
            .collect();
        Emulator {
            base,
            calls,
            tasks: HashMap::new(),
            own: std::process::id() as i32,
            owners: None,
            pids: procfs::Pids::default(),
        }
    }

    /// The call's return value, or its errno; None: the kernel runs it.
    fn answer(
        &mut self,
        listener: &OwnedFd,
        n: &libc::seccomp_notif,
        e: Entry,
    ) -> Result<Option<i64>, Errno> {
        let tid = n.pid as i32;
        let valid = || sys::seccomp_notif_id_valid(listener, n.id);
        let caller = Caller { tid, valid: &valid };
        let a = &n.data.args;
        match e.call {
            Call::Stat(kind, layout) => {
                let Some(o) = self.owners.as_ref() else {
                    return Ok(None);
                };
                let mut pids = std::mem::take(&mut self.pids);
                let mut shown = |t: &Target| proc_dir(&mut pids, self, tid, t);
                let r = o.stat(&caller, kind, layout, a, &mut shown).transpose();
                self.pids = pids;
                return r;
            }
            Call::Chown(kind) => {
                let (u, g) = match kind {
                    filter::Chown::At => (a[2], a[3]),
                    _ => (a[1], a[2]),
                };
                let (u, g) = (widen(u, e.narrow), widen(g, e.narrow));
                let creds = self.creds(tid);
                return match &self.owners {
                    Some(o) => o.chown(&caller, &creds, kind, a, u, g).map(Some),
                    // Nothing can be recorded: succeed, as before.
                    None => Ok(Some(0)),
                };
            }
            Call::Chmod(kind) => {
                let creds = self.creds(tid);
                return match &self.owners {
                    Some(o) => o.chmod(&caller, &creds, kind, a).map(Some),
                    // Nothing recorded to follow: the kernel's chmod.
                    None => Ok(None),
                };
            }
            Call::Access(kind) => {
                if let Some((dirfd, addr)) = read_whole(kind, a) {
                    return Ok(self.proc_open(listener, n.id, tid, dirfd, addr));
                }
                let creds = self.creds(tid);
                return match &self.owners {
                    Some(o) => {
                        let addfd = |fd: &OwnedFd, cloexec: bool| {
                            sys::seccomp_notif_addfd_send(listener, n.id, fd, cloexec)
                                .map(i64::from)
                        };
                        super::access::check(o, tid, &creds, kind, a, &addfd)
                    }
                    None => Ok(None),
                };
            }
            _ => {}
        }
        self.emulate(listener, n, e).map(|v| match e.call {
            Call::Exec | Call::Prctl | Call::Exit => None,
            _ => Some(v),
        })
    }

    fn emulate(
        &mut self,
        listener: &OwnedFd,
        n: &libc::seccomp_notif,
        e: Entry,
    ) -> Result<i64, Errno> {
        let tid = n.pid as i32;
        let a = n.data.args;
        let id = |x: u64| widen(x, e.narrow);
        let show = |x: u32| i64::from(narrow(x, e.narrow));
        let mem = Mem {
            listener,
            notif: n.id,
            tid,
            narrow: e.narrow,
        };
        let c = self.creds(tid);
        let set = match e.call {
            Call::Exec => {
                // Noted before it runs: an execve that then fails (a PATH
                // search) has reset the saved ids a little early.
                self.update(tid, |c| c.exec());
                return Ok(0);
            }
            Call::Exit => {
                self.hand_down(tid);
                return Ok(0);
            }
            Call::Prctl => {
                // The kernel refuses values above 1 (EINVAL).
                if a[1] <= 1 {
                    self.update(tid, |c| c.keepcaps = a[1] == 1);
                }
                return Ok(0);
            }
            Call::Stat(..)
            | Call::Chown(_)
            | Call::Chmod(_)
            | Call::Access(_)
            | Call::Socket(_) => return Ok(0),
            Call::GetUid => return Ok(show(c.ruid)),
            Call::GetEuid => return Ok(show(c.euid)),
            Call::GetGid => return Ok(show(c.rgid)),
            Call::GetEgid => return Ok(show(c.egid)),
            Call::GetResUid => {
                mem.write_ids(&[(a[0], c.ruid), (a[1], c.euid), (a[2], c.suid)])?;
                return Ok(0);
            }
            Call::GetResGid => {
                mem.write_ids(&[(a[0], c.rgid), (a[1], c.egid), (a[2], c.sgid)])?;
                return Ok(0);
            }
            Call::GetGroups => {
                let size = a[0] as i32;
                let count = c.groups.len();
                if size < 0 {
                    return Err(Errno::EINVAL);
                }
                if size > 0 {
                    if (size as usize) < count {
                        return Err(Errno::EINVAL);
                    }
                    mem.write_list(a[1], &c.groups)?;
                }
                return Ok(count as i64);
            }
            Call::SetUid => Set::Uid(id(a[0])),
            Call::SetGid => Set::Gid(id(a[0])),
            Call::SetReUid => Set::ReUid(id(a[0]), id(a[1])),
            Call::SetReGid => Set::ReGid(id(a[0]), id(a[1])),
            Call::SetResUid => Set::ResUid(id(a[0]), id(a[1]), id(a[2])),
            Call::SetResGid => Set::ResGid(id(a[0]), id(a[1]), id(a[2])),
            Call::SetFsUid => Set::FsUid(id(a[0])),
            Call::SetFsGid => Set::FsGid(id(a[0])),
            Call::SetGroups => {
                let size = a[0] as i32;
                if size < 0 || size as usize > NGROUPS_MAX {
                    return Err(Errno::EINVAL);
                }
                Set::Groups(mem.read_list(a[1], size as usize)?)
            }
        };
        let mut c = c;
        let v = c.apply(set)?;
        self.update(tid, |t| *t = c);
        Ok(i64::from(narrow(v, e.narrow)))
    }

    /// A read of a file whole: a status file in /proc gets the emulated
    /// ids of its task (`procfs`); anything else runs (None).
    fn proc_open(
        &mut self,
        listener: &OwnedFd,
        id: u64,
        tid: i32,
        dirfd: i32,
        addr: u64,
    ) -> Option<i64> {
        let path = super::owners::read_cstr(tid, addr).ok()?;
        let procfs::Node::Status(task) = procfs::node(tid, dirfd, path.as_bytes(), true)? else {
            return None;
        };
        let found = procfs::find(&mut self.pids, tid, task)?;
        let creds = self.known(found.tid, 0);
        let fd = procfs::status_file(self.owners.as_ref()?, tid, &found.path, &creds)?;
        sys::seccomp_notif_addfd_send(listener, id, &fd, false)
            .ok()
            .map(i64::from)
    }

    /// The process of `tid` exits: its children without ids of their own
    /// take its ids now, before they are reparented. Only when those
    /// differ from the container's (what an orphan would get anyway), as
    /// it means reading the stat of every process on the machine (the
    /// kernel's list of children, /proc/PID/task/TID/children, is not
    /// built everywhere).
    fn hand_down(&mut self, tid: i32) {
        let leader = tgid(tid).unwrap_or(tid);
        let creds = self.known(tid, 0);
        if creds == self.base {
            return;
        }
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return;
        };
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let Some((ppid, start)) = stat(pid) else {
                continue;
            };
            let tracked = self.tasks.get(&pid).is_some_and(|t| t.start == start);
            if ppid == leader && !tracked {
                let creds = creds.clone();
                self.tasks.insert(pid, Tracked::new(start, creds));
            }
        }
    }

    /// Change a tracked task (`creds` tracked it).
    fn update(&mut self, tid: i32, f: impl FnOnce(&mut Creds)) {
        if let Some(t) = self.tasks.get_mut(&tid) {
            f(&mut t.creds);
        }
    }

    /// The caller's credentials; a task seen for the first time takes the
    /// ones it inherited and keeps them from then on.
    fn creds(&mut self, tid: i32) -> Creds {
        if let Some(t) = self.tasks.get(&tid).filter(|t| t.alive()) {
            return t.creds.clone();
        }
        let Some((ppid, start)) = stat(tid) else {
            return self.base.clone();
        };
        if let Some(t) = self.tasks.get_mut(&tid).filter(|t| t.start == start) {
            // The caller is waiting on this notification, so it is alive:
            // a pidfd opened now is the task's.
            let creds = t.creds.clone();
            let pidfd = self.watch(tid);
            if let Some(t) = self.tasks.get_mut(&tid) {
                t.pidfd = pidfd;
            }
            return creds;
        }
        let creds = self.inherited(tid, ppid, 0);
        if self.tasks.len() >= PRUNE_AT {
            self.tasks
                .retain(|t, k| stat(*t).is_some_and(|(_, s)| s == k.start));
        }
        let mut t = Tracked::new(start, creds.clone());
        t.pidfd = self.watch(tid);
        self.tasks.insert(tid, t);
        creds
    }

    /// A pidfd for `tid`, while fewer than MAX_PIDFDS are open (the dead
    /// tasks' entries are dropped first: nothing inherits from them).
    fn watch(&mut self, tid: i32) -> Option<OwnedFd> {
        let open =
            |tasks: &HashMap<i32, Tracked>| tasks.values().filter(|t| t.pidfd.is_some()).count();
        if open(&self.tasks) >= MAX_PIDFDS {
            self.tasks.retain(|_, t| t.pidfd.is_none() || t.alive());
            if open(&self.tasks) >= MAX_PIDFDS {
                return None;
            }
        }
        sys::pidfd_open_thread(tid).ok()
    }

    /// What task `tid` (parent `ppid`) got when it was made: its thread
    /// group leader's ids for a thread, else its parent's.
    fn inherited(&self, tid: i32, ppid: i32, depth: usize) -> Creds {
        match tgid(tid) {
            Some(leader) if leader != tid => self.known(leader, depth + 1),
            _ => self.known(ppid, depth + 1),
        }
    }

    /// The ids of `pid`, tracked or inherited, without tracking it.
    fn known(&self, pid: i32, depth: usize) -> Creds {
        if pid <= 1 || pid == self.own || depth > MAX_DEPTH {
            return self.base.clone();
        }
        let Some((ppid, start)) = stat(pid) else {
            return self.base.clone();
        };
        match self.tasks.get(&pid).filter(|t| t.start == start) {
            Some(t) => t.creds.clone(),
            None => self.inherited(pid, ppid, depth),
        }
    }
}

/// An open or openat to read (the filter sends only whole-file reads):
/// its dirfd and the address of its name.
fn read_whole(kind: Access, a: &[u64; 6]) -> Option<(i32, u64)> {
    let (dirfd, addr, flags) = match kind {
        Access::Open => (libc::AT_FDCWD, a[0], a[1] as i32),
        Access::OpenAt => (a[0] as i32, a[1], a[2] as i32),
        _ => return None,
    };
    let writes = libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC;
    (flags & writes == 0).then_some((dirfd, addr))
}

/// A stat of /proc/PID (or a task's dir, /proc/self): the name to stat
/// in the caller's /proc and the task's emulated euid and egid to show.
fn proc_dir(
    pids: &mut procfs::Pids,
    em: &Emulator,
    tid: i32,
    t: &Target,
) -> Option<(Target, u32, u32)> {
    let Target::Path {
        dirfd,
        path,
        follow,
    } = t
    else {
        return None;
    };
    let node = procfs::node(tid, *dirfd, path.as_bytes(), false)?;
    let procfs::Node::Dir(task) = node else {
        return None;
    };
    if !follow && procfs::needs_follow(node) {
        return None;
    }
    let found = procfs::find(pids, tid, task)?;
    let c = em.known(found.tid, 0);
    let target = Target::Path {
        dirfd: libc::AT_FDCWD,
        path: std::ffi::CString::new(found.path).ok()?,
        follow: true,
    };
    Some((target, c.euid, c.egid))
}

/// A 16-bit call's id as 32 bits ((u16)-1 stays "keep").
fn widen(x: u64, narrow: bool) -> u32 {
    match narrow {
        true if x as u16 == u16::MAX => KEEP,
        true => u32::from(x as u16),
        false => x as u32,
    }
}

/// An id as a 16-bit call shows it.
fn narrow(x: u32, narrow: bool) -> u32 {
    match narrow {
        true if x > 0xffff => OVERFLOW_ID,
        _ => x,
    }
}

/// The caller's memory, opened and then checked to still be the caller's
/// (SECCOMP_IOCTL_NOTIF_ID_VALID) before use: a tid that was reused since
/// the notification came is never touched.
struct Mem<'a> {
    listener: &'a OwnedFd,
    notif: u64,
    tid: i32,
    narrow: bool,
}

impl Mem<'_> {
    fn open(&self, write: bool) -> Result<File, Errno> {
        let f = std::fs::OpenOptions::new()
            .read(!write)
            .write(write)
            .open(format!("/proc/{}/mem", self.tid))
            .map_err(|_| Errno::EFAULT)?;
        if !sys::seccomp_notif_id_valid(self.listener, self.notif) {
            return Err(Errno::ESRCH);
        }
        Ok(f)
    }

    fn width(&self) -> usize {
        if self.narrow {
            2
        } else {
            4
        }
    }

    fn encode(&self, ids: &[u32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(ids.len() * self.width());
        for &id in ids {
            match self.narrow {
                true => out.extend_from_slice(&(narrow(id, true) as u16).to_ne_bytes()),
                false => out.extend_from_slice(&id.to_ne_bytes()),
            }
        }
        out
    }

    /// Each id to its own address (getresuid's three pointers).
    fn write_ids(&self, at: &[(u64, u32)]) -> Result<(), Errno> {
        let f = self.open(true)?;
        for &(addr, id) in at {
            f.write_all_at(&self.encode(&[id]), addr)
                .map_err(|_| Errno::EFAULT)?;
        }
        Ok(())
    }

    fn write_list(&self, addr: u64, ids: &[u32]) -> Result<(), Errno> {
        if ids.is_empty() {
            return Ok(());
        }
        let f = self.open(true)?;
        f.write_all_at(&self.encode(ids), addr)
            .map_err(|_| Errno::EFAULT)
    }

    fn read_list(&self, addr: u64, count: usize) -> Result<Vec<u32>, Errno> {
        if count == 0 {
            return Ok(vec![]);
        }
        let f = self.open(false)?;
        let mut buf = vec![0u8; count * self.width()];
        f.read_exact_at(&mut buf, addr).map_err(|_| Errno::EFAULT)?;
        Ok(buf
            .chunks_exact(self.width())
            .map(|b| match self.narrow {
                true => widen(u64::from(u16::from_ne_bytes([b[0], b[1]])), true),
                false => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            })
            .collect())
    }
}

/// A task's parent pid and start time (/proc/TID/stat fields 4 and 22).
fn stat(tid: i32) -> Option<(i32, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/stat")).ok()?;
    parse_stat(&s)
}

fn parse_stat(s: &str) -> Option<(i32, u64)> {
    // The command name may hold spaces and parentheses: fields start
    // after the last ')'. Then: state (3), ppid (4), ..., starttime (22).
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.get(1)?.parse().ok()?, f.get(19)?.parse().ok()?))
}

/// A task's thread group id (/proc/TID/status).
pub(crate) fn tgid(tid: i32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "4242 (a) b (c)) S 17 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 \
                    987654 1000 100 18446744073709551615";
        assert_eq!(parse_stat(line), Some((17, 987654)));
        assert_eq!(parse_stat("1 (x) S"), None);
    }

    #[test]
    fn sixteen_bit_ids_widen_and_overflow() {
        assert_eq!(widen(0xffff, true), KEEP);
        assert_eq!(widen(0x1_0005, true), 5);
        assert_eq!(widen(u64::from(u32::MAX), false), KEEP);
        assert_eq!(narrow(70000, true), OVERFLOW_ID);
        assert_eq!(narrow(70000, false), 70000);
    }

    /// A 32-bit program's calls (int 0x80) reach the emulation too: the
    /// `...32` calls with whole ids, the 16-bit legacy ones truncated as
    /// the kernel does (65534 for an id above 65535).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn i386_calls_are_emulated_with_their_widths() {
        use crate::sys::{int80, ChildFailure};
        const GETUID: u32 = 24; // 16-bit
        const SETUID: u32 = 23; // 16-bit
        const GETUID32: u32 = 199;
        const SETUID32: u32 = 213;
        if !crate::testkit::runs_i386() {
            return;
        }
        let r = super::super::in_served_child(filter::Calls::IDS, None, || {
            let fail = |what: &str| Err(ChildFailure::new(what, Errno::EINVAL));
            if int80(SETUID32, 70000, 0, 0) != 0 || int80(GETUID32, 0, 0, 0) != 70000 {
                return fail("setuid32/getuid32 70000");
            }
            if int80(GETUID, 0, 0, 0) != 65534 {
                return fail("16-bit getuid of 70000");
            }
            // Not root any more: back to 0 is refused.
            if int80(SETUID, 0, 0, 0) != -libc::EPERM {
                return fail("16-bit setuid(0) after dropping root");
            }
            Ok(())
        });
        r.unwrap();
    }

    #[test]
    fn a_new_task_inherits_from_its_tracked_parent() {
        // This test process's parent is not tracked: the base ids. Once
        // the parent is tracked, this process inherits its ids.
        let mut em = Emulator::new(Creds::new(7, 8, vec![9]));
        em.own = -1;
        let me = std::process::id() as i32;
        assert_eq!(em.creds(me).ruid, 7);
        let (ppid, _) = stat(me).unwrap();
        let (_, pstart) = stat(ppid).unwrap();
        let mut other = Emulator::new(Creds::new(7, 8, vec![9]));
        other.own = -1;
        other
            .tasks
            .insert(ppid, Tracked::new(pstart, Creds::new(1000, 1000, vec![])));
        assert_eq!(other.creds(me).euid, 1000);
        // Frozen from then on, whatever the parent does next.
        other.tasks.get_mut(&ppid).unwrap().creds.euid = 5;
        assert_eq!(other.creds(me).euid, 1000);
        // A stale entry (another start time) is not inherited.
        other
            .tasks
            .insert(me, Tracked::new(1, Creds::new(3, 3, vec![])));
        assert_eq!(other.creds(me).euid, 5);
    }
}
