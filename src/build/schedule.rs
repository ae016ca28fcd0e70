//! Which stages a build needs and in what order they may run (issue #16,
//! item 5): a stage depends on the stages its FROM, `COPY --from` and
//! `RUN --mount=from=` name; only the target's dependencies are built, and
//! stages whose dependencies are done run at the same time, each on its
//! own thread (a RUN step is a child process, so the threads mostly wait).

use std::collections::BTreeSet;
use std::sync::mpsc;

use super::dockerfile::{Dockerfile, Instruction};

/// A stage reference (`AS` name or index) to the stage it names, if any
/// stage before `before` has that name.
fn resolve(names: &[Option<String>], before: usize, r: &str) -> Option<usize> {
    if let Ok(i) = r.parse::<usize>() {
        return (i < before).then_some(i);
    }
    let r = r.to_ascii_lowercase();
    names[..before]
        .iter()
        .position(|n| n.as_deref() == Some(r.as_str()))
}

/// Each stage's dependencies. `bases` are the FROM images after ARG
/// expansion. A reference that still holds a variable cannot be resolved
/// here, so its stage waits for every earlier stage (safe, only slower).
pub fn deps(df: &Dockerfile, bases: &[String]) -> Vec<BTreeSet<usize>> {
    let names: Vec<Option<String>> = df.stages.iter().map(|s| s.from.name.clone()).collect();
    let mut out = Vec::with_capacity(df.stages.len());
    for (i, stage) in df.stages.iter().enumerate() {
        let mut d = BTreeSet::new();
        // FROM names a stage by name only ("FROM 0" is an image).
        if bases[i].parse::<usize>().is_err() {
            d.extend(resolve(&names, i, &bases[i]));
        }
        let mut refs = Vec::new();
        for step in &stage.steps {
            match &step.instruction {
                Instruction::Copy(c) => refs.extend(c.from.clone()),
                Instruction::Run(r) => refs.extend(
                    r.mounts(&mut |v| Ok(v.to_string()))
                        .into_iter()
                        .flatten()
                        .filter_map(|m| m.from),
                ),
                _ => {}
            }
        }
        for r in refs {
            if r.contains('$') {
                d.extend(0..i);
            } else {
                d.extend(resolve(&names, i, &r));
            }
        }
        out.push(d);
    }
    out
}

/// The stages `target` needs (itself included), as a mask.
pub fn needed(deps: &[BTreeSet<usize>], target: usize) -> Vec<bool> {
    let mut need = vec![false; deps.len()];
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !std::mem::replace(&mut need[i], true) {
            todo.extend(deps[i].iter().copied());
        }
    }
    need
}

/// Run `work` for every needed stage, each once all its dependencies are
/// done, independent ones at the same time. `work` gets the stage index
/// and the results so far (every dependency's is there). The first error
/// stops new stages from starting; running ones finish, then it is
/// returned.
pub fn run<T, F>(deps: &[BTreeSet<usize>], need: &[bool], work: F) -> anyhow::Result<Vec<Option<T>>>
where
    T: Clone + Send,
    F: Fn(usize, Vec<Option<T>>) -> anyhow::Result<T> + Sync,
{
    let n = deps.len();
    let mut results: Vec<Option<T>> = vec![None; n];
    let mut started = vec![false; n];
    let mut first_err = None;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<(usize, anyhow::Result<T>)>();
        let mut running = 0;
        loop {
            if first_err.is_none() {
                for i in 0..n {
                    let ready =
                        need[i] && !started[i] && deps[i].iter().all(|d| results[*d].is_some());
                    if ready {
                        started[i] = true;
                        running += 1;
                        let (tx, snapshot, work) = (tx.clone(), results.clone(), &work);
                        s.spawn(move || {
                            let _ = tx.send((i, work(i, snapshot)));
                        });
                    }
                }
            }
            if running == 0 {
                break;
            }
            // Every spawned thread sends exactly once, so this cannot hang.
            let Ok((i, r)) = rx.recv() else { break };
            running -= 1;
            match r {
                Ok(v) => results[i] = Some(v),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
    });
    match first_err {
        Some(e) => Err(e),
        None => Ok(results),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::parse;
    use std::sync::Mutex;

    fn graph(text: &str) -> Vec<BTreeSet<usize>> {
        let df = parse("Dockerfile", text).unwrap();
        let bases: Vec<String> = df.stages.iter().map(|s| s.from.base.clone()).collect();
        deps(&df, &bases)
    }

    #[test]
    fn deps_follow_from_copy_from_and_mounts() {
        let d = graph(
            "FROM busybox AS a\nRUN true\nFROM busybox AS b\nRUN true\n\
             FROM a AS c\nCOPY --from=1 /x /x\n\
             FROM busybox\nRUN --mount=type=bind,from=c,target=/c true\nCOPY --from=A /y /y\n",
        );
        assert_eq!(d[0], BTreeSet::new());
        assert_eq!(d[1], BTreeSet::new());
        assert_eq!(d[2], BTreeSet::from([0, 1]));
        assert_eq!(d[3], BTreeSet::from([0, 2]));
    }

    #[test]
    fn a_variable_reference_waits_for_all_earlier_stages() {
        let d = graph("FROM busybox\nFROM busybox\nFROM busybox\nCOPY --from=$S /x /x\n");
        assert_eq!(d[2], BTreeSet::from([0, 1]));
    }

    #[test]
    fn only_the_targets_dependencies_are_needed() {
        let d = graph("FROM busybox AS a\nFROM busybox AS b\nFROM a AS c\nFROM b\n");
        assert_eq!(needed(&d, 2), vec![true, false, true, false]);
        assert_eq!(needed(&d, 3), vec![false, true, false, true]);
    }

    #[test]
    fn independent_stages_start_before_either_finishes() {
        // Stage 0 and 1 are independent; each waits until both have
        // started, which only happens when they run at the same time
        // (a sequential scheduler would wait forever: the timeout fails it).
        let d = vec![BTreeSet::new(), BTreeSet::new(), BTreeSet::from([0, 1])];
        let started = Mutex::new(0);
        let cv = std::sync::Condvar::new();
        let order = Mutex::new(Vec::new());
        let r = run(&d, &[true, true, true], |i, done| {
            if i < 2 {
                let mut n = started.lock().unwrap();
                *n += 1;
                cv.notify_all();
                let (n, t) = cv
                    .wait_timeout_while(n, std::time::Duration::from_secs(5), |n| *n < 2)
                    .unwrap();
                anyhow::ensure!(!t.timed_out(), "stage {i} ran alone ({} started)", *n);
            } else {
                assert!(done[0].is_some() && done[1].is_some());
            }
            order.lock().unwrap().push(i);
            Ok(i * 10)
        })
        .unwrap();
        assert_eq!(r, vec![Some(0), Some(10), Some(20)]);
        assert_eq!(order.lock().unwrap().last(), Some(&2));
    }

    #[test]
    fn a_failure_stops_later_stages() {
        let d = vec![BTreeSet::new(), BTreeSet::from([0])];
        let ran = Mutex::new(Vec::new());
        let r = run(&d, &[true, true], |i, _| {
            ran.lock().unwrap().push(i);
            anyhow::ensure!(i != 0, "stage 0 failed");
            Ok(())
        });
        assert_eq!(r.unwrap_err().to_string(), "stage 0 failed");
        assert_eq!(*ran.lock().unwrap(), vec![0]);
    }
}
