/* mpi_harness: the start and end of a CUnit program under mpirun (test_gallocy, test_maps):
 * MPI with threads, the tests' own communicator, gallocy, and the verdicts over all ranks. */
#include <stdio.h>
#include <stdlib.h>

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

long env_long(const char *name, long otherwise)
{
    const char *v = getenv(name);
    return v ? atol(v) : otherwise;
}

/* Faults that touching pages in the order given takes, of npages: a fault on the page where
 * the last run ended doubles the run, up to GALLOCY_PREFETCH_MAX; any other starts a run of
 * GALLOCY_PREFETCH pages (reads) or of its page alone (writes); GALLOCY_PREFETCH=1 turns both
 * off.  A run stops at the first page already held; the next still doubles what was asked. */
long expected_faults(const int *order, int ntouched, int npages, int writes)
{
    long prefetch = env_long("GALLOCY_PREFETCH", 8), first = writes ? 1 : prefetch;
    long most = env_long("GALLOCY_PREFETCH_MAX", 64);
    most = most > first ? most : first;
    char held[64] = {0};
    long faults = 0, run = 0, end = -1;
    for (int k = 0; k < ntouched; k++) {
        int pg = order[k];
        if (held[pg])
            continue;
        run = prefetch <= 1 ? 1 : pg == end && run ? (run * 2 > most ? most : run * 2) : first;
        long n = 0;
        while (n < run && pg + n < npages && !held[pg + n])
            held[pg + n++] = 1;
        end = pg + n;
        faults++;
    }
    return faults;
}
