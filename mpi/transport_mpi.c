/* transport_mpi: MPI-3 passive-target RMA on one window over every rank's registered region.
 *
 * Facts it is built on (Open MPI 4.1.4, see ENVIRONMENT.md): the window is created over our
 * own memory with MPI_Win_create (the default component crashes on compare-and-swap in
 * MPI_Win_allocate windows, and even with MPI_Win_create when a rank targets itself), so
 * operations on this rank's own region never go through MPI: memcpy and CPU atomics, which
 * agree with MPI's atomics because the target side applies those with CPU atomics too.
 * Atomics on this component are carried out by the target's progress engine; the service
 * thread calls progress() while idle so they complete while the application computes. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "gallocy.h"
#include "log.h"
#include "runtime.h"
#include "runtime_mpi.h"
#include "transport.h"

static MPI_Win win = MPI_WIN_NULL;
static char *region;
static int me;

enum { MAX_CHUNK = 1 << 30 }; /* MPI counts are int */

static void check(int rc, const char *op, int rank, size_t len)
{
    if (rc == MPI_SUCCESS)
        return;
    char msg[MPI_MAX_ERROR_STRING];
    int n = 0;
    MPI_Error_string(rc, msg, &n);
    log_fatal("gallocy (transport mpi)", "%s of %zu bytes with rank %d failed: %s", op, len, rank,
              msg);
}

static void mpi_get(void *dst, int rank, uint64_t off, size_t len)
{
    if (rank == me) {
        memcpy(dst, region + off, len);
        return;
    }
    for (size_t done = 0; done < len; done += MAX_CHUNK) {
        int c = (int)(len - done < MAX_CHUNK ? len - done : MAX_CHUNK);
        check(MPI_Get((char *)dst + done, c, MPI_BYTE, rank, (MPI_Aint)(off + done), c, MPI_BYTE,
                      win), "MPI_Get", rank, len);
    }
}

static void mpi_put(int rank, uint64_t off, const void *src, size_t len)
{
    if (rank == me) {
        memcpy(region + off, src, len);
        return;
    }
    for (size_t done = 0; done < len; done += MAX_CHUNK) {
        int c = (int)(len - done < MAX_CHUNK ? len - done : MAX_CHUNK);
        check(MPI_Put((const char *)src + done, c, MPI_BYTE, rank, (MPI_Aint)(off + done), c,
                      MPI_BYTE, win), "MPI_Put", rank, len);
    }
}

static void mpi_flush(int rank)
{
    if (win == MPI_WIN_NULL)
        return;
    if (rank == TP_ALL_RANKS)
        check(MPI_Win_flush_all(win), "MPI_Win_flush_all", rank, 0);
    else if (rank != me)
        check(MPI_Win_flush(rank, win), "MPI_Win_flush", rank, 0);
}

static uint64_t mpi_fetch_add(int rank, uint64_t off, uint64_t v)
{
    if (rank == me)
        return __atomic_fetch_add((uint64_t *)(region + off), v, __ATOMIC_SEQ_CST);
    uint64_t old = 0;
    check(MPI_Fetch_and_op(&v, &old, MPI_UINT64_T, rank, (MPI_Aint)off, MPI_SUM, win),
          "MPI_Fetch_and_op", rank, 8);
    check(MPI_Win_flush(rank, win), "MPI_Win_flush", rank, 8);
    return old;
}

static uint64_t mpi_compare_swap(int rank, uint64_t off, uint64_t expected, uint64_t desired)
{
    if (rank == me) {
        __atomic_compare_exchange_n((uint64_t *)(region + off), &expected, desired, 0,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        return expected; /* the value found, as MPI returns it */
    }
    uint64_t old = 0;
    check(MPI_Compare_and_swap(&desired, &expected, &old, MPI_UINT64_T, rank, (MPI_Aint)off, win),
          "MPI_Compare_and_swap", rank, 8);
    check(MPI_Win_flush(rank, win), "MPI_Win_flush", rank, 8);
    return old;
}

static void mpi_progress(void)
{
    int flag;
    if (win == MPI_WIN_NULL)
        return;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, rt_mpi_comm(), &flag, MPI_STATUS_IGNORE);
}

static void mpi_fini(void)
{
    if (win == MPI_WIN_NULL)
        return;
    MPI_Win_unlock_all(win);
    MPI_Win_free(&win);
    win = MPI_WIN_NULL;
}

static struct tp_ops mpi_ops = {
    .name = "mpi",
    .get = mpi_get,
    .put = mpi_put,
    .flush = mpi_flush,
    .fetch_add = mpi_fetch_add,
    .compare_swap = mpi_compare_swap,
    .progress = mpi_progress,
    .fini = mpi_fini,
};

int tp_mpi_create(void *base, size_t size, const struct tp_ops **out)
{
    region = base;
    me = rt_rank();
    *out = &mpi_ops;
    /* Alone, every operation targets this rank: no window (osc rdma refuses one), and no
     * other rank waits for this one's progress, so the idle service thread may sleep long. */
    mpi_ops.progress_us = rt_size() == 1 ? 20000 : 0;
    if (rt_size() == 1)
        return 0;
    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "same_disp_unit", "true");
    int rc = MPI_Win_create(base, (MPI_Aint)size, 1, info, rt_mpi_comm(), &win);
    MPI_Info_free(&info);
    long ok = rc == MPI_SUCCESS;
    if (!ok) {
        char msg[MPI_MAX_ERROR_STRING];
        int n = 0;
        MPI_Error_string(rc, msg, &n);
        log_error("gallocy_init", "MPI_Win_create over the %zu-byte heap failed: %s (with Open "
                  "MPI, osc pt2pt refuses MPI_THREAD_MULTIPLE: use the default component or "
                  "--mca osc ucx)", size, msg);
        win = MPI_WIN_NULL;
    }
    if (!rt_allreduce_min(ok)) {
        mpi_fini();
        return -GALLOCY_ERR_TRANSPORT;
    }
    MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, win);
    char name[MPI_MAX_OBJECT_NAME] = "";
    int len = 0;
    MPI_Win_get_name(win, name, &len);
    if (rt_rank() == 0)
        log_verbose(1, "MPI one-sided window: %s", len ? name : "(unnamed)");
    return 0;
}
