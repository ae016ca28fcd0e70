//! The storage root's file system and the runtime dir.

use std::path::Path;

use super::{Check, RuntimeReport, StorageReport};
use crate::paths::{Paths, RuntimeSource};
use crate::rootfs::host::fs_type_of;

pub fn storage(root: &Path) -> StorageReport {
    let fs_type = fs_type_of(root);
    let check = match fs_type.as_str() {
        "nfs" | "gpfs" | "lustre" | "ceph" | "cifs" | "smb2" | "afs" => Check::warn(
            format!("{} on {fs_type} (a network file system)", root.display()),
            "the kernel overlay cannot keep its upper dir there and locks are slow; \
             put the store on a local disk with --root or BURROW_ROOT (e.g. /var/tmp/$USER)",
        ),
        _ => Check::yes(format!("{} on {fs_type}", root.display())),
    };
    StorageReport {
        root: root.display().to_string(),
        fs_type,
        check,
    }
}

pub fn runtime(paths: &Paths) -> RuntimeReport {
    let dir = paths.runtime().display().to_string();
    let check = match paths.runtime_source() {
        RuntimeSource::Xdg => Check::yes(dir.clone()),
        RuntimeSource::TmpFallback(why) => Check::warn(
            format!("{dir} (fallback)"),
            format!("{why}; burrow uses a private dir under /tmp instead, which is fine"),
        ),
    };
    RuntimeReport { dir, check }
}
