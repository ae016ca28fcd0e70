//! Compiled programs cached in the store, keyed by everything that shapes
//! them, so a container start reads ~15 KiB instead of compiling (the way
//! crun caches its BPF).
//!
//! `<root>/cache/seccomp/<sha256>.bpf`: raw struct sock_filter array.
//! Written to a temp file and renamed, so readers never see half a file;
//! a file of the wrong size is ignored and rebuilt.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::compile::{from_bytes, to_bytes, Arch};
use super::{BpfProgram, Options};
use crate::sandbox::confine::caps::CapSet;

/// Hex sha256 over the profile bytes, the capability names, the arch, the
/// kernel version (for `minKernel`), the options and burrow's version (a
/// new compiler or syscall table must not reuse old programs).
pub fn key(profile: &[u8], caps: &CapSet, arch: Arch, kernel: (u32, u32), opts: Options) -> String {
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    field(profile);
    field(
        caps.names()
            .into_iter()
            .collect::<Vec<_>>()
            .join(",")
            .as_bytes(),
    );
    field(arch.go_name().as_bytes());
    field(format!("{}.{}", kernel.0, kernel.1).as_bytes());
    field(&[opts.fake_chown as u8, opts.emulate_ids as u8]);
    // What those two options add changed (the chown family left to the
    // emulation): programs cached before must not be reused.
    field(b"single-id rules 2");
    field(env!("CARGO_PKG_VERSION").as_bytes());
    let d = h.finalize();
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn path(root: &Path, key: &str) -> PathBuf {
    root.join("cache")
        .join("seccomp")
        .join(format!("{key}.bpf"))
}

/// The cached program, if a whole one is there.
pub fn load(root: &Path, key: &str) -> Option<BpfProgram> {
    from_bytes(&std::fs::read(path(root, key)).ok()?)
}

pub fn store(root: &Path, key: &str, prog: &BpfProgram) -> std::io::Result<()> {
    let dest = path(root, key);
    let dir = dest.parent().expect("cache path has a parent");
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&to_bytes(prog))?;
    tmp.persist(&dest).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_changes_with_every_input() {
        let c = CapSet::docker_default();
        let o = Options::default();
        let base = key(b"{}", &c, Arch::X86_64, (6, 1), o);
        assert_eq!(base.len(), 64);
        assert_eq!(base, key(b"{}", &c, Arch::X86_64, (6, 1), o));
        assert_ne!(base, key(b"{ }", &c, Arch::X86_64, (6, 1), o));
        assert_ne!(base, key(b"{}", &CapSet::all(), Arch::X86_64, (6, 1), o));
        assert_ne!(base, key(b"{}", &c, Arch::Aarch64, (6, 1), o));
        assert_ne!(base, key(b"{}", &c, Arch::X86_64, (6, 2), o));
        let fake = Options {
            fake_chown: true,
            emulate_ids: false,
        };
        assert_ne!(base, key(b"{}", &c, Arch::X86_64, (6, 1), fake));
        let emulated = Options {
            emulate_ids: true,
            ..fake
        };
        assert_ne!(
            key(b"{}", &c, Arch::X86_64, (6, 1), fake),
            key(b"{}", &c, Arch::X86_64, (6, 1), emulated)
        );
    }

    #[test]
    fn store_then_load_and_ignore_torn_files() {
        let dir = tempfile::tempdir().unwrap();
        let prog = vec![seccompiler::sock_filter {
            code: 6,
            jt: 0,
            jf: 0,
            k: 0x7fff_0000,
        }];
        assert!(load(dir.path(), "k").is_none());
        store(dir.path(), "k", &prog).unwrap();
        assert_eq!(load(dir.path(), "k").unwrap(), prog);
        std::fs::write(path(dir.path(), "k"), [1, 2, 3]).unwrap();
        assert!(load(dir.path(), "k").is_none());
    }
}
