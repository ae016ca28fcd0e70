//! `burrow network create|ls|inspect|rm|prune|connect|disconnect`, as
//! Docker's. The records are `net::user::store`'s; which containers are on
//! a network is read from their records (`container::networks`).

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::container::{networks, record};
use crate::error::{Coded, EXIT_BURROW};
use crate::net::user::store::{self, predefined_id, NetworkRecord, NewNetwork, PREDEFINED};
use crate::paths::Paths;
use crate::text::escape_control;

#[derive(Debug, Args)]
pub struct NetworkArgs {
    #[command(subcommand)]
    pub command: NetworkCommand,
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network (a bridge its containers share, with name resolution)
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show networks' details as JSON, or through a Go template
    Inspect(InspectArgs),
    /// Remove networks (refused while a container is on one)
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove the networks no container is on
    Prune(PruneArgs),
    /// Put a container on a network (from its next start)
    Connect(ConnectArgs),
    /// Take a container off a network (from its next start)
    Disconnect(DisconnectArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Subnet in CIDR form (default: the next free /24 of 10.89.0.0/16)
    #[arg(long, value_name = "CIDR")]
    pub subnet: Option<String>,
    /// The gateway's address (default: the subnet's first)
    #[arg(long, value_name = "IP")]
    pub gateway: Option<std::net::Ipv4Addr>,
    /// Set a label: KEY=VALUE (or KEY)
    #[arg(short = 'l', long = "label", value_name = "KEY[=VALUE]")]
    pub label: Vec<String>,
    /// No way out: its containers reach each other only
    #[arg(long)]
    pub internal: bool,
    /// Network driver (only bridge)
    #[arg(short, long, default_value = "bridge", value_name = "DRIVER")]
    pub driver: String,
    #[arg(value_name = "NAME")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only the ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Go template ('{{.Name}}'), table, or json
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Full ids
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter: name=TEXT, id=PREFIX, label=KEY[=VALUE], driver=NAME, type=custom|builtin
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format each network with a Go template ('{{.IPAM}}')
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
    #[arg(value_name = "NETWORK", required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// No error for a network that does not exist
    #[arg(short, long)]
    pub force: bool,
    #[arg(value_name = "NETWORK", required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Another name for the container on this network
    #[arg(long, value_name = "ALIAS")]
    pub alias: Vec<String>,
    /// Its IPv4 address there (default: the next free one)
    #[arg(long, value_name = "IPV4")]
    pub ip: Option<std::net::Ipv4Addr>,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Forget the network also when a running container's link to it cannot be removed now
    #[arg(short, long)]
    pub force: bool,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub fn run_group(paths: &Paths, args: &NetworkArgs) -> anyhow::Result<i32> {
    match &args.command {
        NetworkCommand::Create(a) => create(paths, a),
        NetworkCommand::Ls(a) => ls(paths, a),
        NetworkCommand::Inspect(a) => inspect(paths, a),
        NetworkCommand::Rm(a) => rm(paths, a),
        NetworkCommand::Prune(a) => prune(paths, a),
        NetworkCommand::Connect(a) => connect(paths, a),
        NetworkCommand::Disconnect(a) => disconnect(paths, a),
    }
}

fn coded(msg: String) -> anyhow::Error {
    Coded::new(EXIT_BURROW, msg).into()
}

fn create(paths: &Paths, a: &CreateArgs) -> anyhow::Result<i32> {
    if a.driver != "bridge" {
        return Err(coded(format!(
            "network driver {:?} is not available (burrow has the bridge driver only)",
            escape_control(&a.driver)
        )));
    }
    let subnet = match &a.subnet {
        Some(s) => Some(s.parse().map_err(coded)?),
        None => None,
    };
    if a.gateway.is_some() && subnet.is_none() {
        return Err(coded("--gateway needs --subnet".into()));
    }
    let mut labels = BTreeMap::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.is_empty() {
            bail!("invalid label {:?}: KEY=VALUE", escape_control(l));
        }
        labels.insert(k.to_string(), v.to_string());
    }
    let root = paths.ensure_root()?;
    let rec = store::create(
        root,
        NewNetwork {
            name: a.name.clone(),
            subnet,
            gateway: a.gateway,
            internal: a.internal,
            labels,
        },
    )?;
    println!("{}", rec.id);
    Ok(0)
}

/// One row of `ls`, for predefined and user networks alike.
struct Row {
    id: String,
    name: String,
    driver: &'static str,
    created: String,
    internal: bool,
    labels: BTreeMap<String, String>,
}

fn all_rows(paths: &Paths) -> Vec<Row> {
    let mut rows: Vec<Row> = PREDEFINED
        .iter()
        .map(|n| Row {
            id: predefined_id(n),
            name: n.to_string(),
            driver: match *n {
                "bridge" => "bridge",
                "host" => "host",
                _ => "null",
            },
            created: String::new(),
            internal: false,
            labels: BTreeMap::new(),
        })
        .collect();
    rows.extend(store::list(paths.root()).into_iter().map(|n| Row {
        id: n.id,
        name: n.name,
        driver: "bridge",
        created: n.created,
        internal: n.internal,
        labels: n.labels,
    }));
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

/// Does `r` pass `--filter f` (Docker's network filters)?
fn passes(r: &Row, f: &str) -> anyhow::Result<bool> {
    let bad = || {
        coded(format!(
            "invalid filter {:?} (name=, id=, label=, driver=, type=)",
            escape_control(f)
        ))
    };
    let (k, v) = f.split_once('=').ok_or_else(bad)?;
    Ok(match k {
        "name" => r.name.contains(v),
        "id" => r.id.starts_with(v),
        "driver" => r.driver == v,
        "label" => match v.split_once('=') {
            Some((lk, lv)) => r.labels.get(lk).is_some_and(|x| x == lv),
            None => r.labels.contains_key(v),
        },
        "type" => match v {
            "custom" => !PREDEFINED.contains(&r.name.as_str()),
            "builtin" => PREDEFINED.contains(&r.name.as_str()),
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    })
}

fn ls(paths: &Paths, a: &LsArgs) -> anyhow::Result<i32> {
    let mut rows = Vec::new();
    for r in all_rows(paths) {
        let mut keep = true;
        for f in &a.filter {
            keep &= passes(&r, f)?;
        }
        if keep {
            rows.push(r);
        }
    }
    let id = |r: &Row| {
        if a.no_trunc {
            r.id.clone()
        } else {
            r.id[..12].to_string()
        }
    };
    if a.quiet {
        for r in &rows {
            println!("{}", id(r));
        }
        return Ok(0);
    }
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let labels = r
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            json!({
                "ID": id(r),
                "Name": r.name,
                "Driver": r.driver,
                "Scope": "local",
                "IPv6": "false",
                "Internal": r.internal.to_string(),
                "Labels": escape_control(&labels),
                "CreatedAt": r.created,
            })
        })
        .collect();
    print!(
        "{}",
        super::format::rows(
            a.format.as_deref(),
            "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
            HEADER,
            &json
        )?
    );
    Ok(0)
}

const HEADER: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

/// Docker's `network inspect` object for a user network.
fn inspect_json(n: &NetworkRecord, records: &[record::Record]) -> serde_json::Value {
    let containers: serde_json::Map<String, serde_json::Value> = networks::users_of(records, &n.name)
        .into_iter()
        .map(|r| {
            let a = r.config.networks.iter().find(|a| a.network == n.name);
            (
                r.id.clone(),
                json!({
                    "Name": r.name,
                    "EndpointID": "",
                    "MacAddress": "",
                    "IPv4Address": a.map(|a| format!("{}/{}", a.ip, n.subnet.prefix)).unwrap_or_default(),
                    "IPv6Address": "",
                    "Aliases": a.map(|a| a.aliases.clone()).unwrap_or_default(),
                }),
            )
        })
        .collect();
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": false,
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": [{"Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string()}],
        },
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": {"com.docker.network.bridge.name": n.bridge()},
        "Labels": n.labels,
    })
}

/// The predefined networks' objects (no record; `bridge` has the
/// default network's address plan).
fn inspect_predefined(name: &str) -> serde_json::Value {
    let config = match name {
        "bridge" => json!([{
            "Subnet": format!("{}/{}", crate::net::addr::NET4, crate::net::addr::PREFIX4),
            "Gateway": crate::net::addr::GATEWAY4.to_string(),
        }]),
        _ => json!([]),
    };
    json!({
        "Name": name,
        "Id": predefined_id(name),
        "Created": "",
        "Scope": "local",
        "Driver": if name == "none" { "null" } else { name },
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": {},
        "Options": {},
        "Labels": {},
    })
}

fn inspect(paths: &Paths, a: &InspectArgs) -> anyhow::Result<i32> {
    let root = paths.root();
    let records = record::all(root);
    let mut out = Vec::new();
    let mut code = 0;
    for n in &a.networks {
        if PREDEFINED.contains(&n.as_str()) {
            out.push(inspect_predefined(n));
        } else if let Some(rec) = store::find(root, n) {
            out.push(inspect_json(&rec, &records));
        } else {
            eprintln!("burrow: {}", store::no_such_network(n).message);
            code = 1;
        }
    }
    super::format::print_inspect(&out, a.format.as_deref())?;
    Ok(code)
}

/// Remove one network: refused while a container is on it.
fn remove_one(paths: &Paths, name: &str) -> anyhow::Result<()> {
    if PREDEFINED.contains(&name) {
        bail!("{name} is a predefined network and cannot be removed");
    }
    let root = paths.root();
    let rec = store::find(root, name).ok_or_else(|| store::no_such_network(name))?;
    let records = record::all(root);
    let users = networks::users_of(&records, &rec.name);
    if !users.is_empty() {
        let names: Vec<String> = users.iter().map(|r| escape_control(&r.name)).collect();
        bail!(
            "network {} is in use by container{} {} (remove {} or disconnect {} first)",
            escape_control(&rec.name),
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            if names.len() == 1 { "it" } else { "them" },
            if names.len() == 1 { "it" } else { "them" },
        );
    }
    store::remove(root, &rec)?;
    // Its bridge goes now if a keeper holds it (else there is none).
    crate::net::user::keeper::sync(paths);
    Ok(())
}

fn rm(paths: &Paths, a: &RmArgs) -> anyhow::Result<i32> {
    let mut code = 0;
    for n in &a.networks {
        match remove_one(paths, n) {
            Ok(()) => println!("{}", escape_control(n)),
            Err(_) if a.force && store::find(paths.root(), n).is_none() => {}
            Err(e) => {
                eprintln!("burrow: {}", crate::error::one_line(&e));
                code = 1;
            }
        }
    }
    Ok(code)
}

fn prune(paths: &Paths, a: &PruneArgs) -> anyhow::Result<i32> {
    if !a.force
        && !super::volume::confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )?
    {
        return Ok(0);
    }
    let gone = networks::prune(paths)?;
    if !gone.is_empty() {
        println!("Deleted Networks:");
        for n in &gone {
            println!("{}", escape_control(n));
        }
    }
    Ok(0)
}

/// A running container's handle for changing its links in place: the
/// keeper's namespaces and a process holding the container's network
/// namespace. None when it is not running.
struct Live {
    keeper: crate::net::user::keeper::Handles,
    pid: i32,
}

fn live(paths: &Paths, rec: &record::Record) -> anyhow::Result<Option<Live>> {
    let running = matches!(
        rec.status,
        record::Status::Running | record::Status::Restarting
    );
    let Some(init) = rec.init.as_ref().filter(|i| running && i.alive()) else {
        return Ok(None);
    };
    let pid = crate::sandbox::joinable(init.pid);
    let keeper = crate::net::user::keeper::ensure(paths).context("user networks")?;
    if !crate::net::user::live::in_keepers_userns(&keeper, pid) {
        return Err(coded(format!(
            "container {} is running and was started without a user network: stop it first \
             (its networks are then set up when it starts)",
            escape_control(&rec.name)
        )));
    }
    Ok(Some(Live { keeper, pid }))
}

fn connect(paths: &Paths, a: &ConnectArgs) -> anyhow::Result<i32> {
    let root = paths.root();
    let net = store::find(root, &a.network).ok_or_else(|| store::no_such_network(&a.network))?;
    let rec = record::find(root, &a.container)?;
    if rec.config.network != record::Network::Bridge {
        return Err(coded(format!(
            "container {} has network mode {:?}: only a container with its own network can join a user network",
            escape_control(&rec.name),
            rec.config.network
        )));
    }
    if rec.config.networks.iter().any(|x| x.network == net.name) {
        return Err(coded(format!(
            "container {} is already on network {}",
            escape_control(&rec.name),
            net.name
        )));
    }
    for alias in &a.alias {
        crate::container::names::validate(alias)
            .map_err(|e| coded(e.replace("container name", "network alias")))?;
    }
    let att = crate::container::create::attachment(
        root,
        &crate::container::create::UserNetworkRequest {
            network: net.clone(),
            aliases: a.alias.clone(),
            ip: a.ip,
        },
    )?;
    if let Some(l) = live(paths, &rec)? {
        let link = crate::net::user::attach::Link {
            bridge: net.bridge(),
            ip: att.ip,
            prefix: net.subnet.prefix,
            internal: net.internal,
        };
        crate::net::user::live::connect(&l.keeper, l.pid, &link)
            .with_context(|| format!("connect container {}", escape_control(&rec.name)))?;
    }
    record::update(root, &rec.id, |r| r.config.networks.push(att.clone()))?;
    crate::container::lifecycle::rewrite_resolv_conf(paths, &rec.id)?;
    Ok(0)
}

fn disconnect(paths: &Paths, a: &DisconnectArgs) -> anyhow::Result<i32> {
    let root = paths.root();
    let net = store::find(root, &a.network).ok_or_else(|| store::no_such_network(&a.network))?;
    let rec = record::find(root, &a.container)?;
    let Some(att) = rec.config.networks.iter().find(|x| x.network == net.name) else {
        return Err(coded(format!(
            "container {} is not on network {}",
            escape_control(&rec.name),
            net.name
        )));
    };
    // A link that will not go is an error unless forced (then the record
    // changes alone, and the link goes at the next start).
    let gone = live(paths, &rec).and_then(|l| match l {
        Some(l) => crate::net::user::live::disconnect(&l.keeper, l.pid, att.ip),
        None => Ok(()),
    });
    if let Err(e) = gone {
        if !a.force {
            return Err(e.context(format!(
                "disconnect container {}",
                escape_control(&rec.name)
            )));
        }
        tracing::warn!("{e:#}");
    }
    record::update(root, &rec.id, |r| {
        r.config.networks.retain(|x| x.network != net.name)
    })?;
    crate::container::lifecycle::rewrite_resolv_conf(paths, &rec.id)?;
    Ok(0)
}
