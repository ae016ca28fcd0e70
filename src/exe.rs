//! Run from a sealed copy of ourselves (CVE-2019-5736, as runc does).
//!
//! Non-dumpable stages keep a container's processes out of their /proc
//! (the sandbox's init and enter), but one road stays open: the command we execve
//! may be a script whose interpreter is `/proc/self/exe`. The kernel
//! resolves that in the process doing the execve, ours, so the
//! container's process then runs the host's burrow binary, dumpable and
//! with its own libraries loaded: it can open its /proc/self/exe and
//! write the binary once no burrow runs it. Root in the container is the
//! user, so a binary the user owns (`cargo install`, ~/.local/bin) is
//! writable that way.
//!
//! So a command that starts container processes first re-executes itself
//! from a file no container can write, as runc does; the exe of every
//! burrow process of that command, and of anything that reaches it
//! through /proc, is then that file:
//! - first choice, no copy: the binary itself through a read-only bind
//!   mount made in a throwaway user and mount namespace (a "keeper"
//!   child). Attached nowhere, it cannot be remounted writable from a
//!   container (nor by anyone: no namespace holds it), and every write,
//!   chmod or truncate through it fails with EROFS. About a fork and an
//!   unshare (Linux 5.12: open_tree, mount_setattr).
//! - else a copy in a memfd sealed against any write: the binary's size
//!   in copying and in memory while the command's processes run.
//!
//! Paid only when the binary is one the user could write: an installed
//! root-owned binary (or one on a read-only mount) is out of the
//! container's reach as it is.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

use anyhow::Context;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag, SealFlag};
use nix::sched::{unshare, CloneFlags};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use nix::unistd::ForkResult;

/// What the copy is sealed against: writes, size changes, new seals.
fn seals() -> SealFlag {
    SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE
}

/// Re-execute this command from a read-only mount of the binary (else a
/// sealed copy) when the binary is one the user could write and we do
/// not run from either yet. Returns when none is needed, or (after a
/// warning) when neither can be made.
///
/// Call before the command does anything: it starts again from `main`.
pub fn run_out_of_reach() {
    if !needs_protection() {
        return;
    }
    if let Err(e) = reexec_read_only() {
        tracing::debug!("cannot run from a read-only mount of burrow ({e:#}); copying it");
    }
    if let Err(e) = reexec_from_copy() {
        tracing::warn!(
            "cannot run from a read-only mount or a sealed copy of burrow ({e:#}): a \
             container could reach the burrow binary through /proc (CVE-2019-5736); install \
             it read-only for the user (owned by root) to be safe"
        );
    }
}

/// Whether our binary is writable by the user (and not on a read-only
/// mount, such as ours) and we do not run from a sealed copy already.
fn needs_protection() -> bool {
    let Ok(exe) = File::open("/proc/self/exe") else {
        return false;
    };
    if is_sealed_copy(&exe) {
        return false;
    }
    let read_only = nix::sys::statvfs::fstatvfs(&exe)
        .is_ok_and(|v| v.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    if read_only {
        return false;
    }
    let owner = exe.metadata().map(|m| m.uid()).ok();
    owner == Some(nix::unistd::getuid().as_raw())
        || nix::unistd::access("/proc/self/exe", nix::unistd::AccessFlags::W_OK).is_ok()
}

/// A memfd carrying our seals (a copy made by `reexec_from_copy`).
fn is_sealed_copy(exe: &File) -> bool {
    let has_seals = fcntl(exe.as_raw_fd(), FcntlArg::F_GET_SEALS)
        .is_ok_and(|s| SealFlag::from_bits_truncate(s).contains(seals()));
    // Also by its name: never loop, whatever the kernel says of seals.
    let named = std::fs::read_link("/proc/self/exe")
        .is_ok_and(|l| l.as_os_str().as_bytes().starts_with(b"/memfd:burrow"));
    has_seals || named
}

/// Execute the binary through a read-only bind mount of it, made by a
/// keeper child in a user and mount namespace of its own; the keeper
/// holds the mount until our execve is done (our end of its pipe closes
/// then). Only returns on failure.
fn reexec_read_only() -> anyhow::Result<()> {
    let path = std::fs::read_link("/proc/self/exe").context("read /proc/self/exe")?;
    let path = CString::new(path.as_os_str().as_bytes()).context("the binary's path")?;
    let ours = nix::sys::stat::stat("/proc/self/exe").context("stat /proc/self/exe")?;
    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe")?;
    let (hold_r, hold_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe")?;
    match crate::sys::fork().context("fork")? {
        ForkResult::Child => {
            drop(ready_r);
            drop(hold_w);
            // The keeper is a grandchild: none of ours to reap (the
            // re-executed command would leave a zombie).
            if let Ok(ForkResult::Child) = crate::sys::fork() {
                keeper(&path, (ours.st_dev, ours.st_ino), ready_w, hold_r)
            }
            crate::sys::exit_now(0)
        }
        ForkResult::Parent { child } => {
            let _ = nix::sys::wait::waitpid(child, None);
        }
    }
    drop(ready_w);
    drop(hold_r);
    let mut said = [0u8; 8];
    let mut r = File::from(ready_r);
    std::io::Read::read_exact(&mut r, &mut said).context("the keeper failed")?;
    let (pid, fd) = (
        i32::from_ne_bytes(said[..4].try_into().unwrap_or_default()),
        i32::from_ne_bytes(said[4..].try_into().unwrap_or_default()),
    );
    let via = CString::new(format!("/proc/{pid}/fd/{fd}")).context("path")?;
    let (args, env) = args_and_env();
    let err = nix::unistd::execve(&via, &args, &env).unwrap_err();
    drop(hold_w);
    Err(err).context("execute the read-only mount")
}

/// The keeper: the read-only mount, its pid and fd number to `ready`,
/// then wait until `hold` closes. Never returns.
fn keeper(path: &CString, ours: (u64, u64), ready: OwnedFd, hold: OwnedFd) -> ! {
    let made = unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS)
        .and_then(|()| crate::sys::read_only_clone(path))
        .and_then(|fd| {
            // The same file we run: it may have been replaced since.
            let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
            match (st.st_dev, st.st_ino) == ours {
                true => Ok(fd),
                false => Err(Errno::ESTALE),
            }
        });
    if let Ok(fd) = &made {
        let mut said = nix::unistd::getpid().as_raw().to_ne_bytes().to_vec();
        said.extend_from_slice(&fd.as_raw_fd().to_ne_bytes());
        let _ = nix::unistd::write(&ready, &said);
    }
    drop(ready);
    let mut b = [0u8; 1];
    let _ = nix::unistd::read(hold.as_raw_fd(), &mut b);
    crate::sys::exit_now(0)
}

/// Our arguments and environment, for execve.
fn args_and_env() -> (Vec<CString>, Vec<CString>) {
    let args = std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let env = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    (args, env)
}

/// Copy the binary into a sealed memfd and execute that, with our
/// arguments and environment. Only returns on failure.
fn reexec_from_copy() -> anyhow::Result<()> {
    let mut src = File::open("/proc/self/exe").context("open /proc/self/exe")?;
    let base = MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3): executable even where memfds default to not;
    // older kernels refuse the flag.
    let exec = MemFdCreateFlag::from_bits_retain(libc::MFD_EXEC);
    let fd = match memfd_create(c"burrow", base | exec) {
        Err(Errno::EINVAL) => memfd_create(c"burrow", base),
        other => other,
    }
    .context("memfd_create")?;
    let mut copy = File::from(fd);
    std::io::copy(&mut src, &mut copy).context("copy the binary")?;
    fcntl(copy.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals())).context("seal the copy")?;
    let (args, env) = args_and_env();
    let err = nix::unistd::fexecve(copy.as_raw_fd(), &args, &env).unwrap_err();
    Err(err).context("execute the copy")
}
