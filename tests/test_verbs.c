/* test_verbs: the verbs transport alone, on a real RDMA device (run inside the Soft-RoCE VM,
 * ../shared/rxe-vm/rxe-run), under mpirun with 2 or more ranks.  Every rank exposes a
 * 1 MiB region: every operation to every rank (this one included), READs and WRITEs with
 * registered and with bounced local buffers, a batch of operations in flight before one
 * flush, atomics from all ranks at once, and the RLIMIT_MEMLOCK verdict.
 *   test_verbs              the CUnit suite
 *   test_verbs bad-rkey     a READ with a wrong remote key: must end the job with a message
 *                           naming the operation, the peer and the verbs status */
#include <mpi.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "cunit_main.h"
#include "log.h"
#include "options.h"
#include "runtime.h"
#include "runtime_mpi.h"
#include "transport.h"

enum { REGION = 1 << 20, COUNTERS = 0, DATA = 4096 };

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

static void t_memlock_verdict(void)
{
    CU_ASSERT(tp_verbs_memlock_ok(1 << 30, 64 << 20, 1));          /* CAP_IPC_LOCK */
    CU_ASSERT(tp_verbs_memlock_ok(1 << 30, (unsigned long long)-1, 0)); /* unlimited */
    CU_ASSERT(tp_verbs_memlock_ok(64 << 20, 64 << 20, 0));
    CU_ASSERT(!tp_verbs_memlock_ok((64 << 20) + 1, 64 << 20, 0));
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
    region = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct tp_range whole = {0, REGION};
    if (!tp_verbs_open("", err, sizeof err) || tp_verbs_create(region, &whole, 1, &v) != 0) {
        fprintf(stderr, "%s\n", err);
        if (me == 0)
            printf("0 passed, 1 failed\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    if (argc > 1 && !strcmp(argv[1], "bad-rkey")) {
        int right = (me + 1) % n;
        if (me == 0) {
            char x[64];
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
    static const struct cm_test tests[] = {
        {"every operation: READ of every rank, bounced and zero-copy", t_get_every_rank},
        {"256 READs in flight, one flush", t_batch_in_flight},
        {"WRITE to a neighbour, bounced and zero-copy", t_put_every_rank},
        {"FETCH_AND_ADD from every rank to every rank", t_fetch_add_all},
        {"CMP_AND_SWP lock guarding READ/WRITE", t_compare_swap_lock},
        {"RLIMIT_MEMLOCK verdict", t_memlock_verdict},
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
