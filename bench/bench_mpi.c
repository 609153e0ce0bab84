/* bench_mpi: MPI_Send/MPI_Recv with buffers in global memory, against the same calls on
 * private memory in the same run (what gallocy's MPI layer costs: making the buffers ready
 * and pinning them).
 *
 *   mpirun -np 2 bench/bench_mpi [--csv] [--reps N] [--scale X] [--only TABLE]
 *
 * A ping-pong between ranks 0 and 1, half the round trip in us, 8 B to 1 MiB.  Tables:
 *   mpi_own     each rank's buffer is its own gallocy_malloc memory (homed on it)
 *   mpi_remote  each rank's buffer is homed on the other rank, warm (present and writable
 *               after the first message)
 *   mpi_cold    the same, with gallocy_barrier between round trips, so that each message
 *               is sent from and received into memory not present here (fetched, then
 *               written home); baseline: the private ping-pong and MPI_Barrier
 * Baseline: the same ping-pong on private (page-aligned malloc'd) buffers.  The cold table
 * counts gallocy_barrier in (about a microsecond more than MPI_Barrier here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const size_t sizes[] = {8, 4096, 65536, 1 << 20};
enum { NSIZES = 4, TAG = 5 };

/* Half a round trip, us, median over reps of iters round trips. */
static double pingpong(char *buf, size_t n, long iters, int barrier)
{
    double v[33];
    int peer = 1 - bench_me;
    for (int k = -1; k < bench_reps; k++) { /* run -1 warms up */
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = bench_now();
        for (long i = 0; i < iters; i++) {
            if (bench_me == 0) {
                MPI_Send(buf, (int)n, MPI_BYTE, peer, TAG, MPI_COMM_WORLD);
                MPI_Recv(buf, (int)n, MPI_BYTE, peer, TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            } else {
                MPI_Recv(buf, (int)n, MPI_BYTE, peer, TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Send(buf, (int)n, MPI_BYTE, peer, TAG, MPI_COMM_WORLD);
            }
            if (barrier == 1)
                gallocy_barrier();
            else if (barrier == 2)
                MPI_Barrier(MPI_COMM_WORLD);
        }
        if (k >= 0)
            v[k] = (bench_now() - t0) / (double)iters / 2 * 1e6;
    }
    return bench_median(v, bench_reps);
}

static long iters_for(size_t n, double base)
{
    return bench_iters(n >= (1 << 20) ? base / 20 : n >= 65536 ? base / 4 : base);
}

int main(int argc, char **argv)
{
    bench_start(&argc, &argv, "bench_mpi", "  tables: mpi_own mpi_remote mpi_cold\n");
    if (bench_nranks != 2) {
        if (bench_me == 0)
            fprintf(stderr, "bench_mpi: needs 2 ranks\n");
        bench_stop();
        return 1;
    }
    size_t most = sizes[NSIZES - 1];
    /* Page-aligned, like the global buffers: a malloc'd 1 MiB buffer starts 16 bytes past a
     * page, and copies into it hit this CPU's 4 KiB aliasing penalty (ENVIRONMENT.md). */
    char *priv = aligned_alloc(4096, most), *own = gallocy_malloc(most);
    /* Rank 0's buffer homed on rank 1 and rank 1's on rank 0. */
    char *on1 = gallocy_coalloc(most, 1), *on0 = gallocy_coalloc(most, 0);
    char *remote = bench_me == 0 ? on1 : on0;
    memset(priv, 1, most);
    memset(own, 1, most);
    memset(bench_me == 0 ? on0 : on1, 1, most); /* each home fills its own */
    gallocy_barrier();
    double p[NSIZES], o[NSIZES], r[NSIZES], c[NSIZES], pb[NSIZES];
    for (int i = 0; i < NSIZES; i++) {
        long it = iters_for(sizes[i], 2000);
        p[i] = pingpong(priv, sizes[i], it, 0);
        o[i] = pingpong(own, sizes[i], it, 0);
        r[i] = pingpong(remote, sizes[i], it, 0);
        long cold = iters_for(sizes[i], 200);
        pb[i] = pingpong(priv, sizes[i], cold, 2);
        c[i] = pingpong(remote, sizes[i], cold, 1);
    }
    const char *base = "same on private memory";
    if (bench_wanted("mpi_own")) {
        bench_table("mpi_own", "MPI_Send/MPI_Recv ping-pong, buffers in the rank's own "
                    "gallocy_malloc memory (half round trip)", "Size", "us", base, 0);
        for (int i = 0; i < NSIZES; i++)
            bench_row_size(sizes[i], o[i], p[i]);
    }
    if (bench_wanted("mpi_remote")) {
        bench_table("mpi_remote", "the same, buffers homed on the other rank, warm", "Size",
                    "us", base, 0);
        for (int i = 0; i < NSIZES; i++)
            bench_row_size(sizes[i], r[i], p[i]);
    }
    if (bench_wanted("mpi_cold")) {
        bench_table("mpi_cold", "the same with gallocy_barrier between round trips: every "
                    "message from and into pages not present (fetched, written home)", "Size",
                    "us", "private + MPI_Barrier", 0);
        for (int i = 0; i < NSIZES; i++)
            bench_row_size(sizes[i], c[i], pb[i]);
        bench_note("GALLOCY_FAULTS=%s, transport %s", gallocy_faults(), gallocy_transport());
    }
    gallocy_barrier();
    gallocy_cofree(on0);
    gallocy_cofree(on1);
    gallocy_free(own);
    free(priv);
    bench_stop();
    return 0;
}
