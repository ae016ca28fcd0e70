#!/usr/bin/env bash
# Build the fixture images with tools no one here wrote: umoci makes OCI layouts from root
# file systems, busybox-static fills one, mmdebstrap makes a Debian one. Run as root (umoci
# keeps the owners it sees). Output, cached by a hash of this script and of the Debian release
# it was built from, so only the first run pays:
#   $BURROW_FIXTURES (default /var/tmp/burrow-fixtures/<hash>)/oci/{busybox,debian}  (tag: latest)
#
#   tests/setup/fixtures.sh          build (as root), unless cached
#   tests/setup/fixtures.sh --dir    print the output dir of the last build for this script and
#                                    exit, without the network: the e2e harness
#                                    (tests/e2e/common) and the benches ask this, so all agree
# Env: BURROW_DEBIAN_MIRROR    the mirror mmdebstrap builds from (default deb.debian.org)
#      BURROW_DEBIAN_RELEASE   the release's date to key the cache on; default: the Date of the
#                              mirror's bookworm InRelease, so a new point release rebuilds
set -euo pipefail
mirror=${BURROW_DEBIAN_MIRROR:-http://deb.debian.org/debian}
script_hash=$(sha256sum "$0" | cut -c1-16)
# Where the last build for this script went (the key also holds the release's date).
pointer=/var/tmp/burrow-fixtures/$script_hash.last
if [ "${1:-}" = --dir ]; then
    if [ -n "${BURROW_FIXTURES:-}" ]; then
        echo "$BURROW_FIXTURES"
    elif [ -f "$pointer" ]; then
        cat "$pointer"
    else
        echo "/var/tmp/burrow-fixtures/$script_hash.not-built"
    fi
    exit 0
fi
release=${BURROW_DEBIAN_RELEASE:-$(curl -fsS --max-time 60 "$mirror/dists/bookworm/InRelease" \
    | sed -n 's/^Date: //p' | head -n 1 || true)}
if [ -z "$release" ]; then
    if [ -f "$pointer" ] && [ -e "$(cat "$pointer")/done" ]; then
        echo "fixtures: cannot read $mirror's release date; keeping $(cat "$pointer")"
        exit 0
    fi
    echo "fixtures: cannot read $mirror/dists/bookworm/InRelease (set BURROW_DEBIAN_RELEASE)" >&2
    exit 1
fi
key=$({ cat "$0"; echo "debian-release=$release"; } | sha256sum | cut -c1-16)
out=${BURROW_FIXTURES:-/var/tmp/burrow-fixtures/$key}
mkdir -p /var/tmp/burrow-fixtures
[ -e "$out/done" ] && { echo "$out" > "$pointer"; echo "fixtures: cached in $out"; exit 0; }
rm -rf "$out.tmp"
mkdir -p "$out.tmp/oci"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- busybox: three layers that exercise what unpacking must get right --------------------
layout=$out.tmp/oci/busybox
bundle=$work/busybox
umoci init --layout "$layout"
umoci new --image "$layout:latest"
umoci unpack --image "$layout:latest" "$bundle"
r=$bundle/rootfs

# Layer 1: busybox with its applets as symlinks, users, and files later layers delete.
mkdir -p "$r"/{bin,etc,tmp,root,home/user,var/empty,opaque}
cp /bin/busybox "$r/bin/busybox"
for applet in $("$r/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$r/bin/$applet"
done
chmod 1777 "$r/tmp"
chmod 0700 "$r/root"
cat > "$r/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:Test User:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/var/empty:/bin/false
P
cat > "$r/etc/group" <<'G'
root:x:0:
staff:x:50:user
user:x:1000:
nogroup:x:65534:
G
chown 1000:1000 "$r/home/user"
echo "this file is deleted by layer 2" > "$r/etc/doomed.txt"
echo "lower a" > "$r/opaque/a"
echo "lower b" > "$r/opaque/b"
umoci repack --refresh-bundle --image "$layout:latest" "$bundle"

# Layer 2: a whiteout, a replaced directory, owners, links, special modes.
rm "$r/etc/doomed.txt"
rm -rf "$r/opaque"
mkdir "$r/opaque"
echo "upper c" > "$r/opaque/c"
mkdir -p "$r/data"
echo "owned by uid 1000" > "$r/data/owned"
chown 1000:1000 "$r/data/owned"
chmod 0640 "$r/data/owned"
ln "$r/data/owned" "$r/data/hardlink"
ln -s owned "$r/data/symlink"
ln -s /etc/passwd "$r/data/abs-symlink"
printf '#!/bin/sh\nid -u\n' > "$r/data/suid"
chmod 4755 "$r/data/suid"
mkdir "$r/data/sgid-dir"
chown 0:50 "$r/data/sgid-dir"
chmod 2775 "$r/data/sgid-dir"
umoci repack --refresh-bundle --image "$layout:latest" "$bundle"

# Layer 3: a small change on top, so a store shares two layers with the layer-2 image.
echo "burrow fixture" > "$r/etc/motd"
umoci repack --refresh-bundle --image "$layout:latest" "$bundle"
umoci config --image "$layout:latest" \
    --config.cmd sh --config.env PATH=/bin --config.workingdir / \
    --author "burrow tests" --architecture "$(dpkg --print-architecture)" --os linux
umoci gc --layout "$layout"

# --- debian: mmdebstrap minbase bookworm (the release of $release), one layer ---------------
layout=$out.tmp/oci/debian
bundle=$work/debian
mmdebstrap --quiet --variant=minbase --mode=root bookworm "$work/debian.tar" "$mirror"
umoci init --layout "$layout"
umoci new --image "$layout:latest"
umoci unpack --image "$layout:latest" "$bundle"
tar -C "$bundle/rootfs" --numeric-owner --xattrs --xattrs-include='*' -xpf "$work/debian.tar"
umoci repack --image "$layout:latest" "$bundle"
umoci config --image "$layout:latest" --config.cmd bash \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --architecture "$(dpkg --print-architecture)" --os linux
umoci gc --layout "$layout"

echo "$release" > "$out.tmp/debian-release"
chmod -R a+rX "$out.tmp"
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/done"
echo "$out" > "$pointer"
echo "fixtures: built in $out"
