"""pytest hooks and fixtures of the integration tests; the harness itself is harness.py."""

import os

import pytest

pytest.register_assert_rewrite("harness")

from harness import requirements_missing, running_host  # noqa: E402  pylint: disable=wrong-import-position


def pytest_collection_modifyitems(config, items):
    missing = requirements_missing()
    if missing and os.environ.get("CI"):
        raise pytest.UsageError("integration tests cannot run in CI: " + missing)
    if missing:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=missing))


@pytest.fixture(scope="module")
def host(tmp_path_factory, request):
    with running_host(request, tmp_path_factory) as h:
        yield h
