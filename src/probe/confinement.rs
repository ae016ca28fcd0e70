//! seccomp and Landlock: the walls that do not need root.

use super::{Check, LandlockReport};
use crate::sys::{self, ChildFailure};
use nix::errno::Errno;

/// Install a (permissive) filter in a child: proves filters are accepted.
pub fn seccomp() -> Check {
    let result =
        sys::in_child(|| sys::seccomp_allow_all().map_err(|e| ChildFailure::new("seccomp", e)));
    match result {
        Ok(()) => Check::yes("yes (filters accepted)"),
        Err(f) if f.errno == Errno::EINVAL || f.errno == Errno::ENOSYS => Check::no(
            format!("no ({f})"),
            "the kernel lacks CONFIG_SECCOMP_FILTER; containers will run without a syscall filter",
        ),
        Err(f) => Check::no(format!("no ({f})"), "seccomp filters are refused here"),
    }
}

pub fn landlock() -> LandlockReport {
    match sys::landlock_abi() {
        Ok(abi) => LandlockReport {
            abi: Some(abi),
            check: Check::yes(format!("yes (ABI {abi})")),
        },
        Err(Errno::EOPNOTSUPP) => LandlockReport {
            abi: None,
            check: Check::no(
                "no (built into the kernel but disabled at boot)",
                "ask an admin to add landlock to the lsm= kernel parameter",
            ),
        },
        Err(e) => LandlockReport {
            abi: None,
            check: Check::no(
                format!("no ({})", e.desc()),
                "the kernel has no Landlock (Linux 5.13+ with CONFIG_SECURITY_LANDLOCK); \
                 file access rules fall back to mounts alone",
            ),
        },
    }
}
