#!/bin/sh
# test_module_cycles.sh CHECKER: tools/check-module-cycles passes the tree's own modules and
# fails a tree whose modules include each other in a loop (so that the check can fail).
# Prints the verdicts and "N passed, N failed".
checker=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/verdicts.sh"
(cd "$here/.." && sh "$checker" src transport mpi)
verdict "the tree's modules (src/, transport/, mpi/) include each other in no loop" $?
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src"
printf '#include "b.h"\n' > "$tmp/src/a.h"
printf '#include "c.h"\n' > "$tmp/src/b.h"
printf '#include <stdio.h>\n' > "$tmp/src/c.h"
printf '#include "c.h"\n#include "gallocy.h"\n' > "$tmp/src/c.c"
(cd "$tmp" && sh "$checker" src) >/dev/null 2>&1
verdict "a tree without a loop passes (a -> b -> c; c.c includes c.h and a header not of the tree)" $?
printf '#include "a.h"\n' > "$tmp/src/c.h"
out=$(cd "$tmp" && sh "$checker" src 2>&1)
rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q '^    a$'
verdict "a loop a -> b -> c -> a fails and names its modules (status $rc)" $?
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
