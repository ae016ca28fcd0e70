//! The compose model: find and load a project's compose files (with
//! their override files, `-f`, `.env`/`--env-file`, interpolation,
//! anchors and merge keys, `include`, `extends`, profiles), check them
//! against the compose-spec schema, and give the normalised model that
//! `burrow compose config` prints. The verbs that run containers build
//! on [`load::Project`].
//!
//! - `yaml`: YAML in (yaml-rust2, YAML 1.2 core schema) and out.
//! - `interpolate`: `${V}`, `${V:-d}`, `${V:?err}` and friends.
//! - `schema`: the compose-spec JSON schema when installed, else a
//!   built-in check of keys and types.
//! - `merge`: several files (and `extends`) by the spec's merge rules.
//! - `dotenv`: `.env` and `env_file` files.
//! - `load`: files, variables, include, extends, profiles, the name.
//! - `normalize`: the long forms `config` prints.

pub mod dotenv;
pub mod interpolate;
pub mod load;
pub mod merge;
pub mod normalize;
pub mod schema;
pub mod yaml;

pub use load::{load, Options, Project};
