#!/bin/sh
# run-bench-smoke.sh: the benchmark suite still builds and runs (not a timing: these machines
# are shared and noisy, and figures belong in bench/, not in tests).  Builds it (make bench),
# runs bench/run once at a small scale, and checks that every table came out with positive
# figures for gallocy and its baseline; then, where gnuplot is installed, that bench/plot
# makes the charts.  Prints "N passed, N failed".  The baselines must be those of the transport
# gallocy runs on: GALLOCY_TRANSPORT=verbs (run-verbs-tests.sh, inside the Soft-RoCE VM) must
# give raw verbs baselines, anything else here MPI's.
#   usage: run-bench-smoke.sh   (from the build directory)
. "$(dirname "$0")/verdicts.sh"
src=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
timeout 900 make bench >"$out/make.log" 2>&1
rc=$?
[ $rc -eq 0 ] || tail -n 20 "$out/make.log"
verdict "bench: make bench builds every program" $rc
# The cached barrier needs 8 MiB here, not 1 GiB, and the stencil a 512 x 512 grid (the VM's
# runs have 64 MiB of collective memory); ranks may share cores.
GALLOCY_EXAMPLES_BIN=${GALLOCY_EXAMPLES_BIN:-$PWD/examples} GALLOCY_BENCH_JACOBI_GRID=512 \
GALLOCY_BENCH_CACHED_MIB=8 timeout 900 sh "$src/bench/run" "$out" --reps 1 --scale 0.02 \
    >"$out/run.log" 2>&1
rc=$?
[ $rc -eq 0 ] || tail -n 30 "$out/run.log"
verdict "bench: bench/run finishes (status $rc)" $rc
csv="$out/results.csv"
for t in get_lat put_lat get_bw put_bw atomic_lat heap_lat node_lat node_offset get_lat_transport \
         get_bw_transport put_lat_transport atomic_lat_transport gups \
         read_fault seq_read write_fault memset_bw prepare fault_ways random_access \
         fault_threads sticky_sharing teardown \
         mpi_own mpi_remote mpi_cold \
         barrier barrier_cached lock busy_target lock_increment pairs threadtest threadtest_scaling larson \
         larson_scaling remote-free jacobi; do
    # Every row of the table has its 7 fields (a comma in a label would shift them), and a
    # positive gallocy figure, baseline and ratio (compared as numbers).
    rows=$(awk -F, -v t="$t" '$1 == t' "$csv" 2>/dev/null | wc -l)
    bad=$(awk -F, -v t="$t" '$1 == t && !(NF == 7 && $4 + 0 > 0 && $6 + 0 > 0 && $7 + 0 > 0)' \
          "$csv" 2>/dev/null | wc -l)
    [ "$rows" -gt 0 ] && [ "$bad" -eq 0 ]
    verdict "bench: table $t: $rows rows, $bad not 7 fields with positive figures" $?
done
# The uffd way against its own floor: rows where this kernel gives gallocy the uffd way (the
# library's probe, gallocy-info), else the run says it skipped uffd.
if tools/gallocy-info --json | grep -q '"available": \["uffd"'; then
    rows=$(awk -F, '$1 == "fault_ways_uffd" && NF == 7 && $4 + 0 > 0 && $6 + 0 > 0' "$csv" | wc -l)
    [ "$rows" -gt 0 ]
    verdict "bench: table fault_ways_uffd: $rows rows with positive figures (uffd allowed here)" $?
else
    grep -q '^# uffd: not available here, skipped' "$out/run.log"
    verdict "bench: fault_ways_uffd: uffd is not allowed here, and bench_fault says it skipped it" $?
fi
# The context switches of the Jacobi runs: a count for each kind, gallocy's and MPI's (no
# ratio: MPI's is often 0).
rows=$(awk -F, '$1 == "jacobi_switches" && NF == 7 && $4 ~ /^[0-9.]+$/ && $6 ~ /^[0-9.]+$/' \
       "$csv" 2>/dev/null | awk -F, '{ print $2 }' | tr '\n' ' ')
[ "$rows" = "voluntary involuntary " ]
verdict "bench: table jacobi_switches has voluntary and involuntary counts (got: $rows)" $?
# bench/scale at 2 and 4 ranks: a row per job size in each of its tables, and under verbs
# what the ranks registered and connected.
BENCH_ARGS="--reps 1 --scale 0.1" timeout 900 sh "$src/bench/scale" "$out" 2 4 \
    >"$out/scale.log" 2>&1
rc=$?
[ $rc -eq 0 ] || tail -n 30 "$out/scale.log"
verdict "bench: bench/scale finishes at 2 and 4 ranks (status $rc)" $rc
for t in init barrier_scale barrier_written rss; do
    rows=$(awk -F, -v t="$t" '$1 == t && NF == 7 && $4 + 0 > 0 && $6 + 0 > 0 && $7 + 0 > 0' \
           "$out/scale.csv" 2>/dev/null | awk -F, '{ print $2 }' | tr '\n' ' ')
    [ "$rows" = "2 4 " ]
    verdict "bench: scale table $t has a row for 2 and for 4 ranks with positive figures (got: $rows)" $?
done
if [ "${GALLOCY_TRANSPORT:-}" = verbs ]; then
    # Each rank registered its metadata at least (the peers connected depend on whether the
    # ranks share the node's memory: reported, not checked).
    grep -q '^# 4 ranks: registered with the RDMA device: [1-9][0-9]* KiB .*transport verbs); peers connected: [0-9]* at most' \
        "$out/scale.log"
    verdict "bench: under verbs, bench/scale reports registered memory and peers connected" $?
    grep '^# [0-9]* ranks: registered' "$out/scale.log"
fi
# OpenSHMEM beside gallocy where Open MPI's oshcc and oshrun are installed (not checked in the
# VM, whose OpenSHMEM is not set up for its device).
if command -v oshcc >/dev/null && command -v oshrun >/dev/null &&
        [ "${GALLOCY_TRANSPORT:-}" != verbs ]; then
    rows=$(awk -F, '$1 == "vs_shmem" && NF == 7 && $4 + 0 > 0 && $6 + 0 > 0' "$csv" | wc -l)
    [ "$rows" -eq 5 ]
    verdict "bench: vs_shmem has gallocy beside OpenSHMEM for get, put, fetch_add, compare_swap, gups ($rows rows)" $?
else
    echo "(OpenSHMEM not checked: no oshcc/oshrun here, or the VM's run)"
fi
# The baseline is the transport's own.
want="MPI_Get+flush"
[ "${GALLOCY_TRANSPORT:-}" = verbs ] && want="verbs READ+poll"
got=$(awk -F, '$1 == "get_lat" { print $5; exit }' "$csv")
[ "$got" = "$want" ]
verdict "bench: get_lat's baseline is $want (got: $got)" $?
# Sizes from 1 B to 4 MiB in the latency tables.
[ "$(awk -F, '$1 == "get_lat"' "$csv" | wc -l)" -eq 23 ]
verdict "bench: get_lat has the 23 sizes from 1 B to 4 MiB" $?
if command -v gnuplot >/dev/null; then
    sh "$src/bench/plot" "$csv" "$out/png" >"$out/plot.log" 2>&1
    [ -s "$out/png/rma_latency.png" ] && [ -s "$out/png/get_bw.png" ]
    verdict "bench: bench/plot makes the charts" $?
    sh "$src/bench/plot" "$out/scale.csv" "$out/png" >>"$out/plot.log" 2>&1
    [ -s "$out/png/scale.png" ] && [ ! -e "$out/png/init.png" ]
    verdict "bench: bench/plot makes scale.png from bench/scale's rows (and no size chart of them)" $?
    timeout 300 sh "$src/examples/demo" --all --grid 256 --steps 20 --reps 1 \
        --csv-out "$out/heat.csv" >"$out/demo.log" 2>&1 &&
        sh "$src/bench/plot" "$out/heat.csv" "$out/png" >>"$out/plot.log" 2>&1
    rc=$?
    [ $rc -eq 0 ] || tail -n 20 "$out/demo.log" "$out/plot.log"
    [ $rc -eq 0 ] && [ -s "$out/png/heat.png" ]
    verdict "bench: examples/demo --all --csv-out and bench/plot make heat.png" $?
else
    echo "(gnuplot is not installed: bench/plot not checked)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
