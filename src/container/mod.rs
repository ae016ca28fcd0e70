//! Containers that outlive a command: their records under
//! `root/containers/<id>/`, logs and names, and the meaning of an image's
//! config for the process they run.

pub mod cgroup;
pub mod control;
pub mod create;
pub mod exec;
pub mod files;
pub mod health;
pub mod health_probe;
pub mod image_source;
pub mod lifecycle;
pub mod limits;
pub mod log;
pub mod mounts;
pub mod names;
pub mod networks;
pub mod procs;
pub mod record;
pub mod restart;
pub mod spec;
pub mod state;
pub mod supervisor;
pub mod volumes;
