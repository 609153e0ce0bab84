/* mpi_harness: the start and end of a CUnit program under mpirun (test_gallocy, test_maps):
 * MPI with threads, the tests' own communicator, gallocy, and the verdicts over all ranks. */
#include <stdio.h>

#include "suites.h"

MPI_Comm test_comm;
int me, nranks;

void harness_mpi_init(int *argc, char ***argv)
{
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_dup(MPI_COMM_WORLD, &test_comm);
    MPI_Comm_rank(test_comm, &me);
    MPI_Comm_size(test_comm, &nranks);
}

void harness_gallocy_init(void)
{
    int rc = gallocy_init(MPI_COMM_WORLD);
    if (rc) {
        fprintf(stderr, "gallocy_init: %s\n0 passed, 1 failed\n", gallocy_strerror(rc));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        MPI_Abort(MPI_COMM_WORLD, 1);
}

static void reduce_failures(int *flags, int n)
{
    MPI_Allreduce(MPI_IN_PLACE, flags, n, MPI_INT, MPI_MAX, test_comm);
}

int harness_run_and_finish(void)
{
    int failed = cm_run(me, reduce_failures);
    CU_cleanup_registry();
    gallocy_finalize();
    MPI_Comm_free(&test_comm);
    MPI_Finalize();
    return failed ? 1 : 0;
}
