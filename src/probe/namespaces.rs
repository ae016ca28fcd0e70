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

/// Can this user make a user namespace and use the capabilities in it?
pub fn user_namespaces() -> Check {
    let result = sys::in_child(|| {
        crate::userns::enter_single(CloneFlags::CLONE_NEWNS)?;
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
        (IdMapMode::Single, true) if crate::sandbox::ids::available() => Check::warn(
            "single id: you are root in the container; other ids are emulated (set*id, \
             get*id, chown and stat answered by burrow, owners kept in xattrs, write \
             permissions checked on them; the kernel sees one user)",
            choice.why_single.clone().unwrap_or_default(),
        ),
        (IdMapMode::Single, true) => Check::warn(
            format!(
                "single id: you are root in the container, other ids are not mapped \
                 (emulating them needs Linux {}.{})",
                crate::sandbox::ids::MIN_KERNEL.0,
                crate::sandbox::ids::MIN_KERNEL.1
            ),
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
    match crate::rootfs::host::overlay_mounts(root) {
        Ok(c) | Err(c) => c.into(),
    }
}
