//! FROM images fetched once per build: the stages of a build share one
//! list (stages run on their own threads), so `--pull` pulls an image that
//! several stages name once, and a stage that names it while another is
//! pulling it waits for that pull instead of starting its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The images a build has fetched, by name, shared by its stages.
#[derive(Default)]
pub struct Pulls {
    names: Mutex<HashMap<String, Arc<Mutex<bool>>>>,
}

impl Pulls {
    /// `fetch` for the first stage that asks for `name`, `again` for the
    /// later ones (after the first is done). A failed fetch is not
    /// remembered: the next stage tries again.
    pub fn once<T>(
        &self,
        name: &str,
        fetch: impl FnOnce() -> anyhow::Result<T>,
        again: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let slot = {
            // A poisoned lock only means a stage panicked; the list is
            // still whole.
            let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
            names.entry(name.to_string()).or_default().clone()
        };
        let mut done = slot.lock().unwrap_or_else(|e| e.into_inner());
        if *done {
            return again();
        }
        let r = fetch()?;
        *done = true;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn stages_on_threads_fetch_each_name_once() {
        let pulls = Pulls::default();
        let fetched = AtomicUsize::new(0);
        let reused = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for i in 0..6 {
                let (pulls, fetched, reused) = (&pulls, &fetched, &reused);
                s.spawn(move || {
                    let name = if i % 2 == 0 { "a" } else { "b" };
                    pulls
                        .once(
                            name,
                            || {
                                std::thread::sleep(std::time::Duration::from_millis(20));
                                Ok(fetched.fetch_add(1, Ordering::SeqCst))
                            },
                            || Ok(reused.fetch_add(1, Ordering::SeqCst)),
                        )
                        .unwrap();
                });
            }
        });
        assert_eq!(fetched.load(Ordering::SeqCst), 2, "one fetch per name");
        assert_eq!(reused.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_failed_fetch_is_tried_again() {
        let pulls = Pulls::default();
        let r: anyhow::Result<u8> = pulls.once("x", || anyhow::bail!("down"), || Ok(0));
        assert!(r.is_err());
        assert_eq!(pulls.once("x", || Ok(1), || Ok(2)).unwrap(), 1);
        assert_eq!(pulls.once("x", || Ok(1), || Ok(2)).unwrap(), 2);
    }
}
