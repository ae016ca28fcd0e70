//! `--storage-driver`: where the setting comes from, bad values, `auto`'s
//! fallbacks to our FUSE overlay, an unusable /dev/fuse. (fuse_root.rs has
//! the FUSE root's own tests; tests/run also runs the run, run_process,
//! live and confine modules with BURROW_TEST_STORAGE_DRIVER=fuse-overlay.)

use std::collections::BTreeMap;
use std::process::Command;

use crate::common::*;
use crate::run::ready;

pub(crate) const ROOT_TYPE: &str = "awk '$2==\"/\"{print $3}' /proc/mounts";

/// No setting from the test's own environment or a config file.
fn clean(env: &TestEnv) -> Vec<(&'static str, String)> {
    vec![
        ("BURROW_STORAGE_DRIVER", String::new()),
        (
            "XDG_CONFIG_HOME",
            env.dir().join("config").display().to_string(),
        ),
    ]
}

fn burrow_env(env: &TestEnv, args: &[&str], vars: &[(&'static str, String)]) -> Outcome {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.burrow_with(args, &vars, None)
}

fn set_env(vars: &mut Vec<(&'static str, String)>, k: &'static str, v: &str) {
    vars.retain(|(n, _)| *n != k);
    vars.push((k, v.to_string()));
}

fn write_config(env: &TestEnv, text: &str) {
    env.mkdir("config/burrow");
    env.write("config/burrow/burrow.toml", text.as_bytes());
}

/// The driver `create` put in the record, as `inspect` shows it.
fn created_with(
    env: &TestEnv,
    img: &str,
    flags: &[&str],
    vars: &[(&'static str, String)],
) -> String {
    let mut args = vec!["create"];
    args.extend_from_slice(flags);
    args.extend([img, "true"]);
    let out = burrow_env(env, &args, vars);
    out.ok();
    let id = out.stdout.trim().to_string();
    let out = env.burrow(&["container", "inspect", &id]);
    let v: serde_json::Value = serde_json::from_str(&out.ok().stdout).unwrap();
    env.burrow(&["rm", &id]).ok();
    v[0]["GraphDriver"]["Name"].as_str().unwrap().to_string()
}

fn info_json(env: &TestEnv, vars: &[(&'static str, String)]) -> serde_json::Value {
    let out = burrow_env(env, &["info", "--format", "json"], vars);
    serde_json::from_str(&out.ok().stdout).unwrap()
}

#[test]
fn setting_comes_from_the_flag_then_the_env_then_the_config_file() {
    let Some((env, img)) = ready(User::NoSub) else {
        return;
    };
    let mut vars = clean(&env);
    let auto = info_json(&env, &vars)["rootfsDriver"]["driver"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(created_with(&env, &img, &[], &vars), auto);
    write_config(
        &env,
        "# the lab's NFS home\nstorage_driver = \"fuse-overlay\"\n",
    );
    assert_eq!(created_with(&env, &img, &[], &vars), "fuse-overlay");
    let v = info_json(&env, &vars);
    assert_eq!(v["rootfsDriver"]["setting"], "fuse-overlay", "{v:#}");
    set_env(&mut vars, "BURROW_STORAGE_DRIVER", "overlay");
    assert_eq!(created_with(&env, &img, &[], &vars), "overlay");
    let flag = ["--storage-driver", "fuse-overlay"];
    assert_eq!(created_with(&env, &img, &flag, &vars), "fuse-overlay");
    let flag = ["--storage-driver", "auto"];
    assert_eq!(created_with(&env, &img, &flag, &vars), auto);

    // start keeps the driver the container was made with.
    let out = burrow_env(
        &env,
        &[
            "create",
            "--storage-driver",
            "fuse-overlay",
            &img,
            "sh",
            "-c",
            ROOT_TYPE,
        ],
        &vars,
    );
    let id = out.ok().stdout.trim().to_string();
    let out = burrow_env(&env, &["start", "-a", &id], &vars);
    assert_eq!(out.ok().stdout, "fuse.burrow-overlay\n");
}

#[test]
fn bad_settings_are_one_line_with_code_125() {
    let Some((env, img)) = ready(User::NoSub) else {
        return;
    };
    let img = img.as_str();
    let mut vars = clean(&env);
    let out = burrow_env(
        &env,
        &["run", "--rm", "--storage-driver", "fuse", img, "true"],
        &vars,
    );
    out.fails(125);
    assert!(
        out.stderr.contains("--storage-driver"),
        "{}",
        out.describe()
    );
    set_env(&mut vars, "BURROW_STORAGE_DRIVER", "kernel");
    let out = burrow_env(&env, &["run", "--rm", img, "true"], &vars);
    out.fails(125);
    assert!(
        out.stderr.contains("BURROW_STORAGE_DRIVER=\"kernel\""),
        "{}",
        out.describe()
    );
    // info still answers, and says what is wrong.
    let v = info_json(&env, &vars);
    assert_eq!(v["rootfsDriver"]["ok"], false, "{v:#}");
    set_env(&mut vars, "BURROW_STORAGE_DRIVER", "");
    for (text, want) in [
        ("storage_driver = \"fuse\"", "storage_driver = \"fuse\""),
        ("storage-driver = \"auto\"", "unknown key"),
        ("storage_driver = ", "burrow.toml is not valid"),
    ] {
        write_config(&env, text);
        let out = burrow_env(&env, &["create", img, "true"], &vars);
        out.fails(125);
        assert!(out.stderr.contains(want), "{text}: {}", out.describe());
    }
    // Nothing was made by the failed commands.
    assert_eq!(crate::run::containers_left(&env), Vec::<String>::new());
}

/// A store whose path has a ',' cannot be named in the kernel overlay's
/// mount options: `auto` says so once and uses our FUSE overlay; an
/// explicit `overlay` fails with one line.
#[test]
fn auto_falls_back_to_fuse_overlay_where_the_kernel_overlay_cannot_mount() {
    for user in [User::Sub, User::NoSub] {
        let Some(env) = TestEnv::new(user) else {
            return;
        };
        let vars = clean(&env);
        let root = env.mkdir("lab,nfs").join("store");
        let root = root.to_str().unwrap();
        let img = registry().image("busybox");
        let at = |args: &[&str]| {
            let mut all = vec!["--root", root];
            all.extend_from_slice(args);
            burrow_env(&env, &all, &vars)
        };
        at(&["pull", "-q", &img]).ok();
        let out = at(&["run", "--rm", &img, "sh", "-c", ROOT_TYPE]);
        out.ok();
        assert_eq!(out.stdout, "fuse.burrow-overlay\n", "{}", out.describe());
        let warned: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains("kernel overlay cannot mount"))
            .collect();
        assert_eq!(warned.len(), 1, "{}", out.describe());
        assert!(warned[0].contains("','"), "{}", out.describe());
        // Said once: the next run is quiet.
        let out = at(&["run", "--rm", &img, "ls", "-ln", "/data/owned"]);
        out.ok();
        assert!(!out.stderr.contains("kernel overlay"), "{}", out.describe());
        let out = at(&["info", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out.ok().stdout).unwrap();
        assert_eq!(v["rootfsDriver"]["driver"], "fuse-overlay", "{v:#}");
        assert_eq!(v["overlay"]["ok"], false, "{v:#}");
        at(&["run", "--rm", "--storage-driver", "overlay", &img, "true"]).fails(125);
    }
}

/// busybox with 99 more one-file layers, as a docker archive: more lower
/// dirs than the kernel overlay's mount options can name.
fn many_layer_archive(env: &TestEnv, img: &str) -> std::path::PathBuf {
    use sha2::Digest;
    let saved = env.dir().join("bb.tar");
    env.burrow(&["save", "-o", saved.to_str().unwrap(), img])
        .ok();
    let mut files = BTreeMap::new();
    let mut ar = tar::Archive::new(std::fs::File::open(&saved).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut body).unwrap();
        files.insert(name, body);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let config_name = manifest[0]["Config"].as_str().unwrap().to_string();
    let mut config: serde_json::Value = serde_json::from_slice(&files[&config_name]).unwrap();
    let mut layers: Vec<String> = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    for i in 0..99 {
        let mut b = tar::Builder::new(Vec::new());
        let body = format!("{i}\n");
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("layers/{i:02}"), body.as_bytes())
            .unwrap();
        let tar = b.into_inner().unwrap();
        let digest = hex::encode(sha2::Sha256::digest(&tar));
        config["rootfs"]["diff_ids"]
            .as_array_mut()
            .unwrap()
            .push(format!("sha256:{digest}").into());
        let name = format!("extra/{digest}.tar");
        files.insert(name.clone(), tar);
        layers.push(name);
    }
    // The spec makes history optional (regression: `run` refused such an
    // image that `load` took).
    config.as_object_mut().unwrap().remove("history");
    files.insert("many.json".into(), serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!([{
        "Config": "many.json", "RepoTags": ["many:1"], "Layers": layers,
    }]);
    files.insert(
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    );
    let mut out = tar::Builder::new(Vec::new());
    for name in layers
        .iter()
        .chain([&"many.json".to_string(), &"manifest.json".to_string()])
    {
        let mut h = tar::Header::new_gnu();
        h.set_size(files[name].len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        out.append_data(&mut h, name, &files[name][..]).unwrap();
    }
    env.write("many.tar", &out.into_inner().unwrap())
}

/// An image with more layers than the kernel overlay takes in one mount:
/// `auto` gives it our FUSE overlay, and says why; `overlay` fails.
#[test]
fn auto_gives_an_image_with_too_many_layers_the_fuse_overlay() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let archive = many_layer_archive(&env, &img);
    env.burrow(&["load", "-i", archive.to_str().unwrap()]).ok();
    let vars = clean(&env);
    let out = burrow_env(
        &env,
        &[
            "run",
            "--rm",
            "many:1",
            "sh",
            "-c",
            &format!("{ROOT_TYPE}; cat /layers/00 /layers/98"),
        ],
        &vars,
    );
    out.ok();
    assert_eq!(
        out.stdout,
        "fuse.burrow-overlay\n0\n98\n",
        "{}",
        out.describe()
    );
    assert!(out.stderr.contains("too many layers"), "{}", out.describe());
    let out = burrow_env(
        &env,
        &[
            "run",
            "--rm",
            "--storage-driver",
            "overlay",
            "many:1",
            "true",
        ],
        &vars,
    );
    out.fails(125);
    assert!(out.stderr.contains("too many layers"), "{}", out.describe());
}

/// burrow as the test user in a mount namespace where /dev/fuse is a
/// 0600 device of root's, as on machines that ship it so.
fn with_closed_fuse(env: &TestEnv, args: &[&str]) -> Outcome {
    let dev = env.dir().join("fuse-0600");
    if !dev.exists() {
        nix::sys::stat::mknod(
            &dev,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            nix::sys::stat::makedev(10, 229),
        )
        .unwrap();
    }
    let vars = clean(env);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let inner = env.command(burrow_bin(), &vars);
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$0\" /dev/fuse && exec \"$@\"")
        .arg(&dev)
        .arg(inner.get_program())
        .args(inner.get_args())
        .arg("--root")
        .arg(env.root())
        .args(args)
        .env_clear()
        .current_dir(env.dir());
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    run(cmd, args, None)
}

#[test]
fn an_unusable_dev_fuse_is_one_line_that_says_what_to_do() {
    let Some((env, img)) = ready(User::NoSub) else {
        return;
    };
    let img = img.as_str();
    let made = env.burrow(&["create", "--storage-driver", "fuse-overlay", img, "true"]);
    let made = made.ok().stdout.trim().to_string();
    let out = with_closed_fuse(
        &env,
        &[
            "run",
            "--rm",
            "--storage-driver",
            "fuse-overlay",
            img,
            "true",
        ],
    );
    out.fails(125);
    assert!(
        out.stderr.contains("chmod 0666 /dev/fuse"),
        "{}",
        out.describe()
    );
    let out = with_closed_fuse(&env, &["start", "-a", &made]);
    out.fails(125);
    assert!(out.stderr.contains("/dev/fuse"), "{}", out.describe());
    // The kernel overlay needs no /dev/fuse; auto falls back to nothing.
    let auto = info_json(&env, &clean(&env))["rootfsDriver"]["driver"].clone();
    let out = with_closed_fuse(&env, &["run", "--rm", img, "true"]);
    if auto == "overlay" {
        out.ok();
    } else {
        out.fails(125);
    }
}
