//! What an image's config means for the process, as Docker reads it:
//! Entrypoint/Cmd and their overrides, Env plus `-e`/`--env-file`,
//! WorkingDir, and User looked up in the image's /etc/passwd and
//! /etc/group. Pure functions over the config and the layer dirs.

use std::path::PathBuf;

use anyhow::{bail, Context};
use oci_spec::image::Config;

use crate::rootfs::lookup;
use crate::text::escape_control;

/// The default PATH Docker gives an image that sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The command: `--entrypoint` replaces the image's Entrypoint and drops
/// its Cmd (an empty one clears it); trailing args replace Cmd.
pub fn command(
    config: Option<&Config>,
    entrypoint: Option<&str>,
    args: &[String],
) -> anyhow::Result<Vec<String>> {
    let image_entry = config
        .and_then(|c| c.entrypoint().clone())
        .unwrap_or_default();
    let image_cmd = config.and_then(|c| c.cmd().clone()).unwrap_or_default();
    let (entry, cmd) = match entrypoint {
        Some("") => (vec![], args.to_vec()),
        Some(e) => (vec![e.to_string()], args.to_vec()),
        None if args.is_empty() => (image_entry, image_cmd),
        None => (image_entry, args.to_vec()),
    };
    let argv: Vec<String> = entry.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        bail!("no command given and the image has none (add one after the image name)");
    }
    Ok(argv)
}

/// Parse an `--env-file`: `NAME=value` or `NAME` lines; `#` comments and
/// blank lines skipped, as Docker does (no quotes, no expansion).
pub fn parse_env_file(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim_start())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            if l.contains('=') {
                l.to_string()
            } else {
                l.trim_end().to_string()
            }
        })
        .collect()
}

/// Resolve `-e NAME` (no `=`) from the caller's environment: set when the
/// caller has it, dropped otherwise.
pub fn resolve_from_caller(
    entries: &[String],
    caller: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| {
            if e.contains('=') {
                Some(e.clone())
            } else {
                caller(e).map(|v| format!("{e}={v}"))
            }
        })
        .collect()
}

/// Set `entry` (`NAME=value`) in `env`, replacing an earlier value.
fn set(env: &mut Vec<String>, entry: String) {
    let name = entry.split('=').next().unwrap_or_default().to_string();
    let prefix = format!("{name}=");
    match env
        .iter_mut()
        .find(|e| e.starts_with(&prefix) || **e == name)
    {
        Some(slot) => *slot = entry,
        None => env.push(entry),
    }
}

fn has(env: &[String], name: &str) -> bool {
    let prefix = format!("{name}=");
    env.iter().any(|e| e.starts_with(&prefix))
}

/// The environment: the image's Env, PATH and HOSTNAME (and TERM with a
/// tty) when missing, HOME from the user, then the user's entries.
pub fn environment(
    config: Option<&Config>,
    user_env: &[String],
    hostname: &str,
    home: &str,
    tty: bool,
) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    if !user_env.iter().any(|e| e.starts_with("PATH="))
        && !config
            .and_then(|c| c.env().as_ref())
            .is_some_and(|e| has(e, "PATH"))
    {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    env.push(format!("HOSTNAME={hostname}"));
    if tty {
        env.push("TERM=xterm".into());
    }
    for e in config.and_then(|c| c.env().clone()).unwrap_or_default() {
        set(&mut env, e);
    }
    for e in user_env {
        set(&mut env, e.clone());
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

/// `-w` or the image's WorkingDir, else `/`; it must be absolute.
pub fn working_dir(config: Option<&Config>, flag: Option<&str>) -> anyhow::Result<String> {
    let dir = flag
        .map(str::to_string)
        .or_else(|| config.and_then(|c| c.working_dir().clone()))
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/".into());
    if !dir.starts_with('/') {
        bail!(
            "working directory {:?} is not an absolute path",
            escape_control(&dir)
        );
    }
    Ok(dir)
}

/// The ids and home of the container's user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).unwrap_or(&"/").to_string(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The largest id a user or group may have: 4294967295 is `(uid_t)-1`,
/// which setuid/setgid read as "leave unchanged", so the process would
/// keep root.
pub const MAX_ID: u32 = u32::MAX - 1;

/// Digits with an optional sign: meant as an id, not a name.
fn is_number(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn check_id(id: u32, what: &str) -> anyhow::Result<()> {
    if id > MAX_ID {
        bail!("{what} id {id} is out of range (0 to {MAX_ID})");
    }
    Ok(())
}

/// Resolve `user[:group]` (names or numbers) against the image's passwd
/// and group files, as runc does: a number not in passwd is fine (gid 0,
/// home /), a name that is not there is an error.
pub fn exec_user(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> anyhow::Result<ExecUser> {
    let users = passwd.map(parse_passwd).unwrap_or_default();
    let groups = group.map(parse_group).unwrap_or_default();
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = users.iter().find(|e| e.name == u).or_else(|| {
        u.parse::<u32>()
            .ok()
            .and_then(|n| users.iter().find(|e| e.uid == n))
    });
    let (uid, mut gid, home, name) = match (entry, u.parse::<u32>()) {
        (Some(e), _) => (e.uid, e.gid, e.home.clone(), Some(e.name.clone())),
        (None, Ok(n)) => (n, 0, "/".to_string(), None),
        (None, Err(_)) if is_number(u) => bail!(
            "user id {} is out of range (0 to {MAX_ID})",
            escape_control(u)
        ),
        (None, Err(_)) => bail!(
            "unable to find user {}: no matching entries in the image's /etc/passwd",
            escape_control(u)
        ),
    };
    check_id(uid, "user")?;
    let mut additional = Vec::new();
    match g {
        Some(g) if !g.is_empty() => {
            gid = match groups.iter().find(|e| e.name == g) {
                Some(e) => e.gid,
                None if is_number(g) && g.parse::<u32>().is_err() => {
                    bail!(
                        "group id {} is out of range (0 to {MAX_ID})",
                        escape_control(g)
                    )
                }
                None => g.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "unable to find group {}: no matching entries in the image's /etc/group",
                        escape_control(g)
                    )
                })?,
            };
        }
        _ => {
            // Supplementary groups come from /etc/group only when no group
            // was named, as in runc.
            if let Some(name) = &name {
                additional = groups
                    .iter()
                    .filter(|e| e.members.iter().any(|m| m == name) && e.gid != gid)
                    .map(|e| e.gid)
                    .collect();
            }
        }
    }
    check_id(gid, "group")?;
    // A bad entry in the image's /etc/group is not the user's doing.
    additional.retain(|g| *g != u32::MAX);
    Ok(ExecUser {
        uid,
        gid,
        additional_gids: additional,
        home,
    })
}

/// Read the image's passwd and group and resolve `user`. The files are
/// looked up inside the image: a symlinked /etc never reaches the host's.
pub fn exec_user_in_layers(user: &str, layers: &[PathBuf]) -> anyhow::Result<ExecUser> {
    let read = |rel: &str| {
        lookup::read_in_layers(layers, rel).with_context(|| format!("read the image's {rel}"))
    };
    exec_user(
        user,
        read("/etc/passwd")?.as_deref(),
        read("/etc/group")?.as_deref(),
    )
}

/// A user spec must name something; `""` means the image's default.
pub fn user_spec<'a>(config: Option<&'a Config>, flag: Option<&'a str>) -> &'a str {
    flag.filter(|u| !u.is_empty())
        .or_else(|| config.and_then(|c| c.user().as_deref()))
        .filter(|u| !u.is_empty())
        .unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::ConfigBuilder;

    fn cfg() -> Config {
        ConfigBuilder::default()
            .entrypoint(vec!["/entry".to_string()])
            .cmd(vec!["a".to_string(), "b".to_string()])
            .env(vec!["PATH=/img".to_string(), "A=1".to_string()])
            .working_dir("/srv")
            .user("app")
            .build()
            .unwrap()
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn entrypoint_and_cmd_like_docker() {
        let c = cfg();
        assert_eq!(
            command(Some(&c), None, &[]).unwrap(),
            s(&["/entry", "a", "b"])
        );
        assert_eq!(
            command(Some(&c), None, &s(&["x"])).unwrap(),
            s(&["/entry", "x"])
        );
        assert_eq!(command(Some(&c), Some("/sh"), &[]).unwrap(), s(&["/sh"]));
        assert_eq!(
            command(Some(&c), Some("/sh"), &s(&["-c", "y"])).unwrap(),
            s(&["/sh", "-c", "y"])
        );
        assert_eq!(
            command(Some(&c), Some(""), &s(&["ls"])).unwrap(),
            s(&["ls"])
        );
        assert!(command(None, None, &[]).is_err());
        assert!(command(Some(&c), Some(""), &[]).is_err());
    }

    #[test]
    fn env_layers_image_then_user() {
        let c = cfg();
        let env = environment(Some(&c), &s(&["A=2", "B=3"]), "h", "/home/app", true);
        assert_eq!(
            env,
            s(&[
                "HOSTNAME=h",
                "TERM=xterm",
                "PATH=/img",
                "A=2",
                "B=3",
                "HOME=/home/app"
            ])
        );
        let env = environment(None, &s(&["HOME=/x"]), "h", "/root", false);
        assert_eq!(
            env,
            s(&[&format!("PATH={DEFAULT_PATH}"), "HOSTNAME=h", "HOME=/x"])
        );
    }

    #[test]
    fn env_file_and_caller_names() {
        let parsed = parse_env_file("# c\n\nA=1\n  B\nC=x=y\n");
        assert_eq!(parsed, s(&["A=1", "B", "C=x=y"]));
        let got = resolve_from_caller(&parsed, |n| (n == "B").then(|| "from-caller".into()));
        assert_eq!(got, s(&["A=1", "B=from-caller", "C=x=y"]));
        let got = resolve_from_caller(&s(&["NOPE"]), |_| None);
        assert!(got.is_empty());
    }

    #[test]
    fn workdir_must_be_absolute() {
        let c = cfg();
        assert_eq!(working_dir(Some(&c), None).unwrap(), "/srv");
        assert_eq!(working_dir(Some(&c), Some("/w")).unwrap(), "/w");
        assert_eq!(working_dir(None, None).unwrap(), "/");
        assert!(working_dir(None, Some("rel")).is_err());
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:app,bob\napp:x:1000:\nstaff:x:50:\n";

    #[test]
    fn users_by_name_number_and_group() {
        let u = exec_user("app", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!(
            u,
            ExecUser {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![10],
                home: "/home/app".into()
            }
        );
        let u = exec_user("1000:staff", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids.len()), (1000, 50, 0));
        let u = exec_user("4242:7", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 7, "/"));
        let u = exec_user("0", None, None).unwrap();
        assert_eq!((u.uid, u.gid), (0, 0));
        let e = exec_user("nobody", Some(PASSWD), Some(GROUP)).unwrap_err();
        assert!(format!("{e}").contains("unable to find user nobody"), "{e}");
        let e = exec_user("app:nogroup", Some(PASSWD), Some(GROUP)).unwrap_err();
        assert!(
            format!("{e}").contains("unable to find group nogroup"),
            "{e}"
        );
    }

    #[test]
    fn ids_above_the_largest_are_refused() {
        for ok in ["0", "4294967294", "0:4294967294", "4294967294:0"] {
            assert!(exec_user(ok, Some(PASSWD), Some(GROUP)).is_ok(), "{ok}");
        }
        for bad in [
            "4294967295",
            "-1",
            "99999999999",
            "0:4294967295",
            "0:-1",
            "1000:99999999999",
        ] {
            let e = exec_user(bad, Some(PASSWD), Some(GROUP)).unwrap_err();
            assert!(format!("{e}").contains("out of range"), "{bad}: {e}");
        }
        // Nor from the image's own files.
        let passwd = "max:x:4294967295:0::/:/bin/sh\nmg:x:5:4294967295::/:/bin/sh\n";
        for name in ["max", "mg"] {
            let e = exec_user(name, Some(passwd), None).unwrap_err();
            assert!(format!("{e}").contains("out of range"), "{name}: {e}");
        }
    }

    #[test]
    fn user_default_from_image() {
        let c = cfg();
        assert_eq!(user_spec(Some(&c), None), "app");
        assert_eq!(user_spec(Some(&c), Some("0")), "0");
        assert_eq!(user_spec(None, None), "0");
    }

    #[test]
    fn users_are_looked_up_in_the_layers() {
        use std::fs;
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("top");
        let base = dir.path().join("base");
        fs::create_dir_all(top.join("etc")).unwrap();
        fs::create_dir_all(base.join("etc")).unwrap();
        fs::write(base.join("etc/passwd"), PASSWD).unwrap();
        fs::write(base.join("etc/group"), GROUP).unwrap();
        fs::write(top.join("etc/group"), "g:x:5:app\n").unwrap();
        let layers = vec![top.clone(), base.clone()];
        let u = exec_user_in_layers("app", &layers).unwrap();
        assert_eq!((u.uid, u.additional_gids), (1000, vec![5]));
    }
}
