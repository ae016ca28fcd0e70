//! `burrow build` where buildah's conformance cases (tests/conformance/
//! buildah) found it departing from Docker's builder, as both test users.

use crate::common::*;
use crate::images::inspect;

fn setup(user: User) -> Option<(TestEnv, String, String)> {
    let env = TestEnv::new(user)?;
    let img = registry().image("busybox");
    env.burrow(&["pull", "-q", &img]).ok();
    env.mkdir("ctx");
    let ctx = env.dir().join("ctx").display().to_string();
    Some((env, img, ctx))
}

/// copy/Dockerfile: `COPY script /usr/bin` puts the file in the existing
/// directory; add/parent-clean and add/parent-dangling: a destination
/// through a symlink of the base image follows it, the link stays a link.
fn destinations_in_the_image(user: User) {
    let Some((env, img, ctx)) = setup(user) else {
        return;
    };
    env.write("ctx/f.txt", b"file\n");
    env.mkdir("ctx/d");
    env.write("ctx/d/x", b"x\n");
    env.write(
        "ctx/Dockerfile",
        format!(
            "FROM {img}\nRUN mkdir -p /real/sub /dest && ln -s /real/sub /link && ln -s real /rel\n\
             COPY f.txt /dest\nCOPY d /link/inside/\nCOPY d /rel/..\nCOPY f.txt /rel\n"
        )
        .as_bytes(),
    );
    let out = env.burrow(&["build", "-t", "dests", &ctx]);
    out.ok();
    let run = env.burrow(&[
        "run",
        "--rm",
        "--network",
        "none",
        "dests",
        "sh",
        "-c",
        "cat /dest/f.txt /real/sub/inside/x /x /real/f.txt; readlink /link; readlink /rel",
    ]);
    assert_eq!(
        run.ok().stdout,
        "file\nx\nx\nfile\n/real/sub\nreal\n",
        "{}",
        run.describe()
    );
}

#[test]
fn destinations_in_the_image_sub() {
    destinations_in_the_image(User::Sub);
}

#[test]
fn destinations_in_the_image_nosub() {
    destinations_in_the_image(User::NoSub);
}

/// add/archive/Dockerfile.*: an image from scratch has the default PATH in
/// its config, as BuildKit's empty image has.
fn scratch_has_path(user: User) {
    let Some((env, _img, ctx)) = setup(user) else {
        return;
    };
    env.write("ctx/f.txt", b"file\n");
    env.write("ctx/Dockerfile", b"FROM scratch\nCOPY f.txt /\n");
    env.burrow(&["build", "-t", "s", &ctx]).ok();
    let v = inspect(&env, "s");
    assert_eq!(
        v["Config"]["Env"],
        serde_json::json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    );
}

#[test]
fn scratch_has_path_sub() {
    scratch_has_path(User::Sub);
}

#[test]
fn scratch_has_path_nosub() {
    scratch_has_path(User::NoSub);
}

/// add/parent-symlink: ADD of an archive whose entry goes through a link
/// the archive made (`symldir1 -> ..`, then `symldir1/etc/myfile`) is
/// unpacked with the destination as its root, as Docker's chrooted untar
/// (and podman) do: /testsubdir/etc/myfile. It failed to extract.
fn add_archive_through_its_link(user: User) {
    let Some((env, img, ctx)) = setup(user) else {
        return;
    };
    let f = std::fs::File::create(env.dir().join("ctx/foobar.tar")).unwrap();
    let mut b = tar::Builder::new(f);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mode(0o777);
    h.set_size(0);
    b.append_link(&mut h, "symldir1", "..").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(6);
    b.append_data(&mut h, "symldir1/etc/myfile", &b"hello\n"[..])
        .unwrap();
    b.into_inner().unwrap();
    env.user.chown(&env.dir().join("ctx/foobar.tar"));
    env.write(
        "ctx/Dockerfile",
        format!("FROM {img}\nADD foobar.tar /testsubdir\n").as_bytes(),
    );
    env.burrow(&["build", "-t", "ps", &ctx]).ok();
    let run = env.burrow(&[
        "run",
        "--rm",
        "--network",
        "none",
        "ps",
        "sh",
        "-c",
        "cat /testsubdir/etc/myfile; readlink /testsubdir/symldir1; test -e /etc/myfile || echo none",
    ]);
    assert_eq!(run.ok().stdout, "hello\n..\nnone\n", "{}", run.describe());
}

#[test]
fn add_archive_through_its_link_sub() {
    add_archive_through_its_link(User::Sub);
}

#[test]
fn add_archive_through_its_link_nosub() {
    add_archive_through_its_link(User::NoSub);
}

/// copysymlink/Dockerfile2: `COPY --from=0 /link /` of a symlink copies
/// the file it points to, as Docker does; the image had nothing there.
fn copy_from_a_link(user: User) {
    let Some((env, img, ctx)) = setup(user) else {
        return;
    };
    env.write(
        "ctx/Dockerfile",
        format!(
            "FROM {img}\nRUN echo data > /file.txt && ln -s file.txt /file-link.txt\n\
             FROM {img}\nCOPY --from=0 /file-link.txt /\n"
        )
        .as_bytes(),
    );
    env.burrow(&["build", "-t", "cl", &ctx]).ok();
    let run = env.burrow(&[
        "run",
        "--rm",
        "--network",
        "none",
        "cl",
        "sh",
        "-c",
        "cat /file-link.txt; test -L /file-link.txt || echo regular",
    ]);
    assert_eq!(run.ok().stdout, "data\nregular\n", "{}", run.describe());
}

#[test]
fn copy_from_a_link_sub() {
    copy_from_a_link(User::Sub);
}

#[test]
fn copy_from_a_link_nosub() {
    copy_from_a_link(User::NoSub);
}
