//! Containers that outlive a command: their logs and names (records and
//! the supervisor come with the launcher).

pub mod log;
pub mod names;
