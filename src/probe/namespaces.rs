//! Probes that make a user namespace: can we, can we map ids, can the
//! kernel overlay mount inside it.

use std::fs;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

use super::{Check, IdMapReport};
use crate::sys::{self, ChildFailure};
use crate::userns::idmap::{self, HostUser, IdMapMode};

fn read_sysctl(path: &str) -> Option<i64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// In a child: a new user and mount namespace, our id mapped to root, and
/// a tmpfs mounted, which needs the capabilities the namespace should give.
pub(super) fn enter_single_userns(extra: CloneFlags) -> Result<(), ChildFailure> {
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    unshare(CloneFlags::CLONE_NEWUSER | extra)
        .map_err(|e| ChildFailure::new("unshare(CLONE_NEWUSER)", e))?;
    let w = |file: &str, content: String| {
        fs::write(format!("/proc/self/{file}"), content).map_err(|e| {
            ChildFailure::new(
                &format!("write /proc/self/{file}"),
                Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            )
        })
    };
    w("setgroups", "deny".into())?;
    w("uid_map", format!("0 {uid} 1"))?;
    w("gid_map", format!("0 {gid} 1"))?;
    Ok(())
}

/// Can this user make a user namespace and use the capabilities in it?
pub fn user_namespaces() -> Check {
    let result = sys::in_child(|| {
        enter_single_userns(CloneFlags::CLONE_NEWNS)?;
        crate::userns::make_private().map_err(|e| ChildFailure::new("make mounts private", e))?;
        mount(
            Some("tmpfs"),
            "/tmp",
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|e| ChildFailure::new("mount tmpfs in the namespace", e))
    });
    match result {
        Ok(()) => Check::yes("yes"),
        Err(f) => Check::no(format!("no ({f})"), userns_hint(&f)),
    }
}

/// Name the usual causes, from the sysctls that make them.
fn userns_hint(f: &ChildFailure) -> String {
    if read_sysctl("/proc/sys/user/max_user_namespaces") == Some(0) {
        return "user.max_user_namespaces is 0; ask an admin to run \
                sysctl -w user.max_user_namespaces=15000 (and set it in /etc/sysctl.d)"
            .into();
    }
    if read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == Some(0) {
        return "kernel.unprivileged_userns_clone is 0; ask an admin to run \
                sysctl -w kernel.unprivileged_userns_clone=1"
            .into();
    }
    if read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == Some(1) {
        return "Ubuntu's kernel.apparmor_restrict_unprivileged_userns is 1; ask an admin for an \
                AppArmor profile that allows 'userns' for burrow, or to set that sysctl to 0"
            .into();
    }
    match f.errno {
        Errno::ENOSPC => "the user namespace limit is reached (user.max_user_namespaces)".into(),
        Errno::EPERM => {
            "the kernel or a seccomp filter forbids it (inside another container?)".into()
        }
        _ => "user namespaces are not available on this kernel".into(),
    }
}

/// Which id-map mode `run` will use, and proof that it works: with a range,
/// newuidmap/newgidmap are really run on a fresh namespace.
pub fn id_map(user: &HostUser, userns_ok: bool) -> IdMapReport {
    let choice = idmap::choose(user);
    let mode = super::id_map_mode_name(&choice.mode);
    let check = match (&choice.mode, userns_ok) {
        (_, false) => Check::no("unknown", "needs user namespaces (see above)"),
        (IdMapMode::Single, true) => Check::warn(
            "single id: you are root in the container, other ids are not mapped",
            choice.why_single.clone().unwrap_or_default(),
        ),
        (IdMapMode::SubIds { uid, gid }, true) => match prove_helpers(&choice.mode, user) {
            Ok(()) => Check::yes(format!(
                "subordinate ids: uids {}-{}, gids {}-{} via newuidmap/newgidmap",
                uid.start,
                uid.start + uid.count - 1,
                gid.start,
                gid.start + gid.count - 1
            )),
            Err(e) => Check::no(
                format!("subordinate ids configured but unusable: {e}"),
                "check that newuidmap/newgidmap are setuid root or have file capabilities \
                 (reinstall the uidmap package); burrow falls back to a single id",
            ),
        },
    };
    IdMapReport { mode, check }
}

fn prove_helpers(mode: &IdMapMode, user: &HostUser) -> Result<(), String> {
    tracing::debug!(
        ?mode,
        "probe: running newuidmap/newgidmap on a fresh namespace"
    );
    let outcome = sys::fork_probe(
        |ready| {
            unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| ChildFailure::new("unshare", e))?;
            ready();
            // The parent has written our maps; a range shows as two lines.
            let map = fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
            if map.lines().count() < 2 {
                return Err(ChildFailure::new("uid_map has no range", Errno::EPERM));
            }
            Ok(())
        },
        |pid| idmap::apply(pid, mode, user).map_err(|e| format!("{e:#}")),
    );
    match outcome {
        Ok(Some(Ok(()))) => Ok(()),
        Ok(Some(Err(e))) => Err(e),
        Ok(None) => Err("the probe child did not start".into()),
        Err(f) => Err(f.to_string()),
    }
}

/// Can the kernel's overlayfs mount inside a user namespace, with its upper
/// dir on the storage root's file system (where containers will keep it)?
pub fn overlay(root: &Path, userns_ok: bool) -> Check {
    if !userns_ok {
        return Check::no("unknown", "needs user namespaces (see above)");
    }
    match try_overlay(root) {
        Ok(c) | Err(c) => c,
    }
}

/// The overlay probe for `--storage-driver auto`: `None` when the user
/// namespace itself could not be made (then no driver helps).
pub fn overlay_for_auto(root: &Path) -> Option<Check> {
    try_overlay(root).ok()
}

/// Mount a test overlay; `Err` when the user namespace setup failed
/// before the overlay was tried.
fn try_overlay(root: &Path) -> Result<Check, Check> {
    // The mount options name the upper dir by its full path.
    if root.to_string_lossy().contains([',', ':']) {
        return Ok(Check::no(
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
            return Ok(Check::no(
                format!("no ({e})"),
                "the storage root must be writable",
            ))
        }
    };
    let d = dir.path();
    for sub in ["lower", "upper", "work", "merged"] {
        if let Err(e) = fs::create_dir(d.join(sub)) {
            return Ok(Check::no(
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
        enter_single_userns(CloneFlags::CLONE_NEWNS)?;
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
        Ok(()) => Check::yes("yes (overlayfs in a user namespace, userxattr)"),
        Err(f) => {
            userns_failed = f.step != "mount overlay";
            let fs_type = super::storage::fs_type_of(root);
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
            Check::no(format!("no ({f})"), hint)
        }
    };
    if userns_failed {
        Err(check)
    } else {
        Ok(check)
    }
}
