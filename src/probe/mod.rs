//! What this machine lets an unprivileged user do, each probed for real
//! (a namespace made, a mount tried, a device opened), never guessed from
//! version numbers. `burrow info` prints the report; the launcher reads
//! the same probes to pick a rootfs driver.

mod cgroup;
mod confinement;
mod devices;
mod namespaces;
mod storage;

use serde::Serialize;

use crate::paths::Paths;
use crate::sandbox::idmap::{HostUser, IdMapMode};

pub use storage::fs_type_name;

/// One line of the report: a yes/no, what was found, and what to do.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub ok: bool,
    /// What was found ("yes", "ABI 4", "ext4", ...).
    pub value: String,
    /// When `ok` is false (or a warning applies): what the user can do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Check {
    pub fn yes(value: impl Into<String>) -> Self {
        Check {
            ok: true,
            value: value.into(),
            hint: None,
        }
    }

    pub fn no(value: impl Into<String>, hint: impl Into<String>) -> Self {
        Check {
            ok: false,
            value: value.into(),
            hint: Some(hint.into()),
        }
    }

    /// Works, but with something the user should know.
    pub fn warn(value: impl Into<String>, hint: impl Into<String>) -> Self {
        Check {
            ok: true,
            value: value.into(),
            hint: Some(hint.into()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UserReport {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdMapReport {
    /// "subid" or "single".
    pub mode: &'static str,
    #[serde(flatten)]
    pub check: Check,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageReport {
    pub root: String,
    pub fs_type: String,
    #[serde(flatten)]
    pub check: Check,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeReport {
    pub dir: String,
    #[serde(flatten)]
    pub check: Check,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LandlockReport {
    /// The kernel's Landlock ABI version, when it has Landlock.
    pub abi: Option<u32>,
    #[serde(flatten)]
    pub check: Check,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriverReport {
    /// "overlay", or "none" when no driver works here.
    pub driver: &'static str,
    #[serde(flatten)]
    pub check: Check,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub user: UserReport,
    pub kernel: String,
    pub user_namespaces: Check,
    pub id_map: IdMapReport,
    pub overlay: Check,
    pub fuse: Check,
    pub tun: Check,
    pub seccomp: Check,
    pub landlock: LandlockReport,
    pub cgroups: Check,
    pub storage: StorageReport,
    pub runtime: RuntimeReport,
    pub rootfs_driver: DriverReport,
}

/// Run every probe. The storage root must exist (the overlay probe mounts
/// on its file system).
pub fn collect(paths: &Paths) -> Report {
    let user = HostUser::current();
    tracing::debug!(user = %user.name, uid = user.uid, root = %paths.root().display(), "probing");
    let user_namespaces = namespaces::user_namespaces();
    let id_map = namespaces::id_map(&user, user_namespaces.ok);
    let overlay = namespaces::overlay(paths.root(), user_namespaces.ok);
    let rootfs_driver = pick_driver(&overlay);
    Report {
        user: UserReport {
            name: user.name.clone(),
            uid: user.uid,
            gid: user.gid,
        },
        kernel: crate::sys::kernel_release(),
        id_map,
        overlay,
        fuse: devices::fuse(user_namespaces.ok),
        tun: devices::tun(user_namespaces.ok),
        seccomp: confinement::seccomp(),
        landlock: confinement::landlock(),
        cgroups: cgroup::delegation(),
        storage: storage::storage(paths.root()),
        runtime: storage::runtime(paths),
        rootfs_driver,
        user_namespaces,
    }
}

/// What `--storage-driver auto` would use. Our FUSE overlay is not built
/// yet, so the kernel overlay is the only driver for now.
fn pick_driver(overlay: &Check) -> DriverReport {
    if overlay.ok {
        DriverReport {
            driver: "overlay",
            check: Check::yes("overlay (kernel overlayfs in the user namespace)"),
        }
    } else {
        DriverReport {
            driver: "none",
            check: Check::no(
                "none: the kernel overlay cannot mount here",
                "see the Overlay line; a storage root on a local disk (--root) often helps",
            ),
        }
    }
}

/// The mode `burrow run` will use for this user, in a short phrase.
pub fn id_map_mode_name(mode: &IdMapMode) -> &'static str {
    match mode {
        IdMapMode::SubIds { .. } => "subid",
        IdMapMode::Single => "single",
    }
}
