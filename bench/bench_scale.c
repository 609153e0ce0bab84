/* bench_scale: what start-up, a barrier and a rank's memory cost at this job's size, against
 * MPI's in the same run.  One run measures one job size; bench/scale runs it from 2 to 256
 * ranks and gathers the rows (the parameter of every row is the number of ranks).
 *
 *   mpirun -np N bench/bench_scale [--csv] [--csv-out FILE] [--reps N] [--scale X]
 *                                  [--only TABLE]
 *
 * Tables (one row each):
 *   init            gallocy_init against MPI_Init_thread, ms, each on the slowest rank
 *   barrier_scale   gallocy_barrier with nothing written against MPI_Barrier, us: the
 *                   synchronisation alone (one reduction of N bits)
 *   barrier_written the step of a neighbour exchange: each rank stores one word homed on
 *                   its right neighbour, then gallocy_barrier (the store's faults, the
 *                   write-back, every rank's notice and the reads of every publisher's
 *                   count), against MPI_Put of the word into the neighbour's
 *                   MPI_Win_allocate window and MPI_Win_fence
 *   rss             a rank's resident memory, KiB, the largest of the ranks: after
 *                   gallocy_init and the barriers, against the same process before
 *                   gallocy_init (MPI's own); the note adds what is registered with the RDMA
 *                   device (0 under the mpi transport) and the peers connected
 * A barrier figure is the slowest rank's mean over the iterations (3200/N of them, at least
 * 10, times --scale), the median over --reps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* VmRSS of this process, KiB (-1 when /proc does not say). */
static double rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kib = atof(line + 6);
    if (f)
        fclose(f);
    return kib;
}

static double slowest(double mine)
{
    double max;
    MPI_Allreduce(&mine, &max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return max;
}

enum sync { GALLOCY_BARRIER, MPI_BARRIER, MPI_PUT_FENCE };
static MPI_Win win; /* MPI_PUT_FENCE's: one word a rank */

/* The slowest rank's mean time of one step over iters, the median over the reps, us; a step
 * stores to write first when it is not NULL (gallocy_barrier), or puts to the right
 * neighbour's window (MPI_PUT_FENCE). */
static double step_us(enum sync how, long iters, volatile uint64_t *write)
{
    int right = (bench_me + 1) % bench_nranks;
    double v[31];
    for (int r = 0; r < bench_reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = bench_now();
        for (long i = 0; i < iters; i++) {
            uint64_t x = (uint64_t)i;
            if (write)
                *write = x;
            if (how == GALLOCY_BARRIER) {
                gallocy_barrier();
            } else if (how == MPI_BARRIER) {
                MPI_Barrier(MPI_COMM_WORLD);
            } else {
                MPI_Put(&x, 1, MPI_UINT64_T, right, 0, 1, MPI_UINT64_T, win);
                MPI_Win_fence(0, win);
            }
        }
        v[r] = slowest((bench_now() - t0) / (double)iters * 1e6);
    }
    return bench_median(v, bench_reps);
}

int main(int argc, char **argv)
{
    bench_start_mpi(&argc, &argv, "bench_scale", "");
    double mpi_init_ms = slowest(bench_mpi_init_seconds * 1e3);
    double rss_mpi = slowest(rss_kib());
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = bench_now();
    int rc = gallocy_init(MPI_COMM_WORLD);
    double init_ms = slowest((bench_now() - t0) * 1e3);
    if (rc) {
        fprintf(stderr, "bench_scale: rank %d of %d: gallocy_init: %s\n", bench_me,
                bench_nranks, gallocy_strerror(rc));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    bench_header();
    char n[16];
    snprintf(n, sizeof n, "%d", bench_nranks);

    if (bench_wanted("init")) {
        bench_table("init", "start-up, the slowest rank", "Ranks", "ms", "MPI_Init_thread", 0);
        bench_row(n, init_ms, mpi_init_ms);
    }

    /* Fewer steps in larger jobs: oversubscribed, a step costs about N times more. */
    long iters = bench_iters(3200.0 / bench_nranks > 10 ? 3200.0 / bench_nranks : 10);
    if (bench_wanted("barrier_scale")) {
        bench_table("barrier_scale", "barrier, nothing written", "Ranks", "us", "MPI_Barrier",
                    0);
        double g = step_us(GALLOCY_BARRIER, iters, NULL), m = step_us(MPI_BARRIER, iters, NULL);
        bench_row(n, g, m);
    }

    /* One word a rank, each in a page of its own, homed on its rank (blocked placement). */
    uint64_t *words = gallocy_coalloc((size_t)bench_nranks * 4096, GALLOCY_BLOCKED);
    if (!words) {
        fprintf(stderr, "bench_scale: rank %d: gallocy_coalloc of %d pages failed\n", bench_me,
                bench_nranks);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    volatile uint64_t *right = words + (size_t)((bench_me + 1) % bench_nranks) * 512;
    if (bench_wanted("barrier_written")) {
        uint64_t *base;
        MPI_Win_allocate(8, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &base, &win);
        MPI_Win_fence(0, win);
        bench_table("barrier_written", "one store to the right neighbour, then the barrier",
                    "Ranks", "us", "MPI_Put+MPI_Win_fence", 0);
        double g = step_us(GALLOCY_BARRIER, iters, right);
        double m = step_us(MPI_PUT_FENCE, iters, NULL);
        bench_row(n, g, m);
        MPI_Win_free(&win);
    }
    gallocy_barrier();

    gallocy_stats_t s;
    gallocy_stats(&s);
    double rss = slowest(rss_kib());
    double registered = slowest((double)s.bytes_registered / 1024);
    double connections = slowest((double)s.connections);
    if (bench_wanted("rss")) {
        bench_table("rss", "resident memory of a rank, the largest", "Ranks", "KiB",
                    "MPI process alone", 0);
        bench_row(n, rss, rss_mpi);
    }
    bench_note("registered with the RDMA device: %.0f KiB on the rank with most (transport "
               "%s); peers connected: %.0f at most", registered, gallocy_transport(),
               connections);

    gallocy_cofree(words);
    bench_stop();
    return 0;
}
