//! A parallel map for the build's per-file work (hashing a context for the
//! COPY cache key): the files are split into one contiguous chunk per
//! core, results come back in input order, the first error wins.

/// `f` over `items` on up to `available_parallelism` threads, in order.
pub fn map<T, R, F>(items: &[T], f: F) -> anyhow::Result<Vec<R>>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> anyhow::Result<R> + Sync,
{
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    // Small inputs are not worth a thread.
    if threads < 2 || items.len() < 64 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let parts: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(f).collect::<anyhow::Result<Vec<R>>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for p in parts {
            out.extend(
                p.join()
                    .map_err(|_| anyhow::anyhow!("a hashing thread panicked"))??,
            );
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order_and_errors() {
        let v: Vec<u32> = (0..1000).collect();
        assert_eq!(
            super::map(&v, |x| Ok(x * 2)).unwrap(),
            (0..1000).map(|x| x * 2).collect::<Vec<_>>()
        );
        let e = super::map(&v, |x| {
            if *x == 777 {
                anyhow::bail!("bad {x}")
            } else {
                Ok(*x)
            }
        });
        assert_eq!(e.unwrap_err().to_string(), "bad 777");
    }
}
