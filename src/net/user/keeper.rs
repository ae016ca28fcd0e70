//! The keeper: the per-store process holding the namespaces the user
//! networks' bridges live in.

use crate::paths::Paths;

/// Bring the keeper's bridges in line with the records (after `network
/// rm`); nothing when no keeper runs.
pub fn sync(_paths: &Paths) {}
