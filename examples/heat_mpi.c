/* heat_mpi: the heat example (heat.c) written the usual MPI way, for comparison.
 *
 *   mpirun -np 4 ./heat_mpi [N] [STEPS]      (default 512 x 512, 200 steps)
 *
 * Each rank keeps its block of rows in private memory with a ghost row above and below,
 * swaps edge rows with its neighbours (MPI_Sendrecv) before every step, and at the end the
 * blocks are gathered on rank 0, which repeats the computation alone and compares.  The
 * arithmetic is heat.c's (heat_kernel.h), so the answers are identical.  The lines between
 * the "kernel" markers (timing and checking left out) are what the distribution costs in
 * code; heat.c has the same markers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RUSAGE_THREAD */
#endif
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "heat_kernel.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int me, nr;
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    MPI_Comm_size(MPI_COMM_WORLD, &nr);
    int n = argc > 1 ? atoi(argv[1]) : 512, steps = argc > 2 ? atoi(argv[2]) : 200;
    if (n < 3 || steps < 1 || n < nr) {
        if (me == 0)
            fprintf(stderr, "usage: heat_mpi [N >= 3, and >= the ranks] [STEPS >= 1]\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    size_t row = (size_t)n * sizeof(double);
    // [kernel]
    int row0 = (int)((long)n * me / nr), row1 = (int)((long)n * (me + 1) / nr);
    int up = me > 0 ? me - 1 : MPI_PROC_NULL, down = me < nr - 1 ? me + 1 : MPI_PROC_NULL;
    /* rows row0-1 .. row1 (ghosts included), addressed by global row through base - (row0-1) */
    double *a = calloc((size_t)(row1 - row0 + 2), row), *b = calloc((size_t)(row1 - row0 + 2), row);
    if (!a || !b) {
        fprintf(stderr, "heat_mpi: rank %d: out of memory\n", me);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    double *ga = a - (ptrdiff_t)(row0 - 1) * n, *gb = b - (ptrdiff_t)(row0 - 1) * n;
    if (row0 == 0)
        for (int j = 0; j < n; j++)
            ga[j] = gb[j] = 100.0;
    // [/kernel]
    MPI_Barrier(MPI_COMM_WORLD);
    struct rusage u0, u1; /* as heat.c counts them: the computing thread's context switches */
    getrusage(RUSAGE_THREAD, &u0);
    double t0 = MPI_Wtime();
    // [kernel]
    for (int s = 0; s < steps; s++) {
        double *old = s % 2 ? gb : ga, *cur = s % 2 ? ga : gb;
        MPI_Sendrecv(old + (size_t)row0 * n, n, MPI_DOUBLE, up, 0,
                     old + (size_t)row1 * n, n, MPI_DOUBLE, down, 0, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
        MPI_Sendrecv(old + (size_t)(row1 - 1) * n, n, MPI_DOUBLE, down, 1,
                     old + (size_t)(row0 - 1) * n, n, MPI_DOUBLE, up, 1, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
        sweep(old, cur, n, row0, row1);
    }
    // [/kernel]
    MPI_Barrier(MPI_COMM_WORLD);
    double per_step = (MPI_Wtime() - t0) / steps;
    getrusage(RUSAGE_THREAD, &u1);
    // [kernel]
    const double *mine = (steps % 2 ? gb : ga) + (size_t)row0 * n;
    int *counts = malloc((size_t)nr * sizeof *counts), *displs = malloc((size_t)nr * sizeof *displs);
    for (int r = 0; r < nr; r++) {
        displs[r] = (int)((long)n * r / nr) * n;
        counts[r] = (int)((long)n * (r + 1) / nr) * n - displs[r];
    }
    double *result = me == 0 ? malloc((size_t)n * row) : NULL;
    MPI_Gatherv(mine, (row1 - row0) * n, MPI_DOUBLE, result, counts, displs, MPI_DOUBLE, 0,
                MPI_COMM_WORLD);
    // [/kernel]

    int status = 0;
    if (me == 0) {
        double total, err = heat_error(result, n, steps, &total);
        printf("heat_mpi: %d x %d grid, %d steps, %d ranks\n", n, n, steps, nr);
        printf("heat_mpi: max error against a one-process run: %g\n", err);
        printf("heat_mpi: total heat %.6f, time per step %.3f ms\n", total, per_step * 1e3);
        printf("heat_mpi: rank 0's computing thread, context switches a step: %.1f voluntary, "
               "%.1f involuntary\n", (double)(u1.ru_nvcsw - u0.ru_nvcsw) / steps,
               (double)(u1.ru_nivcsw - u0.ru_nivcsw) / steps);
        status = err == 0 ? 0 : 1;
        free(result);
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    free(counts);
    free(displs);
    free(a);
    free(b);
    MPI_Finalize();
    return status;
}
