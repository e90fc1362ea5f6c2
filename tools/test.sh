#!/usr/bin/env bash
# `make test`: every suite, ordered for a machine with two cores, with each step's time.
#
#   background: images, then molecule (its log: .build/molecule.log, printed at the end)
#   foreground: unit, build-check, sanity, lint (one core), then, once the images are
#               built, the integration tests (two pytest workers, both cores)
#
# The checks need no image, so they run while the images build; molecule boots its guest as
# soon as the images exist, beside the checks, not beside the integration tests' two workers.
# A failed check still lets the images and molecule finish, but skips the integration tests.
# Called by the Makefile, with its environment (PATH with the venv, CONTAINERS_CONF, ...).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit
MAKE=${MAKE:-make}
mkdir -p .build
rm -f .build/images.rc .build/molecule.log .build/test-steps.log

# step NAME COMMAND...: run it, then say how it ended and when (seconds since the start),
# also in .build/test-steps.log, printed at the end.
step() {
    local name=$1 start=$SECONDS rc=0
    shift
    "$@" || rc=$?
    echo "[make test] $name: exit $rc, $((SECONDS - start)) s, ended at $SECONDS s" | tee -a .build/test-steps.log
    return $rc
}

{
    rc=0
    step images "$MAKE" --no-print-directory images || rc=$?
    echo $rc > .build/images.rc
    [ $rc = 0 ] && step molecule "$MAKE" --no-print-directory molecule > .build/molecule.log 2>&1
} &
background=$!

failed=0
for check in unit build-check sanity lint; do
    step "$check" "$MAKE" --no-print-directory "$check" || failed=1
done
while [ ! -s .build/images.rc ]; do sleep 2; done
if [ "$(cat .build/images.rc)" != 0 ]; then
    failed=1
elif [ $failed = 0 ]; then
    step integration "$MAKE" --no-print-directory integration || failed=1
fi
wait $background || failed=1

echo "--- make molecule (ran beside the checks) ---"
cat .build/molecule.log 2>/dev/null
echo "--- make test: the steps ---"
cat .build/test-steps.log
echo "[make test] $([ $failed = 0 ] && echo passed || echo FAILED) after $SECONDS s"
exit $failed
