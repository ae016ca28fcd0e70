//! Making a container: a `CreateRequest` (the flags of `run` and
//! `create`, parsed) becomes a record with its dirs. This is where the
//! subsystems meet: the confinement is checked (and the seccomp program
//! cached), the storage driver chosen, the image resolved (pulled when
//! missing), the process computed from its config, and the driver fitted
//! to its layers.

use anyhow::bail;

use super::image_source;
use super::lifecycle::{self, NewContainer};
use super::mounts::MountSpec;
use super::record::{self, Extras, Record, RunConfig};
use super::spec;
use super::volumes::{self, VolumesFrom};
use crate::paths::Paths;
use crate::rootfs::driver::{self, Setting};
use crate::sandbox::confine::{Confinement, SecurityOpts};
use crate::sandbox::{self, Network, ProcessSpec};
use crate::userns::idmap::{self, HostUser, IdMapMode};
pub use crate::userns::PreparedUserNs;
use crate::userns::{self, Mapping};

/// What a new container should be, from the user's flags.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    /// The image reference, as the user wrote it.
    pub image: String,
    /// The command and its arguments (empty: the image's).
    pub command: Vec<String>,
    /// `--entrypoint` ("" clears the image's).
    pub entrypoint: Option<String>,
    pub workdir: Option<String>,
    /// `--user`: name or uid, optionally :group or :gid.
    pub user: Option<String>,
    pub name: Option<String>,
    pub hostname: Option<String>,
    pub network: Network,
    /// `--network NAME` (a user network), `--network-alias`, `--ip`.
    pub user_network: Option<UserNetworkRequest>,
    /// `-v`, `--mount`, `--tmpfs`: volumes are found or made at create.
    pub mounts: Vec<MountSpec>,
    /// `--volumes-from`.
    pub volumes_from: Vec<VolumesFrom>,
    /// `--dns*`, `--add-host`.
    pub net: crate::net::Options,
    /// `NAME=value` strings, already resolved from the caller's
    /// environment (a bare `NAME` takes the caller's value).
    pub env: Vec<String>,
    pub security: SecurityOpts,
    /// `--storage-driver`; None: the environment, config file or auto.
    pub storage_driver: Option<Setting>,
    /// Restart policy, limits, log options, labels.
    pub extras: Extras,
    pub tty: bool,
    pub interactive: bool,
    pub read_only: bool,
    /// `--rm`.
    pub auto_remove: bool,
}

/// A user network to put the container on; its address is fixed at create.
#[derive(Debug, Clone)]
pub struct UserNetworkRequest {
    pub network: crate::net::user::NetworkRecord,
    pub aliases: Vec<String>,
    pub ip: Option<std::net::Ipv4Addr>,
}

/// The attachment for `req`: `--ip` checked, or the next free address
/// among those the network's containers hold.
pub fn attachment(
    root: &std::path::Path,
    req: &UserNetworkRequest,
) -> anyhow::Result<crate::net::user::Attachment> {
    let used = super::networks::addresses_on(root, &req.network.name);
    let ip = match req.ip {
        Some(ip) => {
            crate::net::user::check_ip(&req.network, ip, &used)
                .map_err(|e| crate::error::Coded::new(crate::error::EXIT_BURROW, e))?;
            ip
        }
        None => crate::net::user::allocate_ip(&req.network, &used).ok_or_else(|| {
            crate::error::Coded::new(
                crate::error::EXIT_BURROW,
                format!("network {} has no free address left", req.network.name),
            )
        })?,
    };
    Ok(crate::net::user::Attachment {
        network: req.network.name.clone(),
        aliases: req.aliases.clone(),
        ip,
    })
}

/// Begin the user namespace a start will need, so that its id maps are
/// written (by setuid helpers, in subuid mode) while the image is
/// resolved and the record made; hand it to `lifecycle::start`. Must be
/// called while this process has a single thread.
pub fn prepare_userns() -> PreparedUserNs {
    let user = HostUser::current();
    let mapping = Mapping::Root(idmap::choose(&user).mode);
    userns::prepare(&mapping, &user)
}

/// Everything `create` does: check the confinement and the driver,
/// resolve the image (pulling it if missing), compute the process and
/// mounts, make the record. Bad input fails here, before anything is
/// made.
pub fn create(paths: &Paths, req: CreateRequest) -> anyhow::Result<Record> {
    // Profiles are checked (and the seccomp program cached) now: a bad
    // one fails before anything is made.
    let single = matches!(idmap::choose(&HostUser::current()).mode, IdMapMode::Single);
    Confinement::resolve(&req.security, single, paths.ensure_root().ok())?;
    if let Some(name) = &req.name {
        super::names::validate(name).map_err(anyhow::Error::msg)?;
    }
    // Before a pull: a driver that cannot work here fails at once.
    let driver_choice = driver::choose(paths, req.storage_driver)?;

    let mut extras = req.extras;
    let image = image_source::resolve(paths, &req.image)?;
    let cfg = image.config.config().as_ref();
    extras.stop_signal = cfg.and_then(|c| c.stop_signal().clone());
    // `--health-*` over the image's HEALTHCHECK, as the daemon merges them.
    extras.health = match extras.health.take() {
        Some(flags) => Some(flags.merged_over(image.healthcheck.as_ref())),
        None => image.healthcheck.clone(),
    };
    crate::net::publish::spec::expose_image_ports(
        &mut extras.ports,
        cfg.and_then(|c| c.exposed_ports().as_deref()),
    );
    let argv = spec::command(cfg, req.entrypoint.as_deref(), &req.command)?;
    let cwd = spec::working_dir(cfg, req.workdir.as_deref())?;
    let user =
        spec::exec_user_in_layers(spec::user_spec(cfg, req.user.as_deref()), &image.lower_dirs)?;
    let id = record::new_id()?;
    let dir = record::container_dir(paths.root(), &id);
    let storage_driver = driver_choice.for_image(sandbox::kernel_overlay_refuses(
        &image.lower_dirs,
        &dir.join("upper"),
        &dir.join("work"),
    ));
    let hostname = req
        .hostname
        .unwrap_or_else(|| lifecycle::default_hostname(&id, req.network));
    if hostname.len() > 64 || hostname.contains(['\0', '/']) {
        bail!(
            "invalid hostname {:?}",
            crate::text::escape_control(&hostname)
        );
    }
    let env = spec::environment(cfg, &req.env, &hostname, &user.home, req.tty);
    let init = !sandbox::is_init_command(&argv[0]);
    // Volumes last: everything above can fail without making one.
    let image_volumes: Vec<String> = cfg.and_then(|c| c.volumes().clone()).unwrap_or_default();
    let root = paths.ensure_root()?;
    let networks = match &req.user_network {
        Some(u) => vec![attachment(root, u)?],
        None => Vec::new(),
    };
    let resolved = volumes::resolve(root, req.mounts, &req.volumes_from, &image_volumes)?;
    let config = RunConfig {
        lower_dirs: image.lower_dirs,
        process: ProcessSpec {
            args: argv,
            env,
            cwd,
            uid: user.uid,
            gid: user.gid,
            additional_gids: user.additional_gids,
            tty: req.tty,
            stdin: req.interactive,
        },
        hostname,
        mounts: resolved.mounts,
        read_only: req.read_only,
        network: req.network,
        net: req.net,
        networks,
        auto_remove: req.auto_remove,
        init,
        security: req.security,
        storage_driver,
    };
    let made = lifecycle::create(
        paths,
        NewContainer {
            name: req.name,
            image: req.image,
            image_id: image.id,
            config,
            extras,
        },
        id,
    );
    if made.is_err() {
        volumes::undo(root, &resolved.made);
    }
    made
}
