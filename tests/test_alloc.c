/* test_alloc: the per-rank heap: sizes, alignment, realloc, exhaustion, frees from other
 * threads and other ranks, with contents checked. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed * 131 + i * 7);
}

static int check(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed * 131 + i * 7))
            return 0;
    return 1;
}

static void test_malloc_is_local_and_usable(void)
{
    static const size_t sizes[] = {0, 1, 15, 16, 17, 100, 128, 129, 1000, 2048, 2049, 4096,
                                   5000, 100000, 1 << 22};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = gallocy_malloc(sizes[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL(gallocy_home(p), me);
        CU_ASSERT_EQUAL((uintptr_t)p % 16, 0);
        size_t u = gallocy_usable_size(p);
        CU_ASSERT(u >= sizes[i]);
        CU_ASSERT(u <= (sizes[i] <= 128 ? sizes[i] + 16 : sizes[i] + sizes[i] / 4 + 4096));
        fill(p, u, (unsigned)i);
        CU_ASSERT(check(p, u, (unsigned)i));
        gallocy_free(p);
    }
    gallocy_free(NULL);
}

static void test_distinct_blocks(void)
{
    enum { N = 3000 };
    unsigned char **v = malloc(N * sizeof *v);
    for (int i = 0; i < N; i++) {
        size_t sz = 1 + (size_t)(i * 37 % 3000);
        v[i] = gallocy_malloc(sz);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v[i]);
        fill(v[i], sz, (unsigned)i);
    }
    int ok = 1;
    for (int i = 0; i < N; i++)
        ok &= check(v[i], 1 + (size_t)(i * 37 % 3000), (unsigned)i);
    CU_ASSERT(ok); /* no two blocks overlap */
    for (int i = 0; i < N; i++)
        gallocy_free(v[i]);
    free(v);
}

static void test_calloc_and_overflow(void)
{
    unsigned char *p = gallocy_malloc(512);
    memset(p, 0xab, 512);
    gallocy_free(p);
    unsigned char *q = gallocy_calloc(64, 8); /* likely the same block: must be zeroed */
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    int zero = 1;
    for (int i = 0; i < 512; i++)
        zero &= q[i] == 0;
    CU_ASSERT(zero);
    gallocy_free(q);
    errno = 0;
    CU_ASSERT_PTR_NULL(gallocy_calloc(SIZE_MAX / 2, 4));
    CU_ASSERT_EQUAL(errno, ENOMEM);
}

static void test_aligned_alloc(void)
{
    for (size_t a = 1; a <= (1u << 20); a <<= 1) {
        for (size_t sz = 1; sz <= 10000; sz = sz * 3 + 5) {
            unsigned char *p = gallocy_aligned_alloc(a, sz);
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            CU_ASSERT_EQUAL((uintptr_t)p % a, 0);
            CU_ASSERT(gallocy_usable_size(p) >= sz);
            memset(p, 1, sz);
            gallocy_free(p);
        }
    }
    errno = 0;
    CU_ASSERT_PTR_NULL(gallocy_aligned_alloc(24, 100));
    CU_ASSERT_EQUAL(errno, EINVAL);
}

static void test_realloc_keeps_contents(void)
{
    unsigned char *p = gallocy_realloc(NULL, 10);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    fill(p, 10, 3);
    size_t sizes[] = {100, 3000, 9000, 70000, 300000, 64, 5};
    size_t have = 10;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        p = gallocy_realloc(p, sizes[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        size_t keep = have < sizes[i] ? have : sizes[i];
        CU_ASSERT(check(p, keep, 3));
        fill(p, sizes[i], 3);
        have = sizes[i];
    }
    /* A large block followed by free pages grows where it is. */
    unsigned char *big = gallocy_malloc(1 << 20);
    unsigned char *grown = gallocy_realloc(big, 2 << 20);
    CU_ASSERT_PTR_EQUAL(grown, big);
    CU_ASSERT_EQUAL(gallocy_usable_size(grown), 2 << 20);
    gallocy_free(grown);
    CU_ASSERT_PTR_NULL(gallocy_realloc(p, 0)); /* frees */
}

static void test_exhaustion_and_recovery(void)
{
    enum { MAXB = 4096 };
    void **v = malloc(MAXB * sizeof *v);
    size_t chunk = 64 << 20, n = 0;
    while (n < MAXB && (v[n] = gallocy_malloc(chunk)) != NULL)
        n++;
    CU_ASSERT(n > 0 && n < MAXB);
    errno = 0;
    CU_ASSERT_PTR_NULL(gallocy_malloc(chunk));
    CU_ASSERT_EQUAL(errno, ENOMEM);
    void *small = gallocy_malloc(32); /* smaller requests may still fit */
    gallocy_free(small);
    for (size_t i = 0; i < n; i++)
        gallocy_free(v[i]);
    void *again = gallocy_malloc(chunk * (n / 2 > 0 ? n / 2 : 1)); /* coalesced again */
    CU_ASSERT_PTR_NOT_NULL(again);
    gallocy_free(again);
    free(v);
}

/* Each rank allocates blocks, fills them, and the next rank checks and frees them. */
static void test_cross_rank_free(void)
{
    enum { N = 500 };
    gallocy_stats_t before, after;
    gallocy_stats(&before);
    uintptr_t mine[N], theirs[N];
    for (int i = 0; i < N; i++) {
        size_t sz = 8 + (size_t)(i * 53 % 5000);
        unsigned char *p = gallocy_malloc(sz);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        fill(p, sz, (unsigned)(i + me * 1000));
        mine[i] = (uintptr_t)p;
    }
    int from = (me + nranks - 1) % nranks, to = (me + 1) % nranks;
    MPI_Sendrecv(mine, N, MPI_UINT64_T, to, 7, theirs, N, MPI_UINT64_T, from, 7, test_comm,
                 MPI_STATUS_IGNORE);
    gallocy_barrier();
    int ok = 1;
    for (int i = 0; i < N; i++) {
        unsigned char *p = (unsigned char *)theirs[i];
        ok &= gallocy_home(p) == from;
        ok &= check(p, 8 + (size_t)(i * 53 % 5000), (unsigned)(i + from * 1000));
        gallocy_free(p);
    }
    CU_ASSERT(ok);
    gallocy_barrier(); /* drains this rank's queue */
    gallocy_barrier();
    gallocy_stats(&after);
    CU_ASSERT_EQUAL(after.bytes_in_use, before.bytes_in_use);
    if (nranks > 1) {
        CU_ASSERT_EQUAL(after.remote_frees_sent - before.remote_frees_sent, N);
        CU_ASSERT_EQUAL(after.remote_frees_drained - before.remote_frees_drained, N);
    }
}

/* Threads allocate, check and free at random, some frees handed to another thread. */
struct stress_arg {
    unsigned seed;
    int ok;
};
static uintptr_t handoff[4][64];

static void *stress_thread(void *a)
{
    struct stress_arg *arg = a;
    enum { SLOTS = 64 };
    unsigned char *p[SLOTS] = {0};
    size_t sz[SLOTS] = {0};
    unsigned s = arg->seed;
    int t = (int)(arg->seed % 4);
    for (int it = 0; it < 4000; it++) {
        s = s * 1103515245 + 12345;
        int k = (int)((s >> 8) % SLOTS);
        if (p[k]) {
            arg->ok &= check(p[k], sz[k], (unsigned)k);
            if ((s >> 20) & 1) {
                gallocy_free(p[k]);
            } else { /* free someone else's block instead, and leave ours to them */
                uintptr_t old = __atomic_exchange_n(&handoff[(t + 1) % 4][k], (uintptr_t)p[k],
                                                    __ATOMIC_ACQ_REL);
                if (old)
                    gallocy_free((void *)old);
            }
            p[k] = NULL;
        } else {
            sz[k] = 1 + (s >> 12) % ((s >> 24) & 1 ? 20000 : 300);
            p[k] = gallocy_malloc(sz[k]);
            if (!p[k]) {
                arg->ok = 0;
                continue;
            }
            fill(p[k], sz[k], (unsigned)k);
        }
    }
    for (int k = 0; k < SLOTS; k++)
        if (p[k])
            gallocy_free(p[k]);
    return NULL;
}

/* 4 threads per rank: random malloc, realloc and free with every block's contents checked;
 * then each rank's live blocks go to the next rank, whose 4 threads check and free them
 * (cross-rank frees from several threads at once).  Nothing is lost: in-use bytes return to
 * where they started. */
enum { MIX_THREADS = 4, MIX_SLOTS = 64 };
struct mix_block {
    uint64_t addr, size, tag;
};
struct mix_arg {
    unsigned seed;
    int ok;
    struct mix_block *blocks; /* MIX_SLOTS: out (left alive), then in (to free) */
};

static void *mix_thread(void *a)
{
    struct mix_arg *m = a;
    unsigned char *p[MIX_SLOTS] = {0};
    size_t sz[MIX_SLOTS] = {0};
    unsigned tag[MIX_SLOTS] = {0}, s = m->seed;
    for (int it = 0; it < 3000; it++) {
        s = s * 1103515245 + 12345;
        int k = (int)((s >> 8) % MIX_SLOTS);
        size_t n = 1 + (s >> 12) % ((s >> 26) % 8 ? 400 : 50000);
        if (!p[k]) {
            if ((p[k] = gallocy_malloc(n)) == NULL) {
                m->ok = 0;
                continue;
            }
            sz[k] = n;
            tag[k] = s;
            fill(p[k], n, tag[k]);
        } else if ((s >> 22) % 3 == 0) { /* realloc: the common prefix survives */
            m->ok &= check(p[k], sz[k], tag[k]);
            unsigned char *q = gallocy_realloc(p[k], n);
            if (!q) {
                m->ok = 0;
                continue;
            }
            m->ok &= check(q, sz[k] < n ? sz[k] : n, tag[k]);
            p[k] = q;
            sz[k] = n;
            tag[k] = s;
            fill(q, n, s);
        } else {
            m->ok &= check(p[k], sz[k], tag[k]);
            gallocy_free(p[k]);
            p[k] = NULL;
        }
    }
    for (int k = 0; k < MIX_SLOTS; k++) /* what is left alive goes to the next rank */
        m->blocks[k] = (struct mix_block){(uintptr_t)p[k], sz[k], tag[k]};
    return NULL;
}

static void *mix_free_thread(void *a)
{
    struct mix_arg *m = a;
    for (int k = 0; k < MIX_SLOTS; k++) {
        struct mix_block *b = &m->blocks[MIX_SLOTS + k];
        if (!b->addr)
            continue;
        m->ok &= gallocy_home((void *)b->addr) == (me + nranks - 1) % nranks;
        m->ok &= check((unsigned char *)b->addr, b->size, (unsigned)b->tag);
        gallocy_free((void *)b->addr);
    }
    return NULL;
}

static void test_threads_ranks_mixed(void)
{
    static struct mix_block blocks[MIX_THREADS][2 * MIX_SLOTS];
    struct mix_arg args[MIX_THREADS];
    pthread_t th[MIX_THREADS];
    gallocy_stats_t before, after;
    gallocy_barrier();
    gallocy_stats(&before);
    for (int t = 0; t < MIX_THREADS; t++) {
        args[t] = (struct mix_arg){(unsigned)(97 * t + 1009 * me + 1), 1, blocks[t]};
        pthread_create(&th[t], NULL, mix_thread, &args[t]);
    }
    for (int t = 0; t < MIX_THREADS; t++)
        pthread_join(th[t], NULL);
    /* out halves to the next rank, in halves from the previous one */
    static struct mix_block out[MIX_THREADS * MIX_SLOTS], in[MIX_THREADS * MIX_SLOTS];
    for (int t = 0; t < MIX_THREADS; t++)
        memcpy(&out[t * MIX_SLOTS], blocks[t], MIX_SLOTS * sizeof *out);
    int from = (me + nranks - 1) % nranks, to = (me + 1) % nranks, count = (int)sizeof out / 8;
    MPI_Sendrecv(out, count, MPI_UINT64_T, to, 9, in, count, MPI_UINT64_T, from, 9, test_comm,
                 MPI_STATUS_IGNORE);
    for (int t = 0; t < MIX_THREADS; t++)
        memcpy(&blocks[t][MIX_SLOTS], &in[t * MIX_SLOTS], MIX_SLOTS * sizeof *in);
    gallocy_barrier(); /* the blocks' contents, written by their owners, are visible */
    for (int t = 0; t < MIX_THREADS; t++)
        pthread_create(&th[t], NULL, mix_free_thread, &args[t]);
    for (int t = 0; t < MIX_THREADS; t++) {
        pthread_join(th[t], NULL);
        CU_ASSERT(args[t].ok);
    }
    gallocy_barrier(); /* every rank's frees are delivered */
    gallocy_barrier(); /* and applied, and the heaps have collected them */
    gallocy_stats(&after);
    CU_ASSERT_EQUAL(after.bytes_in_use, before.bytes_in_use);
}

static void test_threads_stress(void)
{
    pthread_t th[4];
    struct stress_arg args[4];
    memset(handoff, 0, sizeof handoff);
    for (int t = 0; t < 4; t++) {
        args[t] = (struct stress_arg){(unsigned)(t + 4 * me + 1), 1};
        pthread_create(&th[t], NULL, stress_thread, &args[t]);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        CU_ASSERT(args[t].ok);
    }
    for (int t = 0; t < 4; t++)
        for (int k = 0; k < 64; k++)
            if (handoff[t][k])
                gallocy_free((void *)handoff[t][k]);
}

void register_alloc_tests(void)
{
    static const struct cm_test tests[] = {
        {"malloc is local, aligned, usable", test_malloc_is_local_and_usable},
        {"blocks are distinct", test_distinct_blocks},
        {"calloc zeroes, overflow is ENOMEM", test_calloc_and_overflow},
        {"aligned_alloc to 1 MiB", test_aligned_alloc},
        {"realloc keeps contents, grows in place", test_realloc_keeps_contents},
        {"exhaustion gives ENOMEM, free recovers", test_exhaustion_and_recovery},
        {"cross-rank free with contents", test_cross_rank_free},
        {"4 threads random alloc/free", test_threads_stress},
        {"4 threads x ranks: malloc/realloc/free, cross-rank frees", test_threads_ranks_mixed},
        {NULL, NULL}};
    CM_ADD_SUITE("alloc", tests);
}
