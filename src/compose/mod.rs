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
//! - `plan`: services in start order, their config hashes, and what `up`
//!   does with each existing container (pure).
//! - `service`: one replica as the `CreateRequest` `run` makes.
//! - `exec`: `up`, `down` and the waits, on the store.
//! - `attach`: logs of several containers, prefixed per container.

pub mod attach;
pub mod dotenv;
pub mod exec;
pub mod interpolate;
pub mod labels;
pub mod load;
pub mod merge;
pub mod normalize;
pub mod plan;
pub mod schema;
pub mod service;
pub mod yaml;

pub use load::{load, Options, Project};

/// A scalar of the model as text (numbers and booleans as written).
pub fn service_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}
