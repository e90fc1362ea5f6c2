"""Search every file of a host for byte patterns; runs ON the host (python3 -c SOURCE).

The patterns arrive on stdin (never argv, never a file), as JSON:
    {"patterns": [[label, hex_bytes], ...], "skip_fstypes": [...]}
stdout gets JSON:
    {"mounts": [[target, fstype], ...], "files": n, "hits": [[path, member, label, fstype], ...],
     "ansiballz": {path: {"members": [...], "params": bool}}, "vanished": [path, ...], "errors": [[path, why], ...]}

Every mount of the host is walked on its own (a walk never crosses into another
mount), except those of a pseudo filesystem type (skip_fstypes) and under /proc and /sys.
Each hit names its path; `member` is None for the file's own bytes, a zip member name
for files that are zips, and for Ansible module wrappers (AnsiballZ_*.py) the members
of the embedded base64 zip and "<params>" for the module arguments (JSON, decoded).

grep -F (with its multi-pattern search) finds the candidate files among all of them;
Python then tells which pattern is where. grep patterns cannot hold a newline, so
grep looks for the longest newline-free piece of each pattern.
"""

import ast
import base64
import io
import json
import mmap
import os
import subprocess
import sys
import zipfile

ZIP_MAGIC = b"PK\x03\x04"
MMAP_FROM = 16 << 20
PARAMS = "<params>"
GREP_BATCH = 512


def mounts():
    """{target: fstype} of every mount, the topmost one per target."""
    out = subprocess.run(["findmnt", "-rn", "-o", "TARGET,FSTYPE"], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        target, fstype = line.split(" ", 1)
        # findmnt -r escapes blanks and odd bytes as \xNN.
        found[target.encode("latin-1").decode("unicode_escape")] = fstype
    return found


def walked(found, skip_fstypes):
    """[(target, fstype)] of the mounts that can hold files: no pseudo filesystems, nothing of /proc or /sys."""
    return sorted((t, f) for t, f in found.items()
                  if f not in skip_fstypes and t not in ("/proc", "/sys") and not t.startswith(("/proc/", "/sys/")))


def is_file(path):
    return os.path.isfile(path) and not os.path.islink(path)


def files_of(target, other_targets):
    """Regular files under one mount, not descending into any other mount."""
    if is_file(target):
        yield target
        return
    for top, dirs, names in os.walk(target):
        dirs[:] = [d for d in dirs if os.path.join(top, d) not in other_targets]
        for name in names:
            path = os.path.join(top, name)
            if path not in other_targets and is_file(path):
                yield path


def grep_piece(pattern):
    return max(pattern.split(b"\n"), key=len)


def grep_candidates(paths, patterns, report):
    """The paths in which grep -F finds the newline-free piece of some pattern.

    The pattern list lives in a memfd: grep reads it by path, and it is on no filesystem.
    """
    fd = os.memfd_create("leak-patterns")
    try:
        os.write(fd, b"\n".join(sorted(set(grep_piece(p) for p in patterns))) + b"\n")
        found = set()
        for i in range(0, len(paths), GREP_BATCH):
            proc = subprocess.run(["grep", "-l", "-a", "-F", "-Z", "-f", "/proc/self/fd/%d" % fd, "--"] + paths[i:i + GREP_BATCH],
                                  pass_fds=(fd,), capture_output=True, env={"LC_ALL": "C"}, check=False)
            if proc.returncode > 1:
                grep_errors(proc.stderr.decode("utf-8", "surrogateescape"), report)
            found.update(p.decode("utf-8", "surrogateescape") for p in proc.stdout.split(b"\0") if p)
        return found
    finally:
        os.close(fd)


def grep_errors(stderr, report):
    """Sort grep's complaints: files deleted since the walk, and real errors."""
    for line in stderr.splitlines():
        if line.startswith("grep: ") and line.endswith(": No such file or directory"):
            report["vanished"].append(line[len("grep: "):-len(": No such file or directory")])
        else:
            report["errors"].append(["grep", line])


def read(path):
    """The file's bytes: an mmap for big files (searchable like bytes), b"" when empty."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return b""
        if size >= MMAP_FROM:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        return f.read()


def starts_with(path, magic):
    with open(path, "rb") as f:
        return f.read(len(magic)) == magic


def ansiballz_parts(source):
    """(zip bytes, params JSON text or None) embedded in an AnsiballZ wrapper.

    ansible-core 2.19 ends the wrapper with `_ansiballz_main(zip_data='...', params='...', ...)`;
    older versions assign `ZIPDATA = \"\"\"...\"\"\"` and carry the params inside the zip.
    """
    zip_data, params = None, None
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "zip_data":
                    zip_data = ast.literal_eval(kw.value)
                elif kw.arg == "params":
                    params = ast.literal_eval(kw.value)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ZIPDATA" for t in node.targets):
            zip_data = ast.literal_eval(node.value)
    if zip_data is None:
        raise ValueError("no embedded zip found")
    return base64.b64decode(zip_data), params


def zip_members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist()]


def json_strings(value):
    """Every string of a JSON document (keys too), as the module would see it."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from json_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from json_strings(v)
    elif isinstance(value, str):
        yield value


def decoded_params(params):
    return b"\n".join(s.encode("utf-8", "surrogatepass") for s in json_strings(json.loads(params)))


def embedded(path, report):
    """[(member, bytes)] that the file carries encoded: AnsiballZ payloads and zip members."""
    if os.path.basename(path).startswith("AnsiballZ_"):
        with open(path, "rb") as f:
            zip_data, params = ansiballz_parts(f.read().decode("utf-8"))
        members = zip_members(zip_data)
        report["ansiballz"][path] = {"members": [name for name, dummy in members], "params": params is not None}
        return members + ([(PARAMS, decoded_params(params))] if params is not None else [])
    if starts_with(path, ZIP_MAGIC):
        return zip_members(read(path))
    return []


def match(path, member, blob, fstype, patterns, report):
    for label, pattern in patterns:
        if blob.find(pattern) != -1:
            report["hits"].append([path, member, label, fstype])


def match_file(path, fstype, patterns, report):
    data = read(path)
    try:
        match(path, None, data, fstype, patterns, report)
    finally:
        if isinstance(data, mmap.mmap):
            data.close()


def scan(request):
    patterns = [(label, bytes.fromhex(value)) for label, value in request["patterns"]]
    found = mounts()
    report = {"mounts": walked(found, set(request["skip_fstypes"])), "files": 0, "hits": [], "ansiballz": {},
              "vanished": [], "errors": []}
    fstype_of = {}
    for target, fstype in report["mounts"]:
        fstype_of.update((path, fstype) for path in files_of(target, set(found) - {target}))
    report["files"] = len(fstype_of)
    candidates = grep_candidates(sorted(fstype_of), [p for dummy, p in patterns], report)
    for path, fstype in sorted(fstype_of.items()):
        try:
            if path in candidates:
                match_file(path, fstype, patterns, report)
            for member, blob in embedded(path, report):
                match(path, member, blob, fstype, patterns, report)
        except FileNotFoundError:
            report["vanished"].append(path)
        except (OSError, ValueError, SyntaxError, zipfile.BadZipFile) as exc:
            report["errors"].append([path, "%s: %s" % (type(exc).__name__, exc)])
    return report


if __name__ == "__main__":
    json.dump(scan(json.load(sys.stdin)), sys.stdout)
