//! The container's mounts: a plan of plain operations built from the
//! spec (`plan`, or `hostplan` for `burrow sandbox`), the masked and
//! read-only paths (`masks`), the mount point layer stacked on an image's
//! lower dirs (`mountpoints`), the init's walk through the plan
//! (`apply`), an OCI bundle's mounts (`spec`) and the bind mounts both
//! make (`bind`).

pub mod apply;
mod bind;
mod fill;
pub mod hostplan;
pub mod masks;
pub(crate) mod mountpoints;
pub mod plan;
mod spec;

pub use apply::kernel_overlay_refuses;
pub use plan::{MountOp, MountPlan, MountRequest, SpecMount};
