//! The container network (DESIGN.md, "Network"): the default network's
//! tap and userspace translation to host sockets, `-p` port forwarding,
//! and DNS. Data flows one way: `cli` and `container` ask for a network,
//! the launcher (`sandbox`) joins the namespace this module prepares.

pub mod addr;
pub mod publish;
