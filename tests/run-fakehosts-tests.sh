#!/bin/sh
# run-fakehosts-tests.sh: jobs whose ranks sit on different hosts, with real TCP between them
# and no shared memory, using ../shared/fakehosts (network namespaces on this machine; root).
# One-sided traffic goes over UCX on TCP: Debian's Open MPI needs --mca osc ucx across hosts.
#   usage: run-fakehosts-tests.sh FAKEHOSTS TESTS_DIR
# Runs test_gallocy with one rank on each of 2 hosts (every suite) and of 3 hosts (alloc,
# coherence, coalloc, signals, mpi and syscalls: not sync, whose 4-threads-per-rank lock tests
# take most of 15 minutes when 3 ranks, their service threads and UCX's progress spin over
# TCP on 2 cores, nor notices).  Prints
# "N passed, N failed" over all runs.
fakehosts=$1
dir=$(cd "${2:-tests}" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
unset GALLOCY_TRANSPORT GALLOCY_HEAP_SIZE GALLOCY_COALLOC_SIZE GALLOCY_PREFETCH
. "$(dirname "$0")/verdicts.sh"
log=$(mktemp)
trap 'rm -f "$log"; "$fakehosts" down >/dev/null 2>&1' EXIT
ucx="--mca osc ucx -x UCX_TLS=tcp,self"

run() { # LABEL SECONDS COMMAND...
    label=$1 secs=$2
    shift 2
    echo "=== $label"
    start=$(date +%s)
    timeout "$secs" "$@" >"$log" 2>&1
    rc=$?
    grep -vE '^ok ' "$log" | tail -n 30
    echo "(${label}: $(( $(date +%s) - start )) s)"
    tally "$label" $rc "$log"
}

# shellcheck disable=SC2086
run "test_gallocy, 2 hosts, every suite" 900 "$fakehosts" mpirun 1 2 $ucx "$dir/test_gallocy"
# shellcheck disable=SC2086
run "test_gallocy, 3 hosts, alloc coherence coalloc signals mpi syscalls" 900 \
    "$fakehosts" mpirun 1 3 $ucx "$dir/test_gallocy" alloc coherence coalloc signals mpi syscalls

echo "=== all runs across hosts"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
