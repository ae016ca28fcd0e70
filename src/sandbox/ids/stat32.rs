//! i386's stat structs, filled from a native stat as an x86_64 kernel
//! fills them for a 32-bit process (cp_stat64 in arch/x86/kernel/
//! sys_ia32.c, cp_compat_stat in fs/stat.c), for the stat calls of an
//! i386 program in single-id mode whose file has a recorded owner.
//! Device numbers are the native struct's already (both encode them the
//! same way); the rest is truncated where the kernel truncates and an
//! EOVERFLOW where it refuses.

use nix::errno::Errno;

/// sizeof(struct stat64) on i386: packed.
pub const WIDE_LEN: usize = 96;
/// sizeof(struct stat) on i386.
pub const OLD_LEN: usize = 64;

/// The largest size the old struct holds (MAX_NON_LFS).
const MAX_NON_LFS: i64 = 0x7fff_ffff;

/// Little-endian fields at their offsets.
struct Out<const N: usize>([u8; N]);

impl<const N: usize> Out<N> {
    fn put(&mut self, at: usize, bytes: &[u8]) {
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
    }
}

/// struct stat64, with `uid` and `gid` shown.
pub fn wide(st: &libc::stat, uid: u32, gid: u32) -> [u8; WIDE_LEN] {
    let mut o = Out([0u8; WIDE_LEN]);
    o.put(0, &st.st_dev.to_le_bytes());
    o.put(12, &(st.st_ino as u32).to_le_bytes()); // __st_ino
    o.put(16, &st.st_mode.to_le_bytes());
    o.put(20, &(st.st_nlink as u32).to_le_bytes());
    o.put(24, &uid.to_le_bytes());
    o.put(28, &gid.to_le_bytes());
    o.put(32, &st.st_rdev.to_le_bytes());
    o.put(44, &st.st_size.to_le_bytes());
    o.put(52, &(st.st_blksize as u32).to_le_bytes());
    o.put(56, &st.st_blocks.to_le_bytes());
    put_times(&mut o, 64, st);
    o.put(88, &st.st_ino.to_le_bytes());
    o.0
}

/// The old struct stat, with `uid` and `gid` shown as 16-bit ids (one
/// above 65535 is the kernel's overflow id, `overflow`); EOVERFLOW for
/// what does not fit, as the kernel answers.
pub fn old(
    st: &libc::stat,
    uid: u32,
    gid: u32,
    overflow: (u16, u16),
) -> Result<[u8; OLD_LEN], Errno> {
    let ino = u32::try_from(st.st_ino).map_err(|_| Errno::EOVERFLOW)?;
    let nlink = u16::try_from(st.st_nlink).map_err(|_| Errno::EOVERFLOW)?;
    if st.st_size > MAX_NON_LFS {
        return Err(Errno::EOVERFLOW);
    }
    let low = |id: u32, over: u16| u16::try_from(id).unwrap_or(over);
    let mut o = Out([0u8; OLD_LEN]);
    o.put(0, &(st.st_dev as u32).to_le_bytes());
    o.put(4, &ino.to_le_bytes());
    o.put(8, &(st.st_mode as u16).to_le_bytes());
    o.put(10, &nlink.to_le_bytes());
    o.put(12, &low(uid, overflow.0).to_le_bytes());
    o.put(14, &low(gid, overflow.1).to_le_bytes());
    o.put(16, &(st.st_rdev as u32).to_le_bytes());
    o.put(20, &(st.st_size as u32).to_le_bytes());
    o.put(24, &(st.st_blksize as u32).to_le_bytes());
    o.put(28, &(st.st_blocks as u32).to_le_bytes());
    put_times(&mut o, 32, st);
    Ok(o.0)
}

/// atime, mtime and ctime as 32-bit seconds and nanoseconds.
fn put_times<const N: usize>(o: &mut Out<N>, at: usize, st: &libc::stat) {
    let times = [
        (st.st_atime, st.st_atime_nsec),
        (st.st_mtime, st.st_mtime_nsec),
        (st.st_ctime, st.st_ctime_nsec),
    ];
    for (i, (sec, nsec)) in times.into_iter().enumerate() {
        o.put(at + 8 * i, &(sec as u32).to_le_bytes());
        o.put(at + 8 * i + 4, &(nsec as u32).to_le_bytes());
    }
}

/// The kernel's overflow uid and gid (what a 16-bit id shows for one that
/// does not fit).
pub fn overflow_ids() -> (u16, u16) {
    let read = |f: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{f}"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(65534)
    };
    (read("overflowuid"), read("overflowgid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> libc::stat {
        let mut st = nix::sys::stat::stat("/").unwrap();
        st.st_dev = 0x0803;
        st.st_ino = 0x1_0000_0002;
        st.st_mode = libc::S_IFREG | 0o644;
        st.st_nlink = 3;
        st.st_size = 5;
        st.st_mtime = 1_700_000_000;
        st.st_mtime_nsec = 7;
        st
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn stat64_keeps_the_wide_inode_and_the_ids() {
        let b = wide(&sample(), 1000, 70000);
        assert_eq!((u32_at(&b, 24), u32_at(&b, 28)), (1000, 70000));
        assert_eq!(u32_at(&b, 12), 2, "__st_ino is truncated");
        assert_eq!(
            u64::from_le_bytes(b[88..96].try_into().unwrap()),
            0x1_0000_0002
        );
        assert_eq!(u32_at(&b, 16), libc::S_IFREG | 0o644);
        assert_eq!((u32_at(&b, 72), u32_at(&b, 76)), (1_700_000_000, 7));
    }

    #[test]
    fn the_old_struct_overflows_as_the_kernel_does() {
        let mut st = sample();
        assert_eq!(old(&st, 0, 0, (65534, 65534)), Err(Errno::EOVERFLOW));
        st.st_ino = 9;
        let b = old(&st, 1000, 70000, (65534, 65533)).unwrap();
        let u16_at = |at: usize| u16::from_le_bytes(b[at..at + 2].try_into().unwrap());
        assert_eq!((u16_at(12), u16_at(14)), (1000, 65533));
        assert_eq!((u32_at(&b, 4), u16_at(10), u32_at(&b, 20)), (9, 3, 5));
        st.st_size = MAX_NON_LFS + 1;
        assert_eq!(old(&st, 0, 0, (65534, 65534)), Err(Errno::EOVERFLOW));
        st.st_size = 0;
        st.st_nlink = 70000;
        assert_eq!(old(&st, 0, 0, (65534, 65534)), Err(Errno::EOVERFLOW));
    }
}
