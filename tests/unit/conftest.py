# Make this checkout importable as ansible_collections.microvm.credentials, as
# ansible-test does, so unit tests run with plain pytest too.
import hashlib
import os
import stat
import sys
import tempfile

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_PARTS = _ROOT.split(os.sep)
if _PARTS[-3:-1] == ["ansible_collections", "microvm"]:
    sys.path.insert(0, os.sep.join(_PARTS[:-3]))
else:
    _TREE = os.path.join(tempfile.gettempdir(), "microvm-credentials-pytest-" + hashlib.sha256(_ROOT.encode()).hexdigest()[:12])
    _LINK = os.path.join(_TREE, "ansible_collections", "microvm", "credentials")
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    if os.path.realpath(_LINK) != _ROOT:
        if os.path.islink(_LINK):
            os.unlink(_LINK)
        os.symlink(_ROOT, _LINK)
    sys.path.insert(0, _TREE)


@pytest.fixture
def watched_writes(monkeypatch):
    """(temporary file name, mode, content) of each os.rename, and for each os.fsync whether it was
    of a directory: what tells an atomic write that is durable (the file, then its directory)."""
    renamed, synced = [], []
    real_rename, real_fsync = os.rename, os.fsync

    def rename(src, dst):
        with open(src, "rb") as f:
            renamed.append((os.path.basename(src), stat.S_IMODE(os.stat(src).st_mode), f.read()))
        real_rename(src, dst)

    def fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "fsync", fsync)
    return renamed, synced


@pytest.fixture(scope="module")
def collection_finder():
    """Let lookup_loader find microvm.credentials.* and ansible.builtin.* (and their documented
    options), as in a playbook run or under ansible-test."""
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
    import ansible_collections.microvm.credentials as collection
    tree = os.path.dirname(os.path.dirname(os.path.dirname(list(collection.__path__)[0])))
    # The finder loads collection metadata only for packages it imports itself.
    saved = dict((k, sys.modules.pop(k)) for k in list(sys.modules) if k.split(".")[0] == "ansible_collections")
    _AnsibleCollectionFinder(paths=[tree])._install()
    yield
    _AnsibleCollectionFinder._remove()
    for k in [k for k in sys.modules if k.split(".")[0] == "ansible_collections"]:
        del sys.modules[k]
    sys.modules.update(saved)
