# SPDX-License-Identifier: MIT
# Shared by the tests/dist/test_mpi_*.sh scripts (sourced): skip (77) unless mpirun is installed
# and owbench was built with MPI; MPIRUN runs owbench under Open MPI on this host as the tests need
# it (as root, more ranks than cores).
OWB_BIN=${OWB_BIN:?}
if ! command -v mpirun >/dev/null; then
    echo "SKIP: needs mpirun (apt-get install openmpi-bin libopenmpi-dev)"
    exit 77
fi
if ! grep -q "define OWB_HAVE_MPI 1" "$(dirname "$OWB_BIN")/owb_config.h" 2>/dev/null; then
    echo "SKIP: owbench was built without MPI (OWB_WITH_MPI=OFF or libopenmpi-dev absent)"
    exit 77
fi
command -v jq >/dev/null || { echo "SKIP: needs jq"; exit 77; }
# Shared memory between local ranks without cross-memory attach (containers often forbid
# ptrace); leaks inside Open MPI are not ours to report in sanitizer builds.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
MPIRUN=(mpirun --oversubscribe)
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)
fail=0
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if ! "$@" >/dev/null; then
        echo "FAIL: $what"
        fail=1
        return 1
    fi
}
