use super::*;
use crate::sys::{in_child, ChildFailure};
use nix::errno::Errno;

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Bad profiles cannot ship: every file in profiles/landlock parses and
/// is embedded under its name, and every embedded name has its file.
#[test]
fn every_shipped_profile_parses_and_is_embedded() {
    let mut files: Vec<String> = std::fs::read_dir(manifest().join("profiles/landlock"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut names: Vec<String> = EMBEDDED.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    assert_eq!(files, names);
    for (name, text) in EMBEDDED {
        let on_disk =
            std::fs::read_to_string(manifest().join(format!("profiles/landlock/{name}.json")))
                .unwrap();
        assert_eq!(&on_disk, text);
        let p = Profile::load(name).unwrap_or_else(|e| panic!("{e}"));
        assert!(!p.description.is_empty(), "{name} has no description");
        for r in &p.paths {
            assert!(r.comment.is_some(), "{name}: {} has no comment", r.path);
        }
    }
    for n in [
        "default",
        "npm-install",
        "cargo-build",
        "pip-install",
        "untrusted-binary",
    ] {
        assert!(names.iter().any(|x| x == n), "{n}");
    }
}

fn err(json: &str) -> String {
    Profile::parse(json.as_bytes(), "p.json")
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_profiles_are_one_clear_line() {
    assert!(err("{").starts_with("landlock profile p.json: bad JSON"));
    assert_eq!(
        err(r#"{"paths":[{"path":"/","access":["read","fly"]}]}"#),
        "landlock profile p.json: paths[0] (/): unknown access \"fly\""
    );
    assert_eq!(
        err(r#"{"paths":[{"path":"etc","access":["read"]}]}"#),
        "landlock profile p.json: paths[0] (etc): path must be absolute or start with $HOME, $CWD or $TMPDIR"
    );
    assert!(err(r#"{"scope":["everything"]}"#).contains("scope: unknown scope \"everything\""));
    assert!(err(r#"{"pathz":[]}"#).contains("unknown field"));
    let e = Profile::load("nope").unwrap_err().to_string();
    assert!(
        e.contains("no such profile (built in: default, container"),
        "{e}"
    );
}

#[test]
fn load_from_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("mine.json");
    std::fs::write(&f, r#"{"paths":[{"path":"$CWD","access":["read"]}]}"#).unwrap();
    let p = Profile::load(f.to_str().unwrap()).unwrap();
    assert_eq!(p.paths.len(), 1);
}

fn tree() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for f in [
        ".ssh/id_ed25519",
        "docs/a",
        ".config/gh/hosts.yml",
        ".config/other/x",
        "plain",
    ] {
        let p = d.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"secret or not").unwrap();
    }
    d
}

fn vars(home: &Path) -> Vars {
    Vars {
        home: home.to_path_buf(),
        cwd: home.join("docs"),
        tmpdir: "/tmp".into(),
    }
}

#[test]
fn except_grants_siblings_not_the_parent() {
    let t = tree();
    let home = t.path();
    let p = Profile::parse(
        br#"{"paths":[{"path":"$HOME","access":["read"],"except":["$HOME/.ssh","$HOME/.config/gh"]},
                      {"path":"$HOME/missing","access":["read"]}]}"#,
        "p",
    )
    .unwrap();
    std::os::unix::fs::symlink(home.join(".ssh"), home.join("keys")).unwrap();
    std::os::unix::fs::symlink(home.join("docs/a"), home.join("doc-link")).unwrap();
    let plan = p.plan(&vars(home));
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let list: BitFlags<AccessFs> = AccessFs::ReadDir.into();
    let got: Vec<(PathBuf, BitFlags<AccessFs>)> = plan.grants.clone();
    let want = vec![
        (home.to_path_buf(), list),
        (home.join(".config"), list),
        (home.join(".config/other"), read),
        (home.join("doc-link"), read),
        (home.join("docs"), read),
        (home.join("plain"), read),
    ];
    assert_eq!(got, want);
}

#[test]
fn gaps_by_abi() {
    let p = Profile::load("npm-install").unwrap();
    let plan = p.plan(&Vars::from_env());
    let abis = |abi| plan.gaps(abi).iter().map(|g| g.abi).collect::<Vec<_>>();
    assert_eq!(abis(0), [1, 2, 3, 4, 5, 6, 9]);
    assert_eq!(abis(3), [4, 5, 6, 9]);
    assert_eq!(abis(6), [9]);
    assert_eq!(abis(9), Vec::<u32>::new());
    let g = &plan.gaps(3)[0];
    assert_eq!(
        g.to_string(),
        "TCP bind and connect port rules (needs Landlock ABI 4)"
    );
    let c = Profile::load("container").unwrap().plan(&Vars::from_env());
    assert!(
        !c.gaps(5).iter().any(|g| g.abi == 4),
        "no net rules, no net gap"
    );
}

fn landlock_abi_or_skip() -> Option<u32> {
    match crate::sys::landlock_abi() {
        Ok(a) => Some(a),
        Err(e) => {
            crate::testkit::skip(&format!("no Landlock here ({e})"));
            None
        }
    }
}

fn check(
    step: &str,
    r: std::io::Result<impl Sized>,
    want: Option<Errno>,
) -> Result<(), ChildFailure> {
    let got = r
        .err()
        .map(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)));
    if got == want {
        Ok(())
    } else {
        Err(ChildFailure::new(
            &format!("{step}: got {got:?}, want {want:?}"),
            got.unwrap_or(Errno::UnknownErrno),
        ))
    }
}

/// In a forked child: the profile's walls hold, its grants work.
#[test]
fn applied_profile_walls_and_grants() {
    let Some(abi) = landlock_abi_or_skip() else {
        return;
    };
    let t = tree();
    let home = t.path().to_path_buf();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("f"), b"x").unwrap();
    let p = Profile::parse(
        br#"{"paths":[{"path":"$HOME","access":["read"],"except":["$HOME/.ssh"]},
                      {"path":"$CWD","access":["read","write"]}],
             "scope":["signal"]}"#,
        "p",
    )
    .unwrap();
    let plan = p.plan(&vars(&home));
    let out_f = outside.path().join("f");
    in_child(move || {
        let report =
            apply(&plan, true).map_err(|e| ChildFailure::new(&e.to_string(), Errno::EINVAL))?;
        if report.abi != abi || report.status == Enforced::Not {
            return Err(ChildFailure::new(&format!("{report:?}"), Errno::EINVAL));
        }
        let eacces = Some(Errno::EACCES);
        check("read sibling", std::fs::read(home.join("plain")), None)?;
        check(
            "read .ssh",
            std::fs::read(home.join(".ssh/id_ed25519")),
            eacces,
        )?;
        check(
            "write cwd",
            std::fs::write(home.join("docs/new"), b"y"),
            None,
        )?;
        check("write home", std::fs::write(home.join("new"), b"y"), eacces)?;
        check("read outside", std::fs::read(&out_f), eacces)?;
        check("read /etc", std::fs::read("/etc/hostname"), eacces)?;
        if abi >= 6 {
            // Signal scoping: the parent (outside the domain) is out of reach.
            let r = nix::sys::signal::kill(nix::unistd::getppid(), None);
            if r != Err(Errno::EPERM) {
                return Err(ChildFailure::new(
                    &format!("signal parent: {r:?}"),
                    Errno::EINVAL,
                ));
            }
        }
        Ok(())
    })
    .unwrap_or_else(|f| panic!("{f}"));
}

/// TCP port rules (ABI 4+): only the listed connect port is reachable.
#[test]
fn applied_net_rules() {
    let Some(abi) = landlock_abi_or_skip() else {
        return;
    };
    if abi < 4 {
        return crate::testkit::skip(&format!("Landlock ABI {abi} has no network rules"));
    }
    let allowed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let denied = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (pa, pd) = (allowed.local_addr().unwrap(), denied.local_addr().unwrap());
    let json = format!(
        r#"{{"paths":[{{"path":"/","access":["all"]}}],"net":{{"bindTcp":[],"connectTcp":[{}]}}}}"#,
        pa.port()
    );
    let plan = Profile::parse(json.as_bytes(), "p")
        .unwrap()
        .plan(&Vars::from_env());
    in_child(move || {
        apply(&plan, true).map_err(|e| ChildFailure::new(&e.to_string(), Errno::EINVAL))?;
        check("connect allowed", std::net::TcpStream::connect(pa), None)?;
        check(
            "connect denied",
            std::net::TcpStream::connect(pd),
            Some(Errno::EACCES),
        )?;
        check(
            "bind",
            std::net::TcpListener::bind("127.0.0.1:0"),
            Some(Errno::EACCES),
        )?;
        Ok(())
    })
    .unwrap_or_else(|f| panic!("{f}"));
}

/// The coarse access names grant what they say and no more: "write" is
/// Landlock's write set without connecting to UNIX sockets (which has a
/// name of its own) and without reading or executing.
#[test]
fn coarse_access_names_grant_what_they_say() {
    let write = parse_access("write").unwrap();
    for a in [
        AccessFs::WriteFile,
        AccessFs::RemoveFile,
        AccessFs::MakeDir,
        AccessFs::Truncate,
    ] {
        assert!(write.contains(a), "write lacks {a:?}");
    }
    for a in [
        AccessFs::ResolveUnix,
        AccessFs::ReadFile,
        AccessFs::ReadDir,
        AccessFs::Execute,
    ] {
        assert!(!write.contains(a), "write grants {a:?}");
    }
    let read = parse_access("read").unwrap();
    assert_eq!(read, AccessFs::ReadFile | AccessFs::ReadDir);
    assert_eq!(parse_access("connect_unix").unwrap(), AccessFs::ResolveUnix);
}
