//! What this machine lets an unprivileged user do, each probed for real
//! (a namespace made, a mount tried, a device opened), never guessed from
//! version numbers. `burrow info` prints the report; the launcher reads
//! the same probes to pick a rootfs driver.

mod cgroup;
mod confinement;
mod devices;
mod namespaces;
mod network;
mod storage;

use serde::Serialize;

use crate::paths::Paths;
use crate::userns::idmap::{HostUser, IdMapMode};

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

impl From<crate::rootfs::host::Finding> for Check {
    fn from(f: crate::rootfs::host::Finding) -> Check {
        Check {
            ok: f.ok,
            value: f.value,
            hint: f.hint,
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
    /// What `auto` picks: "overlay", "fuse-overlay", or "none" when no
    /// driver works here.
    pub driver: &'static str,
    /// The setting in force (`--storage-driver`'s environment variable or
    /// config file): "overlay", "fuse-overlay" or "auto".
    pub setting: String,
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
    pub ping: Check,
    pub ipv6: Check,
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
    let fuse = devices::fuse(user_namespaces.ok);
    let rootfs_driver = pick_driver(&overlay, &fuse);
    Report {
        user: UserReport {
            name: user.name.clone(),
            uid: user.uid,
            gid: user.gid,
        },
        kernel: crate::sys::kernel_release(),
        id_map,
        overlay,
        fuse,
        tun: devices::tun(user_namespaces.ok),
        ping: network::ping(),
        ipv6: network::ipv6(),
        seccomp: confinement::seccomp(),
        landlock: confinement::landlock(),
        cgroups: cgroup::delegation(),
        storage: storage::storage(paths.root()),
        runtime: storage::runtime(paths),
        rootfs_driver,
        user_namespaces,
    }
}

/// What `--storage-driver auto` picks: the kernel overlay where it mounts,
/// else our FUSE overlay; `setting` (from `rootfs::driver::setting`) says
/// what the user asked for, when that is not `auto`.
fn pick_driver(overlay: &Check, fuse: &Check) -> DriverReport {
    use crate::rootfs::driver::{self, Driver};
    let (driver, check) = match driver::auto_pick(overlay.ok, || fuse.ok) {
        Some(Driver::Overlay) => (
            "overlay",
            Check::yes("overlay (auto: the kernel's overlayfs in the user namespace)"),
        ),
        Some(Driver::FuseOverlay) => (
            "fuse-overlay",
            Check::warn(
                "fuse-overlay (auto: burrow's FUSE overlay; the kernel overlay cannot mount here)",
                "it works, more slowly; see the Kernel overlay line for what would let the \
                 kernel's serve",
            ),
        ),
        None => (
            "none",
            Check::no(
                "none: neither the kernel overlay nor FUSE works here",
                "see the Kernel overlay and FUSE lines; a storage root on a local disk \
                 (--root) often helps",
            ),
        ),
    };
    let mut report = DriverReport {
        driver,
        setting: "auto".into(),
        check,
    };
    match driver::setting(None) {
        Ok((driver::Setting::Auto, _)) => {}
        Ok((s, source)) => {
            report.setting = s.name().into();
            let ok = match s {
                driver::Setting::Overlay => overlay.ok,
                _ => fuse.ok,
            };
            report.check = Check {
                ok,
                value: format!("{} (set by {source}; auto would pick {driver})", s.name()),
                hint: (!ok).then(|| {
                    format!(
                        "{} does not work here (see above); unset {source} or set it to auto",
                        s.name()
                    )
                }),
            };
        }
        Err(e) => {
            report.check = Check::no(
                format!("{} (auto would pick {driver})", crate::error::one_line(&e)),
                "fix the setting: overlay, fuse-overlay or auto",
            );
        }
    }
    report
}

/// The mode `burrow run` will use for this user, in a short phrase.
pub fn id_map_mode_name(mode: &IdMapMode) -> &'static str {
    match mode {
        IdMapMode::SubIds { .. } => "subid",
        IdMapMode::Single => "single",
    }
}
