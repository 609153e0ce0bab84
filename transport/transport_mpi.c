/* transport_mpi: MPI-3 passive-target RMA on one window over every rank's registered region.
 *
 * Facts it is built on (Open MPI 4.1.4, see ENVIRONMENT.md): the window is created over our
 * own memory with MPI_Win_create (the default component crashes on compare-and-swap in
 * MPI_Win_allocate windows, and even with MPI_Win_create when a rank targets itself), so
 * operations on this rank's own region never go through MPI: memcpy and CPU atomics, which
 * agree with MPI's atomics because the target side applies those with CPU atomics too.
 * Atomics on this component are carried out by the target's progress engine (across hosts,
 * with osc ucx over TCP, gets and puts too); the service thread calls progress() while idle
 * so they complete while the application computes.
 *
 * How often it calls is adaptive, because every wake of a sleeping thread costs (about 38 us
 * of CPU on these VMs: a rank polling every 50 us for ever spends a fifth of a core, and a
 * computing rank loses it: a heat stencil's sweeps ran 1.5x slower).  While this rank takes
 * part in traffic whose peers need its progress, and for PROGRESS_HOLD_US after, it polls
 * every GALLOCY_PROGRESS_US; then the sleep doubles at each idle tick up to
 * GALLOCY_PROGRESS_IDLE_US.  That traffic is its atomics, its own words' included (peers that
 * synchronise with it target it with theirs: a lock homed here) and its waits on ranks of
 * other nodes (there gets and puts need the target's progress too).  Gets and puts within
 * a node are single copies (CMA) that need no one's progress, so a rank that only faults on
 * its neighbours' pages stays quiet.
 * A rank that computes without calls may still be the target of others' atomics: a rank
 * whose wait on a target took much longer than the fast cadence writes the target's wake word
 * (a put, which this component completes without the target's help), and the target's next
 * tick finds it changed and polls fast again.  So a burst of operations on a quiet rank waits
 * at most one slow tick, once. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "gallocy.h"
#include "inside_mpi.h"
#include "log.h"
#include "node.h"
#include "options.h"
#include "runtime.h"
#include "runtime_mpi.h"
#include "transport.h"

static MPI_Win win = MPI_WIN_NULL;
static char *region;
static int me;

/* Adaptive progress (see the top). */
enum {
    PROGRESS_HOLD_US = 10000, /* fast polling lasts this long after the last sign of traffic */
    OWN_ATOMIC_HOLD_US = 200, /* polling without sleeps, after an atomic on this rank's words */
    SLOW_WAIT_MIN_US = 100,   /* a wait longer than this, and than 4 fast ticks, wakes the target */
    ALONE_IDLE_US = 20000,    /* a single-rank job: no other rank needs this one's progress */
};
static uint64_t wake_off;        /* the wake word's offset in every rank's region */
static uint64_t waits;           /* atomic: its waits that are signs of traffic (see the top) */
static uint64_t wakes_sent;      /* atomic: makes each wake word value new */
static uint64_t seen_waits, seen_wake;
static double quiet_since_us;
static int sleep_us;
static double slow_wait_us; /* a wait longer than this wakes the target */
static int idle_ceiling_us; /* the longest idle sleep */
static int any_off_node; /* some rank is on another node (node_same) */

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec * 1e-3;
}

enum { MAX_CHUNK = 1 << 30 }; /* MPI counts are int */

static void check(int rc, const char *op, int rank, size_t len)
{
    if (rc == MPI_SUCCESS)
        return;
    char msg[MPI_MAX_ERROR_STRING];
    int n = 0;
    PMPI_Error_string(rc, msg, &n);
    log_fatal("gallocy (transport mpi)", "%s of %zu bytes with rank %d failed: %s", op, len, rank,
              msg);
}

/* Tells rank that this rank waited on its progress: a value it has not seen in its wake word
 * (this rank's id, and a count, so that two ranks never write the same value). */
static void wake(int rank)
{
    uint64_t v = __atomic_add_fetch(&wakes_sent, 1, __ATOMIC_RELAXED) << 24 | (uint64_t)me;
    check(PMPI_Put(&v, 8, MPI_BYTE, rank, (MPI_Aint)wake_off, 8, MPI_BYTE, win), "MPI_Put", rank,
          8);
    check(PMPI_Win_flush(rank, win), "MPI_Win_flush", rank, 8);
}

/* Waits until this rank's operations to rank are complete, and wakes rank's progress when
 * they took so long, since t0, that it must have backed off.  t0 is taken before the
 * operation: on the default component an atomic blocks in the call itself, not in the
 * flush. */
static void complete(int rank, size_t len, double t0, int atomic)
{
    if (atomic || !node_same[rank])
        __atomic_fetch_add(&waits, 1, __ATOMIC_RELAXED);
    check(PMPI_Win_flush(rank, win), "MPI_Win_flush", rank, len);
    if (now_us() - t0 > slow_wait_us)
        wake(rank);
}

static void mpi_get(void *dst, int rank, uint64_t off, size_t len)
{
    if (rank == me) {
        memcpy(dst, region + off, len);
        return;
    }
    INSIDE_MPI_ENTER();
    for (size_t done = 0; done < len; done += MAX_CHUNK) {
        int c = (int)(len - done < MAX_CHUNK ? len - done : MAX_CHUNK);
        check(PMPI_Get((char *)dst + done, c, MPI_BYTE, rank, (MPI_Aint)(off + done), c, MPI_BYTE,
                      win), "MPI_Get", rank, len);
    }
    INSIDE_MPI_LEAVE();
}

static void mpi_put(int rank, uint64_t off, const void *src, size_t len)
{
    if (rank == me) {
        memcpy(region + off, src, len);
        return;
    }
    INSIDE_MPI_ENTER();
    for (size_t done = 0; done < len; done += MAX_CHUNK) {
        int c = (int)(len - done < MAX_CHUNK ? len - done : MAX_CHUNK);
        check(PMPI_Put((const char *)src + done, c, MPI_BYTE, rank, (MPI_Aint)(off + done), c,
                      MPI_BYTE, win), "MPI_Put", rank, len);
    }
    INSIDE_MPI_LEAVE();
}

static void mpi_flush(int rank)
{
    if (win == MPI_WIN_NULL)
        return;
    INSIDE_MPI_ENTER();
    if (rank == TP_ALL_RANKS) {
        if (any_off_node)
            __atomic_fetch_add(&waits, 1, __ATOMIC_RELAXED);
        check(PMPI_Win_flush_all(win), "MPI_Win_flush_all", rank, 0);
    } else if (rank != me) {
        complete(rank, 0, now_us(), 0); /* the gets and puts went out before: the flush waits */
    }
    INSIDE_MPI_LEAVE();
}

/* An atomic on this rank's own word is a CPU atomic, but others synchronise on the same
 * words with theirs (a lock homed here: its holder's lock and unlock are local, its waiters'
 * ticket, polls and unlock are not, and each waits for this rank's progress).  While this rank
 * does them, and for OWN_ATOMIC_HOLD_US after, the service thread polls without sleeping (it
 * yields): a contended lock homed on a rank otherwise hands over at its 50 us ticks (205 us a
 * lock and increment here, 23 us with the polls). */
static uint64_t own_atomics, seen_own_atomics;
static double own_atomic_us;

static void own_atomic(void)
{
    __atomic_fetch_add(&own_atomics, 1, __ATOMIC_RELAXED);
}

static uint64_t mpi_fetch_add(int rank, uint64_t off, uint64_t v)
{
    if (rank == me) {
        own_atomic();
        return __atomic_fetch_add((uint64_t *)(region + off), v, __ATOMIC_SEQ_CST);
    }
    uint64_t old = 0;
    double t0 = now_us();
    INSIDE_MPI_ENTER();
    check(PMPI_Fetch_and_op(&v, &old, MPI_UINT64_T, rank, (MPI_Aint)off, MPI_SUM, win),
          "MPI_Fetch_and_op", rank, 8);
    complete(rank, 8, t0, 1);
    INSIDE_MPI_LEAVE();
    return old;
}

static uint64_t mpi_compare_swap(int rank, uint64_t off, uint64_t expected, uint64_t desired)
{
    if (rank == me) {
        own_atomic();
        __atomic_compare_exchange_n((uint64_t *)(region + off), &expected, desired, 0,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        return expected; /* the value found, as MPI returns it */
    }
    uint64_t old = 0;
    double t0 = now_us();
    INSIDE_MPI_ENTER();
    check(PMPI_Compare_and_swap(&desired, &expected, &old, MPI_UINT64_T, rank, (MPI_Aint)off, win),
          "MPI_Compare_and_swap", rank, 8);
    complete(rank, 8, t0, 1);
    INSIDE_MPI_LEAVE();
    return old;
}

static int mpi_progress(void)
{
    int flag;
    if (win == MPI_WIN_NULL)
        return ALONE_IDLE_US;
    PMPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, rt_mpi_comm(), &flag, MPI_STATUS_IGNORE);
    /* Only the service thread comes here: the seen_* and the sleep are its own. */
    uint64_t n = __atomic_load_n(&waits, __ATOMIC_RELAXED);
    uint64_t w = __atomic_load_n((uint64_t *)(region + wake_off), __ATOMIC_RELAXED);
    uint64_t o = __atomic_load_n(&own_atomics, __ATOMIC_RELAXED);
    double now = now_us();
    if (o != seen_own_atomics) {
        seen_own_atomics = o;
        own_atomic_us = now;
    }
    if (now - own_atomic_us < OWN_ATOMIC_HOLD_US) {
        quiet_since_us = now;
        sleep_us = opt.progress_us;
        return 0; /* poll again at once */
    }
    if (n != seen_waits || w != seen_wake) {
        seen_waits = n;
        seen_wake = w;
        quiet_since_us = now;
        sleep_us = opt.progress_us;
    } else if (now - quiet_since_us > PROGRESS_HOLD_US && sleep_us < idle_ceiling_us) {
        /* doubles; from 0 (GALLOCY_PROGRESS_US=0: no sleep while busy) it starts at 1 us */
        sleep_us = sleep_us * 2 > idle_ceiling_us ? idle_ceiling_us : sleep_us * 2 + !sleep_us;
    }
    return sleep_us;
}

/* A fault handler may make the fault's get itself (one MPI_Get and flush on the window, with
 * MPI_THREAD_MULTIPLE, which gallocy_init requires) unless its thread is inside MPI. */
static int mpi_signal_safe(const void *pc)
{
    return win != MPI_WIN_NULL && !inside_mpi(pc);
}

static void mpi_fini(void)
{
    if (win == MPI_WIN_NULL)
        return;
    PMPI_Win_unlock_all(win);
    PMPI_Win_free(&win);
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
    .poll_while_spinning = 1,
    .atomics_need_target = 1,
    .signal_safe = mpi_signal_safe,
    .fini = mpi_fini,
};

static int mpi_create(const struct tp_config *c, const struct tp_ops **out)
{
    void *base = c->base;
    size_t size = c->size;
    uint64_t meta_off = c->meta_off;
    region = base;
    me = rt_rank();
    wake_off = meta_off; /* the first word of the backend's metadata */
    seen_waits = __atomic_load_n(&waits, __ATOMIC_RELAXED);
    seen_wake = __atomic_load_n((uint64_t *)(region + wake_off), __ATOMIC_RELAXED);
    quiet_since_us = now_us();
    sleep_us = opt.progress_us;
    slow_wait_us = 4.0 * opt.progress_us > SLOW_WAIT_MIN_US ? 4.0 * opt.progress_us
                                                            : SLOW_WAIT_MIN_US;
    idle_ceiling_us = opt.progress_idle_us > opt.progress_us ? opt.progress_idle_us
                                                             : opt.progress_us;
    *out = &mpi_ops;
    inside_mpi_learn();
    /* Alone, every operation targets this rank: no window (osc rdma refuses one), and no
     * other rank waits for this one's progress, so the idle service thread may sleep long. */
    if (rt_size() == 1)
        return 0;
    any_off_node = 0;
    for (int r = 0; r < rt_size(); r++)
        any_off_node |= !node_same[r];
    MPI_Info info;
    PMPI_Info_create(&info);
    PMPI_Info_set(info, "same_disp_unit", "true");
    int rc = PMPI_Win_create(base, (MPI_Aint)size, 1, info, rt_mpi_comm(), &win);
    PMPI_Info_free(&info);
    long ok = rc == MPI_SUCCESS;
    if (!ok) {
        char msg[MPI_MAX_ERROR_STRING];
        int n = 0;
        PMPI_Error_string(rc, msg, &n);
        log_error("gallocy_init", "MPI_Win_create over the %zu-byte heap failed: %s (with Open "
                  "MPI, osc pt2pt refuses MPI_THREAD_MULTIPLE: use the default component or "
                  "--mca osc ucx)", size, msg);
        win = MPI_WIN_NULL;
    }
    if (!rt_allreduce_min(ok)) {
        mpi_fini();
        return -GALLOCY_ERR_TRANSPORT;
    }
    PMPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
    PMPI_Win_lock_all(MPI_MODE_NOCHECK, win);
    char name[MPI_MAX_OBJECT_NAME] = "";
    int len = 0;
    PMPI_Win_get_name(win, name, &len);
    if (rt_rank() == 0)
        log_verbose(1, "MPI one-sided window: %s", len ? name : "(unnamed)");
    return 0;
}

/* MPI runs wherever the job runs: usable everywhere. */
static int mpi_probe(const char *device, char *why, size_t len)
{
    (void)device;
    (void)why;
    (void)len;
    return 1;
}

const struct tp_backend tp_mpi_backend = {
    .name = "mpi",
    .summary = "MPI-3 passive-target RMA (works wherever MPI's one-sided does)",
    .priority = 10,
    .probe = mpi_probe,
    .create = mpi_create,
};
