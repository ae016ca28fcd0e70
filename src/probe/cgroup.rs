//! Is a cgroup v2 subtree delegated to us? Without one, --memory, --cpus
//! and pause cannot be enforced (--pids-limit falls back to RLIMIT_NPROC).

use std::fs;

use super::Check;
use crate::container::cgroup::{own_path as own_cgroup, v2_mount as cgroup2_mount};

pub fn delegation() -> Check {
    let Some(mount) = cgroup2_mount() else {
        return Check::no(
            "no (cgroup v2 is not mounted; v1 only)",
            "--memory and --cpus will be ignored with a warning, --pids-limit becomes \
             RLIMIT_NPROC; ask an admin for cgroup v2 (systemd.unified_cgroup_hierarchy=1)",
        );
    };
    let hybrid = mount != std::path::Path::new("/sys/fs/cgroup");
    let Some(own) = own_cgroup() else {
        return Check::no(
            "no (this process is in no v2 cgroup)",
            "limits are not enforceable",
        );
    };
    let dir = mount.join(own.trim_start_matches('/'));
    let controllers = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let writable = nix::unistd::access(&dir, nix::unistd::AccessFlags::W_OK).is_ok()
        && nix::unistd::access(
            &dir.join("cgroup.subtree_control"),
            nix::unistd::AccessFlags::W_OK,
        )
        .is_ok();
    let shape = if hybrid { "v1/v2 hybrid" } else { "v2" };
    // Limits need these; others (hugetlb, rdma...) do not make a delegation.
    let useful: Vec<&str> = controllers
        .split_whitespace()
        .filter(|c| matches!(*c, "memory" | "cpu" | "pids" | "io"))
        .collect();
    match (writable, useful.is_empty()) {
        (true, false) => Check::yes(format!(
            "yes ({shape}, {} delegated: {})",
            dir.display(),
            useful.join(" ")
        )),
        (true, true) => Check::no(
            format!(
                "no ({shape}: {} has no memory/cpu/pids controller)",
                dir.display()
            ),
            match crate::container::cgroup::delegated_dir() {
                Ok(_) => {
                    "the controllers are on v1: --memory and --cpus will be ignored \
                     with a warning, --pids-limit becomes RLIMIT_NPROC; pause works (the \
                     freezer needs no controller)"
                }
                Err(_) => {
                    "the controllers are on v1: --memory and --cpus will be ignored \
                     with a warning, --pids-limit becomes RLIMIT_NPROC; pause needs a cgroup \
                     of your own, not the root one"
                }
            },
        ),
        (false, _) => Check::no(
            format!("no ({shape}, {} is not delegated to you)", dir.display()),
            "--memory and --cpus will be ignored with a warning, --pids-limit becomes \
             RLIMIT_NPROC, and pause is not possible; with systemd, an admin can set \
             Delegate=yes for user@.service",
        ),
    }
}
