//! The container network (DESIGN.md, "Network"): the default network's
//! tap and userspace translation to host sockets, `-p` port forwarding,
//! and DNS. Data flows one way: `cli` and `container` ask for a network,
//! the launcher (`sandbox`) joins the namespace this module prepares.
//!
//! - `addr`: the fixed address plan (slirp4netns's).
//! - `namespace`: the container's network namespace and tap, made once
//!   per container by the supervisor (`Namespace`).
//! - `netlink`: the few rtnetlink requests that configure it.
//! - `options`: `--dns`, `--dns-search`, `--dns-option`, `--add-host`, and
//!   the /etc/hosts and /etc/resolv.conf they make.
//! - `translate`: the translator of the container's flows to host
//!   sockets, on a thread of the supervisor.
//! - `forward`: port forwarding (`-p`), started by the supervisor.

pub mod addr;
pub mod forward;
pub mod namespace;
mod netlink;
pub mod options;
pub mod publish;
pub mod translate;
pub mod user;

pub use namespace::Namespace;
pub use options::Options;
