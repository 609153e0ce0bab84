/* heat_kernel.h: what heat.c (gallocy) and heat_mpi.c (MPI halo exchanges) share, so that
 * their arithmetic is the same by construction and both answers can be compared exactly with
 * one process's: the grid's start, one Jacobi sweep, and that comparison. */
#ifndef HEAT_KERNEL_H
#define HEAT_KERNEL_H
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void init_grid(double *g, int n)
{
    memset(g, 0, (size_t)n * n * sizeof *g);
    for (int j = 0; j < n; j++)
        g[j] = 100.0; /* the top edge is held hot; the others cold */
}

/* Rows [row0, row1) of cur from old, both indexed by global row; the edges stay. */
static void sweep(const double *old, double *cur, int n, int row0, int row1)
{
    for (int i = row0 < 1 ? 1 : row0; i < row1 && i < n - 1; i++)
        for (int j = 1; j < n - 1; j++)
            cur[i * n + j] = 0.25 * (old[(i - 1) * n + j] + old[(i + 1) * n + j] +
                                     old[i * n + j - 1] + old[i * n + j + 1]);
}

/* Repeats the steps alone in private memory: the largest difference from result (0 when
 * exact), and result's total heat in *total; -1 when out of memory. */
static double heat_error(const double *result, int n, int steps, double *total)
{
    size_t cells = (size_t)n * n;
    double *x = malloc(cells * sizeof *x), *y = malloc(cells * sizeof *y), err = 0;
    *total = 0;
    if (!x || !y) {
        free(x);
        free(y);
        return -1;
    }
    init_grid(x, n);
    init_grid(y, n);
    for (int s = 0; s < steps; s++)
        sweep(s % 2 ? y : x, s % 2 ? x : y, n, 0, n);
    const double *want = steps % 2 ? y : x;
    for (size_t k = 0; k < cells; k++) {
        err = fmax(err, fabs(result[k] - want[k]));
        *total += result[k];
    }
    free(x);
    free(y);
    return err;
}

#endif
