#!/bin/sh
# run-verbs-tests.sh: the verbs transport on a real RDMA device.  Run it inside the
# Soft-RoCE VM, on a tree built on the host:
#     ../shared/rxe-vm/rxe-run -t 2400 -- sh tests/run-verbs-tests.sh tests
# It runs the verbs tests alone (test_verbs at 2 and 4 ranks); a READ with a bad remote key,
# a READ from a rank stopped before anyone connected to it, a WRITE to memory never exposed
# and an RLIMIT_MEMLOCK too small for init (each must end the job with a message naming the
# problem); allocations refused for want of locked or free memory (ENOMEM and the numbers);
# then the whole make-check suite (run-tests.sh) with GALLOCY_TRANSPORT=verbs at 2 and 4
# ranks with 64 MiB heaps (the VM emulates RDMA slowly); test_gallocy at 2 ranks with the
# default sizes; and the benchmarks' smoke run.  Prints "N passed, N failed"
# over all of it; exits non-zero on a failure.
dir=${1:-tests}
src=$(dirname "$0")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
if ! ibv_devices 2>/dev/null | grep -q rxe; then
    echo "run-verbs-tests.sh: no RDMA device here; run it inside ../shared/rxe-vm/rxe-run"
    echo "0 passed, 1 failed"
    exit 1
fi
. "$src/verdicts.sh"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# expect dies|answers LABEL SECONDS NEEDLE... -- COMMAND...: the command must end in time and
# say every needle; "dies": fail (and never print "survived"), "answers": succeed.
expect() {
    outcome=$1 label=$2 secs=$3
    shift 3
    needles=""
    while [ "$1" != "--" ]; do needles="$needles|$1"; shift; done
    shift
    echo "=== $label"
    timeout "$secs" "$@" >"$log" 2>&1
    rc=$?
    ok=1
    if [ "$outcome" = dies ]; then
        { [ $rc -eq 0 ] || [ $rc -eq 124 ]; } && ok=0
        grep -q survived "$log" && ok=0
    else
        [ $rc -eq 0 ] || ok=0
    fi
    IFS='|'
    for n in $needles; do
        [ -n "$n" ] && ! grep -qF -- "$n" "$log" && { echo "*** missing: $n"; ok=0; }
    done
    unset IFS
    if [ $ok -eq 1 ]; then
        grep gallocy "$log" | head -n 2
        verdict "$label" 0
    else
        cat "$log"
        verdict "$label (status $rc)" 1
    fi
}

for np in 2 4; do
    echo "=== test_verbs, $np ranks"
    timeout 600 mpirun -np $np "$dir/test_verbs" >"$log" 2>&1
    rc=$?
    cat "$log"
    tally "test_verbs, $np ranks" $rc "$log"
done

expect dies "a READ with a bad remote key ends the job, named" 300 \
    "RDMA READ of 64 bytes with rank 1 failed" "remote access error" -- \
    mpirun -np 2 "$dir/test_verbs" bad-rkey

# Without CAP_IPC_LOCK, a 1 MiB locked-memory limit cannot hold even what init registers
# (bounce buffers and metadata, about 6 MiB).
expect dies "RLIMIT_MEMLOCK too small: init fails, saying how much is needed" 300 \
    "RLIMIT_MEMLOCK is 1024 KiB" "ulimit -l unlimited" -- \
    setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock sh -c \
    "ulimit -l 1024 && GALLOCY_TRANSPORT=verbs GALLOCY_HEAP_SIZE=64M mpirun -np 2 $dir/../examples/hello"

expect dies "a peer that cannot answer a connection ends the job, named, in time" 300 \
    "gallocy (transport verbs)" "rank 1 (" -- \
    mpirun -np 2 "$dir/test_verbs" peer-stopped

expect dies "a WRITE to memory the peer never exposed ends the job, named" 300 \
    "RDMA WRITE of 64 bytes" "which that rank has not handed out" -- \
    mpirun -np 2 "$dir/test_verbs" put-unexposed

# Pinned as used: with the default sizes, init pins a few MiB, and an allocation that would
# pin more than RLIMIT_MEMLOCK, or (1400 MiB on each of 2 ranks) more than the VM's 3 GiB
# has free, fails with the numbers, not an OOM kill.
expect answers "RLIMIT_MEMLOCK reached by an allocation: ENOMEM and the numbers, the job goes on" 300 \
    "pin-refused-ok" "RLIMIT_MEMLOCK is 16384 KiB" "gallocy_malloc" "gallocy_coalloc" -- \
    setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock sh -c \
    "ulimit -l 16384 && GALLOCY_TRANSPORT=verbs mpirun -np 2 $dir/death_cases pin-refused"
expect answers "more than the node has free: ENOMEM and the numbers, not the OOM killer" 300 \
    "pin-refused-ok" "more memory than the node has free" -- \
    env GALLOCY_TRANSPORT=verbs GALLOCY_HEAP_SIZE=2G GALLOCY_COALLOC_SIZE=2900M \
    GALLOCY_TEST_PIN_BYTES=1468006400 mpirun -np 2 "$dir/death_cases" pin-refused

echo "=== the whole suite over verbs"
# GALLOCY_NODE_SHARED=0: the ranks share the VM, and faults would copy pages from memory.
GALLOCY_TEST_SETTINGS="GALLOCY_TRANSPORT=verbs GALLOCY_NODE_SHARED=0 GALLOCY_HEAP_SIZE=64M \
GALLOCY_COALLOC_SIZE=64M" GALLOCY_TEST_NP="2 4" GALLOCY_TEST_MAPS_NP="2 4" \
GALLOCY_TEST_INIT_NP="" sh "$src/run-tests.sh" "$dir" >"$log" 2>&1
rc=$?
cat "$log"
tally "the whole suite over verbs" $rc "$log"

echo "=== test_gallocy over verbs, default sizes, 2 ranks"
# The default sizes (1 GiB heaps and collective region) as a user gets them, on the ranks'
# separate paths (GALLOCY_NODE_SHARED=0).  Only test_gallocy, at 2 ranks: the suite's 4-rank
# runs and test_maps (CYCLIC over the whole region) would pin more than the VM's 3 GiB holds
# at these sizes, which the pin-refused cases above already check fails cleanly.
timeout 900 env GALLOCY_TRANSPORT=verbs GALLOCY_NODE_SHARED=0 mpirun -x GALLOCY_TRANSPORT \
    -x GALLOCY_NODE_SHARED -np 2 "$dir/test_gallocy" >"$log" 2>&1
rc=$?
cat "$log"
tally "test_gallocy over verbs, default sizes, 2 ranks" $rc "$log"

echo "=== the benchmarks over verbs, against raw verbs (a smoke run: emulated RDMA has no timing)"
GALLOCY_TRANSPORT=verbs GALLOCY_HEAP_SIZE=64M GALLOCY_COALLOC_SIZE=64M \
    sh "$src/run-bench-smoke.sh" >"$log" 2>&1
rc=$?
cat "$log"
tally "the benchmarks over verbs" $rc "$log"

echo "=== all verbs runs"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
