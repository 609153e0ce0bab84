#!/bin/sh
# test_demo.sh DEMO: the first-run demo (examples/demo) at a small size: both programs on 1 and
# N ranks with exact answers and their kernels' line counts, the CSV rows it promises, an
# oversubscribed run only when asked for, and bad arguments refused by name.
demo=${1:?usage: test_demo.sh DEMO}
. "$(dirname "$0")/verdicts.sh"
out=$(mktemp)
csv=$(mktemp)
trap 'rm -f "$out" "$csv"' EXIT
cores=$(nproc)
small="--grid 64 --steps 100 --reps 1" # enough steps for the heat to reach every rank's rows

rm -f "$csv"
timeout 240 sh "$demo" -n 2 $small --csv-out "$csv" >"$out" 2>&1
rc=$?
cat "$out"
verdict "demo: 2 ranks finish (status $rc)" $rc
[ "$(grep -c ' exact$' "$out")" -eq 4 ]
verdict "demo: four rows (each program on 1 and 2 ranks), each answer exact" $?
g=$(awk '/^heat.c / { print $(NF - 1); exit }' "$out")
m=$(awk '/^heat_mpi.c / { print $(NF - 1); exit }' "$out")
[ -n "$g" ] && [ -n "$m" ] && [ "$g" -gt 5 ] && [ "$g" -lt "$m" ]
verdict "demo: kernel lines counted from the sources' markers (gallocy $g, MPI $m)" $?
[ "$(grep -c '^heat,[12],ms/step,[0-9.]*,MPI halo exchange,[0-9.]*,[0-9.]*$' "$csv")" -eq 2 ]
verdict "demo: --csv-out writes a heat row per rank count" $?

over=$((cores + 1))
timeout 60 sh "$demo" -n $over $small >"$out" 2>&1
st=$?
[ $st -eq 2 ] && grep -q "would share cores; add --oversubscribe" "$out"
verdict "demo: $over ranks on $cores cores refused without --oversubscribe (status $st)" $?
timeout 240 sh "$demo" -n $over --oversubscribe $small >"$out" 2>&1
st=$?
cat "$out"
[ $st -eq 0 ] && grep -q "not a performance configuration" "$out" &&
    [ "$(grep -c ' exact$' "$out")" -eq 4 ]
verdict "demo: --oversubscribe runs $over ranks, exact, and says it is no performance run" $?
timeout 60 sh "$demo" --grid 0 >"$out" 2>&1
st=$?
[ $st -eq 2 ] && grep -q -- "--grid needs a positive integer, not '0'" "$out"
verdict "demo: --grid 0 refused by name (status $st)" $?
timeout 60 sh "$demo" --bogus >"$out" 2>&1
st=$?
[ $st -eq 2 ] && grep -q "unknown argument '--bogus'" "$out"
verdict "demo: an unknown argument refused by name (status $st)" $?
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
