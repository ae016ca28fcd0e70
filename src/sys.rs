//! The one door to the kernel calls that need `unsafe`.
//!
//! Everything else in burrow is safe Rust over nix and std; the few calls
//! that nix does not wrap safely live here, each with its SAFETY note.
#![allow(unsafe_code)]

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Pid};

/// A step that failed in a forked child, and the errno it failed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildFailure {
    pub step: String,
    pub errno: Errno,
}

impl ChildFailure {
    pub fn new(step: &str, errno: Errno) -> Self {
        ChildFailure {
            step: step.to_string(),
            errno,
        }
    }
}

impl std::fmt::Display for ChildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step, self.errno.desc())
    }
}

/// Fork, run `child` in the child, and report how it went. The child may
/// unshare namespaces, mount and so on: none of it reaches this process.
/// `parent` runs in this process while the child is alive, with the child's
/// pid, once the child calls its `ready` callback; `Ok(None)` when the
/// child succeeded without calling it.
///
/// Must be called while the process has a single thread: `unshare` of a
/// user namespace fails in a threaded process, and fork copies only the
/// calling thread.
pub fn fork_probe<C, P, T>(child: C, parent: P) -> Result<Option<T>, ChildFailure>
where
    C: FnOnce(&mut dyn FnMut()) -> Result<(), ChildFailure>,
    P: FnOnce(Pid) -> T,
{
    let (report_r, report_w) = nix::unistd::pipe().map_err(|e| ChildFailure::new("pipe", e))?;
    let (ready_r, ready_w) = nix::unistd::pipe().map_err(|e| ChildFailure::new("pipe", e))?;
    let (go_r, go_w) = nix::unistd::pipe().map_err(|e| ChildFailure::new("pipe", e))?;
    // burrow is single-threaded when it probes (see above), so the child
    // owns a consistent copy of the heap and may allocate.
    match fork().map_err(|e| ChildFailure::new("fork", e))? {
        ForkResult::Child => {
            drop((report_r, ready_r, go_w));
            let mut ready_w = Some(std::fs::File::from(ready_w));
            let mut go_r = std::fs::File::from(go_r);
            // Tell the parent we reached the point it waits for, then wait
            // until it has done its part (or died).
            let mut signal_ready = || {
                if let Some(mut w) = ready_w.take() {
                    let _ = w.write_all(b"r");
                }
                let mut b = [0u8; 1];
                let _ = go_r.read(&mut b);
            };
            let result = child(&mut signal_ready);
            let code = match result {
                Ok(()) => 0,
                Err(f) => {
                    let mut w = std::fs::File::from(report_w);
                    let _ = write!(w, "{}\n{}", f.errno as i32, f.step);
                    1
                }
            };
            exit_now(code)
        }
        ForkResult::Parent { child: pid } => {
            drop((report_w, ready_w, go_r));
            // Wait until the child is ready (or has already exited).
            let mut b = [0u8; 1];
            let _ = std::fs::File::from(ready_r).read(&mut b);
            let out = if b[0] == b'r' {
                Some(parent(pid))
            } else {
                None
            };
            drop(go_w);
            let failure = read_failure(report_r);
            let status = waitpid(pid, None).map_err(|e| ChildFailure::new("waitpid", e))?;
            match (failure, status) {
                (Some(f), _) => Err(f),
                (None, WaitStatus::Exited(_, 0)) => Ok(out),
                (None, other) => Err(ChildFailure {
                    step: format!("child ended with {other:?}"),
                    errno: Errno::UnknownErrno,
                }),
            }
        }
    }
}

/// Run `child` in a forked child with no part for the parent.
pub fn in_child<C>(child: C) -> Result<(), ChildFailure>
where
    C: FnOnce() -> Result<(), ChildFailure>,
{
    fork_probe(|_| child(), |_| ()).map(|_| ())
}

fn read_failure(fd: OwnedFd) -> Option<ChildFailure> {
    let mut s = String::new();
    std::fs::File::from(fd).read_to_string(&mut s).ok()?;
    let (errno, step) = s.split_once('\n')?;
    Some(ChildFailure {
        step: step.to_string(),
        errno: Errno::from_raw(errno.parse().ok()?),
    })
}

/// Leave the process at once, without running atexit handlers or flushing
/// stdio buffers copied from the parent.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions; it never returns.
    unsafe { libc::_exit(code) }
}

/// The Landlock ABI version the kernel offers (landlock_create_ruleset with
/// LANDLOCK_CREATE_RULESET_VERSION). ENOSYS: not built in; EOPNOTSUPP:
/// built in but disabled at boot.
pub fn landlock_abi() -> Result<u32, Errno> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attr and size 0 this call only returns the ABI
    // version; it reads and writes no memory of ours.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret as u32)
    }
}

/// Install a seccomp filter that allows everything: proves the kernel
/// takes filters from an unprivileged process. Call it in a child only.
pub fn seccomp_allow_all() -> Result<(), Errno> {
    nix::sys::prctl::set_no_new_privs()?;
    let allow = libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ALLOW,
    };
    seccomp_set_filter(&[allow], false)
}

/// Create a tap device on an open /dev/net/tun (TUNSETIFF). Needs
/// CAP_NET_ADMIN over the current network namespace.
pub fn tun_set_iff(tun: &std::fs::File, name: &str) -> Result<(), Errno> {
    #[repr(C)]
    struct IfReq {
        name: [libc::c_char; libc::IFNAMSIZ],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short,
        _pad: [0; 22],
    };
    for (dst, src) in req
        .name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *dst = src as libc::c_char;
    }
    // SAFETY: req is a properly sized, initialised struct ifreq that lives
    // across the call; TUNSETIFF reads and writes only within it.
    let ret = unsafe { libc::ioctl(tun.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut IfReq) };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// The machine's architecture in OCI/Go naming (amd64, arm64, ...).
pub fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// Catch `sig` with `handler` and return the action it replaces. The
/// handler must be async-signal-safe: burrow's (interrupt.rs) only stores
/// into an atomic. No SA_RESTART, so a blocking read fails with EINTR and
/// the loop around it can see the flag.
pub fn catch_signal(
    sig: nix::sys::signal::Signal,
    handler: extern "C" fn(libc::c_int),
) -> Result<nix::sys::signal::SigAction, Errno> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    let action = SigAction::new(
        SigHandler::Handler(handler),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler does only async-signal-safe work (see above),
    // so running it at any point of any thread is sound.
    unsafe { sigaction(sig, &action) }
}

/// Put back an action that `catch_signal` returned.
pub fn restore_signal(
    sig: nix::sys::signal::Signal,
    old: &nix::sys::signal::SigAction,
) -> Result<(), Errno> {
    // SAFETY: `old` is the action that was in force before ours: the
    // default, ignore, or a handler that was already installed.
    unsafe { nix::sys::signal::sigaction(sig, old) }.map(|_| ())
}

/// The running kernel's release string (uname -r).
pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// Install a seccomp filter on the calling thread
/// (seccomp(SECCOMP_SET_MODE_FILTER)), with SECCOMP_FILTER_FLAG_SPEC_ALLOW
/// when `spec_allow`. The caller sets no_new_privs or holds CAP_SYS_ADMIN.
pub fn seccomp_set_filter(filter: &[libc::sock_filter], spec_allow: bool) -> Result<(), Errno> {
    let len = u16::try_from(filter.len()).map_err(|_| Errno::E2BIG)?;
    let prog = libc::sock_fprog {
        len,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    let flags = if spec_allow {
        libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
    } else {
        0
    };
    // SAFETY: prog points to `len` valid instructions that outlive the
    // call; the kernel copies them and never writes through the pointer.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Calls the seccomp tests may make through `probe_syscall`: with the
/// integer (never pointer) arguments the tests pass, each one either is
/// refused by the filter under test or fails argument validation, so the
/// kernel never touches this process's memory.
#[cfg(test)]
const PROBE_OK: &[libc::c_long] = &[
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_kexec_load,
    libc::SYS_init_module,
    libc::SYS_open_by_handle_at,
    libc::SYS_clone3,
    libc::SYS_io_uring_setup,
    libc::SYS_userfaultfd,
    libc::SYS_ioctl,
    libc::SYS_personality,
    libc::SYS_getpid,
];

/// Test probe: make syscall `nr` (one of PROBE_OK) with integer arguments
/// and report its result or errno. Panics on any other call.
#[cfg(test)]
pub(crate) fn probe_syscall(
    nr: libc::c_long,
    a: [libc::c_ulong; 6],
) -> Result<libc::c_long, Errno> {
    assert!(PROBE_OK.contains(&nr), "syscall {nr} is not a probe");
    // SAFETY: see PROBE_OK: the arguments are integers chosen by the tests
    // (null where the call takes a pointer), so the call reads and writes
    // none of our memory; it cannot exit, fork or unmap anything.
    let ret = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// Test probe: make an i386 system call from this 64-bit process with
/// `int 0x80` (integer arguments only). The caller forks first: a kernel
/// without IA32 emulation answers with SIGSEGV.
#[cfg(all(test, target_arch = "x86_64"))]
pub(crate) fn int80(nr: u32, a: u32, b: u32, c: u32) -> i32 {
    let ret: i32;
    // SAFETY: the arguments are integers, never pointers, and the tests
    // use only calls that take no pointer or are refused by the filter
    // under test. rbx belongs to LLVM, so ebx is swapped in and out;
    // int 0x80 zeroes r8-r11 in 64-bit mode, declared as clobbered.
    unsafe {
        std::arch::asm!(
            "xchg {t:e}, ebx",
            "int 0x80",
            "xchg {t:e}, ebx",
            t = inout(reg) a => _,
            inlateout("eax") nr => ret,
            in("ecx") b,
            in("edx") c,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
        );
    }
    ret
}

/// Test probe: a zeroed page below 4 GiB (MAP_32BIT), for the pointers
/// of `int80` calls; never unmapped.
#[cfg(all(test, target_arch = "x86_64"))]
pub(crate) fn low_page() -> &'static mut [u8] {
    // SAFETY: a new private anonymous mapping, not aliased by anything;
    // checked before use, and leaked (it lives as long as the process).
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED, "mmap MAP_32BIT");
        std::slice::from_raw_parts_mut(p.cast::<u8>(), 4096)
    }
}

// ---- the launcher's calls -------------------------------------------------

fn check(ret: libc::c_int) -> Result<(), Errno> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// fork(2). The child must only do async-signal-safe work if the caller
/// had other threads; burrow forks its launcher stages before any thread
/// exists (DESIGN.md), so the child may allocate.
pub fn fork() -> Result<ForkResult, Errno> {
    // SAFETY: see above; the launcher calls this from a single-threaded
    // process (or from a child of one), so the child's heap is consistent.
    unsafe { nix::unistd::fork() }
}

/// fork(2) into a new pid namespace: the child is its pid 1. Each call
/// makes a fresh namespace, so a supervisor can start one container init
/// after another (`unshare(CLONE_NEWPID)` allows one: once that pid 1
/// died, nothing can be forked into its namespace). Returns the child's
/// pid as seen from here.
///
/// glibc has no fork with flags, so this is the raw clone syscall (as
/// crun does), whose child skips glibc's fork handlers: with other threads
/// around (a FUSE server's), one of them could hold a malloc lock that the
/// child would then wait on forever. So a threaded caller goes through a
/// middle child made by glibc's fork (single-threaded, a consistent heap),
/// which clones the init with CLONE_PARENT, so that it is still our child,
/// and exits.
pub fn fork_new_pid_ns() -> Result<ForkResult, Errno> {
    if thread_count() <= 1 {
        return clone_new_pid_ns(0);
    }
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    match fork()? {
        ForkResult::Child => {
            drop(r);
            let said = match clone_new_pid_ns(libc::CLONE_PARENT as libc::c_ulong) {
                Ok(ForkResult::Child) => return Ok(ForkResult::Child),
                Ok(ForkResult::Parent { child }) => child.as_raw(),
                Err(e) => -(e as i32),
            };
            let _ = nix::unistd::write(&w, &said.to_ne_bytes());
            exit_now(0)
        }
        ForkResult::Parent { child: middle } => {
            drop(w);
            let mut b = [0u8; 4];
            let n = nix::unistd::read(r.as_raw_fd(), &mut b);
            let _ = waitpid(middle, None);
            match (n, i32::from_ne_bytes(b)) {
                (Ok(4), pid) if pid > 0 => Ok(ForkResult::Parent {
                    child: Pid::from_raw(pid),
                }),
                (Ok(4), err) => Err(Errno::from_raw(-err)),
                _ => Err(Errno::ECHILD),
            }
        }
    }
}

/// The raw clone with CLONE_NEWPID (and `more` flags): fork semantics.
fn clone_new_pid_ns(more: libc::c_ulong) -> Result<ForkResult, Errno> {
    let flags = libc::CLONE_NEWPID as libc::c_ulong | libc::SIGCHLD as libc::c_ulong | more;
    // SAFETY: clone without CLONE_VM and with a null stack behaves as
    // fork: the child gets a copy of our memory and continues here; the
    // pointer arguments are null (no tid or tls writes). Callers have a
    // single thread (see fork_new_pid_ns), so the copy is consistent.
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    match ret {
        r if r < 0 => Err(Errno::last()),
        0 => Ok(ForkResult::Child),
        pid => Ok(ForkResult::Parent {
            child: Pid::from_raw(pid as i32),
        }),
    }
}

/// How many threads this process has (field 20 of /proc/self/stat); 0
/// when it cannot be read, which the callers treat as one.
fn thread_count() -> usize {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().nth(17))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Give back what a process that now only waits does not need: the page
/// table entries of its executable file mappings (the code that set the
/// container up; what it runs later is faulted in again from the page
/// cache, which every supervisor shares) and free heap pages.
pub fn shed_memory() {
    if let Ok(maps) = std::fs::read_to_string("/proc/self/maps") {
        for line in maps.lines() {
            let mut f = line.split_whitespace();
            let (Some(range), Some(perms), Some(path)) = (f.next(), f.next(), f.nth(3)) else {
                continue;
            };
            // Only code read from a file: never written, so nothing is lost.
            if perms != "r-xp" || !path.starts_with('/') {
                continue;
            }
            let Some((start, end)) = range.split_once('-').and_then(|(a, b)| {
                Some((
                    usize::from_str_radix(a, 16).ok()?,
                    usize::from_str_radix(b, 16).ok()?,
                ))
            }) else {
                continue;
            };
            // SAFETY: a private, read-only, executable file mapping holds no
            // data of ours (no copy-on-write page: it was never writable);
            // MADV_DONTNEED only drops its page table entries, and a later
            // access reads the same bytes from the file again.
            let _ = unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED)
            };
        }
    }
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    let _ = unsafe { libc::malloc_trim(0) };
}

/// Make `fd` (a terminal) the controlling terminal of this session
/// (TIOCSCTTY); call after setsid().
pub fn set_controlling_tty(fd: &impl AsRawFd) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an int argument and touches no memory of ours.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) })
}

/// The window size of a terminal (TIOCGWINSZ).
pub fn get_winsize(fd: &impl AsRawFd) -> Result<libc::winsize, Errno> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: ws is a valid winsize that lives across the call; the kernel
    // writes only within it.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) })?;
    Ok(ws)
}

/// Set a terminal's window size (TIOCSWINSZ); the kernel sends SIGWINCH
/// to its foreground process group.
pub fn set_winsize(fd: &impl AsRawFd, ws: &libc::winsize) -> Result<(), Errno> {
    // SAFETY: ws points to a valid winsize that the kernel only reads.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, ws as *const libc::winsize) })
}

/// Mark every fd from `first` up close-on-exec, so the container's command
/// inherits only stdin, stdout and stderr.
pub fn cloexec_from(first: u32) -> Result<(), Errno> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC closes nothing now; it
    // only sets a flag on descriptors.
    check(unsafe { libc::close_range(first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as libc::c_int) })
}

/// Close every fd from `first` up (a forked helper that keeps none of
/// its parent's).
pub fn close_from(first: u32) -> Result<(), Errno> {
    // SAFETY: close_range only closes descriptors; the caller owns none of
    // them past `first` any more (it is a fresh fork that holds no Rust
    // owner of those fds it will use again).
    check(unsafe { libc::close_range(first, u32::MAX, 0) })
}

/// A pidfd for `pid` (Linux 5.3): readable once the process has ended,
/// so a waiter wakes at its end instead of polling (it need not be our
/// child). Close-on-exec.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags (0) and touches no memory
    // of ours; the return value is checked before it is used as an fd.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    Ok(own_fd(fd as std::os::fd::RawFd))
}

/// Bring the loopback interface of the current network namespace up
/// (SIOCGIFFLAGS/SIOCSIFFLAGS): a new namespace starts with `lo` down.
pub fn loopback_up() -> Result<(), Errno> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    #[repr(C)]
    struct IfReqFlags {
        name: [libc::c_char; libc::IFNAMSIZ],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let mut req = IfReqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    for (dst, src) in req.name.iter_mut().zip(b"lo") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: req is a properly sized struct ifreq living across the call.
    check(unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFFLAGS,
            &mut req as *mut IfReqFlags,
        )
    })?;
    req.flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: as above; SIOCSIFFLAGS only reads req.
    check(unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCSIFFLAGS,
            &mut req as *mut IfReqFlags,
        )
    })
}

/// Make the mount at `path` and every mount below it read-only
/// (mount_setattr with AT_RECURSIVE, Linux >= 5.12).
pub fn make_readonly_recursive(path: &std::path::Path) -> Result<(), Errno> {
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let cpath = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
        .map_err(|_| Errno::EINVAL)?;
    set_mount_readonly(libc::AT_FDCWD, &cpath, AT_RECURSIVE)
}

/// mount_setattr(2) setting MOUNT_ATTR_RDONLY on the mount at `dirfd` +
/// `path` (Linux >= 5.12); `flags` as the call takes them.
fn set_mount_readonly(
    dirfd: std::os::fd::RawFd,
    path: &std::ffi::CStr,
    flags: libc::c_uint,
) -> Result<(), Errno> {
    /// struct mount_attr (linux/mount.h).
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `path` is a valid C string and `attr` a valid mount_attr of
    // the size passed, both living across the call; the kernel only reads
    // them. A bad `dirfd` is an error the kernel returns, not UB.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// The chown-family syscalls of this architecture.
fn chown_syscalls() -> Vec<u32> {
    #[cfg(target_arch = "x86_64")]
    let nrs = vec![
        libc::SYS_chown,
        libc::SYS_fchown,
        libc::SYS_lchown,
        libc::SYS_fchownat,
    ];
    #[cfg(not(target_arch = "x86_64"))]
    let nrs = vec![libc::SYS_fchown, libc::SYS_fchownat];
    nrs.into_iter().map(|n| n as u32).collect()
}

const fn audit_arch() -> u32 {
    if cfg!(target_arch = "x86_64") {
        0xC000_003E
    } else if cfg!(target_arch = "aarch64") {
        0xC000_00B7
    } else {
        0
    }
}

/// The BPF program of [`install_chown_noop_filter`]: chown-family calls
/// return 0 without doing anything, everything else is allowed.
pub fn chown_noop_program() -> Vec<libc::sock_filter> {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let nrs = chown_syscalls();
    let n = nrs.len() as u8;
    // offsetof(struct seccomp_data, arch) = 4, nr = 0
    let mut prog = vec![
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 4),
        // Another architecture: allow (jump over the checks to ALLOW).
        jeq(audit_arch(), 0, n + 1),
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
    ];
    for (i, nr) in nrs.iter().enumerate() {
        // Match: jump to the ERRNO(0) return, past the rest and ALLOW.
        prog.push(jeq(*nr, n - i as u8, 0));
    }
    prog.push(stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW));
    prog.push(stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ERRNO));
    prog
}

/// In single-id mode only root is mapped, so chown to any other id fails
/// with EINVAL and package managers stop. This filter makes the
/// chown family succeed as no-ops. Needs CAP_SYS_ADMIN in the user
/// namespace (or no_new_privs), so call it before dropping root.
pub fn install_chown_noop_filter() -> Result<(), Errno> {
    seccomp_set_filter(&chown_noop_program(), false)
}

/// Take ownership of an fd the kernel just handed us (SCM_RIGHTS).
pub fn own_fd(fd: std::os::fd::RawFd) -> OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: the caller got `fd` from the kernel for this process and
    // nothing else owns or closes it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Restore the default action of `sig` (before exec: ignored signals stay
/// ignored across execve).
pub fn set_default_handler(sig: nix::sys::signal::Signal) -> Result<(), Errno> {
    use nix::sys::signal::{signal, SigHandler};
    // SAFETY: SIG_DFL installs no handler of ours, so no Rust code can run
    // in signal context.
    unsafe { signal(sig, SigHandler::SigDfl) }.map(|_| ())
}

/// openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: open `path`
/// below the directory `root`, every symlink (absolute or with `..`)
/// resolved as if `root` were `/`, and no /proc magic link followed.
/// `flags` are open(2) flags (O_CLOEXEC is added). ENOSYS before Linux 5.6.
pub fn open_in_root(
    root: &impl AsRawFd,
    path: &std::path::Path,
    flags: libc::c_int,
) -> std::io::Result<OwnedFd> {
    let resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    openat2(root, path, flags, 0, resolve)
}

/// openat2(2) with RESOLVE_IN_ROOT alone: `path` found below `root` as a
/// process chrooted there finds it (symlinks and `..` kept inside), in one
/// call instead of a chroot there and back. `mode` is for O_CREAT (the
/// umask applies). ENOSYS before Linux 5.6.
pub fn open_as_if_chrooted(
    root: &impl AsRawFd,
    path: &std::path::Path,
    flags: libc::c_int,
    mode: u32,
) -> std::io::Result<OwnedFd> {
    openat2(root, path, flags, mode, libc::RESOLVE_IN_ROOT)
}

/// pidfd_open(2) of one thread (PIDFD_THREAD, Linux 6.9): it polls
/// readable once that thread has exited, so a tid reused since cannot be
/// taken for it.
pub fn pidfd_open_thread(tid: i32) -> Result<OwnedFd, Errno> {
    const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;
    // SAFETY: pidfd_open takes two integers and returns an fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, tid, PIDFD_THREAD) };
    if fd < 0 {
        return Err(Errno::last());
    }
    Ok(own_fd(fd as std::os::fd::RawFd))
}

/// openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: open `path`
/// below the directory `dir` only if no component of it (the last one
/// included) is a symlink: ELOOP if one is, EXDEV if it climbs out.
/// `mode` is for O_CREAT. ENOSYS before Linux 5.6.
pub fn open_beneath_no_symlinks(
    dir: &impl AsRawFd,
    path: &std::path::Path,
    flags: libc::c_int,
    mode: u32,
) -> std::io::Result<OwnedFd> {
    let resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    openat2(dir, path, flags, mode, resolve)
}

fn openat2(
    dir: &impl AsRawFd,
    path: &std::path::Path,
    flags: libc::c_int,
    mode: u32,
    resolve: u64,
) -> std::io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: open_how is plain data; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    // The kernel refuses a mode without O_CREAT or O_TMPFILE.
    if flags & (libc::O_CREAT | libc::O_TMPFILE) != 0 {
        how.mode = u64::from(mode);
    }
    how.resolve = resolve;
    let mut tries = 0;
    loop {
        // SAFETY: c_path is a NUL-terminated string and `how` a valid
        // open_how of the size we pass; both outlive the call, which only
        // reads them.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                c_path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if ret >= 0 {
            // SAFETY: the kernel just gave us this fd and nothing else owns it.
            return Ok(unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) });
        }
        let e = std::io::Error::last_os_error();
        // EAGAIN: a rename raced the scoped lookup (a few more tries, not
        // forever: the renames may be hostile); EINTR: a signal.
        tries += 1;
        if !matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR)) || tries > 16 {
            return Err(e);
        }
    }
}

/// A read-only bind mount of the file (or dir) at `path`, attached
/// nowhere: open_tree(OPEN_TREE_CLONE), then mount_setattr(RDONLY)
/// (Linux 5.12). Needs CAP_SYS_ADMIN over our mount namespace (one of a
/// user namespace of ours). The fd is an O_PATH handle on it.
pub fn read_only_clone(path: &std::ffi::CStr) -> Result<OwnedFd, Errno> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    // SAFETY: `path` is a valid NUL-terminated string for the call; the
    // return value is checked before it is used as an fd.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    let fd = own_fd(fd as std::os::fd::RawFd);
    // "" with AT_EMPTY_PATH: the mount of `fd` itself.
    set_mount_readonly(fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH as libc::c_uint)?;
    Ok(fd)
}

// ---- seccomp user notification (emulated ids, sandbox::ids) ---------------

/// Install `filter` on the calling thread with
/// SECCOMP_FILTER_FLAG_NEW_LISTENER and return the listener: the fd on
/// which the calls the filter answers with SECCOMP_RET_USER_NOTIF arrive
/// (close-on-exec, as the kernel makes it). Same preconditions as
/// [`seccomp_set_filter`].
pub fn seccomp_set_notify_filter(filter: &[libc::sock_filter]) -> Result<OwnedFd, Errno> {
    let len = u16::try_from(filter.len()).map_err(|_| Errno::E2BIG)?;
    let prog = libc::sock_fprog {
        len,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: as in seccomp_set_filter: prog points to `len` valid
    // instructions that outlive the call and are only read.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &prog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(own_fd(ret as std::os::fd::RawFd))
}

/// The next notification from a seccomp listener (blocks until one
/// comes). ENOENT: the caller died before it could be read.
pub fn seccomp_notif_recv(listener: &impl AsRawFd) -> Result<libc::seccomp_notif, Errno> {
    // SAFETY: seccomp_notif is plain old data (integers only), for which
    // all zeroes is a valid value, as the kernel requires of the buffer.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: n is a valid, writable seccomp_notif that the kernel
        // fills; it lives across the call.
        let ret = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &mut n as *mut libc::seccomp_notif,
            )
        };
        match check(ret) {
            Err(Errno::EINTR) => continue,
            r => return r.map(|()| n),
        }
    }
}

/// Answer notification `id`: `error` 0 makes the call return `val`, else
/// it fails with errno `error` (positive). `continue_call` lets the call
/// run in the kernel as if unfiltered. ENOENT: the caller is gone.
pub fn seccomp_notif_send(
    listener: &impl AsRawFd,
    id: u64,
    val: i64,
    error: i32,
    continue_call: bool,
) -> Result<(), Errno> {
    let mut resp = libc::seccomp_notif_resp {
        id,
        val,
        error: -error,
        flags: if continue_call {
            libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32
        } else {
            0
        },
    };
    loop {
        // SAFETY: resp is a valid seccomp_notif_resp that lives across the
        // call; the kernel only reads it.
        let ret = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                &mut resp as *mut libc::seccomp_notif_resp,
            )
        };
        match check(ret) {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

/// Whether notification `id` is still pending: its caller has not died
/// (and its pid not been reused) since the notification was read. Asked
/// after opening the caller's memory and before trusting what it holds.
pub fn seccomp_notif_id_valid(listener: &impl AsRawFd, id: u64) -> bool {
    // SAFETY: the kernel reads one u64 through the pointer, which lives
    // across the call.
    let ret = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
            &id as *const u64,
        )
    };
    ret == 0
}

/// Ask the kernel to hand the CPU straight from a notifying task to the
/// listener's reader and back (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux
/// 6.6): a round trip then costs no trip through the scheduler's queue,
/// which on a busy machine is most of its time. Older kernels say EINVAL.
pub fn seccomp_notif_sync_wakeup(listener: &impl AsRawFd) -> Result<(), Errno> {
    const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: libc::c_ulong = 1;
    // SAFETY: this ioctl takes its flags by value; no memory is passed.
    check(unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
            SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
        )
    })
}

/// SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SETFD: put a copy of
/// `fd` into the notifying process at fd number `newfd`, replacing what
/// was there (as dup2 does), Linux 5.9+. The caller's pending call is not
/// answered by it.
pub fn seccomp_notif_addfd_setfd(
    listener: &impl AsRawFd,
    id: u64,
    fd: &impl AsRawFd,
    newfd: i32,
    cloexec: bool,
) -> Result<i32, Errno> {
    let flags = libc::SECCOMP_ADDFD_FLAG_SETFD as u32;
    seccomp_notif_addfd(listener, id, fd, flags, newfd as u32, cloexec)
}

/// SECCOMP_IOCTL_NOTIF_ADDFD with `flags`: the one ioctl both uses share.
fn seccomp_notif_addfd(
    listener: &impl AsRawFd,
    id: u64,
    fd: &impl AsRawFd,
    flags: u32,
    newfd: u32,
    cloexec: bool,
) -> Result<i32, Errno> {
    let add = libc::seccomp_notif_addfd {
        id,
        flags,
        srcfd: fd.as_raw_fd() as u32,
        newfd,
        newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
    };
    // SAFETY: the kernel reads one seccomp_notif_addfd through the
    // pointer, which lives across the call.
    let ret = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ADDFD,
            &add as *const libc::seccomp_notif_addfd,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(ret)
}

/// A copy of fd `fd` of process `pid` (pidfd_open + pidfd_getfd, Linux
/// 5.6+), close-on-exec. Needs ptrace rights over the process (ours: its
/// user namespace is the supervisor's).
pub fn pidfd_getfd(pid: i32, fd: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags by value; no memory.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return Err(Errno::last());
    }
    let pidfd = own_fd(pidfd as std::os::fd::RawFd);
    // SAFETY: pidfd_getfd takes an open pidfd, an fd number and flags by
    // value; no memory.
    let got = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if got < 0 {
        return Err(Errno::last());
    }
    Ok(own_fd(got as std::os::fd::RawFd))
}

/// SO_NETNS_COOKIE (Linux 5.14): the cookie of the network namespace a
/// socket lives in, the same for every socket made there.
pub fn netns_cookie(fd: &impl AsRawFd) -> Result<u64, Errno> {
    const SO_NETNS_COOKIE: libc::c_int = 71;
    let mut v: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: v and len live on our stack across the call; the kernel
    // writes at most `len` bytes into v and the length into len.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&mut v as *mut u64).cast(),
            &mut len,
        )
    })?;
    Ok(v)
}

/// An int-valued socket option (SO_DOMAIN, SO_PROTOCOL, ...).
pub fn getsockopt_int(fd: &impl AsRawFd, level: i32, name: i32) -> Result<i32, Errno> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: v and len live on our stack across the call; the kernel
    // writes at most `len` bytes into v and the length into len.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(v)
}

// ---- port forwarding (`net::publish`) -------------------------------------

/// splice(2): move up to `len` bytes from `from` to `to` (one of them a
/// pipe) without copying them through user space, without blocking
/// (EAGAIN: nothing to move now). Ok(0): end of input.
pub fn splice(
    from: std::os::fd::BorrowedFd<'_>,
    to: std::os::fd::BorrowedFd<'_>,
    len: usize,
) -> Result<usize, Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: both fds are borrowed, so open for the call; null offsets
    // mean "the file position", which the kernel requires for pipes and
    // sockets; no memory of ours is passed.
    let n = unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            // Not SPLICE_F_MORE: into a socket it corks the segment, and
            // the last bytes of a reply would wait for the 200 ms timer.
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

/// IP_TRANSPARENT (IPV6_TRANSPARENT for an IPv6 socket): the socket may
/// bind to an address that is not the namespace's own, so a forwarded
/// connection can carry the client's address. Needs CAP_NET_ADMIN (or
/// CAP_NET_RAW) over the socket's network namespace.
pub fn set_transparent(fd: std::os::fd::BorrowedFd<'_>, v6: bool) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    let (level, name) = match v6 {
        false => (libc::SOL_IP, libc::IP_TRANSPARENT),
        true => (libc::SOL_IPV6, libc::IPV6_TRANSPARENT),
    };
    let one: libc::c_int = 1;
    // SAFETY: the fd is open for the call; the option value is a c_int
    // on our stack whose size is passed with it, read by the kernel only.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
}

// ---- owners in single-id mode (sandbox::ids::owners) ----------------------

/// fstatat(fd, "", AT_EMPTY_PATH): the kernel's `struct stat` of what the
/// (possibly O_PATH) `fd` names, as the native stat calls fill it.
pub fn stat_fd(fd: &impl AsRawFd) -> Result<libc::stat, Errno> {
    // SAFETY: stat is plain data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: "" is NUL-terminated; st is writable and outlives the call.
    check(unsafe { libc::fstatat(fd.as_raw_fd(), c"".as_ptr(), &mut st, libc::AT_EMPTY_PATH) })?;
    Ok(st)
}

/// statx(fd, "", AT_EMPTY_PATH | the sync bits of `flags`, `mask`).
pub fn statx_fd(fd: &impl AsRawFd, flags: i32, mask: u32) -> Result<libc::statx, Errno> {
    // SAFETY: statx is plain data; all-zero is a valid value.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    let flags = libc::AT_EMPTY_PATH | (flags & libc::AT_STATX_SYNC_TYPE);
    // SAFETY: "" is NUL-terminated; st is writable and outlives the call.
    check(unsafe { libc::statx(fd.as_raw_fd(), c"".as_ptr(), flags, mask, &mut st) })?;
    Ok(st)
}

/// The bytes of a `struct stat` as the kernel copies it out.
pub fn stat_bytes(st: &libc::stat) -> &[u8] {
    // SAFETY: libc::stat is the kernel's struct stat on the machines burrow
    // builds for, integers only with its padding spelled out as fields, so
    // every byte is initialised; the slice borrows `st`.
    unsafe {
        std::slice::from_raw_parts(
            (st as *const libc::stat).cast::<u8>(),
            std::mem::size_of::<libc::stat>(),
        )
    }
}

/// The bytes of a `struct statx` as the kernel copies it out.
pub fn statx_bytes(st: &libc::statx) -> &[u8] {
    // SAFETY: as for stat_bytes: integers only, padding as named fields.
    unsafe {
        std::slice::from_raw_parts(
            (st as *const libc::statx).cast::<u8>(),
            std::mem::size_of::<libc::statx>(),
        )
    }
}

/// Put `fd` into the caller of notification `id` and answer the call with
/// its number there (SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND,
/// Linux 5.14): an open the supervisor made for it. ENOENT: the caller
/// is gone.
pub fn seccomp_notif_addfd_send(
    listener: &impl AsRawFd,
    id: u64,
    fd: &impl AsRawFd,
    cloexec: bool,
) -> Result<i32, Errno> {
    let flags = libc::SECCOMP_ADDFD_FLAG_SEND as u32;
    seccomp_notif_addfd(listener, id, fd, flags, 0, cloexec)
}

// ---- connect() made for a container's process (`sandbox::connector`) ------

/// connect(2) with an address as the caller laid it out (any family,
/// `addr.len()` bytes): what the kernel's answer is, as the caller's own
/// call would have had it (EINPROGRESS on a non-blocking socket...).
pub fn connect_bytes(fd: &impl AsRawFd, addr: &[u8]) -> Result<(), Errno> {
    // SAFETY: the kernel reads at most addr.len() bytes at addr's pointer
    // (a valid slice, possibly empty: then it reads nothing); no memory
    // of ours is written.
    check(unsafe {
        libc::connect(
            fd.as_raw_fd(),
            addr.as_ptr().cast(),
            addr.len() as libc::socklen_t,
        )
    })
}

/// The credentials a thread takes to act as another task (`as_caller`):
/// ids as /proc/TID/status shows them (in our user namespace), the
/// capability sets as its Cap* lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadCreds {
    /// Real, effective, saved.
    pub uids: [u32; 3],
    pub gids: [u32; 3],
    pub groups: Vec<u32>,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// Give the calling thread, and only it, `c`. libc's setresuid and
/// friends would not do: glibc makes every thread of the process switch
/// (POSIX says ids are the process's), while the kernel keeps them per
/// thread; so these are the raw calls. The supplementary groups are set
/// only when they differ from ours (a user namespace whose map the user
/// wrote itself refuses setgroups). Order: groups and gids while we are
/// still privileged, then the uids with PR_SET_KEEPCAPS (else leaving
/// uid 0 empties the permitted set), then the caller's capabilities.
/// The filesystem ids follow the effective ones (setresuid sets them).
pub fn set_thread_creds(c: &ThreadCreds) -> Result<(), Errno> {
    let ours = nix::unistd::getgroups()?;
    if ours.iter().map(|g| g.as_raw()).ne(c.groups.iter().copied()) {
        // SAFETY: the kernel reads groups.len() gid_t values from a valid
        // slice; nothing of ours is written.
        let r = unsafe {
            libc::syscall(
                libc::SYS_setgroups,
                c.groups.len() as libc::size_t,
                c.groups.as_ptr(),
            )
        };
        check_long(r)?;
    }
    let [rg, eg, sg] = c.gids;
    // SAFETY: setresgid takes three ids by value; no memory.
    check_long(unsafe { libc::syscall(libc::SYS_setresgid, rg, eg, sg) })?;
    // SAFETY: prctl(PR_SET_KEEPCAPS) takes its value by value; it sets a
    // bit of this thread's credentials only.
    check(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) })?;
    let [ru, eu, su] = c.uids;
    // SAFETY: setresuid takes three ids by value; no memory.
    check_long(unsafe { libc::syscall(libc::SYS_setresuid, ru, eu, su) })?;
    // struct __user_cap_header_struct and __user_cap_data_struct (not in
    // the libc crate); version 3 takes two data structs (64 bits).
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: 0x2008_0522,
        // 0: the calling thread.
        pid: 0,
    };
    let word = |v: u64, i: u32| (v >> (32 * i)) as u32;
    let data: [Data; 2] = [0, 1].map(|i| Data {
        effective: word(c.effective, i),
        permitted: word(c.permitted, i),
        inheritable: word(c.inheritable, i),
    });
    // SAFETY: header and the two data structs (the layout version 3
    // asks for) live on our stack across the call; capset reads them
    // (and may write the header's version, which is ours to write).
    check_long(unsafe {
        libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr())
    })
}

fn check_long(ret: libc::c_long) -> Result<(), Errno> {
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

#[cfg(test)]
mod launcher_tests {
    use super::*;

    #[test]
    fn chown_filter_jumps_land_on_the_returns() {
        let prog = chown_noop_program();
        let n = prog.len();
        let allow = n - 2;
        let errno = n - 1;
        assert_eq!(prog[allow].k, libc::SECCOMP_RET_ALLOW);
        assert_eq!(prog[errno].k, libc::SECCOMP_RET_ERRNO);
        // The arch check's false branch lands on ALLOW.
        assert_eq!(1 + 1 + prog[1].jf as usize, allow);
        for (i, ins) in prog.iter().enumerate().take(allow).skip(3) {
            assert_eq!(i + 1 + ins.jt as usize, errno, "insn {i}");
            assert_eq!(ins.jf, 0);
        }
    }

    #[test]
    fn chown_filter_makes_chown_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"").unwrap();
        let f2 = f.clone();
        in_child(move || {
            nix::sys::prctl::set_no_new_privs().map_err(|e| ChildFailure::new("nnp", e))?;
            install_chown_noop_filter().map_err(|e| ChildFailure::new("filter", e))?;
            // uid 4242 is not ours: without the filter this is EPERM
            // (unprivileged) or changes the owner (root); with it, a no-op.
            nix::unistd::chown(&f2, Some(nix::unistd::Uid::from_raw(4242)), None)
                .map_err(|e| ChildFailure::new("chown", e))
        })
        .unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_ne!(std::fs::metadata(&f).unwrap().uid(), 4242);
    }

    /// One init after another, each pid 1 of its own namespace and our
    /// child, from a single-threaded and from a threaded process.
    #[test]
    fn each_init_gets_a_fresh_pid_namespace() {
        in_child(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
                .map_err(|e| ChildFailure::new("unshare", e))?;
            let one_init = || -> Result<(), ChildFailure> {
                match fork_new_pid_ns().map_err(|e| ChildFailure::new("clone", e))? {
                    ForkResult::Child => exit_now(if std::process::id() == 1 { 7 } else { 1 }),
                    ForkResult::Parent { child } => {
                        match waitpid(child, None).map_err(|e| ChildFailure::new("wait", e))? {
                            WaitStatus::Exited(_, 7) => Ok(()),
                            _ => Err(ChildFailure::new("not pid 1", Errno::EINVAL)),
                        }
                    }
                }
            };
            one_init()?;
            one_init()?;
            // A thread makes the next ones go through the middle child.
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let t = std::thread::spawn(move || rx.recv());
            if thread_count() < 2 {
                return Err(ChildFailure::new("no second thread", Errno::EINVAL));
            }
            one_init()?;
            one_init()?;
            drop(tx);
            let _ = t.join();
            Ok(())
        })
        .unwrap();
    }
}
