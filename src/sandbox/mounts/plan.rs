//! The container's mounts as data: a list of operations computed from the
//! request (pure, unit-tested), applied in one loop by `mounts::apply` in
//! the container init. Paths in operations are container paths.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::rootfs::driver::Driver;
use crate::sandbox::{EtcFiles, Network, Rootfs};

/// A mount the user asked for (`-v`, `--mount`, `--tmpfs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum MountRequest {
    Bind {
        /// Absolute host path; it must exist.
        source: PathBuf,
        /// Absolute container path.
        target: String,
        readonly: bool,
    },
    Tmpfs {
        target: String,
        /// Extra mount options (`size=64m,mode=1777`); nosuid,nodev are
        /// always added.
        options: String,
    },
    /// A volume (`-v NAME:/path`, `--mount type=volume`): a bind of its
    /// data dir, or a tmpfs when the volume says so.
    Volume {
        /// The volume's name (the launcher only shows it).
        name: String,
        /// Its data dir on the host (or the host dir of a bind volume).
        source: PathBuf,
        target: String,
        readonly: bool,
        /// Copy what the root holds at `target` into `source` first, when
        /// `source` is empty (Docker's copy on first use; not with
        /// `volume-nocopy`).
        #[serde(default)]
        fill: bool,
        /// A tmpfs volume: a fresh tmpfs with these options, no source.
        #[serde(default)]
        tmpfs: Option<String>,
    },
}

impl MountRequest {
    pub fn target(&self) -> &str {
        match self {
            MountRequest::Bind { target, .. }
            | MountRequest::Tmpfs { target, .. }
            | MountRequest::Volume { target, .. } => target,
        }
    }
}

/// One step of the mount plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountOp {
    /// The kernel overlay as the new root.
    Overlay {
        lower: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
        /// Skip the sync of the upper dir at unmount (tens of ms): only
        /// for containers thrown away when they exit.
        volatile: bool,
    },
    /// Our FUSE overlay as the new root: mounted and served by the
    /// supervisor (`fuse_root`) before the init starts; the init checks
    /// that it is there and pivots into it.
    FuseOverlay {
        lower: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
        /// Only one id is mapped: owners and modes live in an xattr.
        single_id: bool,
    },
    Proc {
        target: String,
    },
    /// sysfs when the network namespace is ours, else a read-only bind of
    /// the host's /sys.
    Sys {
        target: String,
    },
    Tmpfs {
        target: String,
        options: String,
        noexec: bool,
    },
    /// Bind a host device node (/dev/null ...) over an empty file.
    Device {
        name: String,
    },
    Devpts {
        target: String,
        /// Add `gid=5` (tty) only when that id is mapped.
        tty_gid: bool,
    },
    /// POSIX message queues for the new ipc namespace; best effort.
    Mqueue {
        target: String,
    },
    Symlink {
        link: String,
        to: String,
    },
    Bind {
        source: PathBuf,
        target: String,
        readonly: bool,
    },
    /// Copy the root's content at `target` (owners, modes and times kept)
    /// into the empty dir `source`, before `source` is bound there.
    Fill {
        source: PathBuf,
        target: String,
    },
    /// mkdir -p inside the rootfs (the working directory).
    EnsureDir {
        path: String,
    },
    /// Hide a /proc or /sys path (`masks::MASKED`): an empty read-only
    /// tmpfs over a directory, /dev/null over a file.
    Mask {
        path: String,
    },
    /// Bind a /proc path over itself read-only (`masks::READ_ONLY`).
    ReadOnlyPath {
        path: String,
    },
    /// The host's `/` bound (recursively) read-only as the new root:
    /// `burrow sandbox`, in place of the overlay.
    HostRoot,
    /// Remount the root read-only, after everything else.
    ReadOnlyRoot,
    /// A mount as an OCI bundle's config.json gives it (`burrow oci`):
    /// mount(2)'s own arguments, already parsed from its options.
    Spec(SpecMount),
}

/// One `mounts[]` entry of an OCI config, as mount(2) takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecMount {
    /// A host path for binds (absolute), else the file system's source.
    pub source: String,
    pub target: String,
    pub fstype: String,
    /// MS_* flags, without the propagation ones.
    pub flags: u64,
    /// The options mount(2) passes on to the file system.
    pub data: String,
    /// MS_PRIVATE, MS_SLAVE, ... (with MS_REC), applied after the mount.
    pub propagation: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountPlan {
    pub ops: Vec<MountOp>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("container path {0:?} is not absolute (use /path)")]
    RelativeTarget(String),
    #[error("cannot mount over the container's root /")]
    RootTarget,
    #[error("container path {0:?} must not contain '..'")]
    DotDot(String),
}

/// What the plan is computed from.
pub struct PlanInput<'a> {
    pub rootfs: &'a Rootfs,
    pub mounts: &'a [MountRequest],
    pub read_only: bool,
    pub network: Network,
    pub etc: &'a EtcFiles,
    pub cwd: &'a str,
    /// A subordinate id range is mapped (so gid 5 exists).
    pub sub_ids: bool,
    /// The container is removed when it exits (`--rm`).
    pub throwaway: bool,
    /// Docker's masked and read-only /proc and /sys paths (not with
    /// `--privileged`).
    pub masked_paths: bool,
}

/// Devices every container gets, bound from the host.
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Check a container path: absolute, not `/`, no `..`.
pub fn check_target(target: &str) -> Result<(), PlanError> {
    if !target.starts_with('/') {
        return Err(PlanError::RelativeTarget(target.into()));
    }
    let path = Path::new(target);
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(PlanError::DotDot(target.into()));
    }
    if path.components().all(|c| c == Component::RootDir) {
        return Err(PlanError::RootTarget);
    }
    Ok(())
}

/// A minimal /dev: a tmpfs with the usual nodes bound from the host, a
/// private devpts, /dev/shm, mqueue and the standard links.
pub fn dev_ops(sub_ids: bool) -> Vec<MountOp> {
    let mut ops = Vec::new();
    ops.push(MountOp::Tmpfs {
        target: "/dev".into(),
        options: "mode=755,size=65536k".into(),
        noexec: false,
    });
    ops.extend(
        DEVICES
            .iter()
            .map(|d| MountOp::Device { name: (*d).into() }),
    );
    ops.push(MountOp::Devpts {
        target: "/dev/pts".into(),
        tty_gid: sub_ids,
    });
    ops.push(MountOp::Symlink {
        link: "/dev/ptmx".into(),
        to: "pts/ptmx".into(),
    });
    ops.push(MountOp::Tmpfs {
        target: "/dev/shm".into(),
        options: "mode=1777,size=65536k".into(),
        noexec: true,
    });
    ops.push(MountOp::Mqueue {
        target: "/dev/mqueue".into(),
    });
    for (link, to) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/core", "/proc/kcore"),
    ] {
        ops.push(MountOp::Symlink {
            link: link.into(),
            to: to.into(),
        });
    }
    ops
}

/// Compute the mount plan, Docker's order: rootfs, /proc, /dev and its
/// nodes, /sys, the /etc files, then the user's mounts (parents before
/// children), the working dir, and read-only last.
pub fn build(input: &PlanInput) -> Result<MountPlan, PlanError> {
    let r = input.rootfs;
    let mut ops = vec![match r.driver {
        Driver::Overlay => MountOp::Overlay {
            lower: r.lower_dirs.clone(),
            upper: r.upper.clone(),
            work: r.work.clone(),
            volatile: input.throwaway,
        },
        Driver::FuseOverlay => MountOp::FuseOverlay {
            lower: r.lower_dirs.clone(),
            upper: r.upper.clone(),
            work: r.work.clone(),
            single_id: !input.sub_ids,
        },
    }];
    ops.push(MountOp::Proc {
        target: "/proc".into(),
    });
    ops.extend(dev_ops(input.sub_ids));
    let _ = input.network; // sysfs vs bind is decided when applied
    ops.push(MountOp::Sys {
        target: "/sys".into(),
    });
    if input.masked_paths {
        ops.extend(mask_ops());
    }
    for (file, target) in [
        (&input.etc.hosts, "/etc/hosts"),
        (&input.etc.hostname, "/etc/hostname"),
        (&input.etc.resolv_conf, "/etc/resolv.conf"),
    ] {
        // A user mount over the same file wins, as in Docker.
        if !input.mounts.iter().any(|m| m.target() == target) {
            ops.push(MountOp::Bind {
                source: file.clone(),
                target: target.into(),
                readonly: false,
            });
        }
    }
    let mut user: Vec<&MountRequest> = input.mounts.iter().collect();
    for m in &user {
        check_target(m.target())?;
    }
    // Parents first: a mount at /a must not hide one at /a/b.
    user.sort_by_key(|m| Path::new(m.target()).components().count());
    for m in user {
        let op = match m {
            MountRequest::Bind {
                source,
                target,
                readonly,
            } => MountOp::Bind {
                source: source.clone(),
                target: normalize(target),
                readonly: *readonly,
            },
            MountRequest::Tmpfs { target, options } => MountOp::Tmpfs {
                target: normalize(target),
                options: if options.is_empty() {
                    "mode=1777".into()
                } else {
                    options.clone()
                },
                noexec: false,
            },
            MountRequest::Volume {
                tmpfs: Some(options),
                target,
                ..
            } => MountOp::Tmpfs {
                target: normalize(target),
                options: if options.is_empty() {
                    "mode=1777".into()
                } else {
                    options.clone()
                },
                noexec: false,
            },
            MountRequest::Volume {
                source,
                target,
                readonly,
                fill,
                ..
            } => {
                if *fill {
                    ops.push(MountOp::Fill {
                        source: source.clone(),
                        target: normalize(target),
                    });
                }
                MountOp::Bind {
                    source: source.clone(),
                    target: normalize(target),
                    readonly: *readonly,
                }
            }
        };
        ops.push(op);
    }
    ops.push(MountOp::EnsureDir {
        path: input.cwd.to_string(),
    });
    if input.read_only {
        ops.push(MountOp::ReadOnlyRoot);
    }
    Ok(MountPlan { ops })
}

/// `/a//b/` -> `/a/b`.
fn normalize(target: &str) -> String {
    let parts: Vec<&str> = target.split('/').filter(|p| !p.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

/// Resolve a container path to a host path under `root`, following
/// symlinks as if `root` were `/`: an image's `/etc/hosts -> /host/x` must
/// not send a mount outside the rootfs. Missing components are kept as
/// they are (the caller creates them).
pub fn resolve_in_root(root: &Path, path: &str) -> io::Result<PathBuf> {
    let mut todo: VecDeque<OsString> = Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut done: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop_front() {
        if part == ".." {
            done.pop();
            continue;
        }
        let host: PathBuf = root.join(done.iter().collect::<PathBuf>()).join(&part);
        match fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let to = fs::read_link(&host)?;
                if to.is_absolute() {
                    done.clear();
                }
                for c in to.components().rev() {
                    match c {
                        Component::Normal(n) => todo.push_front(n.to_os_string()),
                        Component::ParentDir => todo.push_front("..".into()),
                        _ => {}
                    }
                }
            }
            _ => done.push(part),
        }
    }
    Ok(root.join(done.iter().collect::<PathBuf>()))
}

/// Docker's masked and read-only /proc and /sys paths, as mount ops.
pub(super) fn mask_ops() -> impl Iterator<Item = MountOp> {
    let masked = super::masks::MASKED
        .iter()
        .map(|p| MountOp::Mask { path: (*p).into() });
    let read_only = super::masks::READ_ONLY
        .iter()
        .map(|p| MountOp::ReadOnlyPath { path: (*p).into() });
    masked.chain(read_only)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn input<'a>(
        rootfs: &'a Rootfs,
        etc: &'a EtcFiles,
        mounts: &'a [MountRequest],
        read_only: bool,
    ) -> PlanInput<'a> {
        PlanInput {
            rootfs,
            mounts,
            read_only,
            network: Network::None,
            etc,
            cwd: "/work",
            sub_ids: true,
            throwaway: false,
            masked_paths: true,
        }
    }

    #[test]
    fn volumes_are_filled_then_bound_or_a_tmpfs() {
        let (rootfs, etc) = fixtures();
        let vol = |target: &str, fill: bool, tmpfs: Option<&str>| MountRequest::Volume {
            name: "v".into(),
            source: "/store/volumes/v/_data".into(),
            target: target.into(),
            readonly: true,
            fill,
            tmpfs: tmpfs.map(String::from),
        };
        let mounts = [
            vol("/a", true, None),
            vol("/b", false, None),
            vol("/t", false, Some("size=1m")),
        ];
        let plan = build(&input(&rootfs, &etc, &mounts, false)).unwrap();
        let user: Vec<&MountOp> = plan
            .ops
            .iter()
            .filter(|o| {
                matches!(o, MountOp::Fill { .. })
                    || matches!(o, MountOp::Bind { source, .. } if source.starts_with("/store"))
                    || matches!(o, MountOp::Tmpfs { target, .. } if target == "/t")
            })
            .collect();
        let source = PathBuf::from("/store/volumes/v/_data");
        let bind = |t: &str| MountOp::Bind {
            source: source.clone(),
            target: t.into(),
            readonly: true,
        };
        assert_eq!(
            user,
            [
                &MountOp::Fill {
                    source: source.clone(),
                    target: "/a".into()
                },
                &bind("/a"),
                &bind("/b"),
                &MountOp::Tmpfs {
                    target: "/t".into(),
                    options: "size=1m".into(),
                    noexec: false
                },
            ]
        );
    }

    fn fixtures() -> (Rootfs, EtcFiles) {
        (
            Rootfs {
                lower_dirs: vec!["/l/top".into(), "/l/base".into()],
                upper: "/c/upper".into(),
                work: "/c/work".into(),
                merged: "/c/merged".into(),
                driver: Driver::Overlay,
            },
            EtcFiles {
                hosts: "/c/hosts".into(),
                hostname: "/c/hostname".into(),
                resolv_conf: "/c/resolv.conf".into(),
            },
        )
    }

    fn targets(plan: &MountPlan) -> Vec<String> {
        plan.ops
            .iter()
            .filter_map(|op| match op {
                MountOp::Bind { target, .. } | MountOp::Tmpfs { target, .. } => {
                    Some(target.clone())
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn overlay_comes_first_and_read_only_last() {
        let (rootfs, etc) = fixtures();
        let plan = build(&input(&rootfs, &etc, &[], true)).unwrap();
        assert!(matches!(&plan.ops[0], MountOp::Overlay { lower, .. } if lower.len() == 2));
        assert_eq!(plan.ops.last(), Some(&MountOp::ReadOnlyRoot));
        let plan = build(&input(&rootfs, &etc, &[], false)).unwrap();
        assert!(!plan.ops.contains(&MountOp::ReadOnlyRoot));
        assert!(plan.ops.contains(&MountOp::EnsureDir {
            path: "/work".into()
        }));
    }

    #[test]
    fn fuse_overlay_root_keeps_the_layers_and_the_id_mode() {
        let (mut rootfs, etc) = fixtures();
        rootfs.driver = Driver::FuseOverlay;
        let mut i = input(&rootfs, &etc, &[], true);
        i.sub_ids = false;
        let plan = build(&i).unwrap();
        assert_eq!(
            plan.ops[0],
            MountOp::FuseOverlay {
                lower: rootfs.lower_dirs.clone(),
                upper: "/c/upper".into(),
                work: "/c/work".into(),
                single_id: true,
            }
        );
        assert!(!plan
            .ops
            .iter()
            .any(|o| matches!(o, MountOp::Overlay { .. })));
        assert_eq!(plan.ops.last(), Some(&MountOp::ReadOnlyRoot));
    }

    #[test]
    fn dev_has_the_usual_nodes_and_proc_comes_before_dev_links() {
        let (rootfs, etc) = fixtures();
        let plan = build(&input(&rootfs, &etc, &[], false)).unwrap();
        for d in DEVICES {
            assert!(plan.ops.contains(&MountOp::Device { name: d.into() }));
        }
        let pos = |op: &MountOp| plan.ops.iter().position(|o| o == op).unwrap();
        let dev = pos(&MountOp::Tmpfs {
            target: "/dev".into(),
            options: "mode=755,size=65536k".into(),
            noexec: false,
        });
        assert!(
            dev < pos(&MountOp::Device {
                name: "null".into()
            })
        );
        assert!(plan.ops.contains(&MountOp::Symlink {
            link: "/dev/ptmx".into(),
            to: "pts/ptmx".into()
        }));
    }

    #[test]
    fn user_mounts_parents_first_and_override_etc_files() {
        let (rootfs, etc) = fixtures();
        let mounts = vec![
            MountRequest::Bind {
                source: "/h/b".into(),
                target: "/a/b/".into(),
                readonly: true,
            },
            MountRequest::Tmpfs {
                target: "/a".into(),
                options: String::new(),
            },
            MountRequest::Bind {
                source: "/h/hosts".into(),
                target: "/etc/hosts".into(),
                readonly: false,
            },
        ];
        let plan = build(&input(&rootfs, &etc, &mounts, false)).unwrap();
        let t = targets(&plan);
        let user: Vec<&String> = t.iter().skip_while(|t| *t != "/etc/hostname").collect();
        assert_eq!(
            user,
            [
                "/etc/hostname",
                "/etc/resolv.conf",
                "/a",
                "/a/b",
                "/etc/hosts"
            ]
        );
        // The generated hosts file is not mounted under the user's.
        assert_eq!(t.iter().filter(|t| *t == "/etc/hosts").count(), 1);
        assert!(plan.ops.contains(&MountOp::Bind {
            source: "/h/b".into(),
            target: "/a/b".into(),
            readonly: true
        }));
    }

    #[test]
    fn bad_targets_are_refused() {
        let (rootfs, etc) = fixtures();
        for (target, want) in [
            ("data", PlanError::RelativeTarget("data".into())),
            ("/", PlanError::RootTarget),
            ("/a/../etc", PlanError::DotDot("/a/../etc".into())),
        ] {
            let mounts = vec![MountRequest::Tmpfs {
                target: target.into(),
                options: String::new(),
            }];
            assert_eq!(
                build(&input(&rootfs, &etc, &mounts, false)).unwrap_err(),
                want
            );
        }
    }

    #[test]
    fn masks_follow_proc_and_sys_and_privileged_has_none() {
        let (rootfs, etc) = fixtures();
        let plan = build(&input(&rootfs, &etc, &[], false)).unwrap();
        let pos = |op: &MountOp| plan.ops.iter().position(|o| o == op);
        let kcore = pos(&MountOp::Mask {
            path: "/proc/kcore".into(),
        })
        .unwrap();
        let sys = pos(&MountOp::Sys {
            target: "/sys".into(),
        })
        .unwrap();
        assert!(sys < kcore);
        assert!(pos(&MountOp::ReadOnlyPath {
            path: "/proc/sys".into()
        })
        .is_some());
        let mut i = input(&rootfs, &etc, &[], false);
        i.masked_paths = false;
        let plan = build(&i).unwrap();
        assert!(!plan
            .ops
            .iter()
            .any(|o| matches!(o, MountOp::Mask { .. } | MountOp::ReadOnlyPath { .. })));
    }

    #[test]
    fn devpts_gets_the_tty_group_only_with_sub_ids() {
        let (rootfs, etc) = fixtures();
        let mut i = input(&rootfs, &etc, &[], false);
        i.sub_ids = false;
        let plan = build(&i).unwrap();
        assert!(plan.ops.contains(&MountOp::Devpts {
            target: "/dev/pts".into(),
            tty_gid: false
        }));
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join("run/real")).unwrap();
        symlink("/run/real/resolv.conf", root.join("etc/resolv.conf")).unwrap();
        symlink("../../../../outside", root.join("etc/up")).unwrap();
        symlink("loop", root.join("etc/loop")).unwrap();
        assert_eq!(
            resolve_in_root(root, "/etc/resolv.conf").unwrap(),
            root.join("run/real/resolv.conf")
        );
        assert_eq!(
            resolve_in_root(root, "/etc/up/x").unwrap(),
            root.join("outside/x")
        );
        assert_eq!(
            resolve_in_root(root, "/missing/a").unwrap(),
            root.join("missing/a")
        );
        assert!(resolve_in_root(root, "/etc/loop").is_err());
    }
}
