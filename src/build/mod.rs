//! Building images (issue #16): the Dockerfile language, the context's
//! ignore rules and walk, the step cache keys, and the executor with its
//! COPY/ADD rules, RUN mounts and heredocs, and ADD's downloads.

pub mod cachekey;
pub mod context;
pub mod copy;
pub mod created_by;
pub mod destpath;
pub mod dockerfile;
pub mod exec;
pub mod fetch;
pub mod git;
pub mod heredoc;
pub mod ignore;
pub mod mounts;
pub mod par;
pub mod progress;
pub mod prune;
pub mod pulls;
pub mod schedule;
pub mod stage_tree;
pub mod untar;
pub mod walk;
