//! Building images (issue #16). So far: the Dockerfile language.

pub mod dockerfile;
