//! The calls the supervisor answers, and the small filter that sends them
//! there: SECCOMP_RET_USER_NOTIF for the get*id/set*id families on every
//! ABI a process can call the kernel with (the 32-bit compat one has both
//! the 16-bit legacy calls and the `...32` ones), for execve/execveat
//! (which reset saved ids and capabilities), exit_group (whose children
//! must keep the ids it gave them once they are orphans) and for
//! prctl(PR_SET_KEEPCAPS) (which keeps them across a switch away from
//! root), for the chown family (whose owners the supervisor records) and
//! the stat family (which shows them: every form on the native ABI, and
//! on x86_64 the i386 ones too, whose structs `stat32` fills); ALLOW for
//! the rest.
//!
//! It is a filter of its own, stacked beside the profile's: its verdicts
//! depend on the call number and ABI only, so Linux 5.11+ caches ALLOW
//! for every other call and the profile's fast path is untouched. The
//! kernel picks the strictest verdict of all filters; the profile allows
//! these calls (Docker's does, and single-id mode no longer fakes
//! setgroups), so USER_NOTIF wins.

use libc::sock_filter;

use crate::sandbox::confine::seccomp::table;

/// One call of the two families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    GetUid,
    GetEuid,
    GetGid,
    GetEgid,
    GetResUid,
    GetResGid,
    GetGroups,
    SetUid,
    SetGid,
    SetReUid,
    SetReGid,
    SetResUid,
    SetResGid,
    SetFsUid,
    SetFsGid,
    SetGroups,
    /// execve, execveat: noted, then run.
    Exec,
    /// exit_group: its children are given its ids, then it runs.
    Exit,
    /// prctl, only with PR_SET_KEEPCAPS (the filter checks): noted, run.
    Prctl,
    /// The chown family: the owner is recorded (`owners`).
    Chown(Chown),
    /// The chmod family: made here, and a recorded owner's mode follows
    /// (else a later layer or the FUSE overlay would show the old mode).
    Chmod(Chmod),
    /// The stat family, and the struct it fills: a recorded owner is
    /// shown, else the call runs.
    Stat(Stat, StatBuf),
    /// Calls that write a file or a directory's entries, checked against
    /// the emulated owners and ids (`access`), native ABI only; open and
    /// openat only when asked to write or create (`arg_tests`).
    Access(Access),
    /// bind (native ABI only) and connect (every ABI, and the compat
    /// socketcall's connect): a published TCP port's bind may be given
    /// the host's listening socket, and no socket of the host's may be
    /// connected (`sandbox::bypass`).
    Socket(SockCall),
}

/// The socket calls of `Call::Socket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockCall {
    Bind,
    Connect,
    /// socketcall(SYS_CONNECT, args) of the 32-bit compat ABI (i386):
    /// connect's three arguments, 32 bits each, at `args`.
    SocketcallConnect,
}

/// socketcall's number for connect (linux/net.h).
pub const SYS_CONNECT: u32 = 3;
/// sendto/sendmsg's flag that connects a TCP socket (TCP Fast Open).
const MSG_FASTOPEN: u32 = 0x2000_0000;

/// Which calls a filter sends: the id emulation's (single-id mode), the
/// socket calls of the `-p` bypass, or both (Linux allows one listener
/// per task's filters, so one filter carries both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calls {
    pub ids: bool,
    pub sockets: bool,
}

impl Calls {
    pub const ALL: Calls = Calls {
        ids: true,
        sockets: true,
    };
    pub const IDS: Calls = Calls {
        ids: true,
        sockets: false,
    };
    pub const SOCKETS: Calls = Calls {
        ids: false,
        sockets: true,
    };
}

/// How a checked call names what it writes (argument positions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// open(path, flags, mode).
    Open,
    /// openat(dirfd, path, flags, mode).
    OpenAt,
    /// creat(path, mode).
    Creat,
    /// rmdir(path), unlink(path), mknod(path): the parent.
    Parent,
    /// mknodat(dirfd, path...), unlinkat(dirfd, path, flags).
    ParentAt,
    /// mkdir(path, mode).
    Mkdir,
    /// mkdirat(dirfd, path, mode).
    MkdirAt,
    /// rename(old, new), link(old, new), symlink(target, new).
    Pair,
    /// renameat(2)(odirfd, old, ndirfd, new), linkat(...).
    PairAt,
    /// symlinkat(target, ndirfd, new).
    SymlinkAt,
}

/// How a chmod-family call names its file and mode (argument positions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chmod {
    /// chmod(path, mode): follows a last symlink.
    Path,
    /// fchmod(fd, mode).
    Fd,
    /// fchmodat(dirfd, path, mode): follows too (it has no flags).
    At,
}

/// How a chown-family call names its file and ids (argument positions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chown {
    /// chown(path, uid, gid): follows a last symlink.
    Path,
    /// lchown(path, uid, gid).
    LPath,
    /// fchown(fd, uid, gid).
    Fd,
    /// fchownat(dirfd, path, uid, gid, flags).
    At,
}

/// How a stat-family call names its file and buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    /// stat(path, buf).
    Path,
    /// lstat(path, buf).
    LPath,
    /// fstat(fd, buf).
    Fd,
    /// newfstatat(dirfd, path, buf, flags).
    At,
    /// statx(dirfd, path, flags, mask, buf).
    X,
}

/// The struct a stat-family call fills (statx's is the same on every ABI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatBuf {
    /// The ABI's own struct stat (the native one; statx).
    Native,
    /// i386's struct stat: 16-bit ids, 32-bit sizes and inode numbers.
    Old32,
    /// i386's packed struct stat64.
    Wide32,
}

const NAMES: &[(&str, Call)] = &[
    ("getuid", Call::GetUid),
    ("geteuid", Call::GetEuid),
    ("getgid", Call::GetGid),
    ("getegid", Call::GetEgid),
    ("getresuid", Call::GetResUid),
    ("getresgid", Call::GetResGid),
    ("getgroups", Call::GetGroups),
    ("setuid", Call::SetUid),
    ("setgid", Call::SetGid),
    ("setreuid", Call::SetReUid),
    ("setregid", Call::SetReGid),
    ("setresuid", Call::SetResUid),
    ("setresgid", Call::SetResGid),
    ("setfsuid", Call::SetFsUid),
    ("setfsgid", Call::SetFsGid),
    ("setgroups", Call::SetGroups),
    ("execve", Call::Exec),
    ("execveat", Call::Exec),
    ("exit_group", Call::Exit),
    ("chown", Call::Chown(Chown::Path)),
    ("lchown", Call::Chown(Chown::LPath)),
    ("fchown", Call::Chown(Chown::Fd)),
    ("fchownat", Call::Chown(Chown::At)),
    ("chmod", Call::Chmod(Chmod::Path)),
    ("fchmod", Call::Chmod(Chmod::Fd)),
    ("fchmodat", Call::Chmod(Chmod::At)),
    ("stat", Call::Stat(Stat::Path, StatBuf::Native)),
    ("lstat", Call::Stat(Stat::LPath, StatBuf::Native)),
    ("fstat", Call::Stat(Stat::Fd, StatBuf::Native)),
    ("newfstatat", Call::Stat(Stat::At, StatBuf::Native)),
    ("statx", Call::Stat(Stat::X, StatBuf::Native)),
    ("stat64", Call::Stat(Stat::Path, StatBuf::Wide32)),
    ("lstat64", Call::Stat(Stat::LPath, StatBuf::Wide32)),
    ("fstat64", Call::Stat(Stat::Fd, StatBuf::Wide32)),
    ("fstatat64", Call::Stat(Stat::At, StatBuf::Wide32)),
    ("open", Call::Access(Access::Open)),
    ("openat", Call::Access(Access::OpenAt)),
    ("creat", Call::Access(Access::Creat)),
    ("mkdir", Call::Access(Access::Mkdir)),
    ("rmdir", Call::Access(Access::Parent)),
    ("unlink", Call::Access(Access::Parent)),
    ("mknod", Call::Access(Access::Parent)),
    ("mkdirat", Call::Access(Access::MkdirAt)),
    ("mknodat", Call::Access(Access::ParentAt)),
    ("unlinkat", Call::Access(Access::ParentAt)),
    ("rename", Call::Access(Access::Pair)),
    ("link", Call::Access(Access::Pair)),
    ("symlink", Call::Access(Access::Pair)),
    ("renameat", Call::Access(Access::PairAt)),
    ("renameat2", Call::Access(Access::PairAt)),
    ("linkat", Call::Access(Access::PairAt)),
    ("symlinkat", Call::Access(Access::SymlinkAt)),
    ("bind", Call::Socket(SockCall::Bind)),
    ("connect", Call::Socket(SockCall::Connect)),
    ("socketcall", Call::Socket(SockCall::SocketcallConnect)),
];

/// A call as one ABI numbers it; `narrow`: the 16-bit legacy form (ids
/// and group lists of u16, -1 is 0xffff).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub audit: u32,
    pub nr: u32,
    pub call: Call,
    pub narrow: bool,
}

struct Abi {
    audit: u32,
    table: &'static [(&'static str, i64)],
    /// The 32-bit compat ABI: plain names are the 16-bit calls.
    compat: bool,
}

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
const AUDIT_ARCH_RISCV64: u32 = 0xC000_00F3;

fn abis() -> Vec<Abi> {
    let abi = |audit, table, compat| Abi {
        audit,
        table,
        compat,
    };
    match std::env::consts::ARCH {
        "x86_64" => vec![
            abi(AUDIT_ARCH_X86_64, table::X86_64, false),
            abi(AUDIT_ARCH_I386, table::I386, true),
        ],
        "aarch64" => vec![
            abi(AUDIT_ARCH_AARCH64, table::AARCH64, false),
            abi(AUDIT_ARCH_ARM, table::ARM, true),
        ],
        "riscv64" => vec![abi(AUDIT_ARCH_RISCV64, table::RISCV64, false)],
        _ => vec![],
    }
}

fn number(t: &[(&str, i64)], name: &str) -> Option<u32> {
    t.binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| t[i].1 as u32)
}

/// Every call a filter of `calls` sends to the supervisor, on this machine.
pub fn entries(calls: Calls) -> Vec<Entry> {
    let mut out = Vec::new();
    for abi in abis() {
        for &(name, call) in NAMES {
            // The compat checked calls are left to the kernel; so is a
            // compat bind (the bypass is then not used); the compat stat
            // calls only where `stat32` knows their structs (i386's). A
            // compat connect is answered as a native one: a host socket
            // must not be connected by any ABI. socketcall is the compat
            // ABI's.
            let socket = matches!(call, Call::Socket(_));
            let stat = matches!(call, Call::Stat(..));
            let native_only = matches!(call, Call::Access(_) | Call::Socket(SockCall::Bind));
            let compat_only = call == Call::Socket(SockCall::SocketcallConnect);
            if (abi.compat && native_only) || (!abi.compat && compat_only) {
                continue;
            }
            if stat && abi.compat && abi.audit != AUDIT_ARCH_I386 {
                continue;
            }
            let call = match call {
                Call::Stat(Stat::X, _) => call,
                Call::Stat(_, StatBuf::Wide32) if !abi.compat => continue,
                Call::Stat(kind, StatBuf::Native) if abi.compat => Call::Stat(kind, StatBuf::Old32),
                _ => call,
            };
            if (socket && !calls.sockets) || (!socket && !calls.ids) {
                continue;
            }
            let mut add = |n: &str, narrow| {
                if let Some(nr) = number(abi.table, n) {
                    out.push(Entry {
                        audit: abi.audit,
                        nr,
                        call,
                        narrow,
                    });
                }
            };
            let has_16_bit = name.contains("id")
                || name.contains("groups")
                || (name.contains("chown") && name != "fchownat");
            add(name, abi.compat && has_16_bit);
            if abi.compat && has_16_bit {
                add(&format!("{name}32"), false);
            }
        }
        if let Some(nr) = prctl(&abi).filter(|_| calls.ids) {
            out.push(Entry {
                audit: abi.audit,
                nr,
                call: Call::Prctl,
                narrow: false,
            });
        }
    }
    out
}

/// prctl's number on one ABI (every ABI burrow knows has it).
fn prctl(abi: &Abi) -> Option<u32> {
    number(abi.table, "prctl")
}

/// offsetof(struct seccomp_data, args[N]), its low half on the
/// little-endian machines burrow builds for.
const fn arg_lo(n: u32) -> u32 {
    16 + 8 * n
}

/// A call sent to the supervisor or not by one of its arguments: `nr`
/// notifies when any of `when` holds of that argument (its low half).
struct ArgTest {
    nr: u32,
    arg: u32,
    when: Vec<Cond>,
    /// Refused with this errno (one of `REFUSALS`) when one holds,
    /// instead of sent.
    refuse: Option<i32>,
}

#[derive(Debug, Clone, Copy)]
enum Cond {
    /// arg == k.
    Eq(u32),
    /// arg & k != 0.
    Set(u32),
    /// Whatever the argument.
    Always,
}

/// The errnos a test may refuse a call with, one return each per section.
const REFUSALS: [i32; 3] = [libc::EOPNOTSUPP, libc::EPERM, libc::ENOSYS];

/// The bit of an x32 call's number (x86_64's audit arch, 32-bit pointers).
const X32_BIT: u32 = 0x4000_0000;

/// The exact flags with which C tools open a file to read it whole:
/// plain O_RDONLY (procps' readproc, cat, sed, awk, busybox), with
/// O_NOCTTY (GNU grep), and with O_LARGEFILE (musl adds it everywhere).
/// Only these reads are sent, for /proc/PID/status (`procfs`); the
/// O_CLOEXEC opens of ld.so and stdio, most reads, stay in the kernel.
pub const READ_FLAGS: [i32; 4] = [
    libc::O_RDONLY,
    libc::O_RDONLY | libc::O_NOCTTY,
    libc::O_RDONLY | O_LARGEFILE,
    libc::O_RDONLY | libc::O_NOCTTY | O_LARGEFILE,
];

/// The kernel's O_LARGEFILE (libc's is 0 on 64-bit machines).
#[cfg(any(target_arch = "x86_64", target_arch = "riscv64"))]
const O_LARGEFILE: i32 = 0o100000;
#[cfg(target_arch = "aarch64")]
const O_LARGEFILE: i32 = 0o400000;
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "riscv64",
    target_arch = "aarch64"
)))]
const O_LARGEFILE: i32 = 0o100000;

/// The argument tests of one ABI: prctl only with PR_SET_KEEPCAPS; open
/// and openat to write or create, or to read with `READ_FLAGS`.
fn arg_tests(abi: &Abi, all: &[Entry]) -> Vec<ArgTest> {
    let nr_of = |call: Call| {
        all.iter()
            .find(|e| e.audit == abi.audit && e.call == call)
            .map(|e| e.nr)
    };
    let mut out = Vec::new();
    if let Some(nr) = nr_of(Call::Prctl) {
        out.push(ArgTest {
            nr,
            arg: 0,
            when: vec![Cond::Eq(libc::PR_SET_KEEPCAPS as u32)],
            refuse: None,
        });
    }
    // Opened to write or create (checked), or to read whole (/proc).
    let writes = (libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC) as u32;
    let mut open_when = vec![Cond::Set(writes)];
    open_when.extend(READ_FLAGS.iter().map(|&f| Cond::Eq(f as u32)));
    for (call, arg) in [(Access::Open, 1), (Access::OpenAt, 2)] {
        if let Some(nr) = nr_of(Call::Access(call)) {
            out.push(ArgTest {
                nr,
                arg,
                when: open_when.clone(),
                refuse: None,
            });
        }
    }
    // The compat socketcall: only its connect.
    if let Some(nr) = nr_of(Call::Socket(SockCall::SocketcallConnect)) {
        out.push(ArgTest {
            nr,
            arg: 0,
            when: vec![Cond::Eq(SYS_CONNECT)],
            refuse: None,
        });
    }
    // A send with MSG_FASTOPEN connects a TCP socket without connect():
    // refused where connect is watched, as the kernel refuses it where
    // Fast Open is off. (A host socket cannot reach that path today: a
    // listener shut down says EINVAL, an accepted one must be
    // disconnected first, by connect. This keeps it so. The compat
    // socketcall's sends carry their flags in memory: not looked at.)
    let watched = all
        .iter()
        .any(|e| e.audit == abi.audit && e.call == Call::Socket(SockCall::Connect));
    for (name, arg) in [("sendto", 3), ("sendmsg", 2), ("sendmmsg", 3)] {
        if let Some(nr) = number(abi.table, name).filter(|_| watched) {
            out.push(ArgTest {
                nr,
                arg,
                when: vec![Cond::Set(MSG_FASTOPEN)],
                refuse: Some(libc::EOPNOTSUPP),
            });
        }
    }
    // io_uring connects (IORING_OP_CONNECT) out of any filter's sight:
    // refused as Docker's profile refuses it, even under a profile that
    // allows it (seccomp=unconfined, --privileged).
    if let Some(nr) = number(abi.table, "io_uring_setup").filter(|_| watched) {
        out.push(ArgTest {
            nr,
            arg: 0,
            when: vec![Cond::Always],
            refuse: Some(libc::EPERM),
        });
    }
    out
}

/// The filter of `calls`: per ABI, USER_NOTIF for its entries (some only
/// by an argument, `arg_tests`), ALLOW otherwise.
pub fn program(calls: Calls) -> Vec<sock_filter> {
    let stmt = |code: u32, k: u32| sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |op: u32, k: u32, jt: usize, jf: usize| sock_filter {
        code: (libc::BPF_JMP | op | libc::BPF_K) as u16,
        jt: jt as u8,
        jf: jf as u8,
        k,
    };
    let ld = |off: u32| stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, off);
    let ret = |k: u32| stmt(libc::BPF_RET | libc::BPF_K, k);
    let all = entries(calls);
    let mut prog = Vec::new();
    for abi in abis() {
        let tests = arg_tests(&abi, &all);
        let tested = |nr: u32| tests.iter().any(|t| t.nr == nr);
        let nrs: Vec<u32> = all
            .iter()
            .filter(|e| e.audit == abi.audit && !tested(e.nr))
            .map(|e| e.nr)
            .collect();
        // The section: ld arch, jeq arch, ld nr, per test a jeq, a load
        // and one per condition, one per call, ALLOW, NOTIF, one ERRNO per
        // refusal; then the next section. Jumps are relative to the next
        // instruction.
        let tested_len: usize = tests.iter().map(|t| 2 + t.when.len()).sum();
        // Where connect is watched, the x32 ABI's calls (their own
        // numbers, not in our tables) are refused: ENOSYS, as on kernels
        // without it (the default profile says so too).
        let x32 =
            abi.audit == AUDIT_ARCH_X86_64 && all.iter().any(|e| matches!(e.call, Call::Socket(_)));
        let allow = 3 + usize::from(x32) + tested_len + nrs.len();
        let notify = allow + 1;
        let refuse =
            |errno: i32| notify + 1 + REFUSALS.iter().position(|e| *e == errno).unwrap_or(0);
        let next = notify + 1 + REFUSALS.len();
        let to = |target: usize, from: usize| target - from - 1;
        prog.push(ld(4)); // offsetof(struct seccomp_data, arch)
        let base = prog.len() - 1;
        let at = |prog: &Vec<sock_filter>| prog.len() - base;
        prog.push(jump(libc::BPF_JEQ, abi.audit, 0, to(next, 1)));
        prog.push(ld(0)); // nr
        if x32 {
            let i = at(&prog);
            prog.push(jump(
                libc::BPF_JSET,
                X32_BIT,
                to(refuse(libc::ENOSYS), i),
                0,
            ));
        }
        for t in &tests {
            // Not this call: on past its load and conditions.
            prog.push(jump(libc::BPF_JEQ, t.nr, 0, 1 + t.when.len()));
            prog.push(ld(arg_lo(t.arg)));
            for (k, c) in t.when.iter().enumerate() {
                let i = at(&prog);
                let last = k + 1 == t.when.len();
                // A condition that fails goes on to the next one, the
                // last one to ALLOW.
                let no = if last { to(allow, i) } else { 0 };
                let yes = to(t.refuse.map_or(notify, refuse), i);
                prog.push(match *c {
                    Cond::Eq(v) => jump(libc::BPF_JEQ, v, yes, no),
                    Cond::Set(m) => jump(libc::BPF_JSET, m, yes, no),
                    // arg & 0 is never set.
                    Cond::Always => jump(libc::BPF_JSET, 0, no, yes),
                });
            }
        }
        for nr in &nrs {
            let i = at(&prog);
            prog.push(jump(libc::BPF_JEQ, *nr, to(notify, i), 0));
        }
        prog.push(ret(libc::SECCOMP_RET_ALLOW));
        prog.push(ret(libc::SECCOMP_RET_USER_NOTIF));
        for errno in REFUSALS {
            prog.push(ret(libc::SECCOMP_RET_ERRNO | errno as u32));
        }
    }
    prog.push(ret(libc::SECCOMP_RET_ALLOW));
    prog
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the instructions `program` uses.
    fn verdict(prog: &[sock_filter], arch: u32, nr: u32) -> u32 {
        verdict_with(prog, arch, nr, 0)
    }

    fn verdict_with(prog: &[sock_filter], arch: u32, nr: u32, arg0: u32) -> u32 {
        verdict_args(prog, arch, nr, [arg0, 0, 0, 0])
    }

    fn verdict_args(prog: &[sock_filter], arch: u32, nr: u32, args: [u32; 4]) -> u32 {
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = &prog[pc];
            match i.code as u32 {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    acc = match i.k {
                        0 => nr,
                        4 => arch,
                        k if (16..48).contains(&k) && k % 8 == 0 => args[(k as usize - 16) / 8],
                        k => panic!("load {k}"),
                    }
                }
                c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => {
                    pc += if acc == i.k { i.jt } else { i.jf } as usize;
                }
                c if c == libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K => {
                    pc += if acc & i.k != 0 { i.jt } else { i.jf } as usize;
                }
                c if c == libc::BPF_RET | libc::BPF_K => return i.k,
                c => panic!("opcode {c:#x}"),
            }
            pc += 1;
        }
    }

    #[test]
    fn notifies_exactly_the_id_calls_on_every_abi() {
        let prog = program(Calls::IDS);
        let entries = entries(Calls::IDS);
        assert!(!entries.is_empty());
        for abi in abis() {
            for (name, nr) in abi.table {
                let nr = *nr as u32;
                // Calls sent by an argument are checked below.
                let by_arg = |c: Call| {
                    matches!(c, Call::Prctl | Call::Access(Access::Open | Access::OpenAt))
                };
                let mine = |e: &&Entry| e.audit == abi.audit && e.nr == nr;
                if entries.iter().filter(mine).any(|e| by_arg(e.call)) {
                    continue;
                }
                let ours = entries.iter().any(|e| mine(&e));
                let want = if ours {
                    libc::SECCOMP_RET_USER_NOTIF
                } else {
                    libc::SECCOMP_RET_ALLOW
                };
                assert_eq!(verdict(&prog, abi.audit, nr), want, "{name}");
            }
        }
        // An ABI the machine does not have (x32's arch value).
        assert_eq!(verdict(&prog, 0x1234, 105), libc::SECCOMP_RET_ALLOW);
        // prctl: only PR_SET_KEEPCAPS.
        for abi in abis() {
            let nr = prctl(&abi).unwrap();
            let keep = libc::PR_SET_KEEPCAPS as u32;
            assert_eq!(
                verdict_with(&prog, abi.audit, nr, keep),
                libc::SECCOMP_RET_USER_NOTIF
            );
            for other in [0, libc::PR_SET_NAME as u32, libc::PR_GET_KEEPCAPS as u32] {
                let v = verdict_with(&prog, abi.audit, nr, other);
                assert_eq!(v, libc::SECCOMP_RET_ALLOW);
            }
        }
    }

    /// Every stat call goes to the supervisor, by name or by fd (fstat,
    /// AT_EMPTY_PATH); an open to read stays in the kernel, but with the
    /// flags of a tool reading a file whole.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_stat_and_opens_to_write_or_read_whole_are_sent() {
        let prog = program(Calls::IDS);
        let (fstat, newfstatat, statx) = (5, 262, 332);
        let empty = libc::AT_EMPTY_PATH as u32;
        let nofollow = libc::AT_SYMLINK_NOFOLLOW as u32;
        let v = |nr, args| verdict_args(&prog, AUDIT_ARCH_X86_64, nr, args);
        for (nr, args) in [
            (fstat, [1, 0, 0, 0]),
            (newfstatat, [1, 0, 0, empty]),
            (newfstatat, [1, 0, 0, nofollow]),
            (statx, [1, 0, empty, 0x7ff]),
            (statx, [1, 0, nofollow, 0x7ff]),
        ] {
            assert_eq!(v(nr, args), libc::SECCOMP_RET_USER_NOTIF, "{nr}");
        }
        // open and openat: only to write or create.
        let (open, openat) = (2, 257);
        let v3 = |nr, flags: i32, at: usize| {
            let mut args = [1, 0, 0, 0];
            args[at] = flags as u32;
            v(nr, args)
        };
        // Reads stay in the kernel, but for the exact flags of a tool
        // reading a file whole (/proc/PID/status).
        let cloexec = libc::O_RDONLY | libc::O_CLOEXEC;
        assert_eq!(v3(openat, cloexec, 2), libc::SECCOMP_RET_ALLOW);
        assert_eq!(v3(openat, libc::O_DIRECTORY, 2), libc::SECCOMP_RET_ALLOW);
        assert_eq!(
            v3(open, cloexec | libc::O_NOCTTY, 1),
            libc::SECCOMP_RET_ALLOW
        );
        for r in READ_FLAGS {
            assert_eq!(v3(openat, r, 2), libc::SECCOMP_RET_USER_NOTIF);
            assert_eq!(v3(open, r, 1), libc::SECCOMP_RET_USER_NOTIF);
        }
        for w in [libc::O_WRONLY, libc::O_RDWR, libc::O_CREAT, libc::O_TRUNC] {
            assert_eq!(v3(openat, w, 2), libc::SECCOMP_RET_USER_NOTIF);
            assert_eq!(v3(open, w, 1), libc::SECCOMP_RET_USER_NOTIF);
            let w = w | libc::O_CLOEXEC;
            assert_eq!(v3(openat, w, 2), libc::SECCOMP_RET_USER_NOTIF);
        }
        // i386's stat calls are sent too, each with the struct it fills;
        // its open is not.
        let e = entries(Calls::IDS);
        let i386 = |nr| {
            e.iter()
                .find(|x| x.audit == AUDIT_ARCH_I386 && x.nr == nr)
                .map(|x| x.call)
        };
        assert_eq!(i386(106), Some(Call::Stat(Stat::Path, StatBuf::Old32)));
        assert_eq!(i386(108), Some(Call::Stat(Stat::Fd, StatBuf::Old32)));
        assert_eq!(i386(196), Some(Call::Stat(Stat::LPath, StatBuf::Wide32)));
        assert_eq!(i386(300), Some(Call::Stat(Stat::At, StatBuf::Wide32)));
        assert_eq!(i386(383), Some(Call::Stat(Stat::X, StatBuf::Native)));
        assert_eq!(i386(5), None);
        for nr in [106, 108, 196, 300, 383] {
            assert_eq!(
                verdict(&prog, AUDIT_ARCH_I386, nr),
                libc::SECCOMP_RET_USER_NOTIF
            );
        }
        assert_eq!(verdict(&prog, AUDIT_ARCH_I386, 5), libc::SECCOMP_RET_ALLOW);
    }

    /// The `-p` bypass's filter sends bind of the native ABI, connect of
    /// every ABI (and the compat socketcall's connect), and refuses a
    /// send with MSG_FASTOPEN (a connect by another name) and io_uring
    /// (which connects out of sight); with the ids' too, both sets.
    #[test]
    fn the_socket_filter_sends_bind_and_connect_only() {
        let prog = program(Calls::SOCKETS);
        let fastopen = libc::SECCOMP_RET_ERRNO | libc::EOPNOTSUPP as u32;
        for abi in abis() {
            for (name, nr) in abi.table {
                let nr = *nr as u32;
                let want = match *name {
                    "bind" if !abi.compat => libc::SECCOMP_RET_USER_NOTIF,
                    "connect" => libc::SECCOMP_RET_USER_NOTIF,
                    "io_uring_setup" => libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
                    _ => libc::SECCOMP_RET_ALLOW,
                };
                let v = verdict_with(&prog, abi.audit, nr, libc::PR_SET_KEEPCAPS as u32);
                assert_eq!(v, want, "{name}");
                let flags_at = match *name {
                    "sendto" | "sendmmsg" => 3,
                    "sendmsg" => 2,
                    "socketcall" => {
                        let v = verdict_with(&prog, abi.audit, nr, SYS_CONNECT);
                        assert_eq!(v, libc::SECCOMP_RET_USER_NOTIF, "socketcall connect");
                        continue;
                    }
                    _ => continue,
                };
                let mut args = [1, 0, 0, 0];
                args[flags_at] = MSG_FASTOPEN | libc::MSG_NOSIGNAL as u32;
                assert_eq!(verdict_args(&prog, abi.audit, nr, args), fastopen, "{name}");
                args[flags_at] = libc::MSG_NOSIGNAL as u32;
                let v = verdict_args(&prog, abi.audit, nr, args);
                assert_eq!(v, libc::SECCOMP_RET_ALLOW, "{name}");
            }
        }
        let both = program(Calls::ALL);
        let native = &abis()[0];
        for name in ["bind", "connect", "setuid", "getuid"] {
            let nr = number(native.table, name).unwrap();
            assert_eq!(
                verdict(&both, native.audit, nr),
                libc::SECCOMP_RET_USER_NOTIF,
                "{name}"
            );
        }
        // x32 calls (x86_64's arch, the 0x40000000 bit): refused.
        #[cfg(target_arch = "x86_64")]
        for nr in [42, 44, 425] {
            let v = verdict(&prog, AUDIT_ARCH_X86_64, nr | X32_BIT);
            assert_eq!(v, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32, "x32 {nr}");
        }
        // The ids' filter alone leaves sends to the kernel.
        let ids = program(Calls::IDS);
        let sendto = number(native.table, "sendto").unwrap();
        let args = [1, 0, 0, MSG_FASTOPEN];
        let v = verdict_args(&ids, native.audit, sendto, args);
        assert_eq!(v, libc::SECCOMP_RET_ALLOW);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn i386_has_the_16_bit_and_the_32_bit_calls() {
        let e = entries(Calls::IDS);
        let find = |nr| e.iter().find(|x| x.audit == AUDIT_ARCH_I386 && x.nr == nr);
        // setuid (23) is the 16-bit one, setuid32 (213) the other.
        assert_eq!(
            find(23).map(|x| (x.call, x.narrow)),
            Some((Call::SetUid, true))
        );
        assert_eq!(
            find(213).map(|x| (x.call, x.narrow)),
            Some((Call::SetUid, false))
        );
        let native = e
            .iter()
            .find(|x| x.audit == AUDIT_ARCH_X86_64 && x.nr == 105);
        assert_eq!(
            native.map(|x| (x.call, x.narrow)),
            Some((Call::SetUid, false))
        );
        assert_eq!(e.iter().filter(|x| x.call == Call::SetGroups).count(), 3);
    }
}
