//! /dev/fuse (our FUSE overlay) and /dev/net/tun (the userspace network).

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;

use super::Check;
use crate::rootfs::host;
use crate::sys::{self, ChildFailure};

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(0))
}

/// Open /dev/fuse and mount a FUSE file system on it inside a user
/// namespace (Linux 4.18+ allows that without fusermount).
pub fn fuse(userns_ok: bool) -> Check {
    const DEV: &str = "/dev/fuse";
    if let Err(e) = OpenOptions::new().read(true).write(true).open(DEV) {
        return host::device_unusable(DEV, &e, "fuse").into();
    }
    if !userns_ok {
        return Check::warn(
            "device usable",
            "mounting needs user namespaces (see above)",
        );
    }
    let target = std::env::temp_dir();
    let result = sys::in_child(|| {
        crate::userns::enter_single(CloneFlags::CLONE_NEWNS)?;
        let dev = OpenOptions::new()
            .read(true)
            .write(true)
            .open(DEV)
            .map_err(|e| ChildFailure::new("open /dev/fuse", io_errno(&e)))?;
        let opts = format!("fd={},rootmode=40000,user_id=0,group_id=0", dev.as_raw_fd());
        mount(
            Some("burrow-probe"),
            &target,
            Some("fuse"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(opts.as_str()),
        )
        .map_err(|e| ChildFailure::new("mount fuse in a user namespace", e))?;
        let _ = umount2(&target, MntFlags::MNT_DETACH);
        Ok(())
    });
    match result {
        Ok(()) => Check::yes("yes (/dev/fuse, mountable in a user namespace)"),
        Err(f) => Check::no(
            format!("no ({f})"),
            "the kernel refuses FUSE mounts in user namespaces (Linux 4.18+ needed)",
        ),
    }
}

/// Open /dev/net/tun and create a tap device in a new network namespace,
/// as the userspace network stack will.
pub fn tun(userns_ok: bool) -> Check {
    const DEV: &str = "/dev/net/tun";
    if let Err(e) = OpenOptions::new().read(true).write(true).open(DEV) {
        return host::device_unusable(DEV, &e, "tun").into();
    }
    if !userns_ok {
        return Check::warn("device usable", "needs user namespaces (see above)");
    }
    let result = sys::in_child(|| {
        crate::userns::enter_single(CloneFlags::CLONE_NEWNET)?;
        let dev = OpenOptions::new()
            .read(true)
            .write(true)
            .open(DEV)
            .map_err(|e| ChildFailure::new("open /dev/net/tun", io_errno(&e)))?;
        sys::tun_set_iff(&dev, "tap0").map_err(|e| ChildFailure::new("TUNSETIFF", e))
    });
    match result {
        Ok(()) => Check::yes("yes (tap device in a network namespace: the default network works)"),
        Err(f) => Check::no(
            format!("no ({f})"),
            "the kernel refuses tap devices here: use --network none or host",
        ),
    }
}
