//! burrow: rootless, daemonless containers for ordinary users.
//!
//! The binary in `main.rs` is a thin shell over this library so that the
//! integration tests (man pages, completions) can reach the clap definitions.
#![deny(unsafe_code)]

pub mod build;
pub mod cli;
pub mod compose;
pub mod config;
pub mod container;
pub mod error;
pub mod exe;
pub mod fsutil;
pub mod image;
pub mod interrupt;
pub mod net;
pub mod oci;
pub mod paths;
pub mod probe;
pub mod proc;
pub mod random_id;
pub mod reference;
pub mod registry;
pub mod rootfs;
pub mod sandbox;
pub mod sys;
#[cfg(test)]
mod testkit;
pub mod text;
pub mod units;
pub mod userns;
pub mod volume;

#[cfg(test)]
mod fuzz_tests;
