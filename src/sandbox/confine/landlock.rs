//! Landlock rule sets (`profiles/landlock/*.json`), applied best-effort by
//! the kernel's ABI with the `landlock` crate. What the kernel could not
//! enforce comes back to the caller, which warns.
//!
//! Format (documented in profiles/landlock/README.md):
//! ```json
//! { "description": "...",
//!   "paths": [ {"path": "/", "access": ["read", "execute"], "except": ["$HOME/.ssh"]},
//!              {"path": "$CWD", "access": ["read", "write", "execute"]} ],
//!   "net": {"bindTcp": [], "connectTcp": [443]},
//!   "scope": ["signal", "abstractUnixSocket"] }
//! ```
//! Everything a profile does not grant is refused (for the rights the
//! kernel's ABI knows). Landlock cannot take a right away below a
//! directory that has it, so `except` is done by granting the siblings of
//! each excepted path instead of their parent.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use serde::Deserialize;

/// Profiles shipped in the binary, by name (`--profile NAME`,
/// `--security-opt landlock=NAME`).
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "default",
        include_str!("../../../profiles/landlock/default.json"),
    ),
    (
        "container",
        include_str!("../../../profiles/landlock/container.json"),
    ),
    (
        "npm-install",
        include_str!("../../../profiles/landlock/npm-install.json"),
    ),
    (
        "cargo-build",
        include_str!("../../../profiles/landlock/cargo-build.json"),
    ),
    (
        "pip-install",
        include_str!("../../../profiles/landlock/pip-install.json"),
    ),
    (
        "untrusted-binary",
        include_str!("../../../profiles/landlock/untrusted-binary.json"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    #[error("landlock profile {origin}: bad JSON: {cause}")]
    Json {
        origin: String,
        cause: serde_json::Error,
    },
    #[error("landlock profile {origin}: {entry}: {msg}")]
    Entry {
        origin: String,
        entry: String,
        msg: String,
    },
    #[error("landlock profile {0:?}: no such profile (built in: {1}) and no such file")]
    Unknown(String, String),
    #[error("landlock profile {path}: {cause}")]
    Read { path: String, cause: std::io::Error },
    #[error("landlock: {0}")]
    Kernel(landlock::RulesetError),
}

// By hand, not `#[from]`: that would also make it the error's source, and
// the one-line chain would print the kernel's message twice.
impl From<landlock::RulesetError> for LandlockError {
    fn from(e: landlock::RulesetError) -> Self {
        LandlockError::Kernel(e)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub paths: Vec<PathRule>,
    /// Absent: TCP is not restricted. Present: only the listed ports.
    #[serde(default)]
    pub net: Option<Net>,
    #[serde(default)]
    pub scope: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PathRule {
    pub path: String,
    pub access: Vec<String>,
    #[serde(default)]
    pub except: Vec<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Net {
    #[serde(default)]
    pub bind_tcp: Vec<u16>,
    #[serde(default)]
    pub connect_tcp: Vec<u16>,
}

/// Values for `$HOME`, `$CWD` and `$TMPDIR` in paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    pub home: PathBuf,
    pub cwd: PathBuf,
    pub tmpdir: PathBuf,
}

impl Vars {
    /// From the environment of the calling process.
    pub fn from_env() -> Vars {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/".into());
        let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
        let tmpdir = std::env::var_os("TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/tmp".into());
        Vars { home, cwd, tmpdir }
    }

    /// `s` with `$HOME`, `$CWD` and `$TMPDIR` replaced.
    pub fn expand(&self, s: &str) -> PathBuf {
        let s = s
            .replace("$HOME", &self.home.to_string_lossy())
            .replace("$CWD", &self.cwd.to_string_lossy())
            .replace("$TMPDIR", &self.tmpdir.to_string_lossy());
        PathBuf::from(s)
    }
}

/// Access names: coarse ("read", "write", "execute") or Landlock's own.
fn parse_access(name: &str) -> Result<BitFlags<AccessFs>, String> {
    let all = AccessFs::from_all(ABI::V10);
    Ok(match name {
        "read" => AccessFs::ReadFile | AccessFs::ReadDir,
        "write" => AccessFs::from_write(ABI::V10) & !AccessFs::ResolveUnix,
        "execute" => AccessFs::Execute.into(),
        "all" => all,
        "read_file" => AccessFs::ReadFile.into(),
        "read_dir" => AccessFs::ReadDir.into(),
        "write_file" => AccessFs::WriteFile.into(),
        "remove_dir" => AccessFs::RemoveDir.into(),
        "remove_file" => AccessFs::RemoveFile.into(),
        "make_char" => AccessFs::MakeChar.into(),
        "make_dir" => AccessFs::MakeDir.into(),
        "make_reg" => AccessFs::MakeReg.into(),
        "make_sock" => AccessFs::MakeSock.into(),
        "make_fifo" => AccessFs::MakeFifo.into(),
        "make_block" => AccessFs::MakeBlock.into(),
        "make_sym" => AccessFs::MakeSym.into(),
        "refer" => AccessFs::Refer.into(),
        "truncate" => AccessFs::Truncate.into(),
        "ioctl_dev" => AccessFs::IoctlDev.into(),
        "connect_unix" => AccessFs::ResolveUnix.into(),
        other => return Err(format!("unknown access {other:?}")),
    })
}

fn parse_scope(name: &str) -> Result<Scope, String> {
    match name {
        "signal" => Ok(Scope::Signal),
        "abstractUnixSocket" => Ok(Scope::AbstractUnixSocket),
        other => Err(format!("unknown scope {other:?}")),
    }
}

impl Profile {
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Profile, LandlockError> {
        let p: Profile = serde_json::from_slice(bytes).map_err(|e| LandlockError::Json {
            origin: origin.into(),
            cause: e,
        })?;
        let bad = |entry: String, msg: String| LandlockError::Entry {
            origin: origin.into(),
            entry,
            msg,
        };
        for (i, r) in p.paths.iter().enumerate() {
            let entry = format!("paths[{i}] ({})", r.path);
            if !r.path.starts_with('/') && !r.path.starts_with('$') {
                return Err(bad(
                    entry,
                    "path must be absolute or start with $HOME, $CWD or $TMPDIR".into(),
                ));
            }
            if r.access.is_empty() {
                return Err(bad(entry, "no access rights".into()));
            }
            for a in &r.access {
                parse_access(a).map_err(|m| bad(entry.clone(), m))?;
            }
        }
        for s in &p.scope {
            parse_scope(s).map_err(|m| bad("scope".into(), m))?;
        }
        Ok(p)
    }

    /// A built-in profile by name, or a file when `spec` holds a `/` or
    /// ends in `.json`.
    pub fn load(spec: &str) -> Result<Profile, LandlockError> {
        if let Some((name, text)) = EMBEDDED.iter().find(|(n, _)| *n == spec) {
            return Profile::parse(text.as_bytes(), &format!("{name} (built in)"));
        }
        if spec.contains('/') || spec.ends_with(".json") {
            let origin = crate::text::escape_control(spec);
            let bytes = std::fs::read(spec).map_err(|e| LandlockError::Read {
                path: origin.clone(),
                cause: e,
            })?;
            return Profile::parse(&bytes, &origin);
        }
        let names: Vec<&str> = EMBEDDED.iter().map(|(n, _)| *n).collect();
        Err(LandlockError::Unknown(
            crate::text::escape_control(spec),
            names.join(", "),
        ))
    }

    /// Add a grant (`--allow-write DIR`, `--allow-read DIR`).
    pub fn allow(&mut self, path: &Path, access: &[&str]) {
        self.paths.push(PathRule {
            path: path.to_string_lossy().into_owned(),
            access: access.iter().map(|s| s.to_string()).collect(),
            except: vec![],
            comment: None,
        });
    }

    /// The concrete rules for this machine: variables expanded, `except`
    /// turned into grants on siblings, paths that do not exist dropped.
    pub fn plan(&self, vars: &Vars) -> Plan {
        let mut grants = Vec::new();
        for r in &self.paths {
            let access = r
                .access
                .iter()
                .filter_map(|a| parse_access(a).ok())
                .fold(BitFlags::EMPTY, |acc, a| acc | a);
            let base = vars.expand(&r.path);
            let except: BTreeSet<PathBuf> = r.except.iter().map(|e| vars.expand(e)).collect();
            // Where the excepted paths really are, so that a symlink to
            // one (~/keys -> ~/.ssh) does not carry a grant into it.
            let real: Vec<PathBuf> = except
                .iter()
                .filter_map(|e| e.canonicalize().ok())
                .collect();
            grant_except(&base, access, &except, &real, &mut grants);
        }
        Plan {
            grants,
            net: self.net.clone(),
            scope: self
                .scope
                .iter()
                .filter_map(|s| parse_scope(s).ok())
                .collect(),
        }
    }
}

/// Grant `access` on `path`, except on the paths in `except` (and below):
/// those get nothing, their ancestors up to `path` only directory listing.
fn grant_except(
    path: &Path,
    access: BitFlags<AccessFs>,
    except: &BTreeSet<PathBuf>,
    real_except: &[PathBuf],
    out: &mut Vec<(PathBuf, BitFlags<AccessFs>)>,
) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if except.contains(path) {
        return;
    }
    if meta.file_type().is_symlink() && !real_except.is_empty() {
        // Landlock grants on what the link points to.
        match path.canonicalize() {
            Ok(t) if real_except.iter().any(|e| t.starts_with(e)) => return,
            Err(_) => return, // dangling: nothing to grant
            Ok(_) => {}
        }
    }
    let inside: BTreeSet<PathBuf> = except
        .iter()
        .filter(|e| e.starts_with(path))
        .cloned()
        .collect();
    if inside.is_empty() {
        out.push((path.to_path_buf(), access));
        return;
    }
    // Listing the directory is granted (names under an excepted path stay
    // visible, contents do not); everything else goes to the children.
    if access.contains(AccessFs::ReadDir) {
        out.push((path.to_path_buf(), AccessFs::ReadDir.into()));
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    children.sort();
    for c in children {
        grant_except(&c, access, &inside, real_except, out);
    }
}

/// Rules ready to apply.
#[derive(Debug, Clone)]
pub struct Plan {
    pub grants: Vec<(PathBuf, BitFlags<AccessFs>)>,
    pub net: Option<Net>,
    pub scope: Vec<Scope>,
}

/// A protection the profile asks for that this kernel cannot give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The Landlock ABI that has it.
    pub abi: u32,
    pub what: &'static str,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (needs Landlock ABI {})", self.what, self.abi)
    }
}

impl Plan {
    /// What of this plan a kernel with Landlock ABI `abi` (0: none)
    /// leaves unenforced. Pure: `burrow info` can ask without applying.
    pub fn gaps(&self, abi: u32) -> Vec<Gap> {
        let mut out = Vec::new();
        let mut need = |n: u32, what: &'static str| {
            if abi < n {
                out.push(Gap { abi: n, what });
            }
        };
        need(1, "file access rules");
        need(2, "moving and linking files between directories");
        need(3, "truncating files");
        if self.net.is_some() {
            need(4, "TCP bind and connect port rules");
        }
        need(5, "ioctl on device files");
        if !self.scope.is_empty() {
            need(6, "scoping of signals and abstract UNIX sockets");
        }
        need(9, "connecting to UNIX sockets by path");
        out
    }
}

/// What `apply` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The kernel's Landlock ABI (0: none).
    pub abi: u32,
    /// Fully, partly, or not enforced, as the kernel reported.
    pub status: Enforced,
    pub gaps: Vec<Gap>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforced {
    Fully,
    Partly,
    Not,
}

/// Restrict the calling thread (and what it execs) to `plan`. Call in the
/// container init before seccomp (both allow the other's syscalls);
/// `no_new_privs` sets it if not yet set (Landlock needs it without
/// CAP_SYS_ADMIN). A kernel without Landlock is not an error: the report
/// says nothing was enforced.
pub fn apply(plan: &Plan, no_new_privs: bool) -> Result<Report, LandlockError> {
    let abi = crate::sys::landlock_abi().unwrap_or(0);
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(ABI::V10))?;
    if plan.net.is_some() {
        ruleset = ruleset.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)?;
    }
    if !plan.scope.is_empty() {
        let scopes = plan
            .scope
            .iter()
            .fold(BitFlags::<Scope>::EMPTY, |a, s| a | *s);
        ruleset = ruleset.scope(scopes)?;
    }
    let mut created = ruleset.create()?.no_new_privs(no_new_privs);
    for (path, access) in &plan.grants {
        let Ok(fd) = PathFd::new(path) else {
            continue; // vanished since plan(): nothing to grant
        };
        let access = if path.is_dir() {
            *access
        } else {
            *access & AccessFs::from_file(ABI::V10)
        };
        if access.is_empty() {
            continue;
        }
        created = created.add_rule(PathBeneath::new(fd, access))?;
    }
    if let Some(net) = &plan.net {
        for p in &net.bind_tcp {
            created = created.add_rule(NetPort::new(*p, AccessNet::BindTcp))?;
        }
        for p in &net.connect_tcp {
            created = created.add_rule(NetPort::new(*p, AccessNet::ConnectTcp))?;
        }
    }
    let status = created.restrict_self()?;
    Ok(Report {
        abi,
        status: match status.ruleset {
            RulesetStatus::FullyEnforced => Enforced::Fully,
            RulesetStatus::PartiallyEnforced => Enforced::Partly,
            RulesetStatus::NotEnforced => Enforced::Not,
        },
        gaps: plan.gaps(abi),
    })
}

#[cfg(test)]
#[path = "landlock_tests.rs"]
mod tests;
