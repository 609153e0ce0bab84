/* heat: 2-D heat diffusion (Jacobi) on a grid shared through gallocy.
 *
 *   mpirun -np 4 ./heat [N] [STEPS]      (default 512 x 512, 200 steps)
 *
 * Two N x N grids come from gallocy_coalloc (zeroed), their pages dealt out in blocks so each
 * rank homes about the rows it updates.  Each rank sets up and computes its own rows (so its
 * writes stay in memory it homes) of the new grid from the old one, reading the neighbours'
 * edge rows like any other memory (gallocy fetches them), then all meet at gallocy_barrier.
 * Rank 0 then reads the whole result in place, repeats the computation alone in private
 * memory and compares: the answers must be identical, the arithmetic being the same
 * (heat_kernel.h).  The lines between the "kernel" markers (timing and checking left out)
 * are what the distribution costs in code; heat_mpi.c is the same program written with MPI
 * messages. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RUSAGE_THREAD */
#endif
#include <gallocy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "heat_kernel.h"

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    int rc = gallocy_init(MPI_COMM_WORLD);
    if (rc) {
        fprintf(stderr, "heat: gallocy_init: %s\n", gallocy_strerror(rc));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    int n = argc > 1 ? atoi(argv[1]) : 512, steps = argc > 2 ? atoi(argv[2]) : 200;
    int me = gallocy_rank(), nr = gallocy_nranks();
    if (n < 3 || steps < 1) {
        if (me == 0)
            fprintf(stderr, "usage: heat [N >= 3] [STEPS >= 1]\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    size_t bytes = (size_t)n * n * sizeof(double);
    // [kernel]
    double *a = gallocy_coalloc(bytes, GALLOCY_BLOCKED), *b = gallocy_coalloc(bytes, GALLOCY_BLOCKED);
    if (!a || !b) {
        fprintf(stderr, "heat: rank %d: gallocy_coalloc of %zu bytes failed\n", me, bytes);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    /* My rows: the run of rows whose first byte is homed here, so writes stay mostly local. */
    int row0 = 0, row1;
    while (row0 < n && gallocy_home(&a[(size_t)row0 * n]) != me)
        row0++;
    for (row1 = row0; row1 < n && gallocy_home(&a[(size_t)row1 * n]) == me;)
        row1++;
    if (row0 == 0)
        for (int j = 0; j < n; j++)
            a[j] = b[j] = 100.0; /* the top edge, as init_grid sets it */
    gallocy_barrier();
    // [/kernel]
    gallocy_stats_t s0, s1;
    gallocy_stats(&s0);
    struct rusage u0, u1; /* this thread's context switches: what gallocy's threads cost it */
    getrusage(RUSAGE_THREAD, &u0);
    double t0 = MPI_Wtime();
    // [kernel]
    for (int s = 0; s < steps; s++) {
        const double *old = s % 2 ? b : a;
        double *cur = s % 2 ? a : b;
        sweep(old, cur, n, row0, row1);
        gallocy_barrier();
    }
    // [/kernel]
    double per_step = (MPI_Wtime() - t0) / steps;
    getrusage(RUSAGE_THREAD, &u1);
    gallocy_stats(&s1);
    const double *result = steps % 2 ? b : a;

    int status = 0;
    if (me == 0) {
        double total, err = heat_error(result, n, steps, &total);
        printf("heat: %d x %d grid, %d steps, %d ranks\n", n, n, steps, nr);
        printf("heat: max error against a one-process run: %g\n", err);
        printf("heat: total heat %.6f, time per step %.3f ms\n", total, per_step * 1e3);
        printf("heat: rank 0 counters over the steps: %lu read faults, %lu write faults, "
               "%lu pages fetched, %lu pages written back (%lu bytes), %lu invalidations, "
               "%lu protection changes, %lu barriers\n",
               s1.read_faults - s0.read_faults, s1.write_faults - s0.write_faults,
               s1.pages_fetched - s0.pages_fetched, s1.pages_written_back - s0.pages_written_back,
               s1.bytes_written_back - s0.bytes_written_back, s1.invalidations - s0.invalidations,
               s1.protection_changes - s0.protection_changes, s1.barriers - s0.barriers);
        printf("heat: rank 0's computing thread, context switches a step: %.1f voluntary, "
               "%.1f involuntary\n", (double)(u1.ru_nvcsw - u0.ru_nvcsw) / steps,
               (double)(u1.ru_nivcsw - u0.ru_nivcsw) / steps);
        status = err == 0 ? 0 : 1;
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    gallocy_cofree(b);
    gallocy_cofree(a);
    gallocy_finalize();
    MPI_Finalize();
    return status;
}
