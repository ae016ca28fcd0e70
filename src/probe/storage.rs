//! The storage root's file system and the runtime dir.

use std::path::Path;

use super::{Check, RuntimeReport, StorageReport};
use crate::paths::{Paths, RuntimeSource};

/// Name a statfs magic number; the ones users meet on shared machines.
pub fn fs_type_name(magic: i64) -> String {
    match magic {
        0xEF53 => "ext4",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlay",
        0x6573_5546 => "fuse",
        0x2FC1_2FC1 => "zfs",
        0x6969 => "nfs",
        0x4750_4653 => "gpfs",
        0x0BD0_0BD0 => "lustre",
        0x00C3_6400 => "ceph",
        0xFF53_4D42 => "cifs",
        0xFE53_4D42 => "smb2",
        0x5346_414F => "afs",
        0x0187 => "autofs",
        _ => return format!("unknown (0x{magic:x})"),
    }
    .to_string()
}

pub fn fs_type_of(path: &Path) -> String {
    match nix::sys::statfs::statfs(path) {
        Ok(s) => fs_type_name(s.filesystem_type().0),
        Err(e) => format!("unknown ({})", e.desc()),
    }
}

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
