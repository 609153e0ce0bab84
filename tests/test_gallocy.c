/* test_gallocy: the CUnit suites that run under mpirun (1, 2 and 4 ranks).
 *   test_gallocy [SUITE...]   runs the named suites only (alloc, coherence, notices,
 *                             sync, coalloc, signals, mpi, syscalls); all of them without arguments. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "suites.h"

MPI_Comm test_comm;
int me, nranks;

static void reduce_failures(int *flags, int n)
{
    MPI_Allreduce(MPI_IN_PLACE, flags, n, MPI_INT, MPI_MAX, test_comm);
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_dup(MPI_COMM_WORLD, &test_comm);
    MPI_Comm_rank(test_comm, &me);
    MPI_Comm_size(test_comm, &nranks);
    signals_install_before_init();
    int rc = gallocy_init(MPI_COMM_WORLD);
    if (rc) {
        fprintf(stderr, "gallocy_init: %s\n0 passed, 1 failed\n", gallocy_strerror(rc));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        MPI_Abort(MPI_COMM_WORLD, 1);
    register_alloc_tests();
    register_coherence_tests();
    register_notice_tests();
    register_sync_tests();
    register_coalloc_tests();
    register_signal_tests();
    register_mpi_tests();
    register_syscall_tests();
    if (argc > 1)
        for (CU_pSuite s = CU_get_registry()->pSuite; s; s = s->pNext) {
            int named = 0;
            for (int i = 1; i < argc; i++)
                named |= !strcmp(argv[i], s->pName);
            CU_set_suite_active(s, named ? CU_TRUE : CU_FALSE);
        }
    int failed = cm_run(me, reduce_failures);
    CU_cleanup_registry();
    gallocy_finalize();
    MPI_Comm_free(&test_comm);
    MPI_Finalize();
    return failed ? 1 : 0;
}
