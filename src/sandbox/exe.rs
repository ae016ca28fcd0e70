//! Run from a sealed copy of ourselves (CVE-2019-5736, as runc does).
//!
//! Non-dumpable stages keep a container's processes out of their /proc
//! (`child`, `enter`), but one road stays open: the command we execve
//! may be a script whose interpreter is `/proc/self/exe`. The kernel
//! resolves that in the process doing the execve, ours, so the
//! container's process then runs the host's burrow binary, dumpable and
//! with its own libraries loaded: it can open its /proc/self/exe and
//! write the binary once no burrow runs it. Root in the container is the
//! user, so a binary the user owns (`cargo install`, ~/.local/bin) is
//! writable that way.
//!
//! So a command that starts container processes first re-executes itself
//! from an in-memory copy (a memfd sealed against any write): the exe of
//! every burrow process of that command, and of anything that reaches it
//! through /proc, is that copy. It costs a copy of the binary per command
//! (and the memory it holds while the command's processes run), paid only
//! when the binary is one the user could write: an installed
//! root-owned binary is out of the container's reach as it is.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

use anyhow::Context;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

/// What the copy is sealed against: writes, size changes, new seals.
fn seals() -> SealFlag {
    SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE
}

/// Re-execute this command from a sealed copy of the binary when the
/// binary is one the user could write (and we do not run from the copy
/// yet). Returns when none is needed, or (after a warning) when the copy
/// cannot be made.
///
/// Call before the command does anything: it starts again from `main`.
pub fn run_sealed() {
    if !needs_copy() {
        return;
    }
    if let Err(e) = reexec_from_copy() {
        tracing::warn!(
            "cannot run from a sealed copy of burrow ({e:#}): a container could reach the \
             burrow binary through /proc (CVE-2019-5736); install it read-only for the user \
             (owned by root) to be safe"
        );
    }
}

/// Whether our binary is writable by the user and we do not run from a
/// sealed copy already.
fn needs_copy() -> bool {
    let Ok(exe) = File::open("/proc/self/exe") else {
        return false;
    };
    if is_sealed_copy(&exe) {
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
    let args: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let err = nix::unistd::fexecve(copy.as_raw_fd(), &args, &env).unwrap_err();
    Err(err).context("execute the copy")
}
