#!/bin/sh
# quickstart.sh: on a fresh Debian 12 machine (as root, or with sudo), install what is missing,
# build gallocy, and
#   ./quickstart.sh                  the demo: the heat stencil with gallocy and with MPI halo
#                                    exchanges, on 1 rank and on one rank per core, side by side
#   ./quickstart.sh demo N [--oversubscribe] [examples/demo options]
#                                    the same on N ranks (more than the cores only when asked)
#   ./quickstart.sh check            run the test suite (make check)
set -eu
cd "$(dirname "$0")"
mode=${1:-demo}
[ $# -gt 0 ] && shift
case "$mode" in
demo | check) ;;
*)
    echo "usage: $0 [demo [N] [--oversubscribe] | check]" >&2
    exit 2 ;;
esac

pkgs="build-essential autoconf automake libtool pkg-config libopenmpi-dev openmpi-bin
libibverbs-dev librdmacm-dev rdma-core ibverbs-utils libhwloc-dev hwloc libcunit1-dev valgrind"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "quickstart: installing:$missing"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd=sudo
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $missing >/dev/null
fi

[ -x configure ] || ./autogen.sh
[ -f Makefile ] || ./configure --enable-werror
make -j"$(nproc)"

case "$mode" in
demo)
    # A first argument that is a number is the rank count; the rest go to examples/demo
    # (which sets what Open MPI needs to run as root, for itself only).
    case ${1:-} in
    [1-9]*) n=$1; shift; exec sh examples/demo -n "$n" "$@" ;;
    esac
    exec sh examples/demo "$@" ;;
check)
    make check ;;
esac
