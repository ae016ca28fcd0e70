//! `burrow build` of multi-stage Dockerfiles: only the stages the target
//! needs run, independent stages both run (at the same time: the
//! scheduler's unit tests show that without a clock), and what
//! `--progress` prints, as both test users.

use crate::common::*;

fn setup(user: User) -> Option<(TestEnv, String, String)> {
    let env = TestEnv::new(user)?;
    let img = registry().image("busybox");
    env.burrow(&["pull", "-q", &img]).ok();
    env.mkdir("ctx");
    let ctx = env.dir().join("ctx").display().to_string();
    Some((env, img, ctx))
}

/// The numbers of the "Step N/M" lines, in the order printed.
fn step_numbers(out: &str) -> Vec<usize> {
    out.lines()
        .filter_map(|l| l.strip_prefix("Step "))
        .filter_map(|l| l.split('/').next()?.parse().ok())
        .collect()
}

fn unneeded_stage_skipped(user: User) {
    let Some((env, img, ctx)) = setup(user) else {
        return;
    };
    env.write(
        "ctx/Dockerfile",
        format!(
            "FROM {img} AS broken\nRUN echo broken-stage-ran && exit 7\n\
             FROM {img} AS left\nRUN echo left > /left\n\
             FROM {img} AS right\nRUN echo right > /right\n\
             FROM scratch\nCOPY --from=left /left /left\nCOPY --from=right /right /right\n"
        )
        .as_bytes(),
    );
    let out = env.burrow(&["build", "--progress", "plain", "-t", "two", &ctx]);
    // The failing stage is not the target's dependency: it never runs.
    out.ok();
    assert!(
        !out.stdout.contains("broken-stage-ran") && !out.stdout.contains("exit 7"),
        "{}",
        out.describe()
    );
    // The two independent stages both ran: their files are in the image.
    env.burrow(&["create", "--name", "t", "two", "/nothing"])
        .ok();
    let dest = env.dir().join("out");
    env.mkdir("out");
    for f in ["left", "right"] {
        env.burrow(&["cp", &format!("t:/{f}"), &dest.display().to_string()])
            .ok();
        assert_eq!(
            std::fs::read_to_string(dest.join(f)).unwrap(),
            format!("{f}\n")
        );
    }
    // Steps count only the needed stages, printed in Dockerfile order even
    // when stages ran at the same time.
    assert_eq!(step_numbers(&out.stdout), (1..=7).collect::<Vec<_>>());
    assert!(out.stdout.contains("Step 2/7 : RUN echo left > /left"));
    assert!(
        out.stdout.contains(" ---> Running in "),
        "{}",
        out.describe()
    );

    // --target broken is that stage alone, and it fails as RUN fails.
    let out = env.burrow(&["build", "--target", "broken", &ctx]);
    out.fails(1);
    assert!(
        out.stdout.contains("broken-stage-ran"),
        "{}",
        out.describe()
    );
}

#[test]
fn unneeded_stage_skipped_sub() {
    unneeded_stage_skipped(User::Sub);
}

#[test]
fn unneeded_stage_skipped_nosub() {
    unneeded_stage_skipped(User::NoSub);
}

fn progress_modes(user: User) {
    let Some((env, img, ctx)) = setup(user) else {
        return;
    };
    env.write(
        "ctx/Dockerfile",
        format!("FROM {img}\nRUN echo made > /made\nENV A=b\n").as_bytes(),
    );
    env.burrow(&["build", "-t", "p", &ctx]).ok();
    // plain: the classic builder's lines.
    let plain = env.burrow(&["build", "--progress", "plain", "-t", "p", &ctx]);
    let lines: Vec<&str> = plain.ok().stdout.lines().collect();
    assert_eq!(lines[0], format!("Step 1/3 : FROM {img}"));
    assert_eq!(lines[2], "Step 2/3 : RUN echo made > /made");
    assert_eq!(lines[3], " ---> Using cache");
    assert!(
        lines[4].starts_with(" ---> ") && lines[4].len() == 18,
        "{lines:?}"
    );
    // tty into a pipe: no bars, one line per finished step on stderr.
    let tty = env.burrow(&["build", "--progress", "tty", "-t", "p", &ctx]);
    assert!(
        tty.ok()
            .stderr
            .contains("[stage-0 2/3] RUN echo made > /made CACHED"),
        "{}",
        tty.describe()
    );
    assert!(!tty.stdout.contains("Step 2/3"), "{}", tty.describe());
    // auto on a terminal is the live view.
    let (code, shown) = env.burrow_in_terminal(&format!("build -t p {ctx}"), b"");
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("[stage-0 3/3] ENV A=b CACHED"), "{shown}");
    assert!(!shown.contains(" ---> Using cache"), "{shown}");
}

#[test]
fn progress_modes_sub() {
    progress_modes(User::Sub);
}

#[test]
fn progress_modes_nosub() {
    progress_modes(User::NoSub);
}

/// The step images a build leaves: hidden by `images`, listed by
/// `images -a`, named in `history`'s IMAGE column, as Docker's classic
/// builder's are.
fn history_and_intermediates(user: User) {
    let Some((env, img, ctx)) = setup(user) else {
        return;
    };
    env.write(
        "ctx/Dockerfile",
        format!("FROM {img}\nRUN echo one > /one\nLABEL a=b\nCMD [\"cat\", \"/one\"]\n").as_bytes(),
    );
    let out = env.burrow(&["build", "--progress", "plain", "-t", "h", &ctx]);
    // The ids the build printed for steps 2..4 (" ---> <id>" after FROM's).
    let ids: Vec<String> = out
        .ok()
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix(" ---> "))
        .filter(|l| l.len() == 12 && l.chars().all(|c| c.is_ascii_hexdigit()))
        .map(String::from)
        .collect();
    assert_eq!(ids.len(), 4, "{}", out.describe());
    let shown = env.burrow(&["images", "-q"]).ok().stdout.clone();
    let all = env.burrow(&["images", "-a", "-q"]).ok().stdout.clone();
    for step in &ids[1..3] {
        assert!(!shown.contains(step.as_str()), "{step} shown:\n{shown}");
        assert!(all.contains(step.as_str()), "{step} not in -a:\n{all}");
    }
    assert!(shown.contains(ids[3].as_str()), "{shown}");
    // history: newest first, each step's image and Docker's CREATED BY.
    let h = env.burrow(&["history", "--no-trunc", "h"]);
    let rows: Vec<&str> = h.ok().stdout.lines().skip(1).collect();
    assert!(
        rows[0].contains("/bin/sh -c #(nop)  CMD [\"cat\" \"/one\"]"),
        "{rows:?}"
    );
    assert!(rows[1].contains("/bin/sh -c #(nop)  LABEL a=b"), "{rows:?}");
    assert!(rows[2].contains("/bin/sh -c echo one > /one"), "{rows:?}");
    for (row, id) in rows[1..3].iter().zip([&ids[2], &ids[1]]) {
        assert!(
            row.starts_with("sha256:") && row[7..].starts_with(id.as_str()),
            "{row} vs {id}"
        );
    }
}

#[test]
fn history_and_intermediates_sub() {
    history_and_intermediates(User::Sub);
}

#[test]
fn history_and_intermediates_nosub() {
    history_and_intermediates(User::NoSub);
}

/// `COPY --from` of a dir that several of the stage's layers made shows
/// it as the stage's root does: every layer's files, less those a later
/// step removed; and wildcards work with --from. (Only the top layer's
/// part was copied before.)
fn copy_from_merges_layers(user: User) {
    let Some((env, img, ctx)) = setup(user) else {
        return;
    };
    env.write(
        "ctx/Dockerfile",
        format!(
            "FROM {img} AS s\n\
             RUN mkdir -p /app/sub && echo a > /app/a.txt && echo gone > /app/gone.txt && echo s > /app/sub/s\n\
             RUN echo b > /app/b.txt && rm /app/gone.txt\n\
             FROM {img}\n\
             COPY --from=s /app /app\n\
             COPY --from=s /app/*.txt /glob/\n\
             CMD [\"sh\", \"-c\", \"cd / && find app glob | sort && cat app/a.txt app/b.txt\"]\n"
        )
        .as_bytes(),
    );
    env.burrow(&["build", "-q", "-t", "merged", &ctx]).ok();
    let out = env.burrow(&["run", "--rm", "--network", "none", "merged"]);
    assert_eq!(
        out.ok().stdout,
        "app\napp/a.txt\napp/b.txt\napp/sub\napp/sub/s\nglob\nglob/a.txt\nglob/b.txt\na\nb\n",
        "{user:?}"
    );
    // A wildcard that matches nothing in the stage: one line naming it.
    env.write(
        "ctx/Dockerfile",
        format!("FROM {img} AS s\nRUN true\nFROM {img}\nCOPY --from=s /app/*.none /x/\n")
            .as_bytes(),
    );
    let out = env.burrow(&["build", "-t", "none", &ctx]);
    out.fails(1);
    assert!(
        out.stderr.contains("matches nothing in s"),
        "{}",
        out.describe()
    );
}

#[test]
fn copy_from_merges_layers_sub() {
    copy_from_merges_layers(User::Sub);
}

#[test]
fn copy_from_merges_layers_nosub() {
    copy_from_merges_layers(User::NoSub);
}

/// `--pull` with three stages FROM the same image (two of them at the
/// same time): the image is pulled once for the build, so the registry
/// sees as many manifest requests as one `burrow pull` makes.
fn pull_once_across_stages(user: User) {
    use super::images_registry::{serve, small_image};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    let Some(env) = TestEnv::new(user) else {
        return;
    };
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let addr = serve(small_image(), move |path, _, _| {
        if path.contains("/manifests/") {
            counter.fetch_add(1, SeqCst);
        }
        None
    });
    let img = format!("{addr}/x:latest");
    env.burrow(&["pull", "-q", &img]).ok();
    let one_pull = hits.swap(0, SeqCst);
    assert!(one_pull > 0, "the pull asked for no manifest");
    env.mkdir("ctx");
    let ctx = env.dir().join("ctx").display().to_string();
    env.write(
        "ctx/Dockerfile",
        format!(
            "FROM {img} AS a\nFROM {img} AS b\n\
             FROM {img}\nCOPY --from=a /hello /a\nCOPY --from=b /hello /b\n"
        )
        .as_bytes(),
    );
    let out = env.burrow(&["build", "--pull", "-t", "pulled-once", &ctx]);
    out.ok();
    assert_eq!(
        hits.load(SeqCst),
        one_pull,
        "manifest requests of the build (one pull makes {one_pull}):\n{}",
        out.describe()
    );
}

#[test]
fn pull_once_across_stages_sub() {
    pull_once_across_stages(User::Sub);
}

#[test]
fn pull_once_across_stages_nosub() {
    pull_once_across_stages(User::NoSub);
}
