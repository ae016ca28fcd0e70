//! Paths hidden or made read-only in every container, as Docker's
//! defaults (moby oci/defaults.go), as plain data for the launcher's
//! MountPlan. `--privileged` lifts both lists.

/// Masked: a directory gets an empty read-only tmpfs over it, a file gets
/// /dev/null bind-mounted over it. They leak host kernel state (memory,
/// keys, timers, scheduler and ACPI/firmware details) or offer controls
/// that only make sense for the host.
pub const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Read-only: bind-mounted over themselves and remounted read-only, so
/// the container can read kernel settings but not write them.
pub const READ_ONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// How a masked path is hidden, by what it is on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// An empty, read-only tmpfs over a directory.
    EmptyDir,
    /// /dev/null over a file.
    DevNull,
    /// Not present here: nothing to hide.
    Absent,
}

/// What `path` needs, judged from its metadata (read in the container's
/// mount namespace, after /proc and /sys are mounted).
pub fn mask_kind(path: &std::path::Path) -> Mask {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Mask::EmptyDir,
        Ok(_) => Mask::DevNull,
        Err(_) => Mask::Absent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_hold_dockers_paths() {
        for p in [
            "/proc/kcore",
            "/proc/keys",
            "/proc/timer_list",
            "/proc/sched_debug",
            "/proc/acpi",
            "/proc/latency_stats",
            "/proc/scsi",
            "/sys/firmware",
            "/sys/devices/virtual/powercap",
        ] {
            assert!(MASKED.contains(&p), "{p}");
        }
        for p in [
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger",
        ] {
            assert!(READ_ONLY.contains(&p), "{p}");
        }
        for p in MASKED.iter().chain(READ_ONLY) {
            assert!(p.starts_with("/proc/") || p.starts_with("/sys/"));
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(mask_kind("/proc/self".as_ref()), Mask::EmptyDir);
        assert_eq!(mask_kind("/proc/self/status".as_ref()), Mask::DevNull);
        assert_eq!(mask_kind("/proc/no-such-thing".as_ref()), Mask::Absent);
    }
}
