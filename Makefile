# microvm.credentials: tests and demo.
#
# On a fresh Debian 12 machine (root, with make, git and python3) `make test`
# and `make demo` do all the setup: apt packages, the Python venv, the guest
# and host images.
#
#   make deps       apt packages (tools/apt-packages.txt) and .venv
#   make images     guest microVM images + podman host images, Debian 12 and 13 (cached)
#   make demo-images  only the Debian 12 pair the demo uses
#   make unit       unit tests
#   make sanity     ansible-test sanity on a copy of the tracked files
#   make lint       ansible-lint --profile production, and changelog-lint
#   make changelog-lint  antsibull-changelog lint (changelogs/fragments)
#   make build-check  build the collection, install the tarball offline, use it
#   make molecule   molecule scenarios (default; cloud-hypervisor when usable)
#   make integration  integration tests (host containers, real guests)
#   make test       all of the above
#   make demo       tools/demo.sh (builds the venv and the Debian 12 images, in parallel)
#   make bench      benchmarks/run.py: figures, no pass/fail (benchmarks/README.md)
#   make matrix     unit, sanity and a converge per ansible-core release and Python (tools/matrix.sh; not in test)
#   make security-scores  systemd-analyze security of the sandboxed units on a host container
#   make clean      remove .venv, .build and caches in the work tree
#   make clean-images  remove the guest image and the podman host image

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test
.DELETE_ON_ERROR:

ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
export PATH := $(VENV)/bin:$(PATH)
# Podman 4.3 reads only this file when it is set: selects runc.
export CONTAINERS_CONF := $(ROOT)/molecule/containers.conf
export MICROVM_CACHE ?= /var/cache/microvm-credentials
# The host images' tags (tools/build-host-image.sh, tools/demo.sh, molecule, the harness).
export MICROVM_HOST_IMAGE ?= localhost/microvm-host:bookworm
export MICROVM_TRIXIE_IMAGE ?= localhost/microvm-host:trixie
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0
export DEBIAN_FRONTEND := noninteractive
# Python warnings that are not ours (tools/foreign-warnings.txt), after the caller's own.
comma := ,
FOREIGN_WARNINGS := $(shell sed -e '/^\#/d' -e '/^[[:space:]]*$$/d' tools/foreign-warnings.txt | paste -sd, -)
export PYTHONWARNINGS := $(if $(PYTHONWARNINGS),$(PYTHONWARNINGS)$(comma))$(FOREIGN_WARNINGS)

# The system Python (Debian 12: 3.11) makes the venv.
PYTHON ?= /usr/bin/python3
SANITY_PYTHON ?= 3.11
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
COLLECTION_COPY := $(ROOT)/.build/ansible_collections/microvm/credentials

.PHONY: all deps apt-deps venv images demo-images guest-image host-image unit sanity lint changelog-lint build-check \
	molecule integration test demo bench matrix security-scores clean clean-images \
	guest-image-bookworm guest-image-trixie host-image-bookworm host-image-trixie

all: test

# --- setup -------------------------------------------------------------------

deps: apt-deps venv

# apt-get update only when something is missing.
apt-deps:
	@want=$$(sed -e 's/#.*//' -e '/^[[:space:]]*$$/d' tools/apt-packages.txt); \
	missing=""; \
	for p in $$want; do \
	  dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed$$' \
	    || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing$$missing"; \
	  $(SUDO) apt-get update -q; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

# pip runs only when requirements.txt changed (its hash is the stamp).
venv: apt-deps
	@want=$$(sha256sum requirements.txt | cut -d' ' -f1); \
	if [ -x $(VENV)/bin/python ] && [ "$$(cat $(VENV)/.requirements.sha256 2>/dev/null)" = "$$want" ]; then \
	  exit 0; \
	fi; \
	[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV); \
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt; \
	echo "$$want" > $(VENV)/.requirements.sha256

# Both scripts keep their own cache key (hash of the build script and tools/lib.sh, and of
# tools/guest-overlay/ for the guest) and return at once when up to date. The builds run
# in parallel: each is mostly one debootstrap, which waits on the network and on dpkg.
# Debian 12 (systemd 252) is what the demo and most tests use; Debian 13 (systemd 257,
# ImportCredential=, virtiofsd) only tests/integration/test_debian13.py and tools/matrix.sh.
images:
	@$(MAKE) --no-print-directory -j4 demo-images guest-image-trixie host-image-trixie

demo-images: guest-image-bookworm host-image-bookworm

guest-image: guest-image-bookworm guest-image-trixie
host-image: host-image-bookworm host-image-trixie

guest-image-bookworm guest-image-trixie: guest-image-%: apt-deps
	tools/build-guest-image.sh --suite $*

host-image-bookworm host-image-trixie: host-image-%: apt-deps
	tools/build-host-image.sh --suite $*

# --- tests -------------------------------------------------------------------

unit: venv
	$(VENV)/bin/pytest tests/unit

# ansible-test wants the collection under ansible_collections/NS/NAME: copy
# the files git knows (tracked, and untracked but not ignored, as they are in
# the work tree) there. The copy gets its own git index, since ansible-test
# lists its targets with git and .build/ is ignored in this repository.
$(COLLECTION_COPY): FORCE
	@rm -rf $@ && mkdir -p $@
	@git ls-files -z --cached --others --exclude-standard \
	  | rsync -a --from0 --files-from=- --ignore-missing-args ./ $@/
	@cd $@ && git init -q && git add -A

# All default tests, no ignores (tests/sanity/ignore-*.txt stay empty/absent).
# tools/sanity.sh makes ansible-test's per-test venvs work offline (PyPI only)
# and pins the content root to the copy (see the script).
sanity: venv $(COLLECTION_COPY)
	tools/sanity.sh $(COLLECTION_COPY) --python $(SANITY_PYTHON) --color no

# Settings and excludes in .ansible-lint.
lint: venv changelog-lint
	$(VENV)/bin/ansible-lint --profile production

changelog-lint: venv
	$(VENV)/bin/antsibull-changelog lint

# --noconftest: tests/integration/conftest.py gates the container tests on the
# podman images (skips, or fails under CI); this test needs neither.
build-check: venv
	$(VENV)/bin/pytest --noconftest tests/integration/test_collection_build.py

molecule: venv images
	molecule test -s default
	@if reason=$$(tools/kvm-usable.sh 2>&1 >/dev/null); then \
	  MICROVM_CH_BINARY=$$(command -v cloud-hypervisor) molecule test -s cloud-hypervisor; \
	else \
	  kvm=$$(tools/kvm-usable.sh --kvm-only 2>&1 >/dev/null) && kvm="KVM boots stock kernels"; \
	  echo "SKIPPED cloud-hypervisor scenario: $$reason; $$kvm"; \
	fi

# Real host containers and real guests: bad input, leak scan, rotation, faults. Test files
# run on INTEGRATION_WORKERS pytest-xdist workers, a whole file on one (its module fixtures,
# host containers, stay on it): while one worker's guest boots under TCG, the other's
# ansible runs. INTEGRATION_WORKERS=0 runs them in this process, one after the other.
INTEGRATION_WORKERS ?= 2
integration: venv images
	$(VENV)/bin/pytest -n $(INTEGRATION_WORKERS) --dist loadfile --durations=20 tests/integration \
	  --ignore=tests/integration/test_collection_build.py

# The order (checks while the images build, molecule beside the checks, the integration
# tests last on both cores) and each step's time: tools/test.sh.
test: deps
	MAKE=$(MAKE) tools/test.sh

# Only what the demo needs: the venv and the Debian 12 images, built side by side.
demo:
	@$(MAKE) --no-print-directory -j3 venv demo-images
	tools/demo.sh

# BENCH_ARGS, e.g. make bench BENCH_ARGS='--quick --only 1,2'
bench: deps images
	$(VENV)/bin/python benchmarks/run.py $(BENCH_ARGS)

# tests/matrix/versions.txt; MATRIX_FILTER, e.g. make matrix MATRIX_FILTER=2.21
matrix: venv images
	tools/matrix.sh $(MATRIX_FILTER)

# Boots two guests in a host container (tests/integration/test_isolation.py) and
# prints the overall exposure of microvm@ (TCG and KVM) and microvm-virtiofsd@.
security-scores: venv images
	$(VENV)/bin/pytest -s tests/integration/test_isolation.py -k security_scores

clean:
	rm -rf .build .pytest_cache $(VENV)
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

# The images live outside the work tree and are shared by checkouts.
clean-images:
	rm -rf $(MICROVM_CACHE)/guest $(MICROVM_CACHE)/guest-trixie
	-podman rmi -f $(MICROVM_HOST_IMAGE) $(MICROVM_TRIXIE_IMAGE)

FORCE:
