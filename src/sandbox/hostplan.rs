//! The mount plan of `burrow sandbox`: the host's own tree, read-only,
//! with the working directory and the allowed dirs writable, a private
//! /tmp, a new /proc, a minimal /dev, and the user's secrets hidden.
//! Pure: computed from paths and what exists, applied by `mounts::apply`.

use std::path::{Path, PathBuf};

use super::plan::{dev_ops, MountOp, MountPlan};

/// Under $HOME: keys, tokens, credentials, browser profiles and shell
/// histories. Hidden unless named by `--allow-read` or `--allow-write`;
/// profiles/landlock/default.json excepts the same paths.
pub const SECRETS: &[&str] = &[
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".kube",
    ".docker",
    ".config/gh",
    ".config/gcloud",
    ".config/hub",
    ".config/git/credentials",
    ".git-credentials",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".password-store",
    ".local/share/keyrings",
    ".mozilla",
    ".thunderbird",
    ".config/google-chrome",
    ".config/chromium",
    ".config/BraveSoftware",
    ".config/microsoft-edge",
    ".bash_history",
    ".zsh_history",
    ".python_history",
    ".psql_history",
    ".mysql_history",
];

/// What the plan is made from (absolute host paths).
#[derive(Debug, Clone, Default)]
pub struct HostPlanInput {
    pub home: PathBuf,
    pub cwd: PathBuf,
    pub allow_write: Vec<PathBuf>,
    pub allow_read: Vec<PathBuf>,
    /// Hidden too: the user's runtime dir ($XDG_RUNTIME_DIR), whose
    /// sockets (ssh-agent, gpg-agent, the session bus) a read-only mount
    /// does not stop.
    pub hide: Vec<PathBuf>,
}

impl HostPlanInput {
    /// The secrets under `home` that exist and are not allowed.
    pub fn hidden_secrets(&self) -> Vec<PathBuf> {
        let allowed = |p: &Path| {
            self.allow_read
                .iter()
                .chain(&self.allow_write)
                .any(|a| a == p || same_file(a, p))
                // The working dir inside a secret keeps it visible.
                || self.cwd.starts_with(p)
        };
        SECRETS
            .iter()
            .map(|s| self.home.join(s))
            .filter(|p| std::fs::symlink_metadata(p).is_ok())
            .filter(|p| !allowed(p))
            .collect()
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn target(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The plan: host root read-only, /proc, /dev, a private /tmp, the binds
/// (parents first, so a bind at /a does not hide one at /a/b), then the
/// masks, which must come after the binds (a bind of $HOME would bring
/// its secrets back), then Docker's /proc and /sys masks.
pub fn build(input: &HostPlanInput) -> MountPlan {
    let mut ops = vec![
        MountOp::HostRoot,
        MountOp::Proc {
            target: "/proc".into(),
        },
    ];
    ops.extend(dev_ops(false));
    ops.push(MountOp::Tmpfs {
        target: "/tmp".into(),
        options: "mode=1777".into(),
        noexec: false,
    });
    let mut binds: Vec<(PathBuf, bool)> = vec![(input.cwd.clone(), false)];
    binds.extend(input.allow_write.iter().map(|p| (p.clone(), false)));
    binds.extend(input.allow_read.iter().map(|p| (p.clone(), true)));
    binds.sort_by_key(|(p, _)| p.components().count());
    for (p, readonly) in binds {
        ops.push(MountOp::Bind {
            source: p.clone(),
            target: target(&p),
            readonly,
        });
    }
    for p in input.hidden_secrets().iter().chain(&input.hide) {
        ops.push(MountOp::Mask { path: target(p) });
    }
    ops.extend(super::plan::mask_ops());
    MountPlan { ops }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_after_the_binds_unless_allowed() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        std::fs::create_dir_all(h.join(".ssh")).unwrap();
        std::fs::create_dir_all(h.join(".aws")).unwrap();
        std::fs::write(h.join(".netrc"), "x").unwrap();
        let input = HostPlanInput {
            home: h.to_path_buf(),
            cwd: h.to_path_buf(),
            allow_read: vec![h.join(".aws")],
            ..Default::default()
        };
        let plan = build(&input);
        assert_eq!(plan.ops[0], MountOp::HostRoot);
        let pos = |op: &MountOp| plan.ops.iter().position(|o| o == op);
        let ssh = pos(&MountOp::Mask {
            path: target(&h.join(".ssh")),
        })
        .unwrap();
        let cwd = pos(&MountOp::Bind {
            source: h.to_path_buf(),
            target: target(h),
            readonly: false,
        })
        .unwrap();
        assert!(cwd < ssh);
        assert!(pos(&MountOp::Mask {
            path: target(&h.join(".netrc"))
        })
        .is_some());
        // Allowed: not masked, bound read-only.
        assert!(pos(&MountOp::Mask {
            path: target(&h.join(".aws"))
        })
        .is_none());
        assert!(pos(&MountOp::Bind {
            source: h.join(".aws"),
            target: target(&h.join(".aws")),
            readonly: true
        })
        .is_some());
        // Missing secrets need no mask.
        assert!(pos(&MountOp::Mask {
            path: target(&h.join(".gnupg"))
        })
        .is_none());
        let tmp = pos(&MountOp::Tmpfs {
            target: "/tmp".into(),
            options: "mode=1777".into(),
            noexec: false,
        })
        .unwrap();
        assert!(tmp < cwd);
    }
}
