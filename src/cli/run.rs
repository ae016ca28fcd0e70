//! `burrow run` and the flags it shares with `create`: turn them into a
//! container record (image config + overrides), then start it in the
//! foreground.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use crate::container::create::{self, CreateRequest, PreparedUserNs};
use crate::container::lifecycle;
use crate::container::limits::Limits;
use crate::container::record::{self, Network, SecurityOpts};
use crate::container::restart::RestartPolicy;
use crate::container::volumes::VolumesFrom;
use crate::container::{mounts, spec};
use crate::error::EXIT_BURROW;
use crate::paths::Paths;
use crate::rootfs::driver::Setting;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageDriverArg {
    /// The kernel's overlayfs in the user namespace (fastest)
    Overlay,
    /// burrow's own overlay on FUSE (where the kernel's cannot mount)
    FuseOverlay,
    /// overlay where it mounts, else fuse-overlay
    Auto,
}

impl From<StorageDriverArg> for Setting {
    fn from(a: StorageDriverArg) -> Setting {
        match a {
            StorageDriverArg::Overlay => Setting::Overlay,
            StorageDriverArg::FuseOverlay => Setting::FuseOverlay,
            StorageDriverArg::Auto => Setting::Auto,
        }
    }
}

// Flags shared by `run` and `create` (a plain comment: a doc comment
// would become their help text once the subcommands are deferred).
#[derive(Debug, Args)]
pub struct ContainerArgs {
    /// Name the container (default: a generated name)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,

    /// Keep stdin attached
    #[arg(short, long)]
    pub interactive: bool,

    /// Give the command a pseudo-terminal
    #[arg(short, long)]
    pub tty: bool,

    /// Set an environment variable (NAME=VALUE, or NAME to pass yours on)
    #[arg(short, long = "env", value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,

    /// Read environment variables from a file (NAME=VALUE lines)
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,

    /// Working directory inside the container
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// User to run as: name or uid, optionally :group or :gid
    #[arg(short, long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,

    /// The container's hostname (default: its short id)
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// Override the image's entrypoint ("" clears it)
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,

    /// Mount a volume or a host path: NAME:PATH[:ro] (made when missing),
    /// HOST-PATH:PATH[:ro] (a bind), or PATH (a new anonymous volume)
    #[arg(short, long, value_name = "SOURCE:PATH[:ro]")]
    pub volume: Vec<String>,

    /// Mount: type=volume[,source=NAME],target=PATH[,readonly][,volume-nocopy],
    /// type=bind,source=HOST,target=PATH[,readonly] or type=tmpfs,target=PATH
    #[arg(long, value_name = "SPEC")]
    pub mount: Vec<String>,

    /// Mount the volumes (and binds) of another container: CONTAINER[:ro|rw]
    #[arg(long, value_name = "CONTAINER[:ro|rw]")]
    pub volumes_from: Vec<String>,

    /// Mount a tmpfs: PATH[:OPTIONS]
    #[arg(long, value_name = "PATH[:OPTIONS]")]
    pub tmpfs: Vec<String>,

    /// Mount the root filesystem read-only
    #[arg(long)]
    pub read_only: bool,

    /// Network: bridge (its own, reaching out through the host; the default), none (loopback
    /// only), host, or the name of a user network (burrow network create)
    #[arg(long, alias = "net", default_value = "bridge", value_name = "NETWORK")]
    pub network: String,

    /// Another name the container's peers on its user network resolve it by
    #[arg(long = "network-alias", alias = "net-alias", value_name = "ALIAS")]
    pub network_alias: Vec<String>,

    /// The container's IPv4 address on its user network (default: the next free one)
    #[arg(long, value_name = "IPV4")]
    pub ip: Option<std::net::Ipv4Addr>,

    /// Publish a container port on the host: [IP:][HOSTPORT:]CONTAINERPORT[/udp]
    /// (ranges like 8000-8010:80-90; no HOSTPORT: a free one; IP default 0.0.0.0)
    #[arg(short = 'p', long = "publish", value_name = "[IP:][HOST:]PORT[/PROTO]")]
    pub publish: Vec<String>,

    /// Publish every exposed port (the image's EXPOSE and --expose) on a free host port
    #[arg(short = 'P', long)]
    pub publish_all: bool,

    /// Expose a port or range (PORT[/PROTO]) for -P, as the image's EXPOSE does
    #[arg(long, value_name = "PORT[/PROTO]")]
    pub expose: Vec<String>,

    /// A DNS server for the container's /etc/resolv.conf (default: burrow's, which asks the host's)
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,

    /// A DNS search domain (default: the host's)
    #[arg(long, value_name = "DOMAIN")]
    pub dns_search: Vec<String>,

    /// A resolver option (default: the host's)
    #[arg(long, value_name = "OPTION")]
    pub dns_option: Vec<String>,

    /// Add a line to /etc/hosts: NAME:IP; NAME:host-gateway names the host (reachable then)
    #[arg(long, value_name = "NAME:IP")]
    pub add_host: Vec<String>,

    /// Root file system driver [env: BURROW_STORAGE_DRIVER; config: storage_driver in
    /// ~/.config/burrow/burrow.toml; default: auto]
    #[arg(long, value_enum, value_name = "DRIVER")]
    pub storage_driver: Option<StorageDriverArg>,

    /// Restart policy, kept by the detached supervisor while it lives:
    /// no, on-failure[:N], always, unless-stopped
    #[arg(long, value_name = "POLICY", default_value = "no")]
    pub restart: String,

    /// Set a label on the container: KEY=VALUE (or KEY)
    #[arg(short = 'l', long = "label", value_name = "KEY[=VALUE]")]
    pub label: Vec<String>,

    /// Log options: max-size=SIZE (e.g. 10m), max-file=N [default: max-size=20m, max-file=5]
    #[arg(long = "log-opt", value_name = "OPT=VALUE")]
    pub log_opt: Vec<String>,

    /// Most processes at once (-1: no limit) [default: 2048]
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,

    /// Memory limit (e.g. 512m, 1g); needs a delegated cgroup
    #[arg(short = 'm', long, value_name = "SIZE")]
    pub memory: Option<String>,

    /// CPUs the container may use (e.g. 1.5); needs a delegated cgroup
    #[arg(long, value_name = "N")]
    pub cpus: Option<String>,

    /// Command to run to check health (run with /bin/sh -c)
    #[arg(long, value_name = "CMD")]
    pub health_cmd: Option<String>,

    /// Time between health checks (ms|s|m|h) [default: 30s]
    #[arg(long, value_name = "DURATION")]
    pub health_interval: Option<String>,

    /// Longest a health check may run (ms|s|m|h) [default: 30s]
    #[arg(long, value_name = "DURATION")]
    pub health_timeout: Option<String>,

    /// Consecutive failures that make the container unhealthy [default: 3]
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub health_retries: Option<i64>,

    /// Time to start before failed checks count (ms|s|m|h) [default: 0s]
    #[arg(long, value_name = "DURATION")]
    pub health_start_period: Option<String>,

    /// Time between health checks during the start period (ms|s|m|h) [default: 5s]
    #[arg(long, value_name = "DURATION")]
    pub health_start_interval: Option<String>,

    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    pub no_healthcheck: bool,

    /// Give every capability inside the user namespace, with no seccomp
    /// filter and no masked paths (never host root)
    #[arg(long)]
    pub privileged: bool,

    /// Add a capability (NAME or CAP_NAME, ALL for every one)
    #[arg(long, value_name = "CAP", value_delimiter = ',')]
    pub cap_add: Vec<String>,

    /// Drop a capability (NAME or CAP_NAME, ALL for every one)
    #[arg(long, value_name = "CAP", value_delimiter = ',')]
    pub cap_drop: Vec<String>,

    /// Security option: no-new-privileges[=false], seccomp=FILE|unconfined,
    /// landlock=NAME|FILE
    #[arg(long, value_name = "OPT")]
    pub security_opt: Vec<String>,

    /// The image: NAME[:TAG], NAME@DIGEST or an image id
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// The command and its arguments [default: the image's]
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run in the background and print the container's id
    #[arg(short, long)]
    pub detach: bool,

    #[command(flatten)]
    pub container: ContainerArgs,
}

/// `run`: create, then start attached (or detached with -d).
pub fn run(paths: &Paths, args: &RunArgs) -> anyhow::Result<i32> {
    if args.detach && args.container.rm {
        // The supervisor would remove it, but nobody could read its logs.
        tracing::debug!("--rm with -d: removed when it exits");
    }
    let c = &args.container;
    if !args.detach && c.restart != "no" && (c.interactive || c.tty) {
        bail!(
            "--restart with -i or -t in the foreground: burrow has no daemon to attach a \
             restarted container to; use -d, then 'burrow exec -it'"
        );
    }
    if !args.detach {
        refuse_tty_without_terminal(c.interactive, c.tty)?;
    }
    // The id maps are written while the image is resolved and the record
    // made.
    let userns = create::prepare_userns();
    let rec = create_container(paths, &args.container)?;
    let id = rec.id.clone();
    let result = start_new(paths, args, rec, userns);
    if let Err(e) = &result {
        // A host port in use: the run made nothing that stays (Docker
        // would keep the container, Created).
        if e.chain().any(|c| c.is::<crate::net::publish::BindError>()) {
            let root = paths.root();
            if let Ok(Some(trash)) = record::take_out(root, &id) {
                let _ = crate::fsutil::remove_tree(&trash);
            }
        }
    }
    result
}

/// Start the container `run` just made, as its flags say.
fn start_new(
    paths: &Paths,
    args: &RunArgs,
    rec: record::Record,
    userns: PreparedUserNs,
) -> anyhow::Result<i32> {
    if !args.detach && !rec.extras.restart.is_none() {
        return attach_first_run(paths, rec, Some(userns));
    }
    if args.detach {
        let id = rec.id.clone();
        lifecycle::start_detached(paths, rec, Some(userns))?;
        println!("{id}");
        return Ok(0);
    }
    lifecycle::start(paths, rec, args.container.interactive, Some(userns))
}

/// `-it` with standard input that is not a terminal (a pipe, a file): the
/// relay would wait for a terminal forever, so refuse as docker does, with
/// its words and exit code 1.
pub fn refuse_tty_without_terminal(interactive: bool, tty: bool) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if interactive && tty && !std::io::stdin().is_terminal() {
        return Err(crate::error::Coded::new(1, "the input device is not a TTY").into());
    }
    Ok(())
}

/// A container with a restart policy in the foreground, as docker's
/// client does it: its supervisor is detached (it restarts the command
/// after we are gone), and we print its output until the first run ends
/// and return that run's exit code.
pub fn attach_first_run(
    paths: &Paths,
    rec: record::Record,
    userns: Option<PreparedUserNs>,
) -> anyhow::Result<i32> {
    use crate::container::{log, state::State, supervisor::log_path};
    let root = paths.ensure_root()?.to_path_buf();
    let path = log_path(&record::container_dir(&root, &rec.id));
    let mut follower = log::Follower::at_end(&path).context("open the log")?;
    lifecycle::start_detached(paths, rec.clone(), userns)?;
    loop {
        let now = record::find(&root, &rec.id).ok();
        let ended = now
            .as_ref()
            .is_none_or(|r| r.restart_count > 0 || !matches!(State::of(r), State::Running));
        super::logs::print(&follower.poll().context("read the log")?, false);
        if ended {
            return Ok(now.and_then(|r| r.exit_code).unwrap_or(EXIT_BURROW));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `--restart`, checked against the other flags.
fn restart_policy(a: &ContainerArgs) -> anyhow::Result<RestartPolicy> {
    let policy = RestartPolicy::parse(&a.restart).map_err(anyhow::Error::msg)?;
    if policy.is_none() {
        return Ok(policy);
    }
    if a.rm {
        bail!("conflicting options: --restart and --rm (a container that is removed when it exits cannot restart)");
    }
    Ok(policy)
}

/// `--label`, `--log-opt`, `--restart` and the limits into the record's
/// extras.
fn extras(a: &ContainerArgs) -> anyhow::Result<record::Extras> {
    let ncpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut x = record::Extras {
        restart: restart_policy(a)?,
        limits: Limits::from_flags(
            a.pids_limit.as_deref(),
            a.memory.as_deref(),
            a.cpus.as_deref(),
            ncpus,
        )
        .map_err(anyhow::Error::msg)?,
        health: crate::container::health::HealthFlags {
            cmd: a.health_cmd.clone(),
            interval: a.health_interval.clone(),
            timeout: a.health_timeout.clone(),
            start_period: a.health_start_period.clone(),
            start_interval: a.health_start_interval.clone(),
            retries: a.health_retries,
            none: a.no_healthcheck,
        }
        .to_config()?,
        ports: ports(a)?,
        ..Default::default()
    };
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.is_empty() {
            bail!(
                "invalid label {:?}: KEY=VALUE",
                crate::text::escape_control(l)
            );
        }
        x.labels.insert(k.to_string(), v.to_string());
    }
    for o in &a.log_opt {
        let bad = |why: &str| {
            anyhow::anyhow!(
                "invalid --log-opt {:?}: {why}",
                crate::text::escape_control(o)
            )
        };
        match o.split_once('=') {
            Some(("max-size", v)) => {
                let size = crate::container::log::parse_size(v)
                    .ok()
                    .filter(|s| *s >= 1024)
                    .ok_or_else(|| bad("a size of at least 1k, such as 10m"))?;
                x.log_max_size = Some(size);
            }
            Some(("max-file", v)) => {
                let n: u32 = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=999).contains(n))
                    .ok_or_else(|| bad("a number of files from 1 to 999"))?;
                x.log_max_file = Some(n);
            }
            _ => bail!(
                "unsupported --log-opt {:?} (burrow knows max-size and max-file)",
                crate::text::escape_control(o)
            ),
        }
    }
    Ok(x)
}

/// `-p`, `-P` and `--expose`; the image's EXPOSE joins at create.
fn ports(a: &ContainerArgs) -> anyhow::Result<crate::net::publish::PortConfig> {
    use crate::net::publish::spec;
    let mut ports = spec::PortConfig {
        publish_all: a.publish_all,
        ..Default::default()
    };
    for p in &a.publish {
        ports.publish.extend(spec::parse_publish(p)?);
    }
    for e in &a.expose {
        ports.expose(spec::parse_expose(e)?);
    }
    // Docker: a published port is an exposed one.
    let published: Vec<_> = ports
        .publish
        .iter()
        .map(|p| spec::Exposed {
            port: p.container_port,
            proto: p.proto,
        })
        .collect();
    ports.expose(published);
    Ok(ports)
}

/// `--network`: a predefined mode, or a user network (which must exist:
/// checked before anything is made) with its aliases and `--ip`.
fn network_mode(
    paths: &Paths,
    a: &ContainerArgs,
) -> anyhow::Result<(Network, Option<create::UserNetworkRequest>)> {
    let predefined = match a.network.as_str() {
        "none" => Some(Network::None),
        "host" => Some(Network::Host),
        "bridge" | "default" => Some(Network::Bridge),
        _ => None,
    };
    if let Some(n) = predefined {
        if !a.network_alias.is_empty() || a.ip.is_some() {
            return Err(crate::error::Coded::new(
                EXIT_BURROW,
                format!(
                    "--network-alias and --ip need a user network, not {}",
                    a.network
                ),
            )
            .into());
        }
        return Ok((n, None));
    }
    if a.network.starts_with("container:") {
        return Err(crate::error::Coded::new(
            EXIT_BURROW,
            "--network container:NAME is not supported yet".to_string(),
        )
        .into());
    }
    let net = crate::net::user::store::find(paths.root(), &a.network)
        .ok_or_else(|| crate::net::user::store::no_such_network(&a.network))?;
    for alias in &a.network_alias {
        crate::container::names::validate(alias).map_err(|e| {
            crate::error::Coded::new(EXIT_BURROW, e.replace("container name", "network alias"))
        })?;
    }
    Ok((
        Network::Bridge,
        Some(create::UserNetworkRequest {
            network: net,
            aliases: a.network_alias.clone(),
            ip: a.ip,
        }),
    ))
}

/// `create`'s flags as a request: parse and check them (mounts, env
/// files, security and log options), then `container::create` makes it.
pub fn create_container(paths: &Paths, a: &ContainerArgs) -> anyhow::Result<record::Record> {
    let (network, user_network) = network_mode(paths, a)?;
    let net = crate::net::Options::from_flags(&a.dns, &a.dns_search, &a.dns_option, &a.add_host)?;
    let mut mount_reqs = Vec::new();
    for v in &a.volume {
        mount_reqs.push(mounts::parse_volume(v)?);
    }
    for m in &a.mount {
        mount_reqs.push(mounts::parse_mount(m)?);
    }
    for t in &a.tmpfs {
        mount_reqs.push(mounts::MountSpec::Ready(mounts::parse_tmpfs(t)?));
    }
    let volumes_from = a
        .volumes_from
        .iter()
        .map(|v| VolumesFrom::parse(v))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut user_env = Vec::new();
    for f in &a.env_file {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("read env file {}", f.display()))?;
        user_env.extend(spec::parse_env_file(&text));
    }
    user_env.extend(a.env.iter().cloned());
    let env = spec::resolve_from_caller(&user_env, |n| std::env::var(n).ok());
    let security =
        SecurityOpts::from_flags(a.privileged, &a.cap_add, &a.cap_drop, &a.security_opt)?;
    let req = CreateRequest {
        image: a.image.clone(),
        command: a.command.clone(),
        entrypoint: a.entrypoint.clone(),
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        name: a.name.clone(),
        hostname: a.hostname.clone(),
        network,
        user_network,
        net,
        mounts: mount_reqs,
        volumes_from,
        env,
        security,
        storage_driver: a.storage_driver.map(Setting::from),
        extras: extras(a)?,
        tty: a.tty,
        interactive: a.interactive,
        read_only: a.read_only,
        auto_remove: a.rm,
    };
    create::create(paths, req)
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command};
    use clap::Parser;

    fn image_and_command(args: &[&str]) -> Result<Vec<String>, String> {
        let parsed = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        let (first, rest) = match parsed.command {
            Command::Run(r) => (r.container.image, r.container.command),
            Command::Create(c) => (c.container.image, c.container.command),
            Command::Exec(e) => (e.container, e.command),
            _ => unreachable!(),
        };
        Ok([vec![first], rest].concat())
    }

    #[test]
    fn flags_after_the_image_belong_to_the_command() {
        let got = image_and_command(&["burrow", "run", "-d", "busybox", "ls", "-l", "--x"]);
        assert_eq!(got.unwrap(), ["busybox", "ls", "-l", "--x"]);
        let got = image_and_command(&["burrow", "exec", "-i", "web", "sh", "-c", "echo"]);
        assert_eq!(got.unwrap(), ["web", "sh", "-c", "echo"]);
    }

    #[test]
    fn an_unknown_flag_before_the_image_is_a_usage_error_naming_it() {
        for (args, flag) in [
            (
                &["burrow", "run", "-d", "-Q", "8080:80", "busybox"][..],
                "'-Q'",
            ),
            (&["burrow", "create", "--bogus", "busybox"], "'--bogus'"),
            (&["burrow", "exec", "-Z", "web", "sh"], "'-Z'"),
        ] {
            let err = image_and_command(args).unwrap_err();
            assert!(err.contains(flag), "{args:?}: {err}");
        }
    }
}
