#!/bin/sh
# run-tests.sh: what `make check` runs.  Every program runs under a timeout (a hang fails);
# the MPI suites run with 1, 2 and 4 ranks, oversubscribed, as root if need be.  Prints each
# run's verdicts and one closing line "N passed, N failed" over all runs; exits non-zero on
# any failure.
#   usage: run-tests.sh TESTS_DIR      (MPIRUN may name the launcher; GALLOCY_TEST_NP the
#                                       rank counts, default "1 2 4"; GALLOCY_TEST_SETTINGS
#                                       GALLOCY_* settings for every run, GALLOCY_TEST_MAPS_NP
#                                       the rank counts of test_maps cyclic, default "2 4 8";
#                                       GALLOCY_TEST_INIT_NP those of the start-up runs with
#                                       the default sizes, default "64 128")
dir=${1:-tests}
MPIRUN=${MPIRUN:-mpirun}
export MPIRUN
# Harness-only settings: Open MPI refuses root and more ranks than cores without them.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export DEATH_CASES="$dir/death_cases"
GALLOCY_TEST_SRCDIR=$(dirname "$0")
export GALLOCY_TEST_SRCDIR
unset GALLOCY_HEAP_SIZE GALLOCY_COALLOC_SIZE GALLOCY_PREFETCH GALLOCY_PREFETCH_MAX GALLOCY_TRANSPORT \
    GALLOCY_NUMA GALLOCY_NODE_SHARED GALLOCY_IB_DEVICE GALLOCY_IB_PORT GALLOCY_IB_GID_INDEX \
    GALLOCY_FAULTS
# GALLOCY_TEST_SETTINGS: "VAR=value ..." for every run (run-verbs-tests.sh: the transport).
for setting in ${GALLOCY_TEST_SETTINGS:-}; do
    export "$setting"
done
. "$GALLOCY_TEST_SRCDIR/verdicts.sh"
# The ways of catching faults this kernel allows, and the one auto takes, by the library's own
# probe (gallocy-info): a way the kernel lacks is skipped, and said so; the suites check that
# auto takes what gallocy-info says.
faults_json=$("$dir/../tools/gallocy-info" --json | grep '^  "faults": ')
faults_available=$(echo "$faults_json" | sed 's/.*"available": \[\([^]]*\)\].*/\1/' | tr -d '",')
GALLOCY_TEST_AUTO_FAULTS=$(echo "$faults_json" | sed 's/.*"auto": "\([a-z]*\)".*/\1/')
export GALLOCY_TEST_AUTO_FAULTS
fault_way_here() {
    case " $faults_available " in *" $1 "*) return 0 ;; esac
    return 1
}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run LABEL SECONDS COMMAND...: runs it, shows its output, adds its verdict to the totals.
run() {
    label=$1 secs=$2
    shift 2
    echo "=== $label"
    timeout "$secs" "$@" >"$log" 2>&1
    rc=$?
    cat "$log"
    tally "$label" $rc "$log"
}

run "unit tests" 300 "$dir/test_unit"
run "heap (the allocator alone, threads)" 600 "$dir/test_heap"
run "numa placement on XML topologies" 120 "$dir/test_numa" "$GALLOCY_TEST_SRCDIR"
run "gallocy-info" 120 sh "$GALLOCY_TEST_SRCDIR/test_info.sh" "$dir/../tools/gallocy-info" \
    "$GALLOCY_TEST_SRCDIR/../src/options.def"
run "modules include each other in no loop" 60 sh "$GALLOCY_TEST_SRCDIR/test_module_cycles.sh" \
    "$GALLOCY_TEST_SRCDIR/../tools/check-module-cycles"
run "the core builds without MPI" 120 sh "$GALLOCY_TEST_SRCDIR/test_mpi_free.sh" \
    "$GALLOCY_TEST_SRCDIR/.." "$dir/.."
run "scale model in the README" 60 sh "$GALLOCY_TEST_SRCDIR/test_scale_model.sh" \
    "$GALLOCY_TEST_SRCDIR/../README.md" "$GALLOCY_TEST_SRCDIR/../tools/scale-model"
run "the first-run demo, small (examples/demo)" 600 env GALLOCY_EXAMPLES_BIN="$dir/../examples" \
    sh "$GALLOCY_TEST_SRCDIR/test_demo.sh" "$GALLOCY_TEST_SRCDIR/../examples/demo"
# The core without MPI or mpirun: ranks the test forks, the loopback transport (its only
# one, which needs the ranks to map each other: the GALLOCY_TRANSPORT and GALLOCY_NODE_SHARED
# the settings give the other runs are not for it); every way of catching faults this kernel
# has.
for faults in $faults_available; do
    for np in 1 2 4; do
        run "test_local (no MPI), $np rank(s), GALLOCY_FAULTS=$faults" 120 \
            env -u GALLOCY_TRANSPORT -u GALLOCY_NODE_SHARED GALLOCY_FAULTS=$faults \
                "$dir/test_local" "$np"
    done
done
for np in ${GALLOCY_TEST_NP:-1 2 4}; do
    run "test_gallocy, $np rank(s)" 900 "$MPIRUN" -np "$np" "$dir/test_gallocy"
done
GALLOCY_PREFETCH=1 run "test_gallocy, 2 ranks, GALLOCY_PREFETCH=1" 900 \
    env GALLOCY_PREFETCH=1 "$MPIRUN" -x GALLOCY_PREFETCH -np 2 "$dir/test_gallocy"
# Ranks of one node read each other's pages directly; this run takes the transport's path.
run "test_gallocy, 2 ranks, GALLOCY_NODE_SHARED=0" 900 \
    env GALLOCY_NODE_SHARED=0 "$MPIRUN" -x GALLOCY_NODE_SHARED -np 2 "$dir/test_gallocy"
# The other ways of catching faults (the default is uffd where the kernel allows it): page
# states through mprotect, and userfaultfd served in the faulting thread.  Both need the MPI
# layer for MPI calls on global memory, and gallocy_prepare for system calls.
for faults in mprotect sigbus; do
    for np in 2 4; do
        if ! fault_way_here $faults; then
            echo "=== skip test_gallocy, $np ranks, GALLOCY_FAULTS=$faults: this kernel lacks it" \
                 "(gallocy-info: faults)"
            continue
        fi
        run "test_gallocy, $np ranks, GALLOCY_FAULTS=$faults" 900 \
            env GALLOCY_FAULTS=$faults "$MPIRUN" -x GALLOCY_FAULTS -np $np "$dir/test_gallocy"
    done
done
run "test_gallocy, 2 ranks, GALLOCY_FAULTS=mprotect GALLOCY_NODE_SHARED=0" 900 \
    env GALLOCY_FAULTS=mprotect GALLOCY_NODE_SHARED=0 "$MPIRUN" -x GALLOCY_FAULTS \
    -x GALLOCY_NODE_SHARED -np 2 "$dir/test_gallocy"
# The same at 4 ranks under sigbus: every fault's get made by the signal handler itself
# (a fault inside MPI handed to the service thread: the mpi suite checks which).
if fault_way_here sigbus; then
    run "test_gallocy, 4 ranks, GALLOCY_FAULTS=sigbus GALLOCY_NODE_SHARED=0" 900 \
        env GALLOCY_FAULTS=sigbus GALLOCY_NODE_SHARED=0 "$MPIRUN" -x GALLOCY_FAULTS \
        -x GALLOCY_NODE_SHARED -np 4 "$dir/test_gallocy"
else
    echo "=== skip test_gallocy, 4 ranks, GALLOCY_FAULTS=sigbus GALLOCY_NODE_SHARED=0: this" \
         "kernel lacks sigbus (gallocy-info: faults)"
fi
# Ranks free to run on both cores: under uffd a fault server per core, and threads' faults
# served at once (mpirun binds 1 or 2 ranks to a core each, so the runs above have one).
run "test_gallocy coherence mpi syscalls, 2 ranks unbound" 900 \
    "$MPIRUN" -np 2 --bind-to none "$dir/test_gallocy" coherence mpi syscalls
# MPI calls and system calls on global memory with every page through the transport, at 4.
run "test_gallocy mpi syscalls, 4 ranks, GALLOCY_NODE_SHARED=0" 900 \
    env GALLOCY_NODE_SHARED=0 "$MPIRUN" -x GALLOCY_NODE_SHARED -np 4 "$dir/test_gallocy" mpi syscalls
# Page states without a memory map each: a CYCLIC allocation of the whole collective
# region, and one rank caching 1 GiB of scattered pages (the region made 2 GiB unless the
# caller set its size), under the default way and under mprotect (which sheds copies).
# GALLOCY_TEST_MAPS_NP: the rank counts of the CYCLIC run (default 2 4 8).
for np in ${GALLOCY_TEST_MAPS_NP:-2 4 8}; do
    run "test_maps cyclic, $np ranks" 900 "$MPIRUN" -np $np "$dir/test_maps" cyclic
done
run "test_maps cyclic, 2 ranks, GALLOCY_FAULTS=mprotect" 900 \
    env GALLOCY_FAULTS=mprotect "$MPIRUN" -x GALLOCY_FAULTS -np 2 "$dir/test_maps" cyclic
for faults in auto mprotect; do
    run "test_maps scattered, 2 ranks, GALLOCY_FAULTS=$faults" 900 \
        env GALLOCY_FAULTS=$faults GALLOCY_COALLOC_SIZE="${GALLOCY_COALLOC_SIZE:-2G}" \
        "$MPIRUN" -x GALLOCY_FAULTS -x GALLOCY_COALLOC_SIZE -np 2 "$dir/test_maps" scattered
done
for policy in local auto interleave none; do
    run "numa placement, live, GALLOCY_NUMA=$policy" 120 \
        env GALLOCY_NUMA=$policy "$MPIRUN" -x GALLOCY_NUMA -np 2 --bind-to core "$dir/test_numa_live"
done
run "numa placement, live, unbound ranks" 120 "$MPIRUN" -np 2 --bind-to none "$dir/test_numa_live"
run "bad input (death cases)" 900 "$dir/test_death"
# Start-up at scale: gallocy_init with the default sizes (1 GiB a rank and 1 GiB collective:
# 65 and 129 GiB of address space each) at 64 and 128 oversubscribed ranks, 5 jobs each, under
# this machine's address randomisation; every rank must greet.  GALLOCY_TEST_INIT_NP: the rank
# counts ("" skips, as the VM's run does: 128 emulated ranks would take most of an hour).
aslr=$(cat /proc/sys/kernel/randomize_va_space 2>/dev/null || echo unknown)
init_np=${GALLOCY_TEST_INIT_NP-64 128}
[ -n "$init_np" ] || echo "=== skip init at 64 and 128 ranks: GALLOCY_TEST_INIT_NP is empty"
for np in $init_np; do
    echo "=== init at $np ranks, default sizes, 5 jobs (kernel.randomize_va_space=$aslr)"
    good=0
    for i in 1 2 3 4 5; do
        env -u GALLOCY_HEAP_SIZE -u GALLOCY_COALLOC_SIZE timeout 300 "$MPIRUN" -np "$np" \
            "$dir/../examples/hello" >"$log" 2>&1
        rc=$?
        greeted=$(grep -c '^hello from rank' "$log")
        if [ $rc -eq 0 ] && [ "$greeted" -eq "$np" ]; then
            good=$((good + 1))
        else
            echo "job $i: status $rc, $greeted of $np ranks greeted:"
            grep -v '^hello from rank' "$log" | head -n 5
        fi
    done
    [ $good -eq 5 ]
    verdict "init at $np ranks, default sizes: $good of 5 jobs (randomize_va_space=$aslr)" $?
done
# valgrind (memcheck) over the suites that do not crash on purpose (signals kills forked
# children, and valgrind's children do not die of it), with the suppressions gallocy ships:
# any error report fails the run (--error-exitcode).  The register option makes valgrind's
# state exact at every instruction, so that an access gallocy's fault handler serves resumes
# with the right data.  Under valgrind, auto takes mprotect (valgrind knows no userfaultfd).
if command -v valgrind >/dev/null 2>&1; then
    run "test_gallocy under valgrind, 2 ranks" 1200 env GALLOCY_TEST_AUTO_FAULTS=mprotect \
        "$MPIRUN" -x GALLOCY_TEST_AUTO_FAULTS -np 2 \
        "$dir/../libtool" --mode=execute valgrind -q --error-exitcode=9 \
        --vex-iropt-register-updates=allregs-at-each-insn \
        --suppressions="$GALLOCY_TEST_SRCDIR/../tools/gallocy.supp" \
        "$dir/test_gallocy" alloc coherence notices sync coalloc mpi syscalls
    # 2 ranks and a deadline of 500 s: 4 under valgrind passed 150 s in the Soft-RoCE VM.
    run "test_local (no MPI) under valgrind, 2 ranks" 600 \
        env -u GALLOCY_TRANSPORT -u GALLOCY_NODE_SHARED \
        valgrind -q --error-exitcode=9 \
        --vex-iropt-register-updates=allregs-at-each-insn \
        --suppressions="$GALLOCY_TEST_SRCDIR/../tools/gallocy.supp" "$dir/test_local" 2 500
else
    echo "=== skip test_gallocy under valgrind: valgrind is not installed"
fi

echo "=== all runs"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
