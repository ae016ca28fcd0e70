//! `burrow compose up`/`down` and the verbs on a project's containers, as
//! both test users: a three-service app (a web front end answering on a
//! published port, an app built from a Dockerfile, a database with a
//! named volume and a health check) that keeps its data across down/up
//! and loses it with `down -v`; depends_on conditions; a second `up`
//! that touches nothing and a changed service recreated alone; prefixed
//! logs; bad files and failures that start nothing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use crate::run::ready;

fn both(test: impl Fn(&TestEnv, &str)) {
    for user in [User::Sub, User::NoSub] {
        let Some((env, img)) = ready(user) else {
            return;
        };
        test(&env, &img);
    }
}

/// The compose-spec schema beside the clone, when it is there (without
/// it burrow checks keys and types itself).
fn schema() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/compose-spec/compose-spec.json");
    p.is_file().then_some(p)
}

/// `burrow --root STORE compose ARGS` in `dir`, with `IMG` set.
fn compose(env: &TestEnv, dir: &Path, img: &str, args: &[&str]) -> Outcome {
    let schema = schema();
    let mut vars = vec![("IMG", img)];
    if let Some(s) = &schema {
        vars.push(("BURROW_COMPOSE_SCHEMA", s.to_str().unwrap()));
    }
    let mut cmd = env.command(burrow_bin(), &vars);
    cmd.current_dir(dir)
        .arg("--root")
        .arg(env.root())
        .arg("compose")
        .args(args);
    run(cmd, args, None)
}

/// A project dir `name` holding `files`.
fn project(env: &TestEnv, name: &str, files: &[(&str, String)]) -> PathBuf {
    let dir = env.mkdir(name);
    for (f, text) in files {
        if let Some(parent) = Path::new(f).parent().filter(|p| !p.as_os_str().is_empty()) {
            env.mkdir(&format!("{name}/{}", parent.display()));
        }
        env.write(&format!("{name}/{f}"), text.as_bytes());
    }
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET / on 127.0.0.1:port, retried while the server starts.
fn get(port: u16) -> String {
    for _ in 0..50 {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "2"])
            .arg(format!("http://127.0.0.1:{port}/"))
            .output()
            .unwrap();
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("nothing answers on 127.0.0.1:{port}");
}

/// `NAME ID` of every container of the store, sorted.
fn containers(env: &TestEnv) -> Vec<String> {
    let out = env.burrow(&["ps", "-a", "--no-trunc", "--format", "{{.Names}} {{.ID}}"]);
    out.ok();
    let mut v: Vec<String> = out.stdout.lines().map(String::from).collect();
    v.sort();
    v
}

fn volumes(env: &TestEnv) -> Vec<String> {
    let out = env.burrow(&["volume", "ls", "-q"]);
    out.ok();
    out.stdout.lines().map(String::from).collect()
}

/// The three-service app: `web` serves a page on `port`, `app` is built
/// (with a RUN step) and waits for `db` to be healthy, `db` keeps its data
/// in the named volume `data`.
fn three_services(img: &str, port: u16, app_env: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "compose.yaml",
            format!(
                r#"services:
  web:
    image: ${{IMG}}
    command: sh -c 'mkdir -p /www && echo hello from web > /www/index.html && exec httpd -f -p 80 -h /www'
    ports: ["127.0.0.1:{port}:80"]
    depends_on: [app]
  app:
    build: ./app
    environment:
      MODE: {app_env}
    depends_on:
      db: {{condition: service_healthy}}
  db:
    image: ${{IMG}}
    command: sh -c 'echo db starting; touch /data/ready; exec sleep 1000'
    volumes: [data:/data]
    healthcheck:
      test: ["CMD", "test", "-f", "/data/ready"]
      interval: 200ms
volumes:
  data:
"#
            ),
        ),
        (
            "app/Dockerfile",
            format!(
                "FROM {img}\nRUN echo built > /built\n\
                 CMD [\"sh\", \"-c\", \"echo app $MODE $(cat /built); exec sleep 1000\"]\n"
            ),
        ),
    ]
}

#[test]
fn three_services_come_up_keep_their_data_and_lose_it_with_down_v() {
    both(|env, img| {
        let port = free_port();
        let dir = project(env, "shop", &three_services(img, port, "one"));
        let up = compose(env, &dir, img, &["up", "-d", "--wait"]);
        up.ok();
        assert!(
            up.stderr.contains("Container shop-db-1  Healthy"),
            "{}",
            up.describe()
        );
        assert_eq!(get(port), "hello from web\n");
        let first = containers(env);
        let names: Vec<&str> = first.iter().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(names, ["shop-app-1", "shop-db-1", "shop-web-1"]);
        // Compose's labels, which `ps --filter` sees.
        let out = env.burrow(&[
            "ps",
            "--filter",
            "label=com.docker.compose.service=db",
            "--filter",
            "label=com.docker.compose.project=shop",
            "--format",
            "{{.Names}}",
        ]);
        assert_eq!(out.ok().stdout, "shop-db-1\n");
        let ps = compose(env, &dir, img, &["ps"]);
        assert!(ps.ok().stdout.contains("(healthy)"), "{}", ps.describe());
        assert!(
            ps.stdout.contains(&format!("127.0.0.1:{port}->80/tcp")),
            "{}",
            ps.describe()
        );
        // The built image ran, and logs are prefixed by container.
        let logs = compose(env, &dir, img, &["logs", "--no-color"]);
        logs.ok();
        assert!(
            logs.stdout.contains("app-1 | app one built\n"),
            "{}",
            logs.describe()
        );
        assert!(
            logs.stdout.contains("db-1  | db starting\n"),
            "{}",
            logs.describe()
        );
        let port_out = compose(env, &dir, img, &["port", "web", "80"]);
        assert_eq!(port_out.ok().stdout.trim(), format!("127.0.0.1:{port}"));

        // A second `up` with no change touches nothing.
        compose(env, &dir, img, &["up", "-d", "--wait"]).ok();
        assert_eq!(containers(env), first);
        // A changed service is recreated, alone.
        for (f, text) in three_services(img, port, "two") {
            env.write(&format!("shop/{f}"), text.as_bytes());
        }
        compose(env, &dir, img, &["up", "-d", "--wait"]).ok();
        let second = containers(env);
        assert_ne!(second[0], first[0], "app kept its container");
        assert_eq!(second[1..], first[1..], "db or web was recreated");

        // Data in the named volume lives through down and up...
        compose(
            env,
            &dir,
            img,
            &["exec", "-T", "db", "sh", "-c", "echo kept > /data/file"],
        )
        .ok();
        compose(env, &dir, img, &["down"]).ok();
        assert!(containers(env).is_empty());
        assert_eq!(volumes(env), ["shop_data"]);
        compose(env, &dir, img, &["up", "-d", "--wait"]).ok();
        let cat = compose(env, &dir, img, &["exec", "-T", "db", "cat", "/data/file"]);
        assert_eq!(cat.ok().stdout, "kept\n");
        // ... and not through down -v.
        compose(env, &dir, img, &["down", "-v"]).ok();
        assert!(volumes(env).is_empty());
        compose(env, &dir, img, &["up", "-d", "--wait"]).ok();
        let cat = compose(env, &dir, img, &["exec", "-T", "db", "cat", "/data/file"]);
        assert_eq!(cat.code, 1, "{}", cat.describe());
        compose(env, &dir, img, &["down", "-v", "--rmi", "local"]).ok();
        assert!(containers(env).is_empty());
        assert!(volumes(env).is_empty());
        let images = env.burrow(&["images", "--format", "{{.Repository}}"]);
        assert!(
            !images.ok().stdout.contains("shop-app"),
            "{}",
            images.describe()
        );
    });
}

#[test]
fn service_healthy_waits_and_an_unhealthy_dependency_starts_nothing() {
    both(|env, img| {
        // db becomes healthy a second after it starts; app looks whether
        // it already is when it starts.
        let dir = project(
            env,
            "order",
            &[(
                "compose.yaml",
                r#"services:
  db:
    image: ${IMG}
    command: sh -c 'sleep 1; touch /shared/ready; exec sleep 1000'
    volumes: [./shared:/shared]
    healthcheck: {test: ["CMD", "test", "-f", "/shared/ready"], interval: 100ms, retries: 50}
  app:
    image: ${IMG}
    command: sh -c 'test -f /shared/ready && echo saw ready || echo too early; exec sleep 1000'
    volumes: [./shared:/shared]
    depends_on: {db: {condition: service_healthy}}
  once:
    image: ${IMG}
    command: sh -c 'echo done once'
  after:
    image: ${IMG}
    command: sleep 1000
    depends_on: {once: {condition: service_completed_successfully}}
"#
                .to_string(),
            )],
        );
        env.mkdir("order/shared");
        compose(env, &dir, img, &["up", "-d", "--wait", "app", "after"]).ok();
        let logs = compose(env, &dir, img, &["logs", "--no-log-prefix", "app"]);
        assert_eq!(logs.ok().stdout, "saw ready\n");
        compose(env, &dir, img, &["down", "-t", "0"]).ok();
        assert!(containers(env).is_empty());

        // A dependency that never gets healthy: one line, nothing left.
        let dir = project(
            env,
            "sick",
            &[(
                "compose.yaml",
                r#"services:
  db:
    image: ${IMG}
    command: sleep 1000
    healthcheck: {test: ["CMD", "false"], interval: 100ms, retries: 2}
  app:
    image: ${IMG}
    command: sleep 1000
    depends_on: {db: {condition: service_healthy}}
"#
                .to_string(),
            )],
        );
        let out = compose(env, &dir, img, &["up", "-d"]);
        assert_eq!(out.code, 125, "{}", out.describe());
        assert_eq!(
            out.stderr.lines().last().unwrap(),
            "burrow: service \"app\": dependency failed to start: container sick-db-1 is unhealthy"
        );
        assert!(containers(env).is_empty(), "{:?}", containers(env));
    });
}

/// Each bad file or failing step: exit 125 (a failed build: 1, as `build`
/// and Compose), its last stderr line the one `burrow: ` line naming the
/// problem, and no container or volume left.
#[test]
fn bad_files_and_failures_start_nothing() {
    both(|env, img| {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = held.local_addr().unwrap().port();
        let cases: Vec<(&str, String, Option<String>, &str)> = vec![
            (
                "port",
                format!(
                    "services:\n  first:\n    image: ${{IMG}}\n    command: sleep 1000\n    \
                     volumes: [v:/v]\n  second:\n    image: ${{IMG}}\n    command: sleep 1000\n    \
                     ports: [\"127.0.0.1:{busy}:80\"]\n    depends_on: [first]\nvolumes:\n  v:\n"
                ),
                None,
                "service \"second\": cannot publish port",
            ),
            (
                "build",
                "services:\n  ok:\n    image: ${IMG}\n    command: sleep 1000\n    volumes: [v:/v]\n  \
                 broken:\n    build: .\nvolumes:\n  v:\n"
                    .to_string(),
                Some(format!("FROM {img}\nRUN exit 3\n")),
                "service \"broken\": build failed: Dockerfile:2: The command '/bin/sh -c exit 3' returned a non-zero code: 3",
            ),
            (
                "cycle",
                "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n"
                    .to_string(),
                None,
                "dependency cycle",
            ),
            (
                "var",
                "services:\n  a:\n    image: \"x:${TAG:?set TAG to the tag}\"\n".to_string(),
                None,
                "required variable TAG is missing a value: set TAG to the tag",
            ),
            (
                "unknown",
                "services:\n  a: {image: x, colour: red}\n".to_string(),
                None,
                "colour",
            ),
            (
                "type",
                "services:\n  a: {image: x, ports: 80}\n".to_string(),
                None,
                "services.a.ports",
            ),
        ];
        for (name, file, dockerfile, want) in cases {
            let mut files = vec![("compose.yaml", file)];
            if let Some(d) = dockerfile {
                files.push(("Dockerfile", d));
            }
            let dir = project(env, name, &files);
            let out = compose(env, &dir, img, &["up", "-d"]);
            let code = if name == "build" { 1 } else { 125 };
            assert_eq!(out.code, code, "{name}: {}", out.describe());
            let errors: Vec<&str> = out
                .stderr
                .lines()
                .filter(|l| l.starts_with("burrow: "))
                .collect();
            assert_eq!(errors.len(), 1, "{name}: {}", out.describe());
            assert_eq!(out.stderr.lines().last(), Some(errors[0]));
            assert!(errors[0].contains(want), "{name}: {}", out.describe());
            assert!(containers(env).is_empty(), "{name}: {:?}", containers(env));
            assert!(volumes(env).is_empty(), "{name}: {:?}", volumes(env));
        }
        drop(held);
    });
}

#[test]
fn scale_gives_replicas_and_logs_follow_them_all() {
    both(|env, img| {
        let dir = project(
            env,
            "scaled",
            &[(
                "compose.yaml",
                r#"services:
  worker:
    image: ${IMG}
    command: sh -c 'echo started; sleep 1; echo tick; sleep 1000'
  other:
    image: ${IMG}
    command: sh -c 'sleep 1; echo other tick; sleep 1000'
"#
                .to_string(),
            )],
        );
        compose(env, &dir, img, &["up", "-d", "--scale", "worker=2"]).ok();
        let ps = compose(env, &dir, img, &["ps", "--format", "json"]);
        let names: Vec<String> = ps
            .ok()
            .stdout
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["Name"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            ["scaled-other-1", "scaled-worker-1", "scaled-worker-2"]
        );
        // logs -f follows every container until they end (stopped here
        // from another command).
        let mut cmd = env.command(burrow_bin(), &[]);
        cmd.current_dir(&dir)
            .arg("--root")
            .arg(env.root())
            .args(["compose", "logs", "-f", "--no-color"])
            .stdout(std::process::Stdio::piped());
        let child = cmd.spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2500));
        compose(env, &dir, img, &["stop", "-t", "0"]).ok();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        for line in [
            "worker-1 | tick",
            "worker-2 | tick",
            "other-1  | other tick",
        ] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }
        // Scaled down, the extra replica goes.
        compose(env, &dir, img, &["up", "-d", "--scale", "worker=1"]).ok();
        let ps = compose(env, &dir, img, &["ps", "-q", "worker"]);
        assert_eq!(ps.ok().stdout.lines().count(), 1);
        compose(env, &dir, img, &["down", "-t", "0"]).ok();
        assert!(containers(env).is_empty());
    });
}

/// Regression: `up` runs out of the containers' reach (crate::exe) when
/// the user can write the burrow binary (~/.cargo/bin/burrow), from a
/// mount or memfd whose path no other process can open; a RUN step
/// started burrow by that path and every build failed with "Permission
/// denied".
#[test]
fn up_builds_with_a_burrow_binary_the_user_owns() {
    both(|env, img| {
        let own = env.dir().join("burrow");
        std::fs::copy(burrow_bin(), &own).unwrap();
        env.user.chown(&own);
        let dir = project(
            env,
            "owned",
            &[
                (
                    "compose.yaml",
                    "services:\n  app:\n    build: .\n    command: sleep 1000\n".to_string(),
                ),
                ("Dockerfile", format!("FROM {img}\nRUN echo ran > /ran\n")),
            ],
        );
        let mut cmd = env.command(&own, &[]);
        cmd.current_dir(&dir)
            .arg("--root")
            .arg(env.root())
            .args(["compose", "up", "-d"]);
        run(cmd, &["compose", "up", "-d"], None).ok();
        let cat = compose(env, &dir, img, &["exec", "-T", "app", "cat", "/ran"]);
        assert_eq!(cat.ok().stdout, "ran\n");
        compose(env, &dir, img, &["down", "-t", "0", "--rmi", "local"]).ok();
    });
}

/// Each project gets `<project>_default`, services join it under their
/// name and aliases, so they reach each other by name; two replicas
/// both reach and are reached; `down` removes the network.
#[test]
fn services_reach_each_other_by_name_on_the_projects_network() {
    both(|env, img| {
        let dir = project(
            env,
            "named",
            &[(
                "compose.yaml",
                r#"services:
  web:
    image: ${IMG}
    command: sh -c 'mkdir -p /www && echo hello by name > /www/index.html && exec httpd -f -p 80 -h /www'
    networks:
      default:
        aliases: [front]
  client:
    image: ${IMG}
    command: sleep 1000
"#
                .to_string(),
            )],
        );
        compose(
            env,
            &dir,
            img,
            &["up", "-d", "--wait", "--scale", "client=2"],
        )
        .ok();
        let nets = env.burrow(&["network", "ls", "--format", "{{.Name}}"]);
        assert!(
            nets.ok().stdout.lines().any(|l| l == "named_default"),
            "{}",
            nets.describe()
        );
        for index in ["1", "2"] {
            for host in ["web", "front"] {
                let mut got = String::new();
                // The server may take a moment to listen.
                for _ in 0..50 {
                    let out = compose(
                        env,
                        &dir,
                        img,
                        &[
                            "exec",
                            "-T",
                            "--index",
                            index,
                            "client",
                            "wget",
                            "-qO-",
                            &format!("http://{host}/"),
                        ],
                    );
                    got = out.stdout.clone();
                    if out.code == 0 {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                assert_eq!(got, "hello by name\n", "client {index} -> {host}");
            }
        }
        // The replicas are known by the service's name and their own.
        for name in ["client", "named-client-2"] {
            let out = compose(env, &dir, img, &["exec", "-T", "web", "nslookup", name]);
            assert!(
                out.ok().stdout.contains("Address: 10."),
                "{name}: {}",
                out.describe()
            );
        }
        compose(env, &dir, img, &["down", "-t", "0"]).ok();
        let nets = env.burrow(&["network", "ls", "--format", "{{.Name}}"]);
        assert!(
            !nets.ok().stdout.contains("named_default"),
            "{}",
            nets.describe()
        );
    });
}

/// A service on two networks is reached from both; services on only one
/// of them do not see each other (Compose's front/back tiers).
#[test]
fn a_service_on_two_networks_bridges_tiers_that_stay_apart() {
    both(|env, img| {
        let dir = project(
            env,
            "tiers",
            &[(
                "compose.yaml",
                r#"services:
  front:
    image: ${IMG}
    command: sleep 1000
    networks: [fe]
  middle:
    image: ${IMG}
    command: sh -c 'mkdir -p /www && echo middle > /www/index.html && exec httpd -f -p 80 -h /www'
    networks: [fe, be]
  back:
    image: ${IMG}
    command: sleep 1000
    networks: [be]
networks:
  fe:
  be:
"#
                .to_string(),
            )],
        );
        compose(env, &dir, img, &["up", "-d", "--wait"]).ok();
        for from in ["front", "back"] {
            let mut got = String::new();
            for _ in 0..50 {
                let out = compose(
                    env,
                    &dir,
                    img,
                    &["exec", "-T", from, "wget", "-qO-", "http://middle/"],
                );
                got = out.stdout.clone();
                if out.code == 0 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            assert_eq!(got, "middle\n", "{from} -> middle");
        }
        let out = compose(env, &dir, img, &["exec", "-T", "back", "nslookup", "front"]);
        assert_ne!(out.code, 0, "back resolves front: {}", out.describe());
        compose(env, &dir, img, &["down", "-t", "0"]).ok();
        let nets = env.burrow(&["network", "ls", "--format", "{{.Name}}"]);
        assert!(!nets.ok().stdout.contains("tiers_"), "{}", nets.describe());
    });
}

/// `depends_on: {db: {restart: true}}`: `compose restart db` restarts the
/// service that says so, and not one that depends on db without it.
#[test]
fn restart_of_a_dependency_restarts_the_services_that_ask_for_it() {
    both(|env, img| {
        let dir = project(
            env,
            "chain",
            &[(
                "compose.yaml",
                r#"services:
  db:
    image: ${IMG}
    init: true
    command: sleep 1000
  app:
    image: ${IMG}
    init: true
    command: sleep 1000
    depends_on: {db: {condition: service_started, restart: true}}
  other:
    image: ${IMG}
    init: true
    command: sleep 1000
    depends_on: [db]
"#
                .into(),
            )],
        );
        compose(env, &dir, img, &["up", "-d", "--wait"]).ok();
        let started = |name: &str| {
            let out = env.burrow(&["inspect", "--format", "{{.State.StartedAt}}", name]);
            out.ok();
            out.stdout.trim().to_string()
        };
        let before: Vec<String> = ["db", "app", "other"]
            .iter()
            .map(|s| started(&format!("chain-{s}-1")))
            .collect();
        // StartedAt counts whole seconds.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        compose(env, &dir, img, &["restart", "db"]).ok();
        let after: Vec<String> = ["db", "app", "other"]
            .iter()
            .map(|s| started(&format!("chain-{s}-1")))
            .collect();
        assert_ne!(before[0], after[0], "db was not restarted");
        assert_ne!(before[1], after[1], "app (restart: true) was not restarted");
        assert_eq!(before[2], after[2], "other (no restart) was restarted");
        compose(env, &dir, img, &["down"]).ok();
    });
}

/// `up` recreating a dependency (its config changed) restarts the service
/// whose `depends_on` says `restart: true`, and leaves one that does not.
#[test]
fn up_recreating_a_dependency_restarts_the_services_that_ask_for_it() {
    let Some((env, img)) = ready(User::Sub) else {
        return;
    };
    let file = |db_cmd: &str| {
        format!(
            r#"services:
  db:
    image: ${{IMG}}
    init: true
    command: {db_cmd}
  app:
    image: ${{IMG}}
    init: true
    command: sleep 1000
    depends_on: {{db: {{condition: service_started, restart: true}}}}
  other:
    image: ${{IMG}}
    init: true
    command: sleep 1000
    depends_on: [db]
"#
        )
    };
    let dir = project(&env, "rechain", &[("compose.yaml", file("sleep 1000"))]);
    compose(&env, &dir, &img, &["up", "-d", "--wait"]).ok();
    let started = |name: &str| {
        let out = env.burrow(&["inspect", "--format", "{{.State.StartedAt}}", name]);
        out.ok();
        out.stdout.trim().to_string()
    };
    let names = ["rechain-db-1", "rechain-app-1", "rechain-other-1"];
    let before: Vec<String> = names.iter().map(|n| started(n)).collect();
    // StartedAt counts whole seconds.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.write("rechain/compose.yaml", file("sleep 999").as_bytes());
    let up = compose(&env, &dir, &img, &["up", "-d", "--wait"]);
    up.ok();
    assert!(
        up.stderr.contains("rechain-app-1  Restarted"),
        "{}",
        up.stderr
    );
    let after: Vec<String> = names.iter().map(|n| started(n)).collect();
    assert_ne!(before[0], after[0], "db was not recreated");
    assert_ne!(before[1], after[1], "app (restart: true) was not restarted");
    assert_eq!(before[2], after[2], "other (no restart) was restarted");
    compose(&env, &dir, &img, &["down"]).ok();
}
