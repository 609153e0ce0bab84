/* test_verbs: the verbs transport alone, on a real RDMA device (run inside the Soft-RoCE VM,
 * ../shared/rxe-vm/rxe-run), under mpirun with 2 or more ranks.  Every rank has a 1 MiB
 * region, its transport metadata after it (registered at init), and 6 MiB on demand: every
 * operation to every rank (this one included), READs and WRITEs with registered and with
 * bounced local buffers, a batch of operations in flight before one flush, atomics from all
 * ranks at once, and memory exposed on demand (read as zeroes before, found by peers after).
 *   test_verbs                 the CUnit suite
 *   test_verbs bad-rkey        a READ with a wrong remote key: must end the job with a
 *                              message naming the operation, the peer and the verbs status
 *   test_verbs put-unexposed   a WRITE to memory the peer has not exposed: must end the job
 *                              with a message saying so
 *   test_verbs peer-stopped    a READ from a rank that is stopped (SIGSTOP) before anyone
 *                              connected to it: must end the job, naming that rank, within
 *                              the connection deadline */
#include <mpi.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cunit_main.h"
#include "log.h"
#include "options.h"
#include "runtime.h"
#include "runtime_mpi.h"
#include "stats.h"
#include "transport.h"

enum { REGION = 1 << 20, COUNTERS = 0, DATA = 4096 };
enum { META = REGION, ON_DEMAND = 2 << 20, ON_DEMAND_LEN = 6 << 20, MAPPED = 8 << 20 };
#define GRANULE ((size_t)2 << 20) /* what an exposure is rounded out to */

/* The transport counts into stats_counters (stats.c, with the rest of the library, is not
 * linked here). */
gallocy_stats_t stats_counters;

static const struct tp_ops *v;
static char *region;
static int me, n;

static uint8_t pattern(int rank, size_t i)
{
    return (uint8_t)(rank * 31 + i * 7 + (i >> 9));
}

static void fill_own_data(void)
{
    for (size_t i = DATA; i < REGION; i++)
        region[i] = (char)pattern(me, i);
    rt_barrier();
}

static uint64_t connections_now(void)
{
    return __atomic_load_n(&stats_counters.connections, __ATOMIC_ACQUIRE);
}

/* Connections are made when first needed: none before any operation; after each rank
 * has talked to its right neighbour only, it holds queue pairs to that one and to its left
 * (which talked to it), and the connections counter says so.  The accepting side counts its
 * queue pair when the connection is established, which may be just after the connecting
 * side has used it: waited for (30 s at most).  Run first. */
static void t_connect_when_needed(void)
{
    CU_ASSERT_EQUAL(connections_now(), 0);
    rt_barrier();
    int right = (me + 1) % n;
    uint64_t x = 0, want = n == 2 ? 1 : 2;
    v->get(&x, right, COUNTERS, 8);
    v->flush(right);
    rt_barrier();
    for (int ms = 0; ms < 30000 && connections_now() < want; ms++)
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    rt_barrier();
    CU_ASSERT_EQUAL(connections_now(), want);
    rt_barrier();
}

/* A READ of all of every rank's data into a private (bounced) buffer, each as one batch
 * before one flush; then of the first half of every rank's data into the second half of this
 * rank's own registered region (zero copy), which nobody reads meanwhile. */
static void t_get_every_rank(void)
{
    enum { HALF = (REGION - DATA) / 2 };
    fill_own_data();
    static char priv[REGION];
    for (int r = 0; r < n; r++) {
        memset(priv, 0, sizeof priv);
        v->get(priv + DATA, r, DATA, REGION - DATA);
        v->flush(r);
        size_t bad = 0;
        for (size_t i = DATA; i < REGION; i++)
            bad += (uint8_t)priv[i] != pattern(r, i);
        CU_ASSERT_EQUAL(bad, 0);
    }
    rt_barrier(); /* from here on only the first halves are read by others */
    char *registered = region + DATA + HALF;
    for (int r = 0; r < n; r++) {
        memset(registered, 0, HALF);
        v->get(registered, r, DATA, HALF);
        v->flush(r);
        size_t bad = 0;
        for (size_t i = 0; i < HALF; i++)
            bad += (uint8_t)registered[i] != pattern(r, DATA + i);
        CU_ASSERT_EQUAL(bad, 0);
    }
    rt_barrier();
}

/* 256 READs of 4 KiB each in flight (more than one queue's depth), then one flush. */
static void t_batch_in_flight(void)
{
    fill_own_data();
    int r = (me + 1) % n;
    static char priv[256 * 4096];
    memset(priv, 0, sizeof priv);
    for (int k = 0; k < 256; k++)
        v->get(priv + k * 4096, r, DATA + (size_t)(k % 255) * 4096, 4096);
    v->flush(TP_ALL_RANKS);
    size_t bad = 0;
    for (int k = 0; k < 256; k++)
        for (size_t i = 0; i < 4096; i++)
            bad += (uint8_t)priv[k * 4096 + i] != pattern(r, DATA + (size_t)(k % 255) * 4096 + i);
    CU_ASSERT_EQUAL(bad, 0);
    rt_barrier();
}

/* Each rank WRITEs to its right neighbour: one zone from private memory (bounced), another
 * from a zone of its own registered region that only it writes (zero copy).  The owner
 * checks both. */
static void t_put_every_rank(void)
{
    enum { Q = (REGION - DATA) / 3 / 4096 * 4096 };
    char *bounced_zone = region + DATA, *direct_zone = bounced_zone + Q, *source = direct_zone + Q;
    int right = (me + 1) % n, left = (me + n - 1) % n;
    static char priv[Q];
    for (size_t i = 0; i < Q; i++) {
        priv[i] = (char)(pattern(me, i) ^ 0x5a);
        source[i] = (char)(pattern(me, i) ^ 0xa5);
    }
    rt_barrier(); /* nobody reads or writes these zones from earlier tests any more */
    v->put(right, DATA, priv, Q);
    v->put(right, DATA + Q, source, Q);
    v->flush(right);
    rt_barrier();
    size_t bad = 0;
    for (size_t i = 0; i < Q; i++) {
        bad += (uint8_t)bounced_zone[i] != (uint8_t)(pattern(left, i) ^ 0x5a);
        bad += (uint8_t)direct_zone[i] != (uint8_t)(pattern(left, i) ^ 0xa5);
    }
    CU_ASSERT_EQUAL(bad, 0);
    rt_barrier();
}

/* Every rank adds to every rank's counter 1000 times (this rank's own through the loopback
 * queue pair); then every counter holds n * 1000 * 3. */
static void t_fetch_add_all(void)
{
    uint64_t *ctr = (uint64_t *)(region + COUNTERS);
    *ctr = 0;
    rt_barrier();
    for (int k = 0; k < 1000; k++)
        for (int r = 0; r < n; r++)
            v->fetch_add(r, COUNTERS, 3);
    v->flush(TP_ALL_RANKS);
    rt_barrier();
    CU_ASSERT_EQUAL(__atomic_load_n(ctr, __ATOMIC_ACQUIRE), (uint64_t)n * 1000 * 3);
    rt_barrier();
}

/* A compare-and-swap spin lock on rank 0 guarding a plain read-modify-write done with
 * READ and WRITE: no increment may be lost. */
static void t_compare_swap_lock(void)
{
    uint64_t *words = (uint64_t *)(region + COUNTERS);
    words[1] = words[2] = 0;
    rt_barrier();
    for (int k = 0; k < 200; k++) {
        while (v->compare_swap(0, COUNTERS + 8, 0, (uint64_t)me + 1) != 0)
            ;
        uint64_t x = 0;
        v->get(&x, 0, COUNTERS + 16, 8);
        v->flush(0);
        x++;
        v->put(0, COUNTERS + 16, &x, 8);
        v->flush(0);
        CU_ASSERT_EQUAL(v->compare_swap(0, COUNTERS + 8, (uint64_t)me + 1, 0), (uint64_t)me + 1);
    }
    rt_barrier();
    if (me == 0)
        CU_ASSERT_EQUAL(words[2], (uint64_t)n * 200);
    rt_barrier();
}

/* Rank r's on-demand memory: its pattern written locally, read by every rank before and
 * after r exposes parts of it. */
static uint8_t od_pattern(int rank, size_t i)
{
    return (uint8_t)(rank * 53 + i * 11 + (i >> 12) + 1);
}

static size_t od_mismatches(int r, const char *buf, size_t from, size_t len, int exposed)
{
    size_t bad = 0;
    for (size_t i = 0; i < len; i++)
        bad += (uint8_t)buf[i] != (exposed ? od_pattern(r, from + i) : 0);
    return bad;
}

/* The u64 at offset i of rank r's on-demand memory. */
static uint64_t od_word(int r, size_t i)
{
    uint8_t b[8];
    for (int k = 0; k < 8; k++)
        b[k] = od_pattern(r, i + (size_t)k);
    uint64_t w;
    memcpy(&w, b, 8);
    return w;
}

static void t_on_demand(void)
{
    static char buf[3 * 4096];
    char *od = region + ON_DEMAND, *src = region + DATA;
    for (size_t i = 0; i < 2 * GRANULE + 4096; i++)
        od[i] = (char)od_pattern(me, i);
    for (size_t i = 0; i < 2 * 4096; i++)
        src[i] = (char)(pattern(me, DATA + i) ^ 0x3c);
    CU_ASSERT(!v->pinned(ON_DEMAND, ON_DEMAND_LEN));
    rt_barrier();
    int r = (me + 1) % n, left = (me + n - 1) % n;
    /* Nothing exposed: zeroes, as the home has never handed it out. */
    memset(buf, 0x77, sizeof buf);
    v->get(buf, r, ON_DEMAND, 4096);
    v->flush(r);
    CU_ASSERT_EQUAL(od_mismatches(r, buf, 0, 4096, 0), 0);
    rt_barrier();
    /* 100 bytes exposed: the whole first granule is registered (and counted); the second
     * is not. */
    uint64_t registered = stats_counters.bytes_registered;
    CU_ASSERT(registered > REGION); /* the metadata range and the bounce buffers, at init */
    CU_ASSERT_EQUAL(v->expose(ON_DEMAND + 4096, 100, buf, sizeof buf), 0);
    CU_ASSERT_EQUAL(stats_counters.bytes_registered, registered + GRANULE);
    CU_ASSERT(v->pinned(ON_DEMAND, 1) && v->pinned(ON_DEMAND + GRANULE - 1, 1));
    CU_ASSERT(!v->pinned(ON_DEMAND + GRANULE, GRANULE));
    rt_barrier();
    size_t at = GRANULE - 4096; /* a READ across the end of what is exposed */
    memset(buf, 0x77, sizeof buf);
    v->get(buf, r, ON_DEMAND + at, 2 * 4096);
    v->flush(r);
    CU_ASSERT_EQUAL(od_mismatches(r, buf, at, 4096, 1), 0);
    CU_ASSERT_EQUAL(od_mismatches(r, buf + 4096, at + 4096, 4096, 0), 0);
    CU_ASSERT_EQUAL(v->fetch_add(r, ON_DEMAND + 8 * 4096, 0), od_word(r, 8 * 4096));
    rt_barrier();
    /* The second granule too: the same READ now spans two registrations, both found. */
    CU_ASSERT_EQUAL(v->expose(ON_DEMAND + GRANULE, 1, buf, sizeof buf), 0);
    CU_ASSERT_EQUAL(v->expose(ON_DEMAND, 2 * GRANULE, buf, sizeof buf), 0); /* again: no-op */
    CU_ASSERT_EQUAL(stats_counters.bytes_registered, registered + 2 * GRANULE);
    rt_barrier();
    memset(buf, 0x77, sizeof buf);
    v->get(buf, r, ON_DEMAND + at, 3 * 4096);
    v->flush(r);
    CU_ASSERT_EQUAL(od_mismatches(r, buf, at, 3 * 4096, 1), 0);
    rt_barrier();
    /* A WRITE across both, zero copy from this rank's registered data. */
    v->put(r, ON_DEMAND + at, src, 2 * 4096);
    v->flush(r);
    rt_barrier();
    size_t bad = 0;
    for (size_t i = 0; i < 2 * 4096; i++)
        bad += (uint8_t)od[at + i] != (uint8_t)(pattern(left, DATA + i) ^ 0x3c);
    CU_ASSERT_EQUAL(bad, 0);
    rt_barrier();
}

static void reduce(int *flags, int count)
{
    MPI_Allreduce(MPI_IN_PLACE, flags, count, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    rt_mpi_setup(MPI_COMM_WORLD);
    me = rt_rank();
    n = rt_size();
    log_set_rank(me);
    char err[256];
    if (opt_load(err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    region = mmap(NULL, MAPPED, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const struct tp_range ranges[] = {{0, REGION, 1}, {META, TP_META_BYTES, 0},
                                      {ON_DEMAND, ON_DEMAND_LEN, 1}};
    const struct tp_config cfg = {.base = region, .ranges = ranges, .nranges = 3, .meta_off = META};
    if (!tp_verbs_open("", err, sizeof err) || tp_verbs_create(&cfg, &v) != 0 ||
        v->expose(0, REGION, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        if (me == 0)
            printf("0 passed, 1 failed\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    if (argc > 1 && !strcmp(argv[1], "bad-rkey")) {
        int right = (me + 1) % n;
        if (me == 0) {
            char x[64];
            v->get(x, right, DATA, sizeof x); /* learns the key, then spoils it */
            v->flush(right);
            tp_verbs_corrupt_rkey(right);
            v->get(x, right, DATA, sizeof x);
            v->flush(right);
            printf("survived a READ with a bad rkey\n");
            fflush(stdout);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        v->fini();
        MPI_Finalize();
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "put-unexposed")) {
        if (me == 0) {
            char x[64] = {0};
            v->put((me + 1) % n, ON_DEMAND + GRANULE, x, sizeof x);
            v->flush(TP_ALL_RANKS);
            printf("survived a WRITE to memory never exposed\n");
            fflush(stdout);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        v->fini();
        MPI_Finalize();
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "peer-stopped")) {
        MPI_Barrier(MPI_COMM_WORLD);
        if (me == 1)
            raise(SIGSTOP); /* its connection thread cannot answer; mpirun kills it */
        if (me == 0) {
            sleep(1);
            char x[64];
            v->get(x, 1, DATA, sizeof x);
            v->flush(1);
            printf("survived a READ from a stopped rank\n");
            fflush(stdout);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        v->fini();
        MPI_Finalize();
        return 0;
    }
    static const struct cm_test tests[] = {
        {"queue pairs made when first needed, to the peers talked to", t_connect_when_needed},
        {"every operation: READ of every rank, bounced and zero-copy", t_get_every_rank},
        {"256 READs in flight, one flush", t_batch_in_flight},
        {"WRITE to a neighbour, bounced and zero-copy", t_put_every_rank},
        {"FETCH_AND_ADD from every rank to every rank", t_fetch_add_all},
        {"CMP_AND_SWP lock guarding READ/WRITE", t_compare_swap_lock},
        {"on demand: zeroes before exposure, found after, across registrations",
         t_on_demand},
        {NULL, NULL},
    };
    CU_initialize_registry();
    CM_ADD_SUITE("verbs", tests);
    int failed = cm_run(me, reduce);
    CU_cleanup_registry();
    v->fini();
    rt_mpi_teardown();
    MPI_Finalize();
    return failed ? 1 : 0;
}
