//! The launcher: user namespace and id maps, mounts, pivot_root, and the
//! confinement applied before exec.
//!
//! It takes a plain [`LaunchSpec`] and knows nothing of images or
//! registries: the caller gives it the lower dirs of the overlay, the
//! process to run and the mounts to make.
//!
//! Processes (see DESIGN.md), one file per stage: a short-lived holder
//! unshares the user namespace and the caller writes its id maps
//! (`crate::userns`; `run` begins this before it resolves the image). The
//! caller (`caller`) then forks the supervisor (`supervisor`), which joins
//! that namespace with setns, unshares a pid namespace and forks the
//! container init (`init`). The init makes its own mount, uts, ipc (and
//! net) namespaces, mounts the rootfs (`mounts`), pivots into it and execs
//! the command (or forks it and stays as a tiny init that reaps zombies
//! and forwards signals). `relay` passes a foreground container's streams
//! and signals, `detach` serves a detached one's monitor, `fuse_root` its
//! FUSE root, `enter` joins a running one (`exec`), `ids` answers a
//! single-id container's set*id/get*id calls (emulated ids). Stages talk
//! in typed messages over SOCK_SEQPACKET pairs (`channel`).
//!
//! Confinement (`confine`), resolved by the caller before fork
//! (`Confinement::resolve`: caps, the seccomp program from the cache,
//! the Landlock profile) and applied in the container init in this order:
//! 1. `mounts::masks`: MASKED and READ_ONLY paths go into the mount plan (skipped
//!    with `--privileged`).
//! 2. The ids are switched with keep-caps on, then `confine::apply`
//!    calls `caps::apply(&CapSet)` (the mounts before it need
//!    CAP_SYS_ADMIN in the namespace).
//! 3. no_new_privs (unless `no-new-privileges=false`), then
//!    `landlock::apply(&plan, nnp)`; the caller warns (one line) about what
//!    the kernel's ABI cannot enforce.
//! 4. `seccomp::install(&prog, spec_allow)` last, right before execve; in
//!    single-id mode the id emulation's filter just before it, whose
//!    listener goes to the supervisor before execve.
//!    Without no_new_privs, Landlock and seccomp go before step 2 instead
//!    (the kernel then needs CAP_SYS_ADMIN, which step 2 may drop).
//!
//! Every stage a container's processes can see is non-dumpable before
//! they can (the init from its start, `exec`'s helper before it joins),
//! so they cannot open its /proc/PID/exe (the host's burrow binary) nor
//! ptrace it; commands that start containers run from a read-only mount
//! of the binary (`crate::exe`), for the road through `#!/proc/self/exe`. A
//! container never gets the caller's terminal unless it asked for a tty
//! (`streams`), and runs in a session of its own.
//!
//! `burrow sandbox` uses the same stages with a plan of its own
//! (`mounts::hostplan`: the host's / read-only) and the user mapped to itself.

pub mod bypass;
mod caller;
mod channel;
pub mod confine;
mod connector;
mod detach;
mod enter;
mod exec_guard;
mod fuse_root;
pub mod ids;
mod init;
pub mod mounts;
pub mod oci;
mod relay;
mod streams;
mod supervisor;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use caller::{launch, launch_detached, launch_noting};
pub use confine::Confinement;
pub use detach::{Monitor, OutStream, Started};
pub use enter::{enter, joinable};
pub use mounts::{kernel_overlay_refuses, MountOp, MountPlan, MountRequest};
pub use supervisor::TRASH_PREFIX;

use crate::userns::idmap::{HostUser, IdMapMode};

/// The process to run inside the container, fully resolved (no image
/// lookups left): argv, environment, working dir and ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSpec {
    pub args: Vec<String>,
    /// `NAME=value` strings.
    pub env: Vec<String>,
    /// Absolute path inside the container; created when missing.
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// A pseudo-terminal for stdin/stdout/stderr.
    pub tty: bool,
    /// Keep stdin attached (else it reads /dev/null).
    pub stdin: bool,
}

/// Which network namespace the container gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// A new namespace with only the loopback interface (up).
    #[default]
    None,
    /// The caller's namespace.
    Host,
    /// A namespace of its own with a tap (`eth0`) served by the
    /// supervisor's translator to host sockets (`crate::net`), made once
    /// per container and kept across restarts.
    Bridge,
    /// The network namespace of another container (its id), with its user
    /// namespace (`--network container:NAME`); the caller opens both
    /// (`LaunchSpec::join`).
    Container(String),
}

impl Network {
    /// Docker's NetworkMode: `none`, `host`, `bridge`, `container:ID`.
    pub fn mode(&self) -> String {
        match self {
            Network::None => "none".into(),
            Network::Host => "host".into(),
            Network::Bridge => "bridge".into(),
            Network::Container(id) => format!("container:{id}"),
        }
    }
}

/// The root filesystem: an overlay of `lower_dirs` (top-most first) with
/// a private upper dir, by the kernel's overlayfs or by our FUSE overlay
/// (served by the supervisor, `fuse_root`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rootfs {
    pub lower_dirs: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// Where the overlay is mounted (inside the supervisor's or the init's
    /// mount namespace only; nobody else sees it).
    pub merged: PathBuf,
    #[serde(default)]
    pub driver: crate::rootfs::driver::Driver,
}

/// Files written for the container and bind-mounted over the image's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcFiles {
    pub hosts: PathBuf,
    pub hostname: PathBuf,
    pub resolv_conf: PathBuf,
}

/// Everything the launcher needs to start one container.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub rootfs: Rootfs,
    pub process: ProcessSpec,
    pub hostname: String,
    pub mounts: Vec<MountRequest>,
    pub read_only: bool,
    pub network: Network,
    /// `Network::Container`: the other container's user and network
    /// namespaces, which the supervisor and the init join.
    pub join: Option<crate::net::peer::PeerNs>,
    /// Bridge: one per `--link`, in order: how to find the linked
    /// container's namespaces, where the link's sockets are made
    /// (`net::link`).
    pub links: Vec<crate::net::peer::Locate>,
    /// Bridge: the gateway address reaches the host's loopback (the user
    /// asked with `--add-host NAME:host-gateway`).
    pub host_loopback: bool,
    pub etc: EtcFiles,
    pub id_map: IdMapMode,
    pub host_user: HostUser,
    /// Run the command under a tiny pid 1 that reaps zombies and forwards
    /// signals (for commands that are not an init themselves).
    pub init: bool,
    /// Removed from inside the user namespace once the container exited
    /// (`--rm`): files made by mapped ids are not the host user's to delete.
    /// It is renamed to `.trash-<name>` at once and deleted in the
    /// background.
    pub remove_after: Option<PathBuf>,
    /// Capabilities, no_new_privs, seccomp, Landlock and masked paths,
    /// resolved by the caller (`confine::Confinement::resolve`).
    pub confinement: Confinement,
    /// A plan made by the caller (`burrow sandbox`); None: the plan is
    /// built from `rootfs`, `mounts` and `etc`.
    pub plan: Option<MountPlan>,
    /// Map the user to itself alone, not to root (`burrow sandbox`: the
    /// command keeps its own uid); `id_map` is then not used.
    pub identity_map: bool,
    /// A cgroup (v2) dir the init moves into before anything else (for
    /// pause); removed once the container ended for good.
    pub cgroup: Option<PathBuf>,
    /// RLIMIT_NPROC for the container's processes, where no cgroup holds
    /// their number (`--pids-limit`).
    pub nproc_limit: Option<u64>,
    /// Host sockets bound by the caller for `-p`; the supervisor forwards
    /// them into the container, nobody else keeps them.
    pub ports: crate::net::publish::Listeners,
    /// Bridge on user networks: the keeper's namespaces (the supervisor
    /// joins its user namespace) and the links to make.
    pub user_nets: Option<crate::net::user::attach::UserNets>,
}

/// How a launched container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The command's exit code, or 128 + signal number.
    pub code: i32,
}

/// Commands that are an init themselves and want to be pid 1.
pub fn is_init_command(arg0: &str) -> bool {
    let base = arg0.rsplit('/').next().unwrap_or(arg0);
    matches!(
        base,
        "init"
            | "systemd"
            | "tini"
            | "docker-init"
            | "dumb-init"
            | "catatonit"
            | "s6-svscan"
            | "runit"
            | "runit-init"
            | "openrc-init"
    )
}
