# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A host module's AnsiballZ code, kept from one run to the next, keyed by its sources.

Ansible zips a module with the module_utils it imports once per run, into its per-run
cache (``ansiballz_cache`` in ``DEFAULT_LOCAL_TMP``, removed when the run ends): a
quarter of a second of controller CPU for each of the role's two host modules, an eighth
of a converge that changes nothing. The files Ansible writes there for a module are
copied to ``KEEP/KEY/`` beside the per-run directories (``~/.ansible/tmp`` by default)
and put back into the next run's cache before the module is built, so Ansible finds them
and builds nothing.

KEY covers every file the zip can hold and everything the build depends on: the
ansible-core version and its module_utils tree, the configured module_utils paths, the
module and its collection's module_utils tree (path, size and modification time of each
``.py`` file, as Python's own bytecode cache checks its sources), the Python version and
the module compression. A change to any of them is a new key; old keys are never read.

The files are Ansible's own (a pickle in ansible-core 2.19): KEEP is used only when this
user made it, private (0700), so nobody else can put code there. They hold no secret:
Ansible adds the module's arguments after its cache, when it sends the module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import hashlib
import os
import shutil
import stat
import sys
import tempfile

from ansible import constants as C
from ansible.module_utils import __file__ as _module_utils_init
from ansible.release import __version__ as ansible_version

KEEP = "microvm-credentials-ansiballz"
RUN_CACHE = "ansiballz_cache"  # ansible-core's per-run cache directory in DEFAULT_LOCAL_TMP


def _tree(root):
    """[(relative path, size, mtime_ns)] of the .py files under ROOT (none if it is missing)."""
    entries = []
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(f for f in files if f.endswith(".py")):
            st = os.stat(os.path.join(top, name))
            entries.append((os.path.relpath(os.path.join(top, name), root), st.st_size, st.st_mtime_ns))
    return entries


def key(module_path, module_utils_roots, versions):
    """The digest naming the payload of MODULE_PATH built from MODULE_UTILS_ROOTS (every
    directory its imports can be found in) with VERSIONS (ansible-core, Python, compression)."""
    digest = hashlib.sha256(repr(list(versions)).encode("utf-8"))
    st = os.stat(module_path)
    digest.update(repr((os.path.abspath(module_path), st.st_size, st.st_mtime_ns)).encode("utf-8"))
    for root in module_utils_roots:
        digest.update(repr((os.path.abspath(root), _tree(root))).encode("utf-8"))
    return digest.hexdigest()


def private_dir(path):
    """PATH as a directory of this user's, mode 0700, made if missing; None if it is anything
    else (a symbolic link, another owner, open to others): its files would not be trusted."""
    try:
        os.mkdir(path, 0o700)
    except OSError:
        pass
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        return None
    return path


def _copy(src, directory):
    """Copy SRC into DIRECTORY under the same name, whole or not at all (temporary file, rename)."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as data:
            shutil.copyfileobj(data, out)
        os.replace(tmp, os.path.join(directory, os.path.basename(src)))
    except BaseException:
        os.unlink(tmp)
        raise


def _own_files(directory, prefix):
    """The files of DIRECTORY Ansible wrote for the module PREFIX names (not its locks, not partial files)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return set()
    return set(n for n in names if n.startswith(prefix) and not n.endswith((".lock", "-part", ".tmp")))


@contextlib.contextmanager
def reused(run_tmp, prefix, module_path, module_utils_roots, versions):
    """Around the build of the module named PREFIX (its fully qualified name) in the run whose
    DEFAULT_LOCAL_TMP is RUN_TMP: its kept files first, then what Ansible built kept."""
    keep = private_dir(os.path.join(os.path.dirname(os.path.abspath(run_tmp)), KEEP))
    if keep is None:
        yield
        return
    kept = os.path.join(keep, key(module_path, module_utils_roots, versions))
    run_cache = os.path.join(run_tmp, RUN_CACHE)
    try:
        os.makedirs(run_cache, 0o700, exist_ok=True)
        for name in _own_files(kept, prefix) - _own_files(run_cache, prefix):
            _copy(os.path.join(kept, name), run_cache)
    except OSError:
        pass  # no cache: Ansible builds the module as it always does
    yield
    try:
        new = _own_files(run_cache, prefix) - _own_files(kept, prefix)
        if not new:
            return
        os.makedirs(kept, 0o700, exist_ok=True)
        for name in new:
            _copy(os.path.join(run_cache, name), kept)
        # The module's payloads under older keys will never be read again.
        for other in os.listdir(keep):
            if other != os.path.basename(kept) and _own_files(os.path.join(keep, other), prefix):
                shutil.rmtree(os.path.join(keep, other), ignore_errors=True)
    except OSError:
        pass


def for_action(action, module_name):
    """reused() for the module MODULE_NAME (a collection module) of ACTION (an ActionBase); an
    action without Ansible's plugin loaders (a unit test's) builds as Ansible does."""
    if getattr(action, "_shared_loader_obj", None) is None:
        return contextlib.nullcontext()
    context = action._shared_loader_obj.module_loader.find_plugin_with_context(module_name, collection_list=action._task.collections)
    if not context.resolved or not context.plugin_resolved_path or not context.resolved_fqcn.count(".") == 2:
        return contextlib.nullcontext()
    namespace, collection, name = context.resolved_fqcn.split(".")
    module_path = context.plugin_resolved_path
    roots = [os.path.join(os.path.dirname(os.path.dirname(module_path)), "module_utils"), os.path.dirname(_module_utils_init)]
    roots += [p for p in C.DEFAULT_MODULE_UTILS_PATH or [] if os.path.isdir(p)]
    prefix = "ansible_collections.%s.%s.plugins.modules.%s-" % (namespace, collection, name)
    return reused(C.DEFAULT_LOCAL_TMP, prefix, module_path, roots, (ansible_version, sys.version, C.DEFAULT_MODULE_COMPRESSION))
