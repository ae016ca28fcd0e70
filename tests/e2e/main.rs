//! burrow's end-to-end tests: the real binary, run as unprivileged test
//! users, against a real registry on 127.0.0.1 and fixture images built by
//! umoci, busybox-static and mmdebstrap (tests/setup/install.sh).

mod common;

mod build;
mod build_conform;
mod build_lang;
mod build_stages;
mod cli;
mod compose;
mod compose_up;
mod confine;
mod docs;
mod formats;
mod fuse_overlay;
mod fuse_root;
mod habits;
mod health;
mod hostile_registry;
mod ids;
mod ids_owners;
mod image_make;
mod images;
mod images_archive;
mod images_registry;
mod info;
mod isolation;
mod limits;
mod links;
mod live;
mod lookups;
mod network;
mod networks_user;
mod oci;
mod pause;
mod publish;
mod restart;
mod run;
mod run_process;
mod sandbox;
mod storage_driver;
mod testbed;
mod volumes;
