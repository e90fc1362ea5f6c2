from __future__ import absolute_import, division, print_function

__metaclass__ = type

import multiprocessing
import os
import stat
import time

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._store.lock import LockError, StoreLock, lock_path


def _hold(store, ready, release):
    with StoreLock(store, 5):
        ready.set()
        release.wait(30)


def _take_and_record(store, timeout, queue):
    started = time.time()
    try:
        with StoreLock(store, timeout):
            queue.put(("locked", time.time() - started))
    except LockError as exc:
        queue.put(("error", str(exc)))


@pytest.fixture
def holder(tmp_path):
    """Another process that holds the lock of tmp_path/store until release is set."""
    ctx = multiprocessing.get_context("fork")
    store = str(tmp_path / "inv" / ".microvm-credentials" / "host")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(store, ready, release))
    proc.start()
    assert ready.wait(10)
    yield ctx, store, release, proc
    if proc.is_alive():  # a killed waiter would make Event.set() wait for it forever
        release.set()
        proc.join(10)


def test_lock_file_is_a_sibling_of_the_store_and_private(tmp_path):
    store = str(tmp_path / "inv" / ".microvm-credentials" / "host")
    assert lock_path(store + "/") == str(tmp_path / "inv" / ".microvm-credentials" / ".host.lock")
    with StoreLock(store, 1):
        pass
    assert stat.S_IMODE(os.stat(lock_path(store)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(store)).st_mode) == 0o700
    assert not os.path.exists(store)  # the store itself holds only secrets


def test_second_process_waits_for_the_first(holder):
    ctx, store, release, dummy = holder
    queue = ctx.Queue()
    waiter = ctx.Process(target=_take_and_record, args=(store, 30, queue))
    waiter.start()
    time.sleep(1.0)
    assert queue.empty(), "the second process got the lock while the first held it"
    release.set()
    state, waited = queue.get(timeout=10)
    waiter.join(10)
    assert state == "locked" and waited >= 1.0


def test_second_process_times_out_with_a_clear_message(holder):
    ctx, store, dummy, dummy2 = holder
    queue = ctx.Queue()
    waiter = ctx.Process(target=_take_and_record, args=(store, 1, queue))
    waiter.start()
    state, message = queue.get(timeout=10)
    waiter.join(10)
    assert state == "error"
    assert message.startswith("microvm_credentials_store: another run has held the store's lock %s for more than 1 seconds"
                              % lock_path(store))


def test_lock_is_dropped_when_its_holder_dies(holder):
    ctx, store, dummy, proc = holder
    proc.kill()
    proc.join(10)
    with StoreLock(store, 2):
        pass


def test_check_mode_creates_nothing(tmp_path):
    store = str(tmp_path / "none" / "host")
    with StoreLock(store, 1, create=False):
        pass
    assert not os.path.exists(str(tmp_path / "none"))


def test_unusable_lock_file_names_the_variable(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(LockError, match="^my_store: cannot create the store's directory"):
        StoreLock(str(tmp_path / "file" / "sub" / "host"), 1, var_name="my_store").acquire()
    os.symlink("/nonexistent", str(tmp_path / ".host.lock"))
    with pytest.raises(LockError, match="^microvm_credentials_store: cannot open the lock file %s" % tmp_path):
        StoreLock(str(tmp_path / "host"), 1).acquire()
