//! Building images (issue #16). So far: the Dockerfile language, the
//! context's ignore rules and walk, and the step cache keys.

pub mod cachekey;
pub mod created_by;
pub mod destpath;
pub mod dockerfile;
pub mod exec;
pub mod ignore;
pub mod par;
pub mod progress;
pub mod schedule;
pub mod untar;
pub mod walk;
