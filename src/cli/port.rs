//! `burrow port`: a running container's published ports, as Docker
//! prints them (`80/tcp -> 0.0.0.0:8080`, or the host side alone when
//! one port is asked for).

use clap::Args;

use crate::container::record;
use crate::container::state::State;
use crate::error::Coded;
use crate::net::publish::spec::{self, Binding};
use crate::paths::Paths;
use crate::text::escape_control;

#[derive(Debug, Args)]
pub struct PortArgs {
    /// The container (name, id or unique id prefix)
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Only this container port: PORT[/PROTO] (default protocol tcp)
    #[arg(value_name = "PORT[/PROTO]")]
    pub port: Option<String>,
}

pub fn run(paths: &Paths, args: &PortArgs) -> anyhow::Result<i32> {
    let r = record::find(paths.root(), &args.container)
        .map_err(crate::container::control::not_found)?;
    // A container that does not run has nothing bound (Docker: no lines).
    let mut bound: Vec<Binding> = match State::of(&r) {
        State::Running | State::Paused => r.extras.ports.bound.clone(),
        _ => Vec::new(),
    };
    bound.sort_by_key(|b| (b.container_port, b.proto));
    match &args.port {
        None => {
            for b in &bound {
                println!(
                    "{}/{} -> {}",
                    b.container_port,
                    b.proto,
                    spec::host_addr(b.host_ip, b.host_port)
                );
            }
        }
        Some(p) => {
            let (port, proto) = match spec::parse_expose(p)?.as_slice() {
                [one] => (one.port, one.proto),
                _ => anyhow::bail!("port: one port, not a range: {}", escape_control(p)),
            };
            let hits: Vec<&Binding> = bound
                .iter()
                .filter(|b| b.container_port == port && b.proto == proto)
                .collect();
            if hits.is_empty() {
                return Err(Coded::new(
                    1,
                    format!(
                        "no public port '{port}/{proto}' published for {}",
                        escape_control(&r.name)
                    ),
                )
                .into());
            }
            for b in hits {
                println!("{}", spec::host_addr(b.host_ip, b.host_port));
            }
        }
    }
    Ok(0)
}
