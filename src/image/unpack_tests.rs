//! Layers built in memory, friendly and hostile.

use super::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

enum E<'a> {
    Dir(&'a str, u32),
    File(&'a str, &'a [u8], u32),
    Sym(&'a str, &'a str),
    Hard(&'a str, &'a str),
    Char(&'a str),
}

/// Write the name bytes straight into the header: the tar crate refuses
/// to build the hostile paths we need.
fn raw_header(kind: tar::EntryType, name: &str, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_600_000_000);
    h.set_uid(1000);
    h.set_gid(1000);
    let bytes = name.as_bytes();
    h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
    h
}

fn layer(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            E::Dir(n, m) => {
                let mut h = raw_header(tar::EntryType::Directory, n, 0, *m);
                h.set_cksum();
                b.append(&h, io::empty()).unwrap();
            }
            E::File(n, data, m) => {
                let mut h = raw_header(tar::EntryType::Regular, n, data.len() as u64, *m);
                h.set_cksum();
                b.append(&h, *data).unwrap();
            }
            E::Sym(n, t) | E::Hard(n, t) => {
                let kind = if matches!(e, E::Sym(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                let mut h = raw_header(kind, n, 0, 0o777);
                h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
                h.set_cksum();
                b.append(&h, io::empty()).unwrap();
            }
            E::Char(n) => {
                let mut h = raw_header(tar::EntryType::Char, n, 0, 0o666);
                h.set_device_major(1).unwrap();
                h.set_device_minor(3).unwrap();
                h.set_cksum();
                b.append(&h, io::empty()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

const OPTS: UnpackOptions = UnpackOptions {
    keep_owners: false,
    record_owners: false,
};

fn unpack_into(entries: &[E]) -> (tempfile::TempDir, anyhow::Result<Unpacked>) {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("layer");
    fs::create_dir(&dest).unwrap();
    let r = unpack(&layer(entries)[..], &dest, OPTS);
    (dir, r)
}

fn err_of(entries: &[E]) -> String {
    let (dir, r) = unpack_into(entries);
    let err = format!("{:#}", r.expect_err("hostile layer was accepted"));
    // Nothing was written next to the layer dir.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("layer")]);
    err
}

#[test]
fn files_modes_links_and_mtimes() {
    let (dir, r) = unpack_into(&[
        E::Dir("./", 0o755),
        E::Dir("bin/", 0o755),
        E::File("bin/su", b"#!/bin/true\n", 0o4755),
        E::Sym("bin/sh", "/bin/su"),
        E::Hard("bin/su2", "bin/su"),
        E::Dir("locked/", 0o500),
        E::File("locked/f", b"x", 0o400),
    ]);
    let r = r.unwrap();
    assert_eq!(r.size, 13);
    let l = dir.path().join("layer");
    let su = fs::metadata(l.join("bin/su")).unwrap();
    assert_eq!(su.mode() & 0o7777, 0o4755);
    assert_eq!(su.mtime(), 1_600_000_000);
    assert_eq!(
        fs::read_link(l.join("bin/sh")).unwrap(),
        Path::new("/bin/su")
    );
    assert_eq!(fs::metadata(l.join("bin/su2")).unwrap().ino(), su.ino());
    let locked = fs::metadata(l.join("locked")).unwrap();
    assert_eq!(locked.mode() & 0o777, 0o500);
    assert_eq!(locked.mtime(), 1_600_000_000);
    assert_eq!(fs::read(l.join("locked/f")).unwrap(), b"x");
    crate::fsutil::remove_tree(&l).unwrap();
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    let (dir, r) = unpack_into(&[
        E::Dir("etc/", 0o755),
        E::File("etc/.wh.doomed.txt", b"", 0o644),
        E::Dir("var/", 0o755),
        E::File("var/.wh..wh..opq", b"", 0o644),
    ]);
    r.unwrap();
    let l = dir.path().join("layer");
    let wh = fs::symlink_metadata(l.join("etc/doomed.txt")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!l.join("etc/.wh.doomed.txt").exists());
    let opaque = xattr::get(l.join("var"), OPAQUE_XATTR).unwrap();
    assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
    assert!(!l.join("var/.wh..wh..opq").exists());
}

#[test]
fn dot_dot_is_refused() {
    let err = err_of(&[E::File("../escape", b"x", 0o644)]);
    assert!(err.contains("'..'"), "{err}");
    let err = err_of(&[E::File("a/../../escape", b"x", 0o644)]);
    assert!(err.contains("'..'"), "{err}");
}

#[test]
fn absolute_paths_stay_inside() {
    let (dir, r) = unpack_into(&[E::File("/abs/file", b"x", 0o644)]);
    r.unwrap();
    assert!(dir.path().join("layer/abs/file").is_file());
}

#[test]
fn writing_through_a_symlink_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap().to_string();
    let err = err_of(&[E::Sym("evil", &target), E::File("evil/pwned", b"x", 0o644)]);
    assert!(err.contains("symlink"), "{err}");
    assert!(!outside.path().join("pwned").exists());
    // A whiteout through a symlink must not delete outside either.
    fs::write(outside.path().join("keep"), b"k").unwrap();
    let err = err_of(&[
        E::Sym("evil", &target),
        E::File("evil/.wh.keep", b"", 0o644),
    ]);
    assert!(err.contains("symlink"), "{err}");
    assert!(outside.path().join("keep").exists());
}

#[test]
fn hardlinks_out_are_refused() {
    let err = err_of(&[E::Hard("passwd", "../../../../etc/passwd")]);
    assert!(err.contains("'..'"), "{err}");
    let err = err_of(&[E::Hard("passwd", "/etc/passwd")]);
    assert!(err.contains("not in the layer"), "{err}");
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), b"s").unwrap();
    let err = err_of(&[
        E::Sym("out", outside.path().to_str().unwrap()),
        E::Hard("stolen", "out/secret"),
    ]);
    assert!(err.contains("symlink"), "{err}");
}

#[test]
fn a_symlink_replaced_by_a_dir_is_a_real_dir() {
    let outside = tempfile::tempdir().unwrap();
    let (dir, r) = unpack_into(&[
        E::Sym("a", outside.path().to_str().unwrap()),
        E::Dir("a/", 0o755),
        E::File("a/f", b"x", 0o644),
    ]);
    r.unwrap();
    let a = dir.path().join("layer/a");
    assert!(fs::symlink_metadata(&a).unwrap().is_dir());
    assert!(a.join("f").is_file());
    assert!(!outside.path().join("f").exists());
}

#[test]
fn device_nodes_are_skipped() {
    let (dir, r) = unpack_into(&[E::Char("dev/null"), E::File("ok", b"1", 0o644)]);
    assert_eq!(r.unwrap().skipped_devices, vec!["/dev/null".to_string()]);
    assert!(fs::symlink_metadata(dir.path().join("layer/dev/null")).is_err());
    assert!(dir.path().join("layer/ok").is_file());
}

#[test]
fn compressed_layers_have_the_plain_diff_id() {
    let tar = layer(&[E::File("f", b"hello", 0o644)]);
    let want = format!("sha256:{}", hex::encode(Sha256::digest(&tar)));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    io::Write::write_all(&mut gz, &tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 1).unwrap();
    for blob in [tar.clone(), gz, zst] {
        let dir = tempfile::tempdir().unwrap();
        let got = unpack(&blob[..], dir.path(), OPTS).unwrap();
        assert_eq!(got.diff_id, want);
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"hello");
    }
}

#[test]
fn owners_kept_when_asked() {
    // As root (CI) chown works; as a user it only warns. Either way no error.
    let dir = tempfile::tempdir().unwrap();
    let opts = UnpackOptions {
        keep_owners: true,
        record_owners: false,
    };
    unpack(&layer(&[E::File("f", b"x", 0o644)])[..], dir.path(), opts).unwrap();
    if nix::unistd::geteuid().is_root() {
        assert_eq!(fs::metadata(dir.path().join("f")).unwrap().uid(), 1000);
    }
}

#[test]
fn garbage_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let junk = [0x1fu8, 0x8b, 1, 2, 3, 4, 5];
    assert!(unpack(&junk[..], dir.path(), OPTS).is_err());
}

#[test]
fn a_dir_replaced_by_a_symlink_is_not_trusted_any_more() {
    // Regression guard for the known-dirs cache: "a" is checked as a real
    // dir, then replaced by a symlink pointing out; "a/pwned" must not go
    // through it.
    let outside = tempfile::tempdir().unwrap();
    let err = err_of(&[
        E::Dir("a/", 0o755),
        E::File("a/b/x", b"x", 0o644),
        E::Sym("a", outside.path().to_str().unwrap()),
        E::File("a/b/pwned", b"x", 0o644),
    ]);
    assert!(err.contains("symlink"), "{err}");
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[test]
fn a_layer_cannot_forge_overlay_or_ownership_xattrs() {
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([
        ("SCHILY.xattr.user.burrow.override", &b"0:0:4755"[..]),
        ("SCHILY.xattr.user.overlay.opaque", &b"y"[..]),
        ("SCHILY.xattr.user.kept", &b"1"[..]),
    ])
    .unwrap();
    let mut h = raw_header(tar::EntryType::Regular, "f", 1, 0o644);
    h.set_cksum();
    b.append(&h, &b"x"[..]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("layer");
    fs::create_dir(&l).unwrap();
    unpack(&b.into_inner().unwrap()[..], &l, OPTS).unwrap();
    let f = l.join("f");
    if xattr::get(&f, "user.kept").unwrap().is_none() {
        return crate::testkit::skip("no user xattrs on the temp dir's file system");
    }
    assert!(xattr::get(&f, "user.burrow.override").unwrap().is_none());
    assert!(xattr::get(&f, "user.overlay.opaque").unwrap().is_none());
}
