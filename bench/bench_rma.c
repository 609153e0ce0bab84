/* bench_rma: explicit one-sided access, OSU-style: gallocy_get / gallocy_put latency and
 * bandwidth from 1 B to 4 MiB, and the atomics, against the raw transport (MPI_Get / MPI_Put /
 * MPI_Fetch_and_op / MPI_Compare_and_swap with MPI_Win_flush on a window of the benchmark's
 * own, same MPI component) in the same run.
 *
 *   mpirun -np 2 bench/bench_rma [--csv] [--reps N] [--scale X] [--only TABLE]
 *
 * Rank 0 measures, on memory homed on rank 1, into private memory; rank 1 waits in
 * MPI_Barrier (driving progress, as OSU's target does).  Tables: get_lat, put_lat, get_bw,
 * put_bw, atomic_lat.  Bandwidth: gallocy's calls complete one by one (gallocy_get returns
 * with the data); the baseline keeps 64 operations in flight before one flush, as OSU does,
 * so it bounds what any blocking call can reach. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "raw.h"

enum { MAX_SIZE = 4 << 20, BW_WINDOW = 64 };

static char *remote; /* MAX_SIZE bytes homed on rank 1 */
static uint64_t *word;  /* an atomic word homed on rank 1 */
static char *local;  /* private */

static long iters_for(size_t size, double small)
{
    return bench_iters(size <= 8192 ? small : size <= 262144 ? small / 10 : small / 100);
}

static double time_gallocy(int put, size_t size, long n)
{
    double t0 = bench_now();
    for (long i = 0; i < n; i++)
        put ? gallocy_put(remote, local, size) : gallocy_get(local, remote, size);
    return bench_now() - t0;
}

static double time_raw(int put, size_t size, long n)
{
    double t0 = bench_now();
    for (long i = 0; i < n; i++)
        put ? raw_put(1, 0, local, size) : raw_get(local, 1, 0, size);
    return bench_now() - t0;
}

static void latency(int put)
{
    bench_table(put ? "put_lat" : "get_lat",
                put ? "gallocy_put latency, rank 0 to memory homed on rank 1"
                    : "gallocy_get latency, rank 0 from memory homed on rank 1",
                "Size", "us", put ? "MPI_Put+flush" : "MPI_Get+flush", 0);
    for (size_t size = 1; size <= MAX_SIZE; size *= 2) {
        long n = iters_for(size, 2000);
        double g[32], r[32];
        time_gallocy(put, size, n / 10 + 1); /* warm up */
        time_raw(put, size, n / 10 + 1);
        for (int k = 0; k < bench_reps; k++) {
            g[k] = time_gallocy(put, size, n) / (double)n * 1e6;
            r[k] = time_raw(put, size, n) / (double)n * 1e6;
        }
        bench_row_size(size, bench_median(g, bench_reps), bench_median(r, bench_reps));
    }
}

static void bandwidth(int put)
{
    bench_table(put ? "put_bw" : "get_bw",
                put ? "gallocy_put bandwidth, rank 0 to memory homed on rank 1"
                    : "gallocy_get bandwidth, rank 0 from memory homed on rank 1",
                "Size", "MB/s", put ? "MPI_Put x64+flush" : "MPI_Get x64+flush", 1);
    for (size_t size = 1; size <= MAX_SIZE; size *= 2) {
        long windows = iters_for(size, 100), n = windows * BW_WINDOW;
        double g[32], r[32];
        for (int k = 0; k < bench_reps; k++) {
            g[k] = (double)size * (double)n / time_gallocy(put, size, n) / 1e6;
            double t0 = bench_now();
            for (long w = 0; w < windows; w++)
                put ? raw_put_window(1, local, size, BW_WINDOW)
                    : raw_get_window(local, 1, size, BW_WINDOW);
            r[k] = (double)size * (double)n / (bench_now() - t0) / 1e6;
        }
        bench_row_size(size, bench_median(g, bench_reps), bench_median(r, bench_reps));
    }
}

static void atomics(void)
{
    bench_table("atomic_lat", "atomics on a word homed on rank 1, from rank 0", "Operation",
                "us", "MPI atomic+flush", 0);
    long n = bench_iters(2000);
    double g[2][32], r[2][32];
    for (int k = 0; k < bench_reps; k++) {
        double t0 = bench_now();
        for (long i = 0; i < n; i++)
            gallocy_atomic_fetch_add(word, 1);
        double t1 = bench_now();
        for (long i = 0; i < n; i++)
            raw_fetch_add(1, 0, 1);
        double t2 = bench_now();
        for (long i = 0; i < n; i++)
            gallocy_atomic_compare_swap(word, (uint64_t)i, (uint64_t)i + 1);
        double t3 = bench_now();
        for (long i = 0; i < n; i++)
            raw_compare_swap(1, 0, (uint64_t)i, (uint64_t)i + 1);
        double t4 = bench_now();
        g[0][k] = (t1 - t0) / (double)n * 1e6;
        r[0][k] = (t2 - t1) / (double)n * 1e6;
        g[1][k] = (t3 - t2) / (double)n * 1e6;
        r[1][k] = (t4 - t3) / (double)n * 1e6;
    }
    bench_row("fetch_add", bench_median(g[0], bench_reps), bench_median(r[0], bench_reps));
    bench_row("compare_swap", bench_median(g[1], bench_reps), bench_median(r[1], bench_reps));
}

int main(int argc, char **argv)
{
    bench_start(&argc, &argv, "bench_rma",
                "  tables: get_lat put_lat get_bw put_bw atomic_lat\n");
    remote = gallocy_coalloc(MAX_SIZE, 1);
    word = gallocy_coalloc(4096, 1);
    local = malloc(MAX_SIZE);
    if (!remote || !word || !local) {
        fprintf(stderr, "bench_rma: rank %d: out of memory\n", bench_me);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    memset(local, 7, MAX_SIZE);
    raw_open(MAX_SIZE);
    if (bench_me == 1)
        memset(remote, 1, MAX_SIZE); /* its home pages exist before anyone reads them */
    gallocy_barrier();
    if (bench_me == 0) {
        if (bench_wanted("get_lat"))
            latency(0);
        if (bench_wanted("put_lat"))
            latency(1);
        if (bench_wanted("get_bw"))
            bandwidth(0);
        if (bench_wanted("put_bw"))
            bandwidth(1);
        if (bench_wanted("atomic_lat"))
            atomics();
    }
    MPI_Barrier(MPI_COMM_WORLD);
    raw_close();
    gallocy_cofree(word);
    gallocy_cofree(remote);
    free(local);
    bench_stop();
    return 0;
}
