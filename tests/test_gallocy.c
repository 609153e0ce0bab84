/* test_gallocy: the CUnit suites that run under mpirun (1, 2 and 4 ranks).
 *   test_gallocy [SUITE...]   runs the named suites only (alloc, coherence, notices,
 *                             sync, coalloc, signals, mpi, syscalls); all of them without
 *                             arguments. */
#include <stdio.h>
#include <string.h>

#include "suites.h"

int main(int argc, char **argv)
{
    harness_mpi_init(&argc, &argv);
    signals_install_before_init();
    harness_gallocy_init();
    register_alloc_tests();
    register_coherence_tests();
    register_notice_tests();
    register_sync_tests();
    register_coalloc_tests();
    register_signal_tests();
    register_mpi_tests();
    register_syscall_tests();
    for (int i = 1; i < argc; i++)
        if (!CU_get_suite(argv[i])) {
            if (me == 0)
                fprintf(stderr, "test_gallocy: no suite named %s (alloc, coherence, notices, "
                        "sync, coalloc, signals, mpi, syscalls)\n0 passed, 1 failed\n", argv[i]);
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
    if (argc > 1)
        for (CU_pSuite s = CU_get_registry()->pSuite; s; s = s->pNext) {
            int named = 0;
            for (int i = 1; i < argc; i++)
                named |= !strcmp(argv[i], s->pName);
            CU_set_suite_active(s, named ? CU_TRUE : CU_FALSE);
        }
    return harness_run_and_finish();
}
