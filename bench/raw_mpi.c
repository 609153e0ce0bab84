/* raw_mpi: the MPI baseline: MPI_Win_create over the benchmark's memory, passive target,
 * lock_all, each call followed by MPI_Win_flush (what gallocy's mpi transport does, through
 * the same Open MPI component). */
#include "raw_backend.h"

#include <mpi.h>
#include <stdio.h>

#include "common.h"

static MPI_Win win = MPI_WIN_NULL;

static void mpi_get(void *dst, int rank, size_t off, size_t n)
{
    MPI_Get(dst, (int)n, MPI_BYTE, rank, (MPI_Aint)off, (int)n, MPI_BYTE, win);
    MPI_Win_flush(rank, win);
}

static void mpi_put(int rank, size_t off, const void *src, size_t n)
{
    MPI_Put(src, (int)n, MPI_BYTE, rank, (MPI_Aint)off, (int)n, MPI_BYTE, win);
    MPI_Win_flush(rank, win);
}

static uint64_t mpi_fetch_add(int rank, size_t off, uint64_t v)
{
    uint64_t old;
    MPI_Fetch_and_op(&v, &old, MPI_UINT64_T, rank, (MPI_Aint)off, MPI_SUM, win);
    MPI_Win_flush(rank, win);
    return old;
}

static uint64_t mpi_compare_swap(int rank, size_t off, uint64_t expected, uint64_t desired)
{
    uint64_t old;
    MPI_Compare_and_swap(&desired, &expected, &old, MPI_UINT64_T, rank, (MPI_Aint)off, win);
    MPI_Win_flush(rank, win);
    return old;
}

static void mpi_get_window(void *dst, int rank, size_t n, int window)
{
    for (int i = 0; i < window; i++)
        MPI_Get(dst, (int)n, MPI_BYTE, rank, 0, (int)n, MPI_BYTE, win);
    MPI_Win_flush(rank, win);
}

static void mpi_put_window(int rank, const void *src, size_t n, int window)
{
    for (int i = 0; i < window; i++)
        MPI_Put(src, (int)n, MPI_BYTE, rank, 0, (int)n, MPI_BYTE, win);
    MPI_Win_flush(rank, win);
}

static void mpi_close(void)
{
    MPI_Win_unlock_all(win);
    MPI_Win_free(&win);
}

static const struct raw_ops mpi_ops = {mpi_get, mpi_put, mpi_fetch_add, mpi_compare_swap,
                                       mpi_get_window, mpi_put_window, mpi_close};

const struct raw_ops *raw_mpi_open(char *base, size_t size)
{
    if (MPI_Win_create(base, (MPI_Aint)size, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &win)) {
        fprintf(stderr, "raw: rank %d: MPI_Win_create of %zu bytes failed\n", bench_me, size);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Win_lock_all(MPI_MODE_NOCHECK, win);
    return &mpi_ops;
}
