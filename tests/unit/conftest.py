# Make this checkout importable as ansible_collections.microvm.credentials, as
# ansible-test does, so unit tests run with plain pytest too.
import hashlib
import os
import sys
import tempfile

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
