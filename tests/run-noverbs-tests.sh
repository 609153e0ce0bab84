#!/bin/sh
# run-noverbs-tests.sh: configure --without-verbs builds a library with MPI alone (no
# libibverbs, no librdmacm), gallocy-info says so, and the MPI suite passes on it.  Builds a
# clone of this checkout's HEAD in a temporary folder.  Run by .ci/run; prints the verdicts
# and "N passed, N failed".
here=$(cd "$(dirname "$0")" && pwd)
. "$here/verdicts.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log="$tmp/build.log"
git clone -q "$here/.." "$tmp/src" &&
    (cd "$tmp/src" && ./autogen.sh && ./configure --enable-werror --without-verbs &&
     make -j2 && make -j2 tests/test_gallocy) >"$log" 2>&1
rc=$?
[ $rc -eq 0 ] || tail -n 30 "$log"
verdict "without verbs: configure --without-verbs and make succeed" $rc
b="$tmp/src"
grep -q '^configure: transports: mpi;' "$log"
verdict "without verbs: configure says it builds mpi alone" $?
! ldd "$b/.libs/libgallocy.so" | grep -q 'libibverbs\|librdmacm'
verdict "without verbs: libgallocy.so needs neither libibverbs nor librdmacm" $?
"$b/tools/gallocy-info" --json | grep -q '"transports": {"built": \["mpi"\], "auto": "mpi"'
verdict "without verbs: gallocy-info lists mpi alone, and auto takes it" $?
out=$(GALLOCY_TRANSPORT=verbs timeout 120 mpirun -np 2 -x GALLOCY_TRANSPORT "$b/examples/hello" 2>&1)
echo "$out" | grep -q 'GALLOCY_TRANSPORT=verbs is not auto or mpi'
verdict "without verbs: GALLOCY_TRANSPORT=verbs is refused by name, listing what there is" $?
timeout 300 mpirun -np 2 "$b/tests/test_gallocy" >"$tmp/suite.log" 2>&1
rc=$?
tail -n 3 "$tmp/suite.log"
tally "without verbs: the MPI suite at 2 ranks" $rc "$tmp/suite.log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
