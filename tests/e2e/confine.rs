//! Confinement: the escape suite. Each attempt runs in a container through
//! the static probe (one process per attempt) and must fail with the
//! expected errno; the same attempt under the override that should allow
//! it must then get past that wall (succeed, or fail with another errno),
//! so the test proves the wall and not a broken command.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

use crate::common::*;
use crate::run::ready;

const SYS_ADMIN: &[&str] = &["--cap-add", "SYS_ADMIN"];
const UNCONFINED: &[&str] = &["--security-opt", "seccomp=unconfined"];
const PRIVILEGED: &[&str] = &["--privileged"];

/// (attempt, result by default, the override that lifts this wall).
const WALLS: &[(&str, &str, &[&str])] = &[
    ("mount", "EPERM", SYS_ADMIN),
    ("umount-proc-sys", "EPERM", SYS_ADMIN),
    ("umount-keys", "EPERM", SYS_ADMIN),
    ("sethostname", "EPERM", SYS_ADMIN),
    ("unshare-user", "EPERM", UNCONFINED),
    ("keyctl", "EPERM", UNCONFINED),
    ("add_key", "EPERM", UNCONFINED),
    ("bpf", "EPERM", UNCONFINED),
    ("perf_event_open", "EPERM", UNCONFINED),
    ("kexec_load", "EPERM", UNCONFINED),
    ("init_module", "EPERM", UNCONFINED),
    ("finit_module", "EPERM", UNCONFINED),
    ("open_by_handle_at", "EPERM", UNCONFINED),
    ("read-timer-list", "empty", PRIVILEGED),
];

/// Walls the kernel keeps in any user namespace: no flag of ours lifts
/// them, so they must hold even under --privileged. ptrace of pid 1 is
/// burrow's own init, made non-dumpable.
const KERNEL_WALLS: &[(&str, &str)] = &[
    ("mknod-block", "EPERM"),
    ("swapon", "EPERM"),
    ("clock_settime", "EPERM"),
    ("ptrace-1", "EPERM"),
    ("reboot", "EPERM"),
];

fn probe_mount() -> String {
    format!("{}:/probe:ro", probe_bin().display())
}

/// Each attempt in its own probe process (an attempt such as
/// unshare-user changes what the next one would see) -> name -> result.
fn attempts(env: &TestEnv, img: &str, extra: &[&str], names: &[&str]) -> HashMap<String, String> {
    let pm = probe_mount();
    let mut args = vec!["run", "--rm", "-v", &pm];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[img, "sh", "-c", "for a; do /probe try $a; done", "sh"]);
    args.extend_from_slice(names);
    let out = env.burrow(&args);
    out.ok();
    let got: HashMap<String, String> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got.len(), names.len(), "{}", out.describe());
    got
}

fn status(out: &Outcome) -> HashMap<String, String> {
    out.stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// What the kernel alone answers each attempt: the probe run on the host
/// as the test user, root of a plain user namespace (no seccomp, no masks).
fn kernel_answers(env: &TestEnv, names: &[&str]) -> HashMap<String, String> {
    let probe = probe_bin().display().to_string();
    let script = format!("for a; do {probe} try $a; done");
    let mut cmd = env.command("unshare", &[]);
    cmd.args(["--user", "--map-root-user", "sh", "-c", &script, "sh"])
        .args(names);
    let out = run(cmd, names, None);
    out.ok();
    let got = status(&out);
    assert_eq!(got.len(), names.len(), "{}", out.describe());
    got
}

#[test]
fn escapes_fail_and_their_overrides_pass() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        // The seccomp walls only prove something where the kernel would
        // let the call through without them: one the kernel refuses with
        // the same errno anyway (Debian 12's 6.1 gives a namespace root
        // EPERM for bpf, kexec_load, init_module...) is left out, visibly.
        let seccomp: Vec<&str> = WALLS
            .iter()
            .filter(|w| w.2 == UNCONFINED)
            .map(|w| w.0)
            .collect();
        let kernel = kernel_answers(&env, &seccomp);
        let telling = |name: &str, want: &str| {
            if !seccomp.contains(&name) || kernel[name] != want {
                return true;
            }
            not_on_this_kernel(&format!(
                "{name}: the kernel answers {want} without seccomp too"
            ));
            false
        };
        let walls: Vec<_> = WALLS.iter().filter(|w| telling(w.0, w.1)).collect();
        let names: Vec<&str> = walls
            .iter()
            .map(|w| w.0)
            .chain(KERNEL_WALLS.iter().map(|w| w.0))
            .collect();
        let default = attempts(&env, &img, &[], &names);
        for (name, want, _) in &walls {
            assert_eq!(&default[*name], want, "{user:?}: {name} by default");
        }
        for (name, want) in KERNEL_WALLS {
            assert_eq!(&default[*name], want, "{user:?}: {name} by default");
        }
        let host = attempts(&env, &img, &[], &["write-proc-sys"]);
        assert_ne!(host["write-proc-sys"], "ok", "{user:?}");
        for over in [SYS_ADMIN, UNCONFINED, PRIVILEGED] {
            let lifted: Vec<&str> = walls.iter().filter(|w| w.2 == over).map(|w| w.0).collect();
            let got = attempts(&env, &img, over, &lifted);
            for name in lifted {
                if over == UNCONFINED {
                    // Without the filter the call meets the kernel alone.
                    assert_eq!(got[name], kernel[name], "{user:?}: {name} under {over:?}");
                } else {
                    let want = walls.iter().find(|w| w.0 == name).unwrap().1;
                    assert_ne!(got[name], want, "{user:?}: {name} under {over:?}");
                }
            }
        }
        let kernel: Vec<&str> = KERNEL_WALLS
            .iter()
            .map(|w| w.0)
            .filter(|n| *n != "reboot")
            .collect();
        let got = attempts(&env, &img, PRIVILEGED, &kernel);
        for name in kernel {
            assert_eq!(got[name], "EPERM", "{user:?}: {name} under --privileged");
        }
    }
}

/// Masked /proc/kcore reads as empty; /proc/sysrq-trigger is never
/// writable. Kernels without these files (this test VM's) have nothing
/// to mask: the check says so instead of passing on nothing.
#[test]
fn kcore_and_sysrq_are_walled() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let files = [
        ("read-kcore", "/proc/kcore"),
        ("write-sysrq", "/proc/sysrq-trigger"),
    ];
    let mut names = Vec::new();
    for (name, path) in files {
        if std::path::Path::new(path).exists() {
            names.push(name);
        } else {
            not_on_this_kernel(&format!("{path} is absent: nothing to wall off"));
        }
    }
    if names.is_empty() {
        return;
    }
    let got = attempts(&env, &img, &[], &names);
    if let Some(r) = got.get("read-kcore") {
        assert_eq!(r, "empty", "read-kcore");
    }
    if let Some(r) = got.get("write-sysrq") {
        assert_ne!(r, "ok", "write-sysrq");
    }
}

#[test]
fn reboot_with_sys_boot_ends_only_the_container() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let pm = probe_mount();
    let out = env.burrow(&[
        "run",
        "--rm",
        "-v",
        &pm,
        "--cap-add",
        "SYS_BOOT",
        &img,
        "/probe",
        "try",
        "reboot",
    ]);
    // The kernel ends the container's pid namespace (power-off there is
    // reported as the init killed by SIGINT).
    assert_eq!(out.code, 128 + 2, "{}", out.describe());
    assert!(!out.stdout.contains("reboot EPERM"), "{}", out.describe());
}

#[test]
fn proc_and_sys_paths_are_masked_and_read_only() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let mounts = |extra: &[&str]| -> Vec<(String, String)> {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&img, "cat", "/proc/self/mountinfo"]);
        let out = env.burrow(&args);
        out.ok();
        out.stdout
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                Some((f.get(4)?.to_string(), f.get(5)?.to_string()))
            })
            .collect()
    };
    let m = mounts(&[]);
    let opts = |p: &str| m.iter().find(|(t, _)| t == p).map(|(_, o)| o.clone());
    for p in ["/proc/keys", "/proc/timer_list", "/proc/interrupts"] {
        assert!(opts(p).is_some(), "{p} not masked: {m:?}");
    }
    for p in ["/proc/sys", "/proc/irq", "/proc/fs", "/proc/bus"] {
        if std::path::Path::new(p).exists() {
            let o = opts(p).unwrap_or_else(|| panic!("{p} not mounted over: {m:?}"));
            assert!(o.split(',').any(|x| x == "ro"), "{p}: {o}");
        }
    }
    if std::path::Path::new("/sys/firmware").exists() {
        assert!(opts("/sys/firmware").is_some(), "{m:?}");
    }
    let m = mounts(PRIVILEGED);
    assert!(
        !m.iter().any(|(t, _)| t == "/proc/sys" || t == "/proc/keys"),
        "{m:?}"
    );
}

#[test]
fn capabilities_follow_the_flags() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        let pm = probe_mount();
        let st = |extra: &[&str]| {
            let mut args = vec!["run", "--rm", "-v", &pm];
            args.extend_from_slice(extra);
            args.extend_from_slice(&[&img, "/probe", "status"]);
            let out = env.burrow(&args);
            out.ok();
            status(&out)
        };
        // Docker's default set, no_new_privs, seccomp filter mode (2).
        let s = st(&[]);
        assert_eq!(s["capeff"], "00000000a80425fb", "{user:?}");
        assert_eq!(s["capbnd"], "00000000a80425fb", "{user:?}");
        assert_eq!(s["capinh"], "0000000000000000", "{user:?}");
        assert_eq!(s["nonewprivs"], "1", "{user:?}");
        assert_eq!(s["seccomp"], "2", "{user:?}");
        let s = st(&["--cap-drop", "ALL"]);
        assert_eq!(s["capeff"], "0000000000000000");
        assert_eq!(s["capbnd"], "0000000000000000");
        let s = st(&["--cap-drop", "ALL", "--cap-add", "NET_RAW,chown"]);
        assert_eq!(s["capeff"], "0000000000002001");
        let s = st(&["--cap-drop", "CHOWN"]);
        assert_eq!(s["capeff"], "00000000a80425fa");
        let s = st(PRIVILEGED);
        assert_ne!(s["capeff"], "00000000a80425fb");
        assert!(s["capeff"].ends_with("ffffffff"), "{}", s["capeff"]);
        // No seccomp profile; single-id mode keeps only the chown no-op filter.
        let want = if user == User::Sub { "0" } else { "2" };
        assert_eq!(s["seccomp"], want, "{user:?}");
        let s = st(&["--security-opt", "no-new-privileges=false"]);
        assert_eq!(s["nonewprivs"], "0");
        // Only the three standard fds reach the command.
        let fds: Vec<&str> = s["fds"]
            .split(' ')
            .map(|f| f.split('=').next().unwrap())
            .collect();
        let open: Vec<&&str> = fds.iter().filter(|f| **f != "3").collect();
        assert_eq!(open, [&"0", &"1", &"2"], "{}", s["fds"]);
    }
}

#[test]
fn bad_security_options_fail_before_anything_starts() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    for (args, want) in [
        (&["--cap-add", "FLY"][..], "unknown capability \"FLY\""),
        (&["--security-opt", "apparmor=x"][..], "not supported"),
        (&["--security-opt", "bogus"][..], "unknown"),
        (&["--security-opt", "landlock=nope"][..], "no such profile"),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        a.extend_from_slice(&[&img, "echo", "STARTED"]);
        let out = env.burrow(&a);
        out.fails(125);
        assert!(out.stderr.contains(want), "{}", out.describe());
        assert!(!out.stdout.contains("STARTED"));
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
    }
}

#[test]
fn bad_seccomp_profiles_name_the_file_and_entry() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let cases: &[(&str, &str, &str)] = &[
        ("json.json", "{ \"defaultAction\": ", "bad JSON"),
        (
            "name.json",
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","no_such_call"],"action":"SCMP_ACT_ALLOW"}]}"#,
            "no_such_call",
        ),
        (
            "action.json",
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_FLY"}]}"#,
            "SCMP_ACT_FLY",
        ),
        (
            "arch.json",
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_VAX"],"syscalls":[]}"#,
            "SCMP_ARCH_VAX",
        ),
    ];
    for (file, text, want) in cases {
        let path = env.write(file, text.as_bytes());
        let opt = format!("seccomp={}", path.display());
        let out = env.burrow(&[
            "run",
            "--rm",
            "--security-opt",
            &opt,
            &img,
            "echo",
            "STARTED",
        ]);
        out.fails(125);
        assert!(out.stderr.contains(file), "{}", out.describe());
        assert!(out.stderr.contains(want), "{}", out.describe());
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
        assert!(!out.stdout.contains("STARTED"));
        assert!(crate::run::containers_left(&env).is_empty());
    }
    // A good file is used: one that refuses mkdir.
    let path = env.write(
        "nomkdir.json",
        br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
    );
    let opt = format!("seccomp={}", path.display());
    let out = env.burrow(&["run", "--rm", "--security-opt", &opt, &img, "mkdir", "/x"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(
        out.stderr.contains("Permission denied"),
        "{}",
        out.describe()
    );
}

#[test]
fn setuid_binaries_gain_nothing_under_no_new_privs() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    // The probe, owned by the test user (root in the container) and
    // setuid: a setuid-root binary inside.
    let suid = env.dir().join("suid-probe");
    std::fs::copy(probe_bin(), &suid).unwrap();
    env.user.chown(&suid);
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let m = format!("{}:/suid:ro", suid.display());
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--rm", "-u", "1000:1000", "-v", &m];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&img, "/suid", "status"]);
        let out = env.burrow(&args);
        out.ok();
        status(&out)
    };
    let s = run(&[]);
    assert_eq!(s["euid"], "1000");
    assert_eq!(s["capeff"], "0000000000000000");
    assert_eq!(s["nonewprivs"], "1");
    // The override proves the bit works: without no_new_privs it is root.
    let s = run(&["--security-opt", "no-new-privileges=false"]);
    assert_eq!(s["euid"], "0", "{s:?}");
    assert_eq!(s["capeff"], "00000000a80425fb");
}

#[test]
fn the_host_binary_is_out_of_reach() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let pm = probe_mount();
    // pid 1 is burrow's tiny init (the host's binary): not dumpable, and
    // its memory belongs to the host's user namespace, so even
    // --privileged (CAP_SYS_PTRACE in the container's) cannot open it.
    for extra in [&[][..], PRIVILEGED] {
        let mut args = vec!["run", "--rm", "-v", &pm];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            &img,
            "sh",
            "-c",
            "readlink /proc/self/exe; /probe status | grep '^fds'; \
             cat /proc/1/exe >/dev/null 2>&1 && echo READ-INIT; ls /proc/1/fd 2>/dev/null | wc -l",
        ]);
        let out = env.burrow(&args);
        out.ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines[0], "/bin/busybox", "{}", out.describe());
        assert!(!out.stdout.contains("READ-INIT"), "{}", out.describe());
        assert_eq!(
            lines.last().map(|l| l.trim()),
            Some("0"),
            "{}",
            out.describe()
        );
        let burrow = burrow_bin().display().to_string();
        assert!(!out.stdout.contains(&burrow), "{}", out.describe());
    }
}

#[test]
fn tiocsti_on_the_terminal_is_refused() {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        let run = |extra: &str| {
            let args = format!(
                "run --rm -t -v {} {extra} {img} /probe try tiocsti tioclinux",
                probe_mount()
            );
            env.burrow_in_terminal(&args, b"").1
        };
        let text = run("");
        assert!(text.contains("tiocsti EPERM"), "{user:?}: {text}");
        assert!(text.contains("tioclinux EPERM"), "{user:?}: {text}");
        let text = run("--security-opt seccomp=unconfined");
        assert!(text.contains("tiocsti "), "{text}");
        assert!(!text.contains("tiocsti EPERM"), "{user:?}: {text}");
        assert!(text.contains("tioclinux "), "{text}");
        assert!(!text.contains("tioclinux EPERM"), "{user:?}: {text}");
    }
}

#[test]
fn landlock_profiles_apply_in_containers() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let pm = probe_mount();
    // The built-in `container` profile: Landlock forbids mounts even with
    // CAP_SYS_ADMIN, which the same flags allow without it.
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--rm", "-v", &pm, "--cap-add", "SYS_ADMIN"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&img, "/probe", "try", "mount"]);
        env.burrow(&args)
    };
    let out = run(&[]);
    assert_eq!(out.stdout, "mount ok\n", "{}", out.describe());
    let out = run(&["--security-opt", "landlock=container"]);
    assert_eq!(out.stdout, "mount EPERM\n", "{}", out.describe());
    // What the kernel cannot enforce is one warning line.
    assert!(out.stderr.lines().count() <= 1, "{}", out.describe());
    if !out.stderr.is_empty() {
        assert!(
            out.stderr.starts_with("burrow: warning: Landlock"),
            "{}",
            out.describe()
        );
    }
    // A profile file: read and execute only.
    let ro = env.write(
        "ro.json",
        br#"{"paths":[{"path":"/","access":["read","execute"]}]}"#,
    );
    let opt = format!("landlock={}", ro.display());
    let script = "echo x > /tmp/x && echo WROTE";
    let out = env.burrow(&[
        "run",
        "--rm",
        "--security-opt",
        &opt,
        &img,
        "sh",
        "-c",
        script,
    ]);
    assert!(!out.stdout.contains("WROTE"), "{}", out.describe());
    assert!(
        out.stderr.contains("Permission denied"),
        "{}",
        out.describe()
    );
    let out = env.burrow(&["run", "--rm", &img, "sh", "-c", script]);
    assert_eq!(out.stdout, "WROTE\n", "{}", out.describe());
}

#[test]
fn create_keeps_the_security_options_for_start() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let pm = probe_mount();
    let out = env.burrow(&[
        "create",
        "--name",
        "sec",
        "-v",
        &pm,
        "--cap-drop",
        "ALL",
        "--security-opt",
        "seccomp=unconfined",
        &img,
        "/probe",
        "status",
    ]);
    out.ok();
    let out = env.burrow(&["start", "-a", "sec"]);
    out.ok();
    let s = status(&out);
    assert_eq!(s["capeff"], "0000000000000000", "{}", out.describe());
    assert_eq!(s["seccomp"], "0", "{}", out.describe());
    assert_eq!(s["nonewprivs"], "1", "{}", out.describe());
}
