#!/usr/bin/env bash
# Prepare a fresh Debian machine, as root, for burrow's tests:
#  - install the real tools the tests use (registry, image tools, uidmap, FUSE, peers for benches);
#  - make /dev/fuse and /dev/net/tun usable by ordinary users (mode 0666, as most distributions ship);
#  - create the two unprivileged test users: burrow-sub (with a subuid/subgid range) and
#    burrow-nosub (without one, like an LDAP account);
#  - build the fixture images (cached under /var/tmp/burrow-fixtures).
# Safe to run again: every step checks before it changes anything.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" -ne 0 ]; then
    echo "tests/setup/install.sh: run me as root (sudo $0)" >&2
    exit 1
fi

# Rust itself (1.85 or newer, with rustfmt and clippy) comes from rustup, not from here.
packages=(docker-registry skopeo umoci busybox-static mmdebstrap uidmap fuse3 util-linux iproute2 bsdutils
          podman bubblewrap fuse-overlayfs slirp4netns hyperfine ca-certificates
          # ADD of a git repository (build tests serve one with git-daemon)
          git
          # cargo's linker and the static libc of tests/probe (built with crt-static)
          gcc libc6-dev
          # the e2e harness and the benches: python3 (registries, bench reports), curl
          # (waiting for a registry), procps (ps, kill), e2fsprogs (tests/bench/fs's
          # ext4 images), bc and time (tests/bench/pull), perl (prove, for
          # tests/conformance/pjdfstest)
          python3 curl procps e2fsprogs bc time perl
          # tests/e2e/network.rs (a resolver on 127.0.0.53), tests/bench/net and
          # tests/bench/net-publish (iperf3 client; the server runs in containers)
          dnsmasq-base iperf3
          # tests/e2e/oci.rs: a single-node Slurm (tests/setup/slurm.sh starts it)
          slurm-wlm munge
          # tests/bench/oci: the runtimes burrow-runc is measured against
          runc crun
          # tests/bench/compose: the compose burrow is measured against (catatonit: podman's --init)
          podman-compose catatonit
          # tests/bench/single-id: ch-image, the peer for single-id mode
          charliecloud)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The Debian package starts a registry on :5000 through systemd where there is one; the tests
# start their own on a free loopback port, so stop that one if it runs.
if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
    systemctl stop docker-registry || true
fi

for dev in /dev/fuse /dev/net/tun; do
    [ -e "$dev" ] && chmod 0666 "$dev"
done

make_user() {
    local name=$1
    if ! id "$name" >/dev/null 2>&1; then
        useradd --create-home --shell /bin/bash "$name"
    fi
    # useradd may have given a range on its own (SUB_UID_COUNT); start from none.
    sed -i "/^$name:/d" /etc/subuid /etc/subgid 2>/dev/null || true
    touch /etc/subuid /etc/subgid
}
make_user burrow-sub
make_user burrow-nosub
echo "burrow-sub:200000:65536" >> /etc/subuid
echo "burrow-sub:200000:65536" >> /etc/subgid
# Someone else holds the first range useradd hands out (as on a shared machine), so
# `info`'s suggested range for burrow-nosub must look past it. No account has this name.
sed -i "/^burrow-other:/d" /etc/subuid /etc/subgid
echo "burrow-other:100000:65536" >> /etc/subuid
echo "burrow-other:100000:65536" >> /etc/subgid

# A cgroup v2 dir delegated to each test user (owner of the dir and of the files systemd's
# Delegate=yes hands over), for the pause tests: they move burrow into it before dropping root.
v2=$(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' \
    /proc/self/mountinfo)
if [ -n "$v2" ]; then
    for u in burrow-sub burrow-nosub; do
        d="$v2/burrow-test/$u"
        if ! { mkdir -p "$d" && chown "$u:$u" "$d" "$d/cgroup.procs" "$d/cgroup.threads" \
                   "$d/cgroup.subtree_control"; } 2>/dev/null; then
            echo "setup: cannot delegate $d (is $v2 read-only?): the pause tests will fail" >&2
        fi
    done
fi

"$here/fixtures.sh"
