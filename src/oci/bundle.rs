//! A bundle's config.json (read with the `oci-spec` types) turned into
//! what the launcher takes (`sandbox::oci::OciLaunch`). Every field that
//! burrow cannot honour without root is one error naming the field, never
//! a silent skip.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nix::sys::resource::Resource;
use oci_spec::runtime::{
    Capabilities, LinuxNamespaceType, LinuxSeccomp, PosixRlimitType, Process, Spec,
};

use super::mounts;
use crate::sandbox::confine::caps::{parse_cap, CapSet};
use crate::sandbox::confine::seccomp;
use crate::sandbox::oci::{IdMaps, Namespace, NsKind, OciLaunch, OciProcess};
use crate::sandbox::{Confinement, ProcessSpec};

/// A bundle dir and its config.
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
}

/// Read `dir/config.json`.
pub fn load(dir: &Path) -> anyhow::Result<Bundle> {
    let dir = std::path::absolute(dir).with_context(|| format!("bundle {}", dir.display()))?;
    let path = dir.join("config.json");
    let text = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
    let spec: Spec =
        serde_json::from_slice(&text).with_context(|| format!("parse {}", path.display()))?;
    Ok(Bundle { dir, spec })
}

/// Whether this process may make namespaces other than a user namespace
/// itself: root in its user namespace (host root, or inside an engine's
/// rootless namespace such as podman's).
pub fn privileged() -> bool {
    nix::unistd::geteuid().is_root()
        && caps::has_cap(
            None,
            caps::CapSet::Effective,
            caps::Capability::CAP_SYS_ADMIN,
        )
        .unwrap_or(false)
}

/// The launch of `b`'s container.
pub fn launch(
    b: &Bundle,
    fifo: PathBuf,
    console_socket: Option<PathBuf>,
) -> anyhow::Result<OciLaunch> {
    let spec = &b.spec;
    refuse_unsupported(spec)?;
    let root = mounts::root_path(spec, &b.dir)?;
    let linux = spec.linux().as_ref();
    // No `process` is allowed at create (runtime-spec config.md: it is
    // only required by `start`): the init waits with an inert
    // placeholder that `start` refuses to run.
    let placeholder = Process::default();
    let proc_ = spec.process().as_ref().unwrap_or(&placeholder);
    let process = process(proc_, linux.and_then(|l| l.seccomp().as_ref()))?;
    let namespaces = namespaces(spec)?;
    let new_user = namespaces
        .iter()
        .any(|n| n.kind == NsKind::User && n.path.is_none());
    let id_maps = match linux {
        Some(l) if new_user => {
            let m = |v: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| -> Vec<_> {
                v.iter()
                    .flatten()
                    .map(|x| (x.container_id(), x.host_id(), x.size()))
                    .collect()
            };
            let maps = IdMaps {
                uid: m(l.uid_mappings()),
                gid: m(l.gid_mappings()),
            };
            if maps.uid.is_empty() || maps.gid.is_empty() {
                bail!("linux.uidMappings/gidMappings: a new user namespace needs both");
            }
            Some(maps)
        }
        _ => None,
    };
    if !new_user && linux.is_some_and(|l| l.uid_mappings().is_some() || l.gid_mappings().is_some())
    {
        bail!("linux.uidMappings: given without a new user namespace in linux.namespaces");
    }
    if namespaces.iter().all(|n| n.kind != NsKind::User) && !privileged() {
        bail!(
            "linux.namespaces: no user namespace, and burrow runs without privileges \
             (uid {}): add {{\"type\": \"user\"}} with uidMappings and gidMappings \
             ('burrow oci spec --rootless' writes them)",
            nix::unistd::geteuid()
        );
    }
    // A uts namespace of its own, new or joined (runc's rule).
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty())
        && !namespaces.iter().any(|n| n.kind == NsKind::Uts)
    {
        bail!("hostname: set without a uts namespace in linux.namespaces");
    }
    let sysctl = linux
        .and_then(|l| l.sysctl().clone())
        .map(|m| {
            let mut v: Vec<(String, String)> = m.into_iter().collect();
            v.sort();
            v
        })
        .unwrap_or_default();
    let rootfs_propagation = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        None | Some("") => None,
        Some(p) => Some(
            mounts::propagation(p)
                .with_context(|| format!("linux.rootfsPropagation: unknown {p:?}"))?,
        ),
    };
    Ok(OciLaunch {
        plan: mounts::plan(spec, &root, &b.dir)?,
        root,
        process,
        no_process: spec.process().is_none(),
        hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
        domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
        namespaces,
        id_maps,
        sysctl,
        fifo,
        console_socket,
        rootfs_propagation,
    })
}

/// Fields burrow has no way to honour.
fn refuse_unsupported(spec: &Spec) -> anyhow::Result<()> {
    let Some(l) = spec.linux() else {
        bail!("linux: missing in config.json (burrow runs Linux containers)");
    };
    if let Some(r) = l.resources() {
        let limits = [
            ("memory", r.memory().is_some()),
            ("cpu", r.cpu().is_some()),
            ("pids", r.pids().is_some()),
            ("blockIO", r.block_io().is_some()),
            (
                "hugepageLimits",
                r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty()),
            ),
            ("network", r.network().is_some()),
            ("rdma", r.rdma().as_ref().is_some_and(|v| !v.is_empty())),
            (
                "unified",
                r.unified().as_ref().is_some_and(|v| !v.is_empty()),
            ),
        ];
        if let Some((name, _)) = limits.iter().find(|(_, set)| *set) {
            bail!(
                "linux.resources.{name}: burrow's OCI runtime sets no cgroup limits \
                 (no cgroup is delegated to it)"
            );
        }
    }
    if l.intel_rdt().is_some() {
        bail!("linux.intelRdt: not supported by burrow");
    }
    if l.personality().is_some() {
        bail!("linux.personality: not supported by burrow");
    }
    if l.mount_label().as_deref().is_some_and(|s| !s.is_empty()) {
        bail!("linux.mountLabel: burrow applies no SELinux labels");
    }
    if let Some(h) = spec.hooks() {
        if h.create_container().as_ref().is_some_and(|v| !v.is_empty()) {
            bail!("hooks.createContainer: not supported by burrow");
        }
        if h.start_container().as_ref().is_some_and(|v| !v.is_empty()) {
            bail!("hooks.startContainer: not supported by burrow");
        }
    }
    Ok(())
}

fn namespaces(spec: &Spec) -> anyhow::Result<Vec<Namespace>> {
    let mut out: Vec<Namespace> = Vec::new();
    let list = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    for ns in list.into_iter().flatten() {
        let kind = match ns.typ() {
            LinuxNamespaceType::User => NsKind::User,
            LinuxNamespaceType::Pid => NsKind::Pid,
            LinuxNamespaceType::Mount => NsKind::Mount,
            LinuxNamespaceType::Network => NsKind::Network,
            LinuxNamespaceType::Uts => NsKind::Uts,
            LinuxNamespaceType::Ipc => NsKind::Ipc,
            LinuxNamespaceType::Cgroup => NsKind::Cgroup,
            LinuxNamespaceType::Time => {
                bail!("linux.namespaces: the time namespace is not supported by burrow")
            }
        };
        if out.iter().any(|n| n.kind == kind) {
            bail!("linux.namespaces: {} given twice", kind.proc_name());
        }
        out.push(Namespace {
            kind,
            path: ns.path().clone(),
        });
    }
    if !out.iter().any(|n| n.kind == NsKind::Mount) {
        bail!("linux.namespaces: burrow needs a mount namespace (it pivots into the root)");
    }
    Ok(out)
}

/// A `process` (of the config, or `exec --process`), with the container's
/// seccomp profile.
pub fn process(p: &Process, seccomp: Option<&LinuxSeccomp>) -> anyhow::Result<OciProcess> {
    if p.apparmor_profile()
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        bail!("process.apparmorProfile: burrow does not apply AppArmor profiles");
    }
    if p.selinux_label().as_deref().is_some_and(|s| !s.is_empty()) {
        bail!("process.selinuxLabel: burrow applies no SELinux labels");
    }
    if p.io_priority().is_some() {
        bail!("process.ioPriority: not supported by burrow");
    }
    if p.scheduler().is_some() {
        bail!("process.scheduler: not supported by burrow");
    }
    if p.exec_cpu_affinity().is_some() {
        bail!("process.execCPUAffinity: not supported by burrow");
    }
    let args = p.args().clone().unwrap_or_default();
    if args.is_empty() {
        bail!("process.args: empty");
    }
    let cwd = p.cwd().to_string_lossy().into_owned();
    if !cwd.starts_with('/') {
        bail!("process.cwd: {cwd:?} is not absolute");
    }
    let user = p.user();
    let caps = capabilities(p)?;
    let seccomp = seccomp.map(|s| seccomp_program(s, &caps)).transpose()?;
    let confinement = Confinement {
        seccomp: None,
        caps,
        no_new_privs: p.no_new_privileges().unwrap_or(false),
        fake_chown: false,
        landlock: None,
        masked_paths: false,
        // The OCI runtime has no supervisor to answer the notifications.
        emulate_ids: false,
        notify_bind: false,
    };
    let rlimits = p
        .rlimits()
        .iter()
        .flatten()
        .map(|r| (resource(r.typ()), r.soft(), r.hard()))
        .collect();
    let set =
        |which: Option<&Capabilities>, field: &str| -> anyhow::Result<Vec<::caps::Capability>> {
            which
                .into_iter()
                .flatten()
                .map(|c| {
                    let n = cap_name(c)?;
                    parse_cap(&n).with_context(|| format!("process.capabilities.{field}: {n}"))
                })
                .collect()
        };
    let c = p.capabilities().as_ref();
    let inheritable = set(c.and_then(|c| c.inheritable().as_ref()), "inheritable")?;
    let ambient = set(c.and_then(|c| c.ambient().as_ref()), "ambient")?;
    Ok(OciProcess {
        seccomp,
        inheritable,
        ambient,
        spec: ProcessSpec {
            args,
            env: p.env().clone().unwrap_or_default(),
            cwd,
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            tty: p.terminal().unwrap_or(false),
            stdin: true,
        },
        confinement,
        rlimits,
        oom_score_adj: p.oom_score_adj(),
        console_size: p
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16)),
        umask: user.umask(),
    })
}

/// The set the process keeps: its permitted set (bounded by `bounding`).
/// burrow's `caps::apply` sets bounding, permitted and effective to one
/// set; the inheritable and ambient ones are set after it
/// (`sandbox::oci`).
fn capabilities(p: &Process) -> anyhow::Result<CapSet> {
    let Some(c) = p.capabilities() else {
        return Ok(CapSet::empty());
    };
    let names = |set: &Option<Capabilities>| -> anyhow::Result<Vec<String>> {
        set.iter()
            .flatten()
            .map(|c| {
                let n = cap_name(c)?;
                parse_cap(&n).with_context(|| format!("process.capabilities: {n}"))?;
                Ok(n)
            })
            .collect()
    };
    let permitted = names(c.permitted())?;
    let bounding = names(c.bounding())?;
    let keep: Vec<&String> = permitted
        .iter()
        .filter(|n| c.bounding().is_none() || bounding.contains(n))
        .collect();
    Ok(CapSet::from_flags(false, &keep, &["ALL"])?)
}

/// `CAP_KILL`, as the spec spells it.
fn cap_name(c: &oci_spec::runtime::Capability) -> anyhow::Result<String> {
    let v = serde_json::to_value(c)?;
    Ok(v.as_str().unwrap_or_default().to_string())
}

/// linux.seccomp is the Docker profile format's subset: its JSON goes to
/// the same compiler as `--security-opt seccomp=FILE`.
fn seccomp_program(s: &LinuxSeccomp, caps: &CapSet) -> anyhow::Result<seccomp::BpfProgram> {
    if s.listener_path().is_some() {
        bail!("linux.seccomp.listenerPath: seccomp user notification agents are not supported");
    }
    let json = serde_json::to_vec(s).context("linux.seccomp")?;
    Ok(seccomp::compile_profile(
        &json,
        "config.json linux.seccomp",
        caps,
        seccomp::Options::default(),
    )?)
}

fn resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn cgroup_limits_are_refused_by_name() {
        let s =
            spec(r#"{"ociVersion":"1.0.2","linux":{"resources":{"memory":{"limit":1000000}}}}"#);
        let e = refuse_unsupported(&s).unwrap_err().to_string();
        assert!(e.starts_with("linux.resources.memory:"), "{e}");
        // Device rules alone are what a user namespace gives anyway.
        let s = spec(
            r#"{"ociVersion":"1.0.2","linux":{"resources":{"devices":[{"allow":false,"access":"rwm"}]}}}"#,
        );
        refuse_unsupported(&s).unwrap();
    }

    #[test]
    fn process_caps_are_permitted_within_bounding() {
        let p: Process = serde_json::from_str(
            r#"{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},
                "capabilities":{"bounding":["CAP_KILL","CAP_CHOWN"],
                                "permitted":["CAP_KILL","CAP_NET_RAW"]}}"#,
        )
        .unwrap();
        let c = capabilities(&p).unwrap();
        assert!(c.contains(::caps::Capability::CAP_KILL));
        assert!(!c.contains(::caps::Capability::CAP_NET_RAW));
        assert!(!c.contains(::caps::Capability::CAP_CHOWN));
    }

    #[test]
    fn oci_seccomp_compiles_with_the_profile_compiler() {
        let s: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
                "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
        )
        .unwrap();
        seccomp_program(&s, &CapSet::empty()).unwrap();
        let s: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/x.sock"}"#,
        )
        .unwrap();
        let e = seccomp_program(&s, &CapSet::empty())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("linux.seccomp.listenerPath"), "{e}");
    }
}
