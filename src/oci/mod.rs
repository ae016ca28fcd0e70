//! burrow as an OCI runtime (`burrow oci ...`, or the binary invoked as
//! `burrow-runc`): the runtime-spec's operations over bundles, for the
//! engines that drive a runc-shaped binary (podman's conmon, Slurm,
//! containerd's shim).
//!
//! `bundle` reads config.json (the `oci-spec` crate's types) into the
//! launcher's `sandbox::oci::OciLaunch` (`mounts` makes its mount plan),
//! `state` keeps the containers' records under the state root, `hooks`
//! runs the config's hooks, `defaults` is what `spec` and `features`
//! print. `ops` is each operation, called by `cli::oci`.

pub mod bundle;
pub mod defaults;
pub mod export;
pub mod hooks;
pub mod mounts;
pub mod ops;
pub mod state;
