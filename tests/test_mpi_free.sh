#!/bin/sh
# test_mpi_free.sh SRCDIR BUILDDIR: the library's core (src/) and its backends but the MPI
# one (transport/ but transport_mpi.c) build without MPI: no file of them reaches mpi.h or a
# header of mpi/, through any include (public headers included: they use gallocy_api.h, not
# gallocy.h).  The headers each file reaches are listed by the
# compiler (-M; -MG lists a header it cannot find instead of failing, so a machine without
# libibverbs's headers checks the rest all the same).  Then shows that the check can fail:
# a file that includes gallocy.h is refused.  Last, that the test of the core without MPI
# (tests/test_local) links no MPI library.  Prints the verdicts and "N passed, N failed".
srcdir=$(cd "$1" && pwd)
builddir=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/verdicts.sh"
cc=${CC_PLAIN:-cc}
flags="-std=gnu11 -D_GNU_SOURCE -DGALLOCY_HAVE_VERBS -I$srcdir/include -I$srcdir/src -I$srcdir/transport -I$builddir"
flags="$flags $(pkg-config --cflags hwloc libibverbs 2>/dev/null)"
mpi_headers=$(cd "$srcdir/mpi" && ls *.h | tr '\n' ' ')
# reaches FILE: the MPI headers FILE reaches, one a line (none: MPI-free)
reaches() {
    $cc $flags -M -MG "$1" 2>/dev/null | tr ' \\' '\n\n' | sed -n 's|.*/||p; /^[^/]*\.h$/p' |
        while read -r h; do
            case " mpi.h $mpi_headers " in *" $h "*) echo "$h" ;; esac
        done | sort -u
}
bad=""
for f in "$srcdir"/src/*.c "$srcdir"/transport/*.c; do
    [ "$(basename "$f")" = transport_mpi.c ] && continue # the MPI backend
    r=$(reaches "$f")
    [ -z "$r" ] || bad="$bad $(basename "$f") ($(echo $r))"
done
[ -z "$bad" ]
verdict "src/ and transport/ (but transport_mpi.c) build without MPI: no file reaches mpi.h or mpi/'s headers${bad:+ (but:$bad)}" $?
# The tests that run the core without MPI (test_local) link no MPI library, though built with
# the MPI compiler wrapper.
local_test="$builddir/tests/test_local"
[ -x "$local_test" ] && ! ldd "$local_test" | grep -qi 'libmpi\|libopen-\|libpmix'
verdict "tests/test_local runs the core without MPI: it links no MPI library" $?
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#include "gallocy.h"\n' > "$tmp/uses_mpi.c"
[ -n "$(reaches "$tmp/uses_mpi.c")" ]
verdict "the check can fail: a file that includes gallocy.h reaches mpi.h" $?
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
