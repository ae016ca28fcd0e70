//! `burrow compose config`: the compose model as Compose v2 prints it,
//! and one clear line for each kind of bad file. The files are checked
//! against the compose-spec schema in ../shared/conformance (never
//! copied into this repository).

use std::path::{Path, PathBuf};

use crate::common::*;

/// The compose-spec schema beside the clone.
fn schema() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/compose-spec/compose-spec.json");
    if p.is_file() {
        Some(p)
    } else {
        skip(&format!("no compose schema at {}", p.display()));
        None
    }
}

/// `burrow compose ARGS` in `dir`, with the schema (or without: `None`)
/// and extra environment.
fn compose_in(
    env: &TestEnv,
    dir: &Path,
    schema: Option<&Path>,
    vars: &[(&str, &str)],
    args: &[&str],
) -> Outcome {
    let mut all = vec![];
    if let Some(s) = schema {
        all.push(("BURROW_COMPOSE_SCHEMA", s.to_str().unwrap()));
    }
    all.extend_from_slice(vars);
    let mut cmd = env.command(burrow_bin(), &all);
    cmd.current_dir(dir).arg("compose").args(args);
    run(cmd, args, None)
}

fn project(env: &TestEnv, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = env.mkdir(name);
    for (f, text) in files {
        if let Some(parent) = Path::new(f).parent().filter(|p| !p.as_os_str().is_empty()) {
            env.mkdir(&format!("{name}/{}", parent.display()));
        }
        env.write(&format!("{name}/{f}"), text.as_bytes());
    }
    dir
}

const EVERY_FORM: &str = r#"x-base: &base
  restart: unless-stopped
  labels:
    tier: ${TIER:-front}
services:
  web:
    <<: *base
    image: "nginx:${TAG:-1.25}"
    command: nginx -g 'daemon off;'
    ports:
      - "${PORT-8080}:80"
      - "127.0.0.1:9000:9000/udp"
    environment:
      - REQUIRED=${GREETING:?say hello}
      - REQUIRED_SET=${GREETING?say hello}
      - ALT=${MODE:+mode is set}
      - ALT_EMPTY=${EMPTY:+never}
      - ALT_SET=${EMPTY+empty but set}
      - DASH=${EMPTY-unused}
      - COLON_DASH=${EMPTY:-the default}
      - PLAIN=$GREETING
      - DOLLARS=$$HOME costs $$5
      - NESTED=${UNSET:-${GREETING}-nested}
      - FROM_CALLER
    depends_on: [app]
  app:
    build: ./app
    volumes:
      - ./data:/data:ro
      - db:/var/lib/db
    env_file: app.env
    healthcheck:
      test: ["CMD", "true"]
      interval: 10s
volumes:
  db:
"#;

#[test]
fn config_prints_the_normalised_model_with_every_interpolation_form() {
    let Some(schema) = schema() else { return };
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let dir = project(
        &env,
        "My.Shop",
        &[
            ("compose.yaml", EVERY_FORM),
            (
                "compose.override.yaml",
                "services:\n  web:\n    ports: [\"8443:443\"]\n",
            ),
            (".env", "GREETING=hello\nMODE=on\nEMPTY=\nTAG=from-dotenv\n"),
            ("app.env", "DB=pg\n"),
        ],
    );
    // The environment wins over .env.
    let out = compose_in(
        &env,
        &dir,
        Some(&schema),
        &[("TAG", "1.27"), ("FROM_CALLER", "passed on")],
        &["config"],
    );
    out.ok();
    let d = dir.display();
    let want = format!(
        r#"name: myshop
services:
  app:
    build:
      context: {d}/app
      dockerfile: Dockerfile
    environment:
      DB: pg
    healthcheck:
      test:
        - CMD
        - "true"
      interval: 10s
    networks:
      default: null
    volumes:
      - type: bind
        source: {d}/data
        target: /data
        read_only: true
        bind:
          create_host_path: true
      - type: volume
        source: db
        target: /var/lib/db
        volume: {{}}
  web:
    command:
      - nginx
      - -g
      - daemon off;
    depends_on:
      app:
        condition: service_started
        required: true
    environment:
      ALT: mode is set
      ALT_EMPTY: ""
      ALT_SET: empty but set
      COLON_DASH: the default
      DASH: ""
      DOLLARS: $HOME costs $5
      FROM_CALLER: passed on
      NESTED: hello-nested
      PLAIN: hello
      REQUIRED: hello
      REQUIRED_SET: hello
    image: nginx:1.27
    labels:
      tier: front
    networks:
      default: null
    ports:
      - mode: ingress
        target: 80
        published: "8080"
        protocol: tcp
      - mode: ingress
        host_ip: 127.0.0.1
        target: 9000
        published: "9000"
        protocol: udp
      - mode: ingress
        target: 443
        published: "8443"
        protocol: tcp
    restart: unless-stopped
networks:
  default:
    name: myshop_default
volumes:
  db:
    name: myshop_db
x-base:
  restart: unless-stopped
  labels:
    tier: front
"#
    );
    assert_eq!(out.stdout, want);
    assert_eq!(out.stderr, "");
    // JSON carries the same model; --services lists the names.
    let out = compose_in(
        &env,
        &dir,
        Some(&schema),
        &[],
        &["config", "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(&out.ok().stdout).unwrap();
    assert_eq!(v["services"]["web"]["image"], "nginx:from-dotenv");
    let out = compose_in(&env, &dir, Some(&schema), &[], &["config", "--services"]);
    assert_eq!(out.ok().stdout, "app\nweb\n");
}

#[test]
fn files_merge_in_order_and_name_the_project() {
    let Some(schema) = schema() else { return };
    let Some(env) = TestEnv::new(User::Sub) else {
        return;
    };
    let dir = project(
        &env,
        "merge",
        &[
            (
                "base.yml",
                "services:\n  a:\n    image: one\n    environment: {A: \"1\", B: \"1\"}\n    command: [x, y]\n    ports: [\"80\"]\n",
            ),
            (
                "prod.yml",
                "name: from-file\nservices:\n  a:\n    image: two\n    environment: [B=2, C=3]\n    command: z\n    ports: [\"80\", \"81\"]\n",
            ),
            ("other.env", "COMPOSE_PROJECT_NAME=from-env-file\n"),
        ],
    );
    let json =
        |out: &Outcome| -> serde_json::Value { serde_json::from_str(&out.ok().stdout).unwrap() };
    let args = [
        "-f", "base.yml", "-f", "prod.yml", "config", "--format", "json",
    ];
    let v = json(&compose_in(&env, &dir, Some(&schema), &[], &args));
    assert_eq!(v["name"], "from-file");
    let a = &v["services"]["a"];
    assert_eq!(a["image"], "two");
    assert_eq!(a["command"], serde_json::json!(["z"]));
    assert_eq!(
        a["environment"],
        serde_json::json!({"A": "1", "B": "2", "C": "3"})
    );
    assert_eq!(a["ports"].as_array().unwrap().len(), 2);
    // --env-file, then -p, rank above the file's name.
    let mut with_env = vec!["--env-file", "other.env"];
    with_env.extend_from_slice(&args);
    let v = json(&compose_in(&env, &dir, Some(&schema), &[], &with_env));
    assert_eq!(v["name"], "from-env-file");
    let mut with_p = vec!["-p", "given"];
    with_p.extend_from_slice(&with_env);
    let v = json(&compose_in(&env, &dir, Some(&schema), &[], &with_p));
    assert_eq!(v["name"], "given");
    assert_eq!(v["networks"]["default"]["name"], "given_default");
    let out = compose_in(
        &env,
        &dir,
        Some(&schema),
        &[],
        &["-p", "Bad Name", "-f", "base.yml", "config"],
    );
    out.fails(125);
    assert!(
        out.stderr
            .starts_with("burrow: invalid project name \"Bad Name\""),
        "{}",
        out.describe()
    );
    // Found in a parent directory, as Compose looks there too.
    let sub = env.mkdir("merge/deeper/still");
    env.write("merge/compose.yml", b"services:\n  up:\n    image: found\n");
    let out = compose_in(&env, &sub, Some(&schema), &[], &["config", "--services"]);
    assert_eq!(out.ok().stdout, "up\n");
}

#[test]
fn extends_include_and_profiles() {
    let Some(schema) = schema() else { return };
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let dir = project(
        &env,
        "parts",
        &[
            (
                "compose.yaml",
                "include:\n  - lib/db.yaml\nservices:\n  web:\n    extends:\n      file: common.yaml\n      service: base\n    environment: [OWN=1]\n  worker:\n    extends: web\n    command: work\n  debug:\n    image: busybox\n    profiles: [debug]\n",
            ),
            (
                "common.yaml",
                "services:\n  base:\n    image: base-img\n    environment: [FROM_BASE=1]\n    volumes: [\"./shared:/shared\"]\n",
            ),
            (
                "lib/db.yaml",
                "services:\n  db:\n    image: postgres:${PG:-16}\n    volumes: [\"./init:/docker-entrypoint-initdb.d\"]\n",
            ),
        ],
    );
    let config = |args: &[&str]| -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend_from_slice(&["config", "--format", "json"]);
        let out = compose_in(&env, &dir, Some(&schema), &[], &all);
        serde_json::from_str(&out.ok().stdout).unwrap()
    };
    let v = config(&[]);
    let s = &v["services"];
    let names: Vec<&String> = s.as_object().unwrap().keys().collect();
    assert_eq!(names, ["db", "web", "worker"]);
    assert_eq!(s["web"]["image"], "base-img");
    assert_eq!(
        s["web"]["environment"],
        serde_json::json!({"FROM_BASE": "1", "OWN": "1"})
    );
    // The base's relative path is its own file's.
    assert_eq!(
        s["web"]["volumes"][0]["source"],
        dir.join("shared").display().to_string()
    );
    assert_eq!(s["worker"]["command"], serde_json::json!(["work"]));
    assert_eq!(s["worker"]["image"], "base-img");
    // The included file's paths are relative to its own directory.
    assert_eq!(s["db"]["image"], "postgres:16");
    assert_eq!(
        s["db"]["volumes"][0]["source"],
        dir.join("lib/init").display().to_string()
    );
    let v = config(&["--profile", "debug"]);
    assert_eq!(v["services"]["debug"]["image"], "busybox");
    // A service both define is refused.
    env.write(
        "parts/lib/db.yaml",
        b"services:\n  web:\n    image: clash\n",
    );
    let out = compose_in(&env, &dir, Some(&schema), &[], &["config"]);
    out.fails(125);
    assert!(
        out.stderr
            .contains("services.web conflicts with imported resource"),
        "{}",
        out.describe()
    );
}

#[test]
fn bad_files_get_one_line_naming_the_file_path_and_problem() {
    let Some(schema) = schema() else { return };
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let cases: &[(&str, &str, &str)] = &[
        (
            "unknown-key.yaml",
            "services:\n  web:\n    image: x\n    prots: [\"80\"]\n",
            "unknown-key.yaml: services.web: additional property \"prots\" is not allowed",
        ),
        (
            "wrong-type.yaml",
            "services:\n  web:\n    image: x\n    ports: {a: 1}\n",
            "wrong-type.yaml: services.web.ports: must be a list",
        ),
        (
            "required.yaml",
            "services:\n  web:\n    image: \"${IMAGE:?name the image}\"\n",
            "required.yaml: services.web.image: required variable IMAGE is missing a value: name the image",
        ),
        (
            "bad-dollar.yaml",
            "services:\n  web:\n    image: x\n    command: echo $ 5\n",
            "bad-dollar.yaml: invalid interpolation format for services.web.command",
        ),
        (
            "cycle.yaml",
            "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
            "dependency cycle detected: a -> b -> a",
        ),
        (
            "not-yaml.yaml",
            "services:\n  web: [unclosed\n",
            "not-yaml.yaml: line 3, column 1",
        ),
    ];
    let dir = env.mkdir("bad");
    for (file, text, want) in cases {
        env.write(&format!("bad/{file}"), text.as_bytes());
        let out = compose_in(&env, &dir, Some(&schema), &[], &["-f", file, "config"]);
        out.fails(125);
        assert_eq!(out.stdout, "", "{file}");
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
        assert!(out.stderr.starts_with("burrow: "), "{}", out.describe());
        assert!(out.stderr.contains(want), "{file}: {}", out.describe());
    }
    // Without the schema, burrow's own check still names the key.
    let out = compose_in(&env, &dir, None, &[], &["-f", "unknown-key.yaml", "config"]);
    out.fails(125);
    assert!(
        out.stderr
            .contains("services.web: additional property \"prots\" is not allowed"),
        "{}",
        out.describe()
    );
    // No file at all.
    let empty = env.mkdir("empty");
    let out = compose_in(&env, &empty, Some(&schema), &[], &["config"]);
    out.fails(125);
    assert!(
        out.stderr.contains("no configuration file provided"),
        "{}",
        out.describe()
    );
}

#[test]
fn compose_help_lists_only_what_is_built() {
    let Some(env) = TestEnv::new(User::NoSub) else {
        return;
    };
    let out = env.burrow(&["compose", "--help"]);
    let text = out.ok().stdout.clone();
    let commands: Vec<&str> = text
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        [
            "config", "up", "down", "ps", "logs", "stop", "start", "restart", "kill", "rm", "exec",
            "run", "top", "port", "images", "ls", "build", "pull", "push"
        ]
    );
    let out = env.burrow(&["compose", "attach"]);
    out.fails(125);
    assert!(
        out.stderr.contains("unrecognized subcommand 'attach'"),
        "{}",
        out.describe()
    );
}
