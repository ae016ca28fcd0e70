#!/usr/bin/env bash
# Build the fixture images with tools no one here wrote: umoci makes OCI layouts from root
# file systems, busybox-static fills one, mmdebstrap makes a Debian one. Run as root (umoci
# keeps the owners it sees). Output, cached by a hash of this script and of the Debian
# snapshot, so only the first run pays:
#   $BURROW_FIXTURES (default /var/tmp/burrow-fixtures/<hash>)/oci/{busybox,debian}  (tag: latest)
#
#   tests/setup/fixtures.sh          build (as root), unless cached
#   tests/setup/fixtures.sh --dir    print the output dir and exit: the e2e harness
#                                    (tests/e2e/common) and the benches ask this, so all
#                                    agree on the key
# Env: BURROW_DEBIAN_SNAPSHOT  the Debian archive as of this snapshot.debian.org time
#                              (YYYYMMDDTHHMMSSZ), so a rebuild gets the same packages;
#      BURROW_DEBIAN_MIRROR    another mirror that serves that snapshot (a local copy).
set -euo pipefail
snapshot=${BURROW_DEBIAN_SNAPSHOT:-20250315T000000Z}
if ! [[ $snapshot =~ ^[0-9]{8}T[0-9]{6}Z$ ]]; then
    echo "fixtures: BURROW_DEBIAN_SNAPSHOT=$snapshot is not a snapshot.debian.org time such as 20250315T000000Z" >&2
    exit 1
fi
key=$({ cat "$0"; echo "debian-snapshot=$snapshot"; } | sha256sum | cut -c1-16)
out=${BURROW_FIXTURES:-/var/tmp/burrow-fixtures/$key}
if [ "${1:-}" = --dir ]; then
    echo "$out"
    exit 0
fi
[ -e "$out/done" ] && { echo "fixtures: cached in $out"; exit 0; }
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

# --- debian: mmdebstrap minbase bookworm as of $snapshot, one layer ----------------------
layout=$out.tmp/oci/debian
bundle=$work/debian
mirror=${BURROW_DEBIAN_MIRROR:-http://snapshot.debian.org/archive/debian/$snapshot}
# A snapshot's Release file may be past its Valid-Until date: that is the point of it.
mmdebstrap --quiet --variant=minbase --mode=root --aptopt='Acquire::Check-Valid-Until "false"' \
    bookworm "$work/debian.tar" "$mirror"
umoci init --layout "$layout"
umoci new --image "$layout:latest"
umoci unpack --image "$layout:latest" "$bundle"
tar -C "$bundle/rootfs" --numeric-owner --xattrs --xattrs-include='*' -xpf "$work/debian.tar"
umoci repack --image "$layout:latest" "$bundle"
umoci config --image "$layout:latest" --config.cmd bash \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --architecture "$(dpkg --print-architecture)" --os linux
umoci gc --layout "$layout"

echo "$snapshot" > "$out.tmp/debian-snapshot"
chmod -R a+rX "$out.tmp"
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/done"
echo "fixtures: built in $out"
