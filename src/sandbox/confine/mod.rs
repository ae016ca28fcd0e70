//! The security options of a container (`--privileged`, `--cap-add`,
//! `--cap-drop`, `--security-opt`) as plain data, resolved in the parent
//! into what the container init applies before exec (see the order in
//! `sandbox/mod.rs`): the seccomp program is compiled (or read from the
//! cache) here, before fork, so the child only installs it.

pub mod caps;
pub mod landlock;
pub mod seccomp;

use std::path::Path;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use self::caps::CapSet;
use self::seccomp::BpfProgram;

/// What the user asked for; kept in the container record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SecurityOpts {
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `no-new-privileges=false` allows setuid binaries to gain ids.
    pub allow_new_privs: bool,
    /// `seccomp=unconfined` or a profile file; None: the default profile.
    pub seccomp: Option<String>,
    /// `landlock=NAME|FILE`; None: no Landlock (see `resolve`).
    pub landlock: Option<String>,
}

impl SecurityOpts {
    /// From the flags; `security_opt` holds `--security-opt` values
    /// (`KEY=VALUE`, or `KEY:VALUE` as Docker also takes).
    pub fn from_flags(
        privileged: bool,
        cap_add: &[String],
        cap_drop: &[String],
        security_opt: &[String],
    ) -> anyhow::Result<SecurityOpts> {
        let mut o = SecurityOpts {
            privileged,
            cap_add: cap_add.to_vec(),
            cap_drop: cap_drop.to_vec(),
            ..Default::default()
        };
        for opt in security_opt {
            let (key, value) = match opt.split_once(['=', ':']) {
                Some((k, v)) => (k, Some(v)),
                None => (opt.as_str(), None),
            };
            match (key, value) {
                ("no-new-privileges", None | Some("true")) => o.allow_new_privs = false,
                ("no-new-privileges", Some("false")) => o.allow_new_privs = true,
                ("seccomp", Some("unconfined")) => o.seccomp = Some("unconfined".into()),
                ("seccomp", Some(v)) if !v.is_empty() => o.seccomp = Some(absolute(v)),
                ("landlock", Some(v)) if v.contains('/') || v.ends_with(".json") => {
                    o.landlock = Some(absolute(v))
                }
                ("landlock", Some(v)) if !v.is_empty() => o.landlock = Some(v.to_string()),
                ("apparmor" | "label", _) => bail!(
                    "--security-opt {}: not supported (burrow confines with seccomp, \
                     Landlock and capabilities)",
                    crate::text::escape_control(opt)
                ),
                _ => bail!(
                    "--security-opt {}: unknown (use no-new-privileges[=false], \
                     seccomp=FILE|unconfined, landlock=NAME|FILE)",
                    crate::text::escape_control(opt)
                ),
            }
        }
        // Names are checked now: a bad one fails before anything is made.
        CapSet::from_flags(false, &o.cap_add, &o.cap_drop)?;
        Ok(o)
    }
}

/// A profile path as given, made absolute: `start` may run elsewhere.
fn absolute(p: &str) -> String {
    std::path::absolute(p)
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|_| p.to_string())
}

/// What the container init applies, ready to use.
#[derive(Debug, Clone)]
pub struct Confinement {
    pub caps: CapSet,
    pub no_new_privs: bool,
    /// None: no seccomp filter (`seccomp=unconfined`, `--privileged`).
    pub seccomp: Option<BpfProgram>,
    /// Only root is mapped: with no seccomp program, the init still
    /// installs the small chown no-op filter.
    pub fake_chown: bool,
    /// Only root is mapped and the process's ids are emulated: the init
    /// installs the id filter (`sandbox::ids`) and hands its listener to
    /// the supervisor. Also with `seccomp=unconfined` and `--privileged`:
    /// it is what makes other ids exist, not a confinement.
    pub emulate_ids: bool,
    /// The container publishes TCP ports whose binds the supervisor may
    /// answer with the host's socket (`sandbox::bypass`): the init
    /// sends bind to it, in the same filter as the ids' (one listener).
    pub notify_bind: bool,
    pub landlock: Option<landlock::Profile>,
    /// Docker's masked and read-only /proc and /sys paths.
    pub masked_paths: bool,
}

impl Confinement {
    /// No confinement beyond the namespaces (for tests and tools).
    pub fn none() -> Confinement {
        Confinement {
            caps: CapSet::all(),
            no_new_privs: false,
            seccomp: None,
            fake_chown: false,
            emulate_ids: false,
            notify_bind: false,
            landlock: None,
            masked_paths: false,
        }
    }

    /// Docker's defaults: its capability set, the default seccomp profile
    /// (chown-family calls faked in single-id mode), no_new_privs, masked
    /// paths, no Landlock.
    pub fn docker_default(cache_root: Option<&Path>, single_id: bool) -> anyhow::Result<Self> {
        Self::resolve(&SecurityOpts::default(), single_id, cache_root)
    }

    /// Resolve `opts`: caps from Docker's default (all when privileged),
    /// the seccomp program (cached under `cache_root`), the Landlock
    /// profile. Containers get no Landlock unless asked: their files are
    /// already confined by the mount namespace and pivot_root, signals by
    /// the pid namespace and abstract sockets by the network namespace;
    /// Landlock would add start-up work and forbid mounts even under
    /// `--privileged`. `landlock=container` adds it (useful with
    /// `--network host`, where abstract sockets are the host's).
    pub fn resolve(
        opts: &SecurityOpts,
        single_id: bool,
        cache_root: Option<&Path>,
    ) -> anyhow::Result<Confinement> {
        let emulate = single_id && crate::sandbox::ids::available();
        Self::resolve_ids(opts, single_id, emulate, cache_root)
    }

    /// `resolve` for a process the supervisor cannot answer for (`exec`
    /// joins a running container from outside): in single-id mode chown
    /// and setgroups are faked as before, the ids are not emulated.
    pub fn resolve_unemulated(
        opts: &SecurityOpts,
        single_id: bool,
        cache_root: Option<&Path>,
    ) -> anyhow::Result<Confinement> {
        Self::resolve_ids(opts, single_id, false, cache_root)
    }

    fn resolve_ids(
        opts: &SecurityOpts,
        single_id: bool,
        emulate_ids: bool,
        cache_root: Option<&Path>,
    ) -> anyhow::Result<Confinement> {
        let caps = CapSet::from_flags(opts.privileged, &opts.cap_add, &opts.cap_drop)?;
        let source = match opts.privileged {
            true => None,
            false => seccomp::Source::from_option(opts.seccomp.as_deref()),
        };
        let options = seccomp::Options {
            fake_chown: single_id,
            emulate_ids,
        };
        let seccomp = source
            .map(|s| seccomp::program(&s, &caps, options, cache_root))
            .transpose()?;
        let landlock = match &opts.landlock {
            Some(spec) => Some(landlock::Profile::load(spec)?),
            None => None,
        };
        Ok(Confinement {
            caps,
            no_new_privs: !opts.allow_new_privs,
            seccomp,
            fake_chown: single_id,
            emulate_ids,
            notify_bind: false,
            landlock,
            masked_paths: !opts.privileged,
        })
    }

    /// One line for what the kernel's Landlock cannot enforce of the
    /// profile in force, if anything.
    pub fn landlock_warning(&self) -> Option<String> {
        let profile = self.landlock.as_ref()?;
        let abi = crate::sys::landlock_abi().unwrap_or(0);
        let vars = landlock::Vars {
            home: "/".into(),
            cwd: "/".into(),
            tmpdir: "/tmp".into(),
        };
        // Gaps depend on the rule kinds, not the paths: an empty plan of
        // the same profile answers.
        let mut shape = profile.clone();
        shape.paths.clear();
        let gaps = shape.plan(&vars).gaps(abi);
        if gaps.is_empty() {
            return None;
        }
        let list: Vec<String> = gaps.iter().map(ToString::to_string).collect();
        Some(if abi == 0 {
            "warning: Landlock is not available on this kernel; its rules are not enforced".into()
        } else {
            format!(
                "warning: Landlock ABI {abi} cannot enforce: {}",
                list.join(", ")
            )
        })
    }
}

/// Apply the confinement to the calling thread, last thing before exec:
/// capabilities (after the ids are switched with keep-caps on), then
/// no_new_privs, Landlock and seccomp. Without no_new_privs, Landlock and
/// seccomp go first, while CAP_SYS_ADMIN is still held. Returns the id
/// emulation's listener when `emulate_ids`: the caller hands it to the
/// supervisor before anything else (the process's id calls wait on it).
pub fn apply(
    c: &Confinement,
    vars: &landlock::Vars,
) -> anyhow::Result<Option<std::os::fd::OwnedFd>> {
    // Effective from permitted: after a setuid away from 0 with keep-caps
    // the permitted set is kept, the effective one is empty.
    let permitted = ::caps::read(None, ::caps::CapSet::Permitted).context("read capabilities")?;
    ::caps::set(None, ::caps::CapSet::Effective, &permitted).context("raise capabilities")?;
    let mut listener = None;
    if !c.no_new_privs {
        listener = filters(c, vars)?;
    }
    caps::apply(&c.caps)?;
    if c.no_new_privs {
        nix::sys::prctl::set_no_new_privs().context("set no_new_privs")?;
        listener = filters(c, vars)?;
    }
    Ok(listener)
}

fn filters(c: &Confinement, vars: &landlock::Vars) -> anyhow::Result<Option<std::os::fd::OwnedFd>> {
    if let Some(profile) = &c.landlock {
        landlock::apply(&profile.plan(vars), c.no_new_privs)?;
    }
    // Before the profile's filter, which a custom profile may make refuse
    // seccomp(2) itself.
    let calls = crate::sandbox::ids::filter::Calls {
        ids: c.emulate_ids,
        sockets: c.notify_bind,
    };
    let listener = match calls.ids || calls.sockets {
        true => Some(crate::sandbox::ids::install(calls)?),
        false => None,
    };
    match &c.seccomp {
        // Seccomp last: the calls above are allowed either way.
        Some(prog) => seccomp::install(prog, true)?,
        None if c.fake_chown => {
            crate::sys::install_chown_noop_filter().context("install the chown filter")?
        }
        None => {}
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(s: &[&str]) -> anyhow::Result<SecurityOpts> {
        let s: Vec<String> = s.iter().map(|x| x.to_string()).collect();
        SecurityOpts::from_flags(false, &[], &[], &s)
    }

    #[test]
    fn security_opts_parse() {
        let o = opts(&["no-new-privileges=false", "seccomp=unconfined"]).unwrap();
        assert!(o.allow_new_privs);
        assert_eq!(o.seccomp.as_deref(), Some("unconfined"));
        let o = opts(&["no-new-privileges:false", "no-new-privileges"]).unwrap();
        assert!(!o.allow_new_privs);
        let o = opts(&["landlock=container"]).unwrap();
        assert_eq!(o.landlock.as_deref(), Some("container"));
        assert!(opts(&["apparmor=unconfined"]).is_err());
        assert!(opts(&["bogus"]).is_err());
        assert!(opts(&["seccomp="]).is_err());
        let e = SecurityOpts::from_flags(false, &["FLY".into()], &[], &[]).unwrap_err();
        assert!(e.to_string().contains("FLY"), "{e}");
    }

    #[test]
    fn privileged_lifts_seccomp_and_masks() {
        let mut o = SecurityOpts {
            privileged: true,
            ..Default::default()
        };
        let c = Confinement::resolve(&o, false, None).unwrap();
        assert!(c.seccomp.is_none() && !c.masked_paths && c.no_new_privs);
        assert!(c.caps.contains(::caps::Capability::CAP_SYS_ADMIN));
        o.privileged = false;
        let c = Confinement::resolve(&o, true, None).unwrap();
        assert!(c.seccomp.is_some() && c.masked_paths && c.fake_chown);
        assert_eq!(c.emulate_ids, crate::sandbox::ids::available());
        let c = Confinement::resolve_unemulated(&o, true, None).unwrap();
        assert!(c.fake_chown && !c.emulate_ids);
        assert!(!c.caps.contains(::caps::Capability::CAP_SYS_ADMIN));
        o.seccomp = Some("unconfined".into());
        assert!(Confinement::resolve(&o, false, None)
            .unwrap()
            .seccomp
            .is_none());
    }

    #[test]
    fn bad_seccomp_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.json");
        std::fs::write(&f, b"{ nope").unwrap();
        let o = SecurityOpts {
            seccomp: Some(f.display().to_string()),
            ..Default::default()
        };
        let e = Confinement::resolve(&o, false, None).unwrap_err();
        assert!(format!("{e:#}").contains("bad.json"), "{e:#}");
    }
}
