//! Seccomp: profiles in the Docker/OCI format, compiled to BPF with
//! seccompiler, cached in the store, installed last before exec.
//!
//! The launcher's use, in the container init:
//! ```ignore
//! let prog = seccomp::program(&Source::Default, &caps, Options { fake_chown, ..}, Some(&paths))?;
//! // ... mounts, caps::apply, no_new_privs ...
//! seccomp::install(&prog, true)?;   // then execve
//! ```
//! `program` is best called in the parent before fork (it may read and
//! write the cache); `install` is the last step before exec.

pub mod cache;
pub mod compile;
mod fastpath;
pub mod profile;
#[rustfmt::skip]
pub mod table;

use std::path::{Path, PathBuf};

pub use compile::Arch;
pub use profile::{Action, Profile, Rule, Target};
pub use seccompiler::BpfProgram;

use crate::sandbox::confine::caps::CapSet;

/// The default profile, embedded at build time.
pub const DEFAULT_PROFILE: &str = include_str!("../../../../profiles/seccomp/default.json");

/// Calls faked in single-id mode: with only one id mapped, chown to any
/// other id fails with EINVAL and breaks package managers; returning
/// success without doing anything keeps them working. setgroups is denied
/// by the kernel in that mode (/proc/self/setgroups is "deny") for the
/// same reason.
pub const FAKE_CHOWN: &[&str] = &[
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "chown32",
    "fchown32",
    "lchown32",
    "setgroups",
    "setgroups32",
];

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("seccomp profile {origin}: bad JSON: {cause}")]
    Json {
        origin: String,
        cause: serde_json::Error,
    },
    #[error("seccomp profile {origin}: {entry}: {msg}")]
    Entry {
        origin: String,
        entry: String,
        msg: String,
    },
    #[error("seccomp profile {}: {cause}", crate::text::escape_control(&path.display().to_string()))]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("seccomp profile {origin}: {cause}")]
    Compile {
        origin: String,
        cause: compile::CompileError,
    },
    #[error("seccomp: filters for {0} are not supported (amd64, arm64, riscv64 are)")]
    Arch(&'static str),
    #[error("seccomp: cannot install the filter: {}{}", .0.desc(), install_hint(*.0))]
    Install(nix::errno::Errno),
}

fn install_hint(e: nix::errno::Errno) -> &'static str {
    match e {
        nix::errno::Errno::EACCES => {
            " (set no_new_privs first, or install while CAP_SYS_ADMIN is held)"
        }
        nix::errno::Errno::EINVAL => " (the kernel lacks seccomp filters or a flag)",
        _ => "",
    }
}

/// Where a profile comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// profiles/seccomp/default.json, embedded.
    Default,
    /// `--security-opt seccomp=FILE`.
    File(PathBuf),
}

impl Source {
    /// The value of `--security-opt seccomp=VALUE`: `unconfined` turns
    /// seccomp off (None), anything else is a profile file.
    pub fn from_security_opt(value: &str) -> Option<Source> {
        match value {
            "unconfined" => None,
            path => Some(Source::File(PathBuf::from(path))),
        }
    }

    /// The profile a process gets from an optional `seccomp=` value:
    /// burrow's default when none was given.
    pub fn from_option(value: Option<&str>) -> Option<Source> {
        value.map_or(Some(Source::Default), Source::from_security_opt)
    }

    /// The bytes and the name errors use for them.
    pub fn read(&self) -> Result<(std::borrow::Cow<'static, [u8]>, String), ProfileError> {
        match self {
            Source::Default => Ok((DEFAULT_PROFILE.as_bytes().into(), "default.json".into())),
            Source::File(p) => {
                let bytes = std::fs::read(p).map_err(|e| ProfileError::Read {
                    path: p.clone(),
                    cause: e,
                })?;
                Ok((
                    bytes.into(),
                    crate::text::escape_control(&p.display().to_string()),
                ))
            }
        }
    }
}

/// Knobs beside the profile and the caps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Merge the single-id rules (FAKE_CHOWN -> ERRNO(0)).
    pub fake_chown: bool,
    /// The ids are emulated (`sandbox::ids`): setgroups and the chown
    /// family are left to the emulation's filter instead of being faked.
    pub emulate_ids: bool,
}

/// Parse `bytes`, resolve it for `caps` on this machine and compile it.
/// No cache: see `program` for the cached path.
pub fn compile_profile(
    bytes: &[u8],
    origin: &str,
    caps: &CapSet,
    opts: Options,
) -> Result<BpfProgram, ProfileError> {
    let arch = native_arch()?;
    let profile = Profile::parse(bytes, origin)?;
    let target = Target {
        caps: caps.names(),
        arch: arch.go_name().into(),
        kernel: kernel_version(),
    };
    let mut rules = profile.resolve(&target);
    if opts.fake_chown {
        // Emulated ids: all of them are left to the emulation's filter,
        // which records owners (an ERRNO here would win over it).
        let faked = if opts.emulate_ids {
            &[][..]
        } else {
            FAKE_CHOWN
        };
        rules.extend(faked.iter().map(|n| Rule {
            name: n.to_string(),
            action: Action::Errno(0),
            conds: vec![],
        }));
    }
    compile::compile(&rules, profile.default(), arch).map_err(|e| ProfileError::Compile {
        origin: origin.to_string(),
        cause: e,
    })
}

/// The program for `source`, from the cache under `cache_root` (the
/// store root) when there, else compiled and stored. A cache that cannot
/// be read or written is skipped silently: it only saves time.
pub fn program(
    source: &Source,
    caps: &CapSet,
    opts: Options,
    cache_root: Option<&Path>,
) -> Result<BpfProgram, ProfileError> {
    let (bytes, origin) = source.read()?;
    let key = cache::key(&bytes, caps, native_arch()?, kernel_version(), opts);
    if let Some(root) = cache_root {
        if let Some(p) = cache::load(root, &key) {
            return Ok(p);
        }
    }
    let prog = compile_profile(&bytes, &origin, caps, opts)?;
    if let Some(root) = cache_root {
        let _ = cache::store(root, &key, &prog);
    }
    Ok(prog)
}

/// Install `prog` on the calling thread. `spec_allow` adds
/// SECCOMP_FILTER_FLAG_SPEC_ALLOW (no forced Spectre v4 mitigation, as
/// Docker). Needs no_new_privs or CAP_SYS_ADMIN in the user namespace:
/// with no_new_privs (the default) call it after caps::apply, as the
/// last step before exec; without it, call it before caps::apply while
/// CAP_SYS_ADMIN is still held.
pub fn install(prog: &BpfProgram, spec_allow: bool) -> Result<(), ProfileError> {
    let filter: Vec<libc::sock_filter> = prog
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    crate::sys::seccomp_set_filter(&filter, spec_allow).map_err(ProfileError::Install)
}

fn native_arch() -> Result<Arch, ProfileError> {
    Arch::native().ok_or(ProfileError::Arch(std::env::consts::ARCH))
}

fn kernel_version() -> (u32, u32) {
    profile::parse_kernel(&crate::sys::kernel_release()).unwrap_or((0, 0))
}

#[cfg(test)]
mod tests;
