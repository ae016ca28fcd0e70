#!/usr/bin/env python3
"""Compare two saved images (docker-archive or OCI tars with Docker's
manifest.json): the config fields a Dockerfile sets, and the flattened file
trees (path, type, mode, owner, size, sha256, link target). Used by
tests/conformance/buildah. Prints "same" or "differs: <first differences>";
exit 0 when same, 1 when they differ, 2 when an archive cannot be read.

    imgcmp.py A.tar B.tar [--ignore PATH]...
"""
import hashlib
import io
import json
import sys
import tarfile

FIELDS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes",
          "Labels", "StopSignal", "Healthcheck", "Shell", "OnBuild"]
STUB_FILES = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run/.containerenv"}
STUB_DIRS = {"/dev", "/proc", "/sys", "/run"}


def load(path):
    outer = tarfile.open(path)
    members = {m.name.lstrip("./"): m for m in outer.getmembers()}

    def read(name):
        return outer.extractfile(members[name.lstrip("./")]).read()

    manifest = json.loads(read("manifest.json"))[0]
    config = json.loads(read(manifest["Config"]))
    tree = {}
    for layer in manifest["Layers"]:
        data = read(layer)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as lt:
            # Deletions of this layer first (whiteouts apply to lower layers only).
            entries = lt.getmembers()
            for m in entries:
                name = "/" + m.name.lstrip("./").rstrip("/")
                base = name.rsplit("/", 1)[-1]
                parent = name.rsplit("/", 1)[0] or "/"
                if base == ".wh..wh..opq":
                    pre = parent.rstrip("/") + "/"
                    for k in [k for k in tree if k.startswith(pre)]:
                        del tree[k]
                elif base.startswith(".wh."):
                    gone = parent.rstrip("/") + "/" + base[4:]
                    for k in [k for k in tree if k == gone or k.startswith(gone + "/")]:
                        del tree[k]
            for m in entries:
                name = "/" + m.name.lstrip("./").rstrip("/")
                base = name.rsplit("/", 1)[-1]
                if base.startswith(".wh."):
                    continue
                if name == "/":
                    continue
                if m.isdir():
                    kind, size, digest, link = "dir", 0, "", ""
                elif m.issym():
                    kind, size, digest, link = "symlink", 0, "", m.linkname
                elif m.islnk():
                    target = "/" + m.linkname.lstrip("./")
                    prev = tree.get(target)
                    kind, size, digest, link = "file", prev[4] if prev else 0, prev[5] if prev else "?", ""
                elif m.isfile():
                    body = lt.extractfile(m).read()
                    kind, size, digest, link = "file", len(body), hashlib.sha256(body).hexdigest()[:16], ""
                else:
                    kind, size, digest, link = "type%s" % m.type.decode(), 0, "", ""
                # A non-directory replaces whatever was there, with its children.
                if kind != "dir":
                    for k in [k for k in tree if k.startswith(name + "/")]:
                        del tree[k]
                tree[name] = (kind, "%04o" % (m.mode & 0o7777), m.uid, m.gid, size, digest, link)
    cfg = config.get("config") or {}
    fields = {}
    for f in FIELDS:
        v = cfg.get(f)
        if v in (None, {}, [], ""):
            v = None
        fields[f] = v
    return fields, tree


def main():
    args = sys.argv[1:]
    ignore = []
    while "--ignore" in args:
        i = args.index("--ignore")
        ignore.append(args[i + 1])
        del args[i:i + 2]
    try:
        (ca, ta), (cb, tb) = load(args[0]), load(args[1])
    except Exception as e:  # an unreadable archive is a failed case, not a crash
        print("fails: cannot read an archive: %s" % e)
        return 2
    # podman's own marks, not Docker's: its version label, and the mount
    # points its RUN steps leave (empty files and dirs that Docker's layers
    # never hold). Counted, not compared.
    notes = []
    labels = cb.get("Labels") or {}
    if "io.buildah.version" in labels and "io.buildah.version" not in (ca.get("Labels") or {}):
        labels = {k: v for k, v in labels.items() if k != "io.buildah.version"}
        cb["Labels"] = labels or None
        notes.append("podman's io.buildah.version label")
    stubs = [p for p, e in tb.items() if p not in ta and (
        (p in STUB_FILES and e[0] == "file" and e[4] == 0) or (p in STUB_DIRS and e[0] == "dir"))]
    for p in stubs:
        del tb[p]
    if stubs:
        notes.append("podman's RUN mount points " + ",".join(sorted(stubs)))
    diffs = []
    for f in FIELDS:
        if ca[f] != cb[f]:
            diffs.append("config %s: %s vs %s" % (f, json.dumps(ca[f]), json.dumps(cb[f])))
    for p in sorted(set(ta) | set(tb)):
        if any(p == i or p.startswith(i.rstrip("/") + "/") for i in ignore):
            continue
        a, b = ta.get(p), tb.get(p)
        if a != b:
            diffs.append("%s: %s vs %s" % (p, a, b))
    if not diffs:
        print("same (%d paths)%s" % (len(ta), "; ignored " + "; ".join(notes) if notes else ""))
        return 0
    print("differs (%d): %s" % (len(diffs), " | ".join(diffs[:6])))
    return 1


if __name__ == "__main__":
    sys.exit(main())
