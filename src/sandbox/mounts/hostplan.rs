//! The mount plan of `burrow sandbox`: the host's own tree, read-only,
//! with the working directory and the allowed dirs writable, a private
//! /tmp, a new /proc, a minimal /dev, and the user's home and the host's
//! sockets out of sight.
//!
//! The home is an allow-list, not a list of known secrets: it becomes an
//! empty private tmpfs, and only the working dir and the dirs named by
//! `--allow-read`/`--allow-write` are mounted back into it. Credentials
//! have too many places (~/.vault-token, ~/.pgpass, ~/.config/rclone,
//! shell histories, burrow's own store...) for a deny-list to keep up.
//! /run (and /var/run when it is a dir of its own) is emptied the same way:
//! a Landlock older than ABI 9 cannot stop a connect() to a socket by path,
//! so the sockets there (the session bus, ssh-agent, docker.sock) must not
//! be reachable at all.
//! Pure: computed from paths and what exists, applied by `mounts::apply`.

use std::path::{Path, PathBuf};

use super::plan::{dev_ops, MountOp, MountPlan};

/// Files and dirs whose presence marks a dir as someone's home: shell
/// startup files and desktop autostart, which a program must not write
/// (they run later, unconfined). A working dir holding one is refused.
pub const STARTUP_FILES: &[&str] = &[
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".zlogin",
    ".cshrc",
    ".tcshrc",
    ".login",
    ".kshrc",
    ".mkshrc",
    ".config/fish",
    ".config/autostart",
    ".config/environment.d",
    ".config/systemd/user",
    ".xinitrc",
    ".xprofile",
    ".xsession",
    ".xsessionrc",
    ".pam_environment",
];

/// What else in a home runs later, outside the sandbox, when written: a
/// working dir at or above one of these (~/.config, ~/.ssh, ~/bin) is
/// refused like the home itself. Programs on the PATH, ssh's rc and
/// ProxyCommand, desktop entries, user units, git's and gpg's helpers.
pub const RUN_LATER: &[&str] = &[
    "bin",
    ".local/bin",
    ".local/share/applications",
    ".ssh",
    ".gnupg",
    ".config/autostart",
    ".config/systemd",
    ".config/environment.d",
    ".config/fish",
    ".config/git",
];

/// Host dirs of sockets that stay reachable from a read-only host root
/// and are emptied: the system's and the users' runtime dirs.
pub const SOCKET_DIRS: &[&str] = &["/run", "/var/run"];

/// Sockets outside /run that give root to their group's members (LXD's,
/// Incus'), hidden as well: a Landlock older than ABI 9 does not stop a
/// connect() to them.
pub const SOCKETS_ELSEWHERE: &[&str] = &[
    "/var/snap/lxd/common/lxd/unix.socket",
    "/var/lib/lxd/unix.socket",
    "/var/lib/incus/unix.socket",
];

/// What the plan is made from (absolute, canonical host paths).
#[derive(Debug, Clone, Default)]
pub struct HostPlanInput {
    /// Home dirs replaced by an empty private tmpfs: the user's from the
    /// password database, and `$HOME` when it names another dir.
    pub homes: Vec<PathBuf>,
    pub cwd: PathBuf,
    pub allow_write: Vec<PathBuf>,
    pub allow_read: Vec<PathBuf>,
    /// Hidden too, after the binds (an empty read-only dir or /dev/null):
    /// burrow's store (other containers' environment) and runtime dirs.
    pub hide: Vec<PathBuf>,
    /// Symlinks by which an allowed path was named (`~/.gitconfig ->
    /// dotfiles/.gitconfig`), as (link, what it points to): made again in
    /// the emptied home, where the bind is at the link's target.
    pub links: Vec<(PathBuf, PathBuf)>,
}

impl HostPlanInput {
    /// Named exactly by an allow flag: shown as the flag says.
    fn named(&self, p: &Path) -> bool {
        self.allow_read
            .iter()
            .chain(&self.allow_write)
            .any(|a| a == p)
    }

    /// The dirs emptied by a private tmpfs: the homes and the socket
    /// dirs that exist (not through a symlink: /var/run -> /run is
    /// emptied once) and that no flag names.
    fn emptied(&self) -> Vec<PathBuf> {
        let socket_dirs = SOCKET_DIRS
            .iter()
            .map(PathBuf::from)
            .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()));
        let mut out: Vec<PathBuf> = Vec::new();
        for p in self.homes.iter().cloned().chain(socket_dirs) {
            if p.parent().is_some() && !self.named(&p) && !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// The hidden paths that exist, do not hold the working dir and are
    /// not named by a flag.
    fn masked(&self) -> Vec<PathBuf> {
        let elsewhere: Vec<PathBuf> = SOCKETS_ELSEWHERE.iter().map(PathBuf::from).collect();
        self.hide
            .iter()
            .chain(&elsewhere)
            .filter(|p| std::fs::symlink_metadata(p).is_ok())
            .filter(|p| !self.cwd.starts_with(p) && !self.named(p))
            .cloned()
            .collect()
    }
}

/// Why `cwd` may not be the sandbox's writable working dir, if it may
/// not: it is `/`, one of `homes` or above one, at or above a dir of a home
/// whose contents run later ([`RUN_LATER`]), or it holds shell startup or
/// autostart files (someone's home). Naming it with `--allow-write` (in
/// `allow_write`) overrides all but `/`.
pub fn refuse_cwd(cwd: &Path, homes: &[PathBuf], allow_write: &[PathBuf]) -> Option<String> {
    if cwd.parent().is_none() {
        return Some("it is /: everything would be writable".into());
    }
    if allow_write.iter().any(|a| a == cwd) {
        return None;
    }
    if let Some(h) = homes.iter().find(|h| h.starts_with(cwd)) {
        return Some(if h == cwd {
            "it is your home directory".into()
        } else {
            format!("it holds your home directory {}", h.display())
        });
    }
    let run_later = homes
        .iter()
        .flat_map(|h| RUN_LATER.iter().map(move |f| h.join(f)))
        .find(|p| p.starts_with(cwd));
    if let Some(p) = run_later {
        return Some(format!("{} is run later, outside the sandbox", p.display()));
    }
    STARTUP_FILES
        .iter()
        .find(|f| std::fs::symlink_metadata(cwd.join(f)).is_ok())
        .map(|f| format!("it holds shell startup or autostart files ({f})"))
}

/// The symlinks directly in `dir`, as (link, what it points to).
fn top_links(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut out: Vec<(PathBuf, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_symlink()))
        .filter_map(|e| Some((e.path(), std::fs::read_link(e.path()).ok()?)))
        .collect();
    out.sort();
    out
}

fn target(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The plan: host root read-only, /proc, /dev, a private /tmp; then, from
/// the top of the tree down (so that a bind at /a does not cover one at
/// /a/b, and a dir mounted back into the emptied home stays), the emptied
/// dirs and the binds; then the masks, which must come after the binds (a
/// bind of a dir holding the store would bring it back), then Docker's
/// /proc and /sys masks.
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
    // (path, op): the tmpfs of an emptied dir before a bind of the same
    // path, as the stable sort keeps them.
    let mut layered: Vec<(PathBuf, MountOp)> = input
        .emptied()
        .into_iter()
        .map(|p| {
            let op = MountOp::Tmpfs {
                target: target(&p),
                options: "mode=0755".into(),
                noexec: false,
            };
            (p, op)
        })
        .collect();
    let binds = std::iter::once((&input.cwd, false))
        .chain(input.allow_write.iter().map(|p| (p, false)))
        .chain(input.allow_read.iter().map(|p| (p, true)));
    for (p, readonly) in binds {
        let op = MountOp::Bind {
            source: p.clone(),
            target: target(p),
            readonly,
        };
        layered.push((p.clone(), op));
    }
    // The symlinks at the top of an emptied socket dir are kept: they are
    // no sockets, and NixOS has its system there (/run/current-system).
    let emptied = input.emptied();
    let kept: Vec<(PathBuf, PathBuf)> = emptied
        .iter()
        .filter(|d| SOCKET_DIRS.iter().any(|s| Path::new(s) == *d))
        .flat_map(|d| top_links(d))
        .collect();
    for (link, to) in input.links.iter().chain(&kept) {
        if !emptied.iter().any(|e| link.starts_with(e) && link != e) {
            continue; // the host's own link is there
        }
        if let Some(parent) = link.parent() {
            let op = MountOp::EnsureDir {
                path: target(parent),
            };
            layered.push((link.clone(), op));
        }
        let op = MountOp::Symlink {
            link: target(link),
            to: target(to),
        };
        layered.push((link.clone(), op));
    }
    layered.sort_by_key(|(p, _)| p.components().count());
    ops.extend(layered.into_iter().map(|(_, op)| op));
    for p in input.masked() {
        ops.push(MountOp::Mask { path: target(&p) });
    }
    ops.extend(super::plan::mask_ops());
    MountPlan { ops }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpfs(p: &Path) -> MountOp {
        MountOp::Tmpfs {
            target: target(p),
            options: "mode=0755".into(),
            noexec: false,
        }
    }

    fn bind(p: &Path, readonly: bool) -> MountOp {
        MountOp::Bind {
            source: p.to_path_buf(),
            target: target(p),
            readonly,
        }
    }

    #[test]
    fn the_home_is_emptied_and_the_allowed_dirs_come_back_into_it() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        for d in [".ssh", ".aws", "proj", ".local/share/burrow"] {
            std::fs::create_dir_all(h.join(d)).unwrap();
        }
        std::fs::write(h.join(".vault-token"), "x").unwrap();
        let store = h.join(".local/share/burrow");
        let input = HostPlanInput {
            homes: vec![h.to_path_buf()],
            cwd: h.join("proj"),
            allow_read: vec![h.join(".aws"), h.join(".local")],
            hide: vec![store.clone(), h.join("gone")],
            ..Default::default()
        };
        let plan = build(&input);
        assert_eq!(plan.ops[0], MountOp::HostRoot);
        let pos = |op: &MountOp| plan.ops.iter().position(|o| o == op);
        let home_tmpfs = pos(&tmpfs(h)).expect("home emptied");
        let cwd = pos(&bind(&h.join("proj"), false)).unwrap();
        let aws = pos(&bind(&h.join(".aws"), true)).unwrap();
        assert!(home_tmpfs < cwd && home_tmpfs < aws, "{:?}", plan.ops);
        // Nothing else of the home is mounted back: no deny-list needed.
        assert!(!plan.ops.iter().any(|o| matches!(o,
            MountOp::Bind { source, .. } if source.ends_with(".ssh") || source == h)));
        // The store under an allowed dir is masked after its bind; a
        // hidden path that does not exist needs no mask.
        let local = pos(&bind(&h.join(".local"), true)).unwrap();
        let masked = pos(&MountOp::Mask {
            path: target(&store),
        })
        .unwrap();
        assert!(local < masked);
        assert!(pos(&MountOp::Mask {
            path: target(&h.join("gone"))
        })
        .is_none());
        // The private /tmp and /run come before the binds.
        let tmp = pos(&MountOp::Tmpfs {
            target: "/tmp".into(),
            options: "mode=1777".into(),
            noexec: false,
        })
        .unwrap();
        assert!(tmp < cwd);
        if Path::new("/run").is_dir() {
            assert!(pos(&tmpfs(Path::new("/run"))).unwrap() < cwd);
        }
    }

    #[test]
    fn a_home_named_by_a_flag_is_shown_as_named() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_path_buf();
        let input = HostPlanInput {
            homes: vec![h.clone()],
            cwd: h.clone(),
            allow_write: vec![h.clone()],
            ..Default::default()
        };
        let plan = build(&input);
        assert!(!plan.ops.contains(&tmpfs(&h)));
        assert!(plan.ops.contains(&bind(&h, false)));
        // An allowed dir above the home does not uncover it.
        let input = HostPlanInput {
            homes: vec![h.clone()],
            cwd: home.path().parent().unwrap().join("elsewhere"),
            allow_read: vec![h.parent().unwrap().to_path_buf()],
            ..Default::default()
        };
        let plan = build(&input);
        let pos = |op: &MountOp| plan.ops.iter().position(|o| o == op);
        assert!(pos(&bind(h.parent().unwrap(), true)).unwrap() < pos(&tmpfs(&h)).unwrap());
    }

    #[test]
    fn links_naming_allowed_paths_are_made_again_in_the_emptied_home() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_path_buf();
        let dotfiles = h.join("dotfiles/.gitconfig");
        let input = HostPlanInput {
            homes: vec![h.clone()],
            cwd: h.join("proj"),
            allow_read: vec![dotfiles.clone()],
            links: vec![
                (h.join(".config/git/config"), "../../dotfiles/x".into()),
                ("/etc/outside".into(), "/elsewhere".into()),
            ],
            ..Default::default()
        };
        let plan = build(&input);
        let pos = |op: &MountOp| plan.ops.iter().position(|o| o == op);
        let dir = pos(&MountOp::EnsureDir {
            path: target(&h.join(".config/git")),
        })
        .unwrap();
        let link = pos(&MountOp::Symlink {
            link: target(&h.join(".config/git/config")),
            to: "../../dotfiles/x".into(),
        })
        .unwrap();
        assert!(pos(&tmpfs(&h)).unwrap() < dir && dir < link);
        assert!(!plan
            .ops
            .iter()
            .any(|o| matches!(o, MountOp::Symlink { link, .. } if link == "/etc/outside")));
    }

    #[test]
    fn only_the_symlinks_at_the_top_of_a_dir_are_kept() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::create_dir_all(p.join("user/1000")).unwrap();
        std::os::unix::net::UnixListener::bind(p.join("docker.sock")).unwrap();
        std::os::unix::fs::symlink("/nix/store/x-system", p.join("current-system")).unwrap();
        std::os::unix::fs::symlink("/dev/shm", p.join("user/1000/shm")).unwrap();
        assert_eq!(
            top_links(p),
            [(p.join("current-system"), "/nix/store/x-system".into())]
        );
    }

    #[test]
    fn homes_and_startup_dirs_are_refused_as_the_working_dir() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("home/me");
        let proj = home.join("proj");
        let other = d.path().join("other");
        std::fs::create_dir_all(&proj).unwrap();
        std::fs::create_dir_all(other.join(".config/autostart")).unwrap();
        let homes = vec![home.clone()];
        let refused = |cwd: &Path, allow: &[PathBuf]| refuse_cwd(cwd, &homes, allow);
        assert_eq!(
            refused(&home, &[]).as_deref(),
            Some("it is your home directory")
        );
        assert!(refused(d.path(), &[]).unwrap().contains("holds your home"));
        assert!(refused(Path::new("/"), &[]).unwrap().contains("it is /"));
        assert!(refused(Path::new("/"), &[PathBuf::from("/")]).is_some());
        assert!(refused(&other, &[]).unwrap().contains(".config/autostart"));
        assert_eq!(refused(&proj, &[]), None);
        // Dirs of the home whose contents run later, and their parents.
        for d in [".config", ".config/autostart", ".ssh", "bin", ".local"] {
            let why = refused(&home.join(d), &[]).unwrap_or_default();
            assert!(why.contains("is run later"), "{d}: {why}");
        }
        assert_eq!(refused(&home.join(".cache/x"), &[]), None);
        // A project's own bin/ is no home's.
        std::fs::create_dir_all(proj.join("bin")).unwrap();
        assert_eq!(refused(&proj.join("bin"), &[]), None);
        // Named with --allow-write: the user asked for it.
        assert_eq!(refused(&home, std::slice::from_ref(&home)), None);
        assert!(refused(&home, std::slice::from_ref(&proj)).is_some());
    }
}
