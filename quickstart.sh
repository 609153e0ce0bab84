#!/bin/sh
# quickstart.sh: on a fresh Debian 12 machine (as root, or with sudo), install what is missing,
# build gallocy, and
#   ./quickstart.sh          run the heat-diffusion example on 4 local ranks
#   ./quickstart.sh check    run the test suite (make check)
set -eu
cd "$(dirname "$0")"
mode=${1:-demo}

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

# Open MPI refuses to run as root, and more ranks than cores, unless told: these settings
# are for this demo only.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
case "$mode" in
demo)
    timeout 600 mpirun -np 4 ./examples/heat 512 200 ;;
check)
    make check ;;
*)
    echo "usage: $0 [check]" >&2
    exit 2 ;;
esac
