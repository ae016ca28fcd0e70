//! What the host lets the storage drivers do, each checked for real: can
//! /dev/fuse be opened, which file system holds the store, and does the
//! kernel overlay mount there in a user namespace. `driver` decides with
//! these facts; `crate::probe` reports them (`burrow info`).

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::CloneFlags;

use crate::sys::{self, ChildFailure};

/// What a check found: a yes/no, what was seen, and (when it fails) what
/// the user can do. `probe` turns it into a report line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub ok: bool,
    pub value: String,
    pub hint: Option<String>,
}

impl Finding {
    fn yes(value: impl Into<String>) -> Self {
        Finding {
            ok: true,
            value: value.into(),
            hint: None,
        }
    }

    fn no(value: impl Into<String>, hint: impl Into<String>) -> Self {
        Finding {
            ok: false,
            value: value.into(),
            hint: Some(hint.into()),
        }
    }
}

/// Why /dev/fuse cannot be opened, with what to do, in one phrase; `None`
/// when it can (the fuse-overlay driver checks this before it starts).
pub fn fuse_device_problem() -> Option<String> {
    const DEV: &str = "/dev/fuse";
    let e = OpenOptions::new().read(true).write(true).open(DEV).err()?;
    let c = device_unusable(DEV, &e, "fuse");
    Some(match c.hint {
        Some(h) => format!("{}; {h}", c.value),
        None => c.value,
    })
}

/// What the user meets at a device they cannot open (`/dev/fuse`,
/// `/dev/net/tun`), with what an admin can do about it.
pub fn device_unusable(path: &str, err: &std::io::Error, module: &str) -> Finding {
    let p = Path::new(path);
    if err.kind() == std::io::ErrorKind::NotFound {
        return Finding::no(
            format!("no ({path} does not exist)"),
            format!("ask an admin to load the {module} module (modprobe {module})"),
        );
    }
    Finding::no(
        format!("no ({path}: {err}; {})", describe(p)),
        format!("ask an admin to run: chmod 0666 {path} (most distributions ship it so)"),
    )
}

/// "crw------- root" for a device the user cannot open.
fn describe(path: &Path) -> String {
    match fs::metadata(path) {
        Ok(m) => {
            let owner = nix::unistd::User::from_uid(m.uid().into())
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| m.uid().to_string());
            format!(
                "mode {:04o}, owner {owner}",
                m.permissions().mode() & 0o7777
            )
        }
        Err(e) => e.to_string(),
    }
}

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

/// The name of the file system that holds `path`.
pub fn fs_type_of(path: &Path) -> String {
    match nix::sys::statfs::statfs(path) {
        Ok(s) => fs_type_name(s.filesystem_type().0),
        Err(e) => format!("unknown ({})", e.desc()),
    }
}

/// Can the kernel overlay mount inside a user namespace, with its upper
/// dir on the store's file system? Mounts a test overlay; `Err` when the user namespace setup failed
/// before the overlay was tried.
pub fn overlay_mounts(root: &Path) -> Result<Finding, Finding> {
    // The mount options name the upper dir by its full path.
    if root.to_string_lossy().contains([',', ':']) {
        return Ok(Finding::no(
            "no (the storage root's path has a ',' or ':')",
            "overlayfs mount options cannot carry those; a --root without them lets the \
             kernel overlay serve",
        ));
    }
    let dir = match tempfile::Builder::new()
        .prefix("probe-overlay-")
        .tempdir_in(root)
    {
        Ok(d) => d,
        Err(e) => {
            return Ok(Finding::no(
                format!("no ({e})"),
                "the storage root must be writable",
            ))
        }
    };
    let d = dir.path();
    for sub in ["lower", "upper", "work", "merged"] {
        if let Err(e) = fs::create_dir(d.join(sub)) {
            return Ok(Finding::no(
                format!("no ({e})"),
                "the storage root must be writable",
            ));
        }
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={},userxattr",
        d.join("lower").display(),
        d.join("upper").display(),
        d.join("work").display()
    );
    let merged = d.join("merged");
    tracing::debug!(%opts, "probe: mounting overlay in a user namespace");
    let mut userns_failed = false;
    let result = sys::in_child(|| {
        crate::userns::enter_single(CloneFlags::CLONE_NEWNS)?;
        mount(
            Some("overlay"),
            &merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(|e| ChildFailure::new("mount overlay", e))
    });
    // overlayfs leaves work/work with mode 000; open it up so it can go.
    let _ = crate::fsutil::make_removable(&d.join("work"));
    let check = match result {
        Ok(()) => Finding::yes("yes (overlayfs in a user namespace, userxattr)"),
        Err(f) => {
            userns_failed = f.step != "mount overlay";
            let fs_type = fs_type_of(root);
            let hint = if matches!(
                fs_type.as_str(),
                "nfs" | "gpfs" | "lustre" | "cifs" | "smb2"
            ) {
                format!(
                    "the storage root is on {fs_type}, which cannot hold an overlay upper dir; \
                     use --root on a local disk (e.g. /var/tmp or a scratch dir)"
                )
            } else if f.errno == Errno::EINVAL {
                "the kernel refused the options: Linux 5.11 or newer is needed for overlay in \
                 a user namespace, and the storage root's file system must be able to hold an \
                 upper dir"
                    .into()
            } else {
                "the kernel overlay is not usable here".into()
            };
            Finding::no(format!("no ({f})"), hint)
        }
    };
    if userns_failed {
        Err(check)
    } else {
        Ok(check)
    }
}
