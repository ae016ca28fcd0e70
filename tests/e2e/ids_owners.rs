//! Owners that stick (issue 18, item 2): chown records an owner that stat
//! and `ls -l` show, across stop/start, commit, push and a pull into a
//! fresh store. With a subuid range the owners are real; without one
//! (single-id mode) the supervisor keeps them in `user.burrow.override`
//! and shows them. The same tests, unchanged, for both users and both
//! storage drivers.

use crate::common::*;

const DRIVERS: [&str; 2] = ["overlay", "fuse-overlay"];

fn with_image(user: User, image: &str) -> Option<(TestEnv, String)> {
    let env = TestEnv::new(user)?;
    let img = registry().image(image);
    env.burrow(&["pull", "-q", &img]).ok();
    Some((env, img))
}

/// `burrow ARGS` on storage driver `driver`.
fn on(env: &TestEnv, driver: &str, args: &[&str]) -> Outcome {
    env.burrow_with(args, &[("BURROW_STORAGE_DRIVER", driver)], None)
}

/// Made on the first run, only shown on the next ones.
const OWNERS: &str = "if [ -e /srv/x ]; then echo kept; else \
    mkdir -p /srv/d && touch /srv/x /srv/d/y && chown -R 1000:1000 /srv && \
    chown 0:27 /srv/d/y && echo made; fi; \
    stat -c %u:%g /srv/x /srv/d /srv/d/y; ls -ln /srv/x | awk '{print $3\":\"$4}'";

const SHOWN: &str = "1000:1000\n1000:1000\n0:27\n1000:1000\n";

#[test]
fn chown_owners_show_in_stat_and_ls_and_survive_stop_start_commit_and_push() {
    for user in [User::NoSub, User::Sub] {
        for driver in DRIVERS {
            let Some((env, img)) = with_image(user, "debian") else {
                return;
            };
            let run = ["run", "--name", "c", "--network", "none", &img, "sh", "-c"];
            let out = on(&env, driver, &[&run[..], &[OWNERS]].concat());
            out.ok();
            let want = format!("made\n{SHOWN}");
            assert_eq!(out.stdout, want, "{user:?} {driver}: {}", out.describe());
            let out = on(&env, driver, &["start", "-a", "c"]);
            out.ok();
            let want = format!("kept\n{SHOWN}");
            assert_eq!(out.stdout, want, "{user:?} {driver}: {}", out.describe());
            // Committed, pushed, pulled into a fresh store.
            let target = format!(
                "{}/owners/{}-{driver}-{}:1",
                registry().addr(),
                user.name(),
                std::process::id()
            );
            on(&env, driver, &["commit", "c", &target]).ok();
            on(&env, driver, &["push", "-q", &target]).ok();
            let Some(fresh) = TestEnv::new(user) else {
                return;
            };
            on(&fresh, driver, &["pull", "-q", &target]).ok();
            let out = on(
                &fresh,
                driver,
                &["run", "--rm", &target, "sh", "-c", OWNERS],
            );
            out.ok();
            let want = format!("kept\n{SHOWN}");
            assert_eq!(out.stdout, want, "{user:?} {driver}: {}", out.describe());
        }
    }
}
