//! The `com.docker.compose.*` labels read off a container's record: which
//! service and which replica it is.

use super::plan;
use crate::container::record::Record;

/// A label of a record.
pub fn label<'r>(rec: &'r Record, key: &str) -> Option<&'r str> {
    rec.extras.labels.get(key).map(String::as_str)
}

/// The service a container runs.
pub fn service_of(r: &Record) -> &str {
    label(r, plan::SERVICE).unwrap_or("")
}

/// The replica's number (`<project>-<service>-<n>`).
pub fn number_of(r: &Record) -> u32 {
    label(r, plan::NUMBER)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
