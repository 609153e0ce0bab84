/* test_local: the core's coherence without MPI or mpirun.  The ranks are processes this test
 * forks (tests/runtime_fork.c), their transport the loopback backend (transport/
 * transport_loopback.c): every transfer a copy from a mapped peer, as ArgoDSM's single-node
 * backend serves its tests.  Faults, release, acquire, barrier, locks, atomics and the
 * allocator run as under mpirun.
 *   usage: test_local [NRANKS [DEADLINE_S]]   (default 2 ranks, 120 s for the whole job;
 *                                             GALLOCY_* settings as for any job)
 * Prints "ok"/"FAIL" per test (a failure names the rank, file and line) and "N passed, N
 * failed"; exits non-zero on any failure. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core.h"
#include "gallocy_api.h"
#include "runtime.h"
#include "runtime_fork.h"
#include "transport.h"

/* The backends of this program: the loopback alone (the library's list needs MPI). */
const struct tp_backend *const tp_built_in[] = {&tp_loopback_backend};
const int tp_built_in_count = 1;

enum { MAX_TESTS = 32, DEADLINE_S = 120 };
static int *failures; /* per test, over all ranks: shared by the forked ranks */
static int current, me, nranks;

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "FAILED (rank %d) %s:%d: %s\n", me, __FILE__, __LINE__, #cond);   \
            __atomic_fetch_add(&failures[current], 1, __ATOMIC_RELAXED);                      \
        }                                                                                     \
    } while (0)

#define CASE_CHECK(cond) CHECK(cond)
#include "coherence_cases.h" /* the tests test_coherence.c runs under mpirun too */

/* The address rank root has in *p, on every rank (a pointer is the same everywhere). */
static void *share_ptr(void *p, int root)
{
    rt_bcast(&p, sizeof p, root);
    return p;
}

static void test_transport(void)
{
    const char *t = gallocy_transport();
    CHECK(t && strcmp(t, "loopback") == 0);
}

/* The last rank writes pages homed on rank 0; after a barrier every rank reads them, the
 * others through read faults that fetch copies. */
static void test_write_barrier_read(void)
{
    enum { N = 5 * 4096 };
    unsigned char *a = gallocy_coalloc(N, 0);
    CHECK(a != NULL);
    if (me == nranks - 1)
        for (int i = 0; i < N; i++)
            a[i] = (unsigned char)(i * 7 + 1);
    gallocy_barrier();
    gallocy_stats_t before, after;
    gallocy_stats(&before);
    int ok = 1;
    for (int i = 0; i < N; i++)
        ok &= a[i] == (unsigned char)(i * 7 + 1);
    CHECK(ok);
    gallocy_stats(&after);
    if (me != 0)
        CHECK(after.read_faults > before.read_faults);
    gallocy_barrier();
    gallocy_cofree(a);
}

/* A copy read before the home changes the page is dropped at the next barrier. */
static void test_stale_copy_dropped(void)
{
    int *a = gallocy_coalloc(4096, 0);
    if (me == 0)
        a[10] = 1;
    gallocy_barrier();
    CHECK(a[10] == 1);
    gallocy_barrier();
    if (me == 0)
        a[10] = 2;
    gallocy_barrier();
    CHECK(a[10] == 2);
    gallocy_barrier();
    gallocy_cofree(a);
}

/* A counter on the last rank's page, increased under a lock by every rank. */
static void test_lock_counter(void)
{
    enum { ROUNDS = 200 };
    struct {
        gallocy_lock_t lock;
        uint64_t count;
    } *s = gallocy_coalloc(sizeof *s, nranks - 1);
    gallocy_barrier();
    for (int i = 0; i < ROUNDS; i++) {
        gallocy_lock(&s->lock);
        s->count++;
        gallocy_unlock(&s->lock);
    }
    gallocy_barrier();
    CHECK(s->count == (uint64_t)ROUNDS * (uint64_t)nranks);
    gallocy_barrier();
    gallocy_cofree(s);
}

/* A block rank 0 allocates is written by the others and freed by the last rank. */
static void test_malloc_remote_free(void)
{
    uint64_t *b = me == 0 ? gallocy_malloc((size_t)nranks * sizeof *b) : NULL;
    b = share_ptr(b, 0);
    CHECK(b != NULL && gallocy_home(b) == 0);
    b[me] = (uint64_t)me + 100;
    gallocy_barrier();
    for (int r = 0; r < nranks; r++)
        CHECK(b[r] == (uint64_t)r + 100);
    gallocy_barrier();
    if (me == nranks - 1)
        gallocy_free(b);
    gallocy_barrier();
}

static const struct {
    const char *name;
    void (*run)(void);
} tests[] = {
    {"the loopback transport is the one taken", test_transport},
    {"a write released at a barrier is read by every rank, through read faults",
     test_write_barrier_read},
    {"a copy the home changes is dropped at the next barrier", test_stale_copy_dropped},
    {"every rank writes interleaved bytes of the same pages", case_many_writers},
    {"release, a flag, acquire: the data is there", case_release_flag_acquire},
    {"an acquire writes back this rank's changes first", case_acquire_writes_back_first},
    {"a counter under a lock, from every rank", test_lock_counter},
    {"a block written by every rank, freed by another", test_malloc_remote_free},
};
#define NTESTS ((int)(sizeof tests / sizeof *tests))
_Static_assert(NTESTS <= MAX_TESTS, "failures holds MAX_TESTS");

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2;
    failures = mmap(NULL, MAX_TESTS * sizeof *failures, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (failures == MAP_FAILED) {
        perror("test_local: mmap");
        return 1;
    }
    me = rt_fork_ranks(n, argc > 2 ? atoi(argv[2]) : DEADLINE_S);
    nranks = n;
    int rc = core_init();
    if (rc) {
        fprintf(stderr, "test_local: rank %d: core_init failed (%d)\n", me, rc);
        return 1;
    }
    for (current = 0; current < NTESTS; current++) {
        tests[current].run();
        rt_barrier();
    }
    gallocy_release();
    rt_barrier();
    core_fini();
    rt_barrier(); /* every rank's verdicts are in */
    int failed = 0;
    if (me == 0) {
        for (int i = 0; i < NTESTS; i++) {
            printf("%s %s\n", failures[i] ? "FAIL" : "ok  ", tests[i].name);
            failed += failures[i] != 0;
        }
        printf("%d passed, %d failed\n", NTESTS - failed, failed);
    }
    return failed != 0;
}
