/* The stat and id calls of one ABI, made raw (no libc: built with
 * -nostdlib -ffreestanding -static, for x86_64 and for i386 with -m32, so
 * it runs in any image and shows what the kernel's own calls answer).
 *
 *   idcalls stat PATH   one line per stat call: NAME UID:GID INO SIZE MODE NLINK
 *                       (MODE in hex, as `stat -c %f`), or NAME errno N
 *   idcalls ids         switches ids with the set*id calls (on i386 both
 *                       the 16-bit and the 32-bit forms) and prints them
 */

typedef unsigned long ulong;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned long long u64;

#ifdef __i386__
static long sys(long n, long a, long b, long c, long d, long e)
{
    long r;
    __asm__ volatile("int $0x80"
                     : "=a"(r)
                     : "a"(n), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
                     : "memory");
    return r;
}
enum {
    NR_exit = 1, NR_write = 4, NR_open = 5, NR_close = 6,
    NR_stat = 106, NR_lstat = 107, NR_fstat = 108,
    NR_stat64 = 195, NR_lstat64 = 196, NR_fstat64 = 197, NR_fstatat = 300,
    NR_statx = 383,
    NR_getuid16 = 24, NR_setgroups16 = 81, NR_getgroups16 = 80,
    NR_setresgid16 = 170, NR_setreuid16 = 70, NR_getresuid16 = 165,
    NR_getuid = 199, NR_geteuid = 201, NR_getresgid = 211, NR_setuid = 213,
    NR_getgroups = 205,
};
#else
static long sys(long n, long a, long b, long c, long d, long e)
{
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return r;
}
enum {
    NR_exit = 60, NR_write = 1, NR_open = 2, NR_close = 3,
    NR_stat = 4, NR_lstat = 6, NR_fstat = 5, NR_fstatat = 262, NR_statx = 332,
    NR_getuid = 102, NR_geteuid = 107, NR_setgroups = 116, NR_getgroups = 115,
    NR_setresgid = 119, NR_getresgid = 120, NR_setreuid = 113,
    NR_getresuid = 118, NR_setuid = 105,
};
#endif

#ifdef __i386__
#define O_LARGEFILE 0100000 /* else a file over 2 GiB cannot be opened */
#else
#define O_LARGEFILE 0
#endif
#define AT_FDCWD (-100)
#define AT_SYMLINK_NOFOLLOW 0x100
#define AT_EMPTY_PATH 0x1000

static char out[8192];
static int used;

static void put(const char *s)
{
    while (*s && used < (int)sizeof out)
        out[used++] = *s++;
}

/* v / d, bit by bit: i386 has no 64-bit division without libgcc. */
static u64 divide(u64 v, u32 d, u32 *rem)
{
    u64 q = 0, r = 0;
    for (int i = 63; i >= 0; i--) {
        r = r << 1 | (v >> i & 1);
        if (r >= d) {
            r -= d;
            q |= 1ULL << i;
        }
    }
    *rem = (u32)r;
    return q;
}

static void num(u64 v, u32 base)
{
    char b[24];
    int i = sizeof b;
    u32 digit;
    b[--i] = 0;
    do {
        v = divide(v, base, &digit);
        b[--i] = "0123456789abcdef"[digit];
    } while (v);
    put(b + i);
}

static void flush_and_exit(int code)
{
    sys(NR_write, 1, (long)out, used, 0, 0);
    sys(NR_exit, code, 0, 0, 0, 0);
}

static u64 rd(const unsigned char *p, int n)
{
    u64 v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Where one struct keeps the fields shown, and their widths. */
struct layout {
    int uid, gid, idw, ino, inow, size, sizew, mode, modew, nlink, nlinkw;
};

#define LAYOUT static const struct layout __attribute__((unused))
/* x86_64's struct stat. */
LAYOUT native64 = {28, 32, 4, 8, 8, 48, 8, 24, 4, 16, 8};
/* i386's struct stat (compat_stat): 16-bit ids, 32-bit sizes. */
LAYOUT old32 = {12, 14, 2, 4, 4, 20, 4, 8, 2, 10, 2};
/* i386's packed struct stat64. */
LAYOUT wide32 = {24, 28, 4, 88, 8, 44, 8, 16, 4, 20, 4};
/* struct statx, the same on every ABI. */
LAYOUT statx = {20, 24, 4, 32, 8, 40, 8, 28, 2, 16, 4};

static void show(const char *name, long r, const unsigned char *b, const struct layout *l)
{
    put(name);
    if (r < 0) {
        put(" errno ");
        num(-r, 10);
    } else {
        put(" ");
        num(rd(b + l->uid, l->idw), 10);
        put(":");
        num(rd(b + l->gid, l->idw), 10);
        put(" ");
        num(rd(b + l->ino, l->inow), 10);
        put(" ");
        num(rd(b + l->size, l->sizew), 10);
        put(" ");
        num(rd(b + l->mode, l->modew), 16);
        put(" ");
        num(rd(b + l->nlink, l->nlinkw), 10);
    }
    put("\n");
}

static void stats(const char *path)
{
    static unsigned char b[512];
    long fd = sys(NR_open, (long)path, O_LARGEFILE, 0, 0, 0);
    if (fd < 0) {
        put("open failed\n");
        flush_and_exit(1);
    }
    const long at = AT_FDCWD, empty = (long)"";
    const long sx = 0x7ff; /* STATX_BASIC_STATS */
#ifdef __i386__
    const struct layout *st = &old32;
    show("stat64", sys(NR_stat64, (long)path, (long)b, 0, 0, 0), b, &wide32);
    show("lstat64", sys(NR_lstat64, (long)path, (long)b, 0, 0, 0), b, &wide32);
    show("fstat64", sys(NR_fstat64, fd, (long)b, 0, 0, 0), b, &wide32);
    show("fstatat", sys(NR_fstatat, at, (long)path, (long)b, 0, 0), b, &wide32);
    show("fstatat-nofollow",
         sys(NR_fstatat, at, (long)path, (long)b, AT_SYMLINK_NOFOLLOW, 0), b, &wide32);
    show("fstatat-empty", sys(NR_fstatat, fd, empty, (long)b, AT_EMPTY_PATH, 0), b, &wide32);
#else
    const struct layout *st = &native64;
    show("fstatat", sys(NR_fstatat, at, (long)path, (long)b, 0, 0), b, st);
    show("fstatat-nofollow",
         sys(NR_fstatat, at, (long)path, (long)b, AT_SYMLINK_NOFOLLOW, 0), b, st);
    show("fstatat-empty", sys(NR_fstatat, fd, empty, (long)b, AT_EMPTY_PATH, 0), b, st);
#endif
    show("stat", sys(NR_stat, (long)path, (long)b, 0, 0, 0), b, st);
    show("lstat", sys(NR_lstat, (long)path, (long)b, 0, 0, 0), b, st);
    show("fstat", sys(NR_fstat, fd, (long)b, 0, 0, 0), b, st);
    show("statx", sys(NR_statx, at, (long)path, 0, sx, (long)b), b, &statx);
    show("statx-empty", sys(NR_statx, fd, empty, AT_EMPTY_PATH, sx, (long)b), b, &statx);
    sys(NR_close, fd, 0, 0, 0, 0);
}

static void result(const char *name, long r)
{
    put(name);
    put(" ");
    if (r < 0) {
        put("errno ");
        num(-r, 10);
    } else {
        num(r, 10);
    }
    put("\n");
}

static void list(const char *name, const u32 *v, int n)
{
    put(name);
    for (int i = 0; i < n; i++) {
        put(" ");
        num(v[i], 10);
    }
    put("\n");
}

static void ids(void)
{
    u32 g[3];
#ifdef __i386__
    /* The 16-bit calls take and give u16 ids; -1 (0xffff) keeps one. */
    u16 g16[4] = {5, 6, 0, 0};
    result("setgroups", sys(NR_setgroups16, 2, (long)g16, 0, 0, 0));
    g16[0] = g16[1] = 0;
    long n = sys(NR_getgroups16, 4, (long)g16, 0, 0, 0);
    g[0] = g16[0], g[1] = g16[1];
    list("getgroups", g, n < 0 ? 0 : n);
    n = sys(NR_getgroups, 3, (long)g, 0, 0, 0);
    list("getgroups32", g, n < 0 ? 0 : n);
    result("setresgid", sys(NR_setresgid16, 7, 8, 0xffff, 0, 0));
    result("setreuid", sys(NR_setreuid16, 10, 11, 0, 0, 0));
    u16 r16[3];
    sys(NR_getresuid16, (long)&r16[0], (long)&r16[1], (long)&r16[2], 0, 0);
    g[0] = r16[0], g[1] = r16[1], g[2] = r16[2];
    list("getresuid", g, 3);
    result("getuid16", sys(NR_getuid16, 0, 0, 0, 0, 0));
#else
    u32 groups[2] = {5, 6};
    result("setgroups", sys(NR_setgroups, 2, (long)groups, 0, 0, 0));
    long n = sys(NR_getgroups, 3, (long)g, 0, 0, 0);
    list("getgroups", g, n < 0 ? 0 : n);
    list("getgroups32", g, n < 0 ? 0 : n);
    result("setresgid", sys(NR_setresgid, 7, 8, -1, 0, 0));
    result("setreuid", sys(NR_setreuid, 10, 11, 0, 0, 0));
    sys(NR_getresuid, (long)&g[0], (long)&g[1], (long)&g[2], 0, 0);
    list("getresuid", g, 3);
    result("getuid16", sys(NR_getuid, 0, 0, 0, 0, 0));
#endif
    sys(NR_getresgid, (long)&g[0], (long)&g[1], (long)&g[2], 0, 0);
    list("getresgid", g, 3);
    result("setuid", sys(NR_setuid, 10, 0, 0, 0, 0));
    result("getuid", sys(NR_getuid, 0, 0, 0, 0, 0));
    result("geteuid", sys(NR_geteuid, 0, 0, 0, 0, 0));
}

static int eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* The stack at _start: argc, then argv. */
__attribute__((used)) static void start(long *sp)
{
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    if (argc == 3 && eq(argv[1], "stat"))
        stats(argv[2]);
    else if (argc == 2 && eq(argv[1], "ids"))
        ids();
    else {
        put("usage: idcalls stat PATH | idcalls ids\n");
        flush_and_exit(2);
    }
    flush_and_exit(0);
}

#ifdef __i386__
__asm__(".globl _start\n_start:\n mov %esp, %eax\n and $-16, %esp\n sub $12, %esp\n"
        " push %eax\n call start\n hlt\n");
#else
__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call start\n hlt\n");
#endif
