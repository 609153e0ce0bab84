/* test_coherence: transparent access and lazy release consistency across ranks and threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suites.h"

#define CASE_CHECK(cond) CU_ASSERT(cond)
#include "coherence_cases.h"

static void test_same_pointer_everywhere(void)
{
    void *p = gallocy_coalloc(10000, GALLOCY_BLOCKED);
    uintptr_t mine = (uintptr_t)p, lo, hi;
    MPI_Allreduce(&mine, &lo, 1, MPI_UINT64_T, MPI_MIN, test_comm);
    MPI_Allreduce(&mine, &hi, 1, MPI_UINT64_T, MPI_MAX, test_comm);
    CU_ASSERT_PTR_NOT_NULL(p);
    CU_ASSERT_EQUAL(lo, hi);
    gallocy_cofree(p);
    /* A malloc'd pointer means the same memory on every rank. */
    uint64_t *q = me == 0 ? gallocy_malloc(64) : NULL;
    if (me == 0)
        q[0] = 0xfeedface;
    q = bcast_ptr(q, 0);
    gallocy_barrier();
    CU_ASSERT_EQUAL(gallocy_home(q), 0);
    CU_ASSERT_EQUAL(q[0], 0xfeedface);
    gallocy_barrier();
    if (me == 0)
        gallocy_free(q);
}

/* Rank 0 writes an array in its heap; after a barrier every rank reads it; then rank 0
 * changes it and after the next barrier everyone sees the change (stale copies dropped). */
static void test_read_after_barrier_and_invalidation(void)
{
    enum { N = 100000 };
    int *a = me == 0 ? gallocy_malloc(N * sizeof(int)) : NULL;
    if (me == 0)
        for (int i = 0; i < N; i++)
            a[i] = i;
    a = bcast_ptr(a, 0);
    gallocy_barrier();
    int ok = 1;
    for (int i = 0; i < N; i++)
        ok &= a[i] == i;
    CU_ASSERT(ok);
    gallocy_barrier();
    if (me == 0)
        for (int i = 0; i < N; i++)
            a[i] = -i;
    gallocy_barrier();
    ok = 1;
    for (int i = 0; i < N; i++)
        ok &= a[i] == -i;
    CU_ASSERT(ok);
    gallocy_barrier();
    if (me == 0)
        gallocy_free(a);
}

/* Message passing: the writer releases, then signals; the reader acquires after the signal,
 * a flag (coherence_cases.h) or an MPI message. */
static void test_release_acquire_message(void)
{
    CM_SKIP_UNLESS(nranks >= 2, "needs 2 ranks");
    case_release_flag_acquire();
    char *msg = gallocy_coalloc(4096, 0);
    gallocy_barrier();
    if (me == 0) {
        msg[5] = 42;
        gallocy_release();
        MPI_Send(NULL, 0, MPI_BYTE, 1, 3, test_comm);
    } else if (me == 1) {
        MPI_Recv(NULL, 0, MPI_BYTE, 0, 3, test_comm, MPI_STATUS_IGNORE);
        gallocy_acquire();
        CU_ASSERT_EQUAL(msg[5], 42);
    }
    gallocy_barrier();
    gallocy_cofree(msg);
}

static void test_acquire_writes_back_first(void)
{
    CM_SKIP_UNLESS(nranks >= 2, "needs 2 ranks");
    case_acquire_writes_back_first();
}

/* Reading 32 remote pages in order takes the faults read-ahead predicts (3 by default: 8, 16
 * and 8 pages); in a scattered order the window never grows; every page is fetched once. */
static void test_prefetch_counts(void)
{
    CM_SKIP_UNLESS(nranks >= 2, "needs 2 ranks");
    enum { N = 32 };
    int in_order[N], scattered[N];
    for (int i = 0; i < N; i++) {
        in_order[i] = i;
        scattered[i] = (i * 13) % N; /* 0 13 26 7 20 1 ...: no fault where a fetch ended */
    }
    const int *orders[2] = {in_order, scattered};
    for (int o = 0; o < 2; o++) {
        char *p = gallocy_coalloc(N * 4096, 0);
        if (me == 0)
            for (int i = 0; i < N; i++)
                p[i * 4096] = (char)i;
        gallocy_barrier();
        if (me == 1) {
            gallocy_stats_t a, b;
            gallocy_stats(&a);
            int ok = 1;
            for (int k = 0; k < N; k++)
                ok &= p[orders[o][k] * 4096] == (char)orders[o][k];
            gallocy_stats(&b);
            CU_ASSERT(ok);
            CU_ASSERT_EQUAL(b.read_faults - a.read_faults, expected_faults(orders[o], N, N, 0));
            CU_ASSERT_EQUAL(b.pages_fetched - a.pages_fetched, N);
        }
        gallocy_barrier();
        gallocy_cofree(p);
    }
    if (me == 1 && env_long("GALLOCY_PREFETCH", 8) == 8 && !getenv("GALLOCY_PREFETCH_MAX"))
        CU_ASSERT_EQUAL(expected_faults(in_order, N, N, 0), 3); /* the model agrees with the doc */
}

/* Rank 1 writes pages 0-15 of an array homed on rank 0, in order: write-ahead makes runs of
 * them writable in as many faults as the rule says, and twins pages 16-30 too.  Then (told by
 * a plain MPI message, no gallocy synchronisation) rank 0 writes pages 16-31, so rank 1's
 * copies of them are stale.  After the barrier every rank sees both writers' bytes: a page
 * twinned but not written sends nothing home; and rank 1's 16 wholly written pages went home
 * as one put, their diff runs joined.  Each write fault, on absent pages, costs one protection
 * change: they are fetched straight into writable twinned copies. */
static void test_write_ahead(void)
{
    CM_SKIP_UNLESS(nranks >= 2, "needs 2 ranks");
    enum { N = 32, WRITTEN = 16 };
    int in_order[N];
    for (int i = 0; i < N; i++)
        in_order[i] = i;
    unsigned char *p = gallocy_coalloc(N * 4096, 0);
    gallocy_barrier();
    gallocy_stats_t a, b;
    gallocy_stats(&a);
    int token = 0;
    if (me == 1) {
        for (size_t i = 0; i < WRITTEN * 4096; i++)
            p[i] = (unsigned char)(i % 251 + 1);
        MPI_Send(&token, 1, MPI_INT, 0, 7, test_comm);
    }
    if (me == 0) {
        MPI_Recv(&token, 1, MPI_INT, 1, 7, test_comm, MPI_STATUS_IGNORE);
        for (size_t i = WRITTEN * 4096; i < N * 4096; i++)
            p[i] = (unsigned char)(i % 241 + 2);
    }
    gallocy_stats(&b);
    if (me == 1) {
        CU_ASSERT_EQUAL(b.write_faults - a.write_faults, expected_faults(in_order, WRITTEN, N, 1));
        CU_ASSERT_EQUAL(b.protection_changes - a.protection_changes,
                        b.write_faults - a.write_faults);
    }
    gallocy_barrier();
    gallocy_stats_t c;
    gallocy_stats(&c);
    if (me == 1) {
        CU_ASSERT_EQUAL(c.diff_runs - b.diff_runs, 1);
        CU_ASSERT_EQUAL(c.bytes_written_back - b.bytes_written_back, WRITTEN * 4096);
    }
    int ok = 1;
    for (size_t i = 0; i < N * 4096; i++)
        ok &= p[i] == (unsigned char)(i < WRITTEN * 4096 ? i % 251 + 1 : i % 241 + 2);
    CU_ASSERT(ok);
    if (me == 1 && env_long("GALLOCY_PREFETCH", 8) == 8 && !getenv("GALLOCY_PREFETCH_MAX"))
        CU_ASSERT_EQUAL(expected_faults(in_order, WRITTEN, N, 1), 5); /* runs of 1, 2, 4, 8, 16 */
    gallocy_barrier();
    gallocy_cofree(p);
}

/* 4 threads per rank fault on the same pages at once, reading and writing distinct bytes. */
static unsigned char *shared_pages;
enum { TPAGES = 16, NTHREADS = 4 };

static void *fault_thread(void *a)
{
    int t = (int)(intptr_t)a, ok = 1;
    for (int pg = 0; pg < TPAGES; pg++) /* everyone reads every page, in a different order */
        ok &= shared_pages[((pg + t * 5) % TPAGES) * 4096 + 4095] == 0xee;
    int writer = me * NTHREADS + t, writers = nranks * NTHREADS;
    for (int i = writer; i < TPAGES * 4096; i += writers)
        if (i % 4096 != 4095)
            shared_pages[i] = (unsigned char)(writer + 1);
    return (void *)(intptr_t)ok;
}

static void test_threads_fault_same_pages(void)
{
    shared_pages = gallocy_coalloc(TPAGES * 4096, GALLOCY_CYCLIC);
    for (int pg = 0; pg < TPAGES; pg++)
        if (gallocy_home(shared_pages + pg * 4096) == me)
            shared_pages[pg * 4096 + 4095] = 0xee;
    gallocy_barrier();
    pthread_t th[NTHREADS];
    for (int t = 0; t < NTHREADS; t++)
        pthread_create(&th[t], NULL, fault_thread, (void *)(intptr_t)t);
    for (int t = 0; t < NTHREADS; t++) {
        void *ok;
        pthread_join(th[t], &ok);
        CU_ASSERT((intptr_t)ok == 1);
    }
    gallocy_barrier();
    int ok = 1, writers = nranks * NTHREADS;
    for (int i = 0; i < TPAGES * 4096; i++)
        ok &= shared_pages[i] == (i % 4096 == 4095 ? 0xee : (unsigned char)(i % writers + 1));
    CU_ASSERT(ok);
    gallocy_barrier();
    gallocy_cofree(shared_pages);
}

/* Faults of several threads at once while another thread of the rank releases and acquires
 * in a loop: 3 threads per rank read a constant byte of every page of a CYCLIC array and write
 * their own bytes of every page, each in its own order, for several rounds; a fourth thread
 * drops and writes back the cache meanwhile, so faults refetch pages other threads are
 * fetching or writing.  Under GALLOCY_FAULTS=sigbus the fetches of different threads run at
 * once (cache.h's flights), and a release or acquire waits for them.  Every read sees the
 * constant and every write arrives. */
enum { FPAGES = 48, FTHREADS = 3, FROUNDS = 4 };
static unsigned char *flight_pages;
static int flight_threads_done;

static void *flight_fault_thread(void *a)
{
    int t = (int)(intptr_t)a, ok = 1;
    int writer = me * FTHREADS + t, writers = nranks * FTHREADS;
    for (int round = 0; round < FROUNDS; round++)
        for (int k = 0; k < FPAGES; k++) {
            static const int step[FTHREADS] = {1, 5, 7}; /* prime to FPAGES: every page */
            int pg = (k * step[t] + round * 7 + me) % FPAGES;
            unsigned char *page = flight_pages + (size_t)pg * 4096;
            ok &= page[4095] == (unsigned char)(pg + 1);
            for (int i = writer; i < 4095; i += writers)
                page[i] = (unsigned char)(writer + round + 1);
        }
    __atomic_fetch_add(&flight_threads_done, 1, __ATOMIC_RELEASE);
    return (void *)(intptr_t)ok;
}

static void *flight_sync_thread(void *a)
{
    (void)a;
    /* A pause between rounds, as a thread that polls does some work between acquires: an
     * acquire drops every copy not yet confirmed by a barrier, and one in a tight loop can
     * drop a page again before the thread that faulted on it retries its access. */
    while (__atomic_load_n(&flight_threads_done, __ATOMIC_ACQUIRE) < FTHREADS) {
        gallocy_release();
        gallocy_acquire();
        usleep(100);
    }
    return NULL;
}

static void test_flights_with_syncs(void)
{
    flight_pages = gallocy_coalloc(FPAGES * 4096, GALLOCY_CYCLIC);
    for (int pg = 0; pg < FPAGES; pg++)
        if (gallocy_home(flight_pages + pg * 4096) == me)
            flight_pages[pg * 4096 + 4095] = (unsigned char)(pg + 1);
    gallocy_barrier();
    flight_threads_done = 0;
    pthread_t th[FTHREADS + 1];
    for (int t = 0; t < FTHREADS; t++)
        pthread_create(&th[t], NULL, flight_fault_thread, (void *)(intptr_t)t);
    pthread_create(&th[FTHREADS], NULL, flight_sync_thread, NULL);
    int ok = 1;
    for (int t = 0; t <= FTHREADS; t++) {
        void *r;
        pthread_join(th[t], &r);
        ok &= t == FTHREADS || (intptr_t)r == 1;
    }
    gallocy_barrier();
    int writers = nranks * FTHREADS;
    for (int i = 0; i < FPAGES * 4096; i++) {
        int off = i % 4096, writer = off % writers;
        unsigned char want = (unsigned char)(off == 4095 ? i / 4096 + 1 : writer + FROUNDS);
        if (flight_pages[i] != want && ok)
            fprintf(stderr, "rank %d: byte %d of page %d is %d, not %d\n", me, off, i / 4096,
                    flight_pages[i], want);
        ok &= flight_pages[i] == want;
    }
    CU_ASSERT(all_true(ok));
    gallocy_barrier();
    gallocy_cofree(flight_pages);
}

/* A barrier with nothing dirty writes nothing back; a clean cache is dropped, not sent. */
static void test_barrier_counts(void)
{
    char *p = gallocy_coalloc(8 * 4096, 0);
    gallocy_barrier();
    gallocy_stats_t a, b;
    volatile char sink = 0;
    for (int i = 0; i < 8; i++)
        sink += p[i * 4096];
    (void)sink;
    gallocy_stats(&a);
    gallocy_barrier();
    gallocy_stats(&b);
    CU_ASSERT_EQUAL(b.pages_written_back, a.pages_written_back);
    CU_ASSERT_EQUAL(b.invalidations - a.invalidations, me == 0 ? 0 : 8);
    CU_ASSERT_EQUAL(b.barriers - a.barriers, 1);
    gallocy_cofree(p);
}

/* A fault on pages homed by a rank of this node copies them from that rank's memory (node.c),
 * unless GALLOCY_NODE_SHARED=0; pages homed on another node come through the transport.
 * Either way the data is the home's, and gallocy_get reads the same.  Which ranks share a
 * node, the test learns from MPI itself. */
static void test_node_copies(void)
{
    CM_SKIP_UNLESS(nranks >= 2, "needs 2 ranks");
    enum { PAGES = 4 };
    MPI_Comm node;
    MPI_Comm_split_type(test_comm, MPI_COMM_TYPE_SHARED, me, MPI_INFO_NULL, &node);
    int leader, *leaders = malloc((size_t)nranks * sizeof *leaders);
    MPI_Allreduce(&me, &leader, 1, MPI_INT, MPI_MIN, node);
    MPI_Allgather(&leader, 1, MPI_INT, leaders, 1, MPI_INT, test_comm);
    MPI_Comm_free(&node);
    const char *env = getenv("GALLOCY_NODE_SHARED");
    int right = (me + 1) % nranks, shared = !env || strcmp(env, "0") != 0;
    uint64_t expect = shared && leaders[right] == leaders[me] ? PAGES : 0;
    unsigned char *arr = gallocy_coalloc((size_t)nranks * PAGES * 4096, GALLOCY_BLOCKED);
    unsigned char *mine = arr + (size_t)me * PAGES * 4096, *theirs = arr + (size_t)right *
                                                                            PAGES * 4096;
    CU_ASSERT_EQUAL(gallocy_home(mine), me);
    CU_ASSERT_EQUAL(gallocy_home(theirs + PAGES * 4096 - 1), right);
    for (size_t i = 0; i < PAGES * 4096; i++)
        mine[i] = (unsigned char)(i * 7 + (size_t)me);
    gallocy_barrier();
    gallocy_stats_t a, b;
    gallocy_stats(&a);
    int ok = 1;
    for (size_t i = 0; i < PAGES * 4096; i++)
        ok &= theirs[i] == (unsigned char)(i * 7 + (size_t)right);
    gallocy_stats(&b);
    CU_ASSERT(ok);
    CU_ASSERT_EQUAL(b.pages_fetched - a.pages_fetched, PAGES);
    CU_ASSERT_EQUAL(b.pages_fetched_on_node - a.pages_fetched_on_node, expect);
    unsigned char *copy = malloc(PAGES * 4096);
    CU_ASSERT_EQUAL(gallocy_get(copy, theirs + 100, PAGES * 4096 - 100), 0);
    CU_ASSERT_EQUAL(memcmp(copy, theirs + 100, PAGES * 4096 - 100), 0);
    free(copy);
    free(leaders);
    gallocy_barrier();
    gallocy_cofree(arr);
}

void register_coherence_tests(void)
{
    static const struct cm_test tests[] = {
        {"same pointer on every rank", test_same_pointer_everywhere},
        {"read after barrier; stale copies dropped", test_read_after_barrier_and_invalidation},
        {"message passing via release/acquire", test_release_acquire_message},
        {"an acquire writes back this rank's changes first", test_acquire_writes_back_first},
        {"many writers on one page", case_many_writers},
        {"prefetch fault count", test_prefetch_counts},
        {"write-ahead: fault count, and pages twinned but not written send nothing",
         test_write_ahead},
        {"4 threads fault the same pages", test_threads_fault_same_pages},
        {"threads fault at once while another releases and acquires", test_flights_with_syncs},
        {"barrier costs what is cached/dirty", test_barrier_counts},
        {"pages homed on this node are copied from the home's memory", test_node_copies},
        {NULL, NULL}};
    CM_ADD_SUITE("coherence", tests);
}
