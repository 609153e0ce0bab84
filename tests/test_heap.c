/* test_heap: the Hoard allocator alone (size classes, superblocks, heaps, segment), over a
 * plain private mapping, without MPI: the classes and their waste bound, the emptiness
 * invariant after every step of a random sequence, Hoard's producer/consumer blowup case,
 * frees across threads with contents checked, exhaustion and recovery. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cunit_main.h"
#include "heap.h"
#include "segment.h"
#include "sizeclass.h"
#include "superblock.h"

static char *base, *mapping;
static uint32_t *page_info;
static size_t npages;
static uint64_t discarded_pages;
static int pinned, discard_calls; /* pinned: discard refuses, as with registered memory */

/* Exposure, as a registering transport sees it: always the next pages, refused past
 * expose_limit (pages). */
static size_t exposed_end, expose_limit;
static int expose_calls, expose_out_of_order;

static int expose(size_t page, size_t n, int quiet)
{
    (void)quiet;
    expose_calls++;
    expose_out_of_order += page != exposed_end;
    if (page + n > expose_limit)
        return -1;
    exposed_end = page + n;
    return 0;
}

static int discard(size_t page, size_t n)
{
    discard_calls++;
    if (pinned)
        return 0;
    madvise(base + page * 4096, n * 4096, MADV_DONTNEED);
    discarded_pages += n;
    return 1;
}

/* A fresh segment of mib MiB that keeps retain_mib MiB of freed pages. */
static void setup(size_t mib, size_t retain_mib)
{
    npages = mib << 8;
    /* Superblock-aligned, as the global range is: 64 KiB of slack, start rounded up. */
    mapping = mmap(NULL, npages * 4096 + SB_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    uintptr_t up = ((uintptr_t)mapping + SB_BYTES - 1) & ~(uintptr_t)(SB_BYTES - 1);
    base = mapping == MAP_FAILED ? MAP_FAILED : (char *)up;
    page_info = calloc(npages, sizeof *page_info);
    discarded_pages = 0;
    discard_calls = 0;
    exposed_end = 0;
    expose_limit = SIZE_MAX;
    expose_calls = expose_out_of_order = 0;
    struct segment_config c = {base, npages, page_info, discard, expose, retain_mib << 8};
    CU_ASSERT_FATAL(base != MAP_FAILED && page_info && segment_init(&c) == 0 && heap_init() == 0);
}

static void teardown(void)
{
    heap_fini();
    segment_fini();
    munmap(mapping, npages * 4096 + SB_BYTES);
    free(page_info);
}

static void *h_alloc(size_t size)
{
    return size <= SC_MAX ? heap_malloc(sc_of(size)) : large_alloc(size, 1);
}

static void h_free(void *p)
{
    size_t off = (size_t)((char *)p - base);
    if (!heap_free(off, "test", p, -1))
        large_free(off / 4096, "test", p);
}

static void fill(unsigned char *p, size_t n, unsigned tag)
{
    for (size_t i = 0; i < n; i += 61)
        p[i] = (unsigned char)(tag + i);
    p[n - 1] = (unsigned char)tag;
}

static int intact(const unsigned char *p, size_t n, unsigned tag)
{
    for (size_t i = 0; i < n; i += 61)
        if (i != n - 1 && p[i] != (unsigned char)(tag + i))
            return 0;
    return p[n - 1] == (unsigned char)tag;
}

static void test_size_classes(void)
{
    int ok = 1;
    for (size_t s = 1; s <= SC_MAX; s++) {
        int c = sc_of(s);
        size_t b = sc_size(c);
        ok &= c >= 0 && c < SC_COUNT && b >= s && b % 16 == 0;
        ok &= c == 0 || sc_size(c - 1) < s;                  /* the smallest class that fits */
        ok &= s <= 128 ? b - s <= 15 : (b - s) * 5 < b;      /* the waste bound of sizeclass.h */
    }
    CU_ASSERT(ok);
    CU_ASSERT_EQUAL(sc_of(0), 0);
    CU_ASSERT_EQUAL(sc_size(SC_COUNT - 1), SC_MAX);
    CU_ASSERT_EQUAL(sc_of(SC_MAX), SC_COUNT - 1);
    CU_ASSERT(SC_MAX * 2 == SB_BYTES); /* large means above half a superblock */
}

/* The one-multiply block index of superblock.h, against division, at every offset. */
static void test_block_index(void)
{
    long bad = 0;
    for (int c = 0; c < SC_COUNT; c++) {
        struct sb *s = aligned_alloc(64, SB_DESC_BYTES);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        sb_init(s, NULL, 0, c);
        for (size_t d = 0; d < SB_BYTES; d++) {
            long want = d % s->size == 0 && d / s->size < s->nobjs ? (long)(d / s->size) : -1;
            bad += sb_index(s, d) != want;
        }
        free(s);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* The per-class threshold a free compares against is Hoard's emptiness test exactly: for
 * every capacity a heap can hold (whole superblocks of any class), at every used amount. */
static void test_invariant_threshold(void)
{
    long bad = 0;
    for (int c = 0; c < SC_COUNT; c++) {
        uint64_t per_sb = SB_BYTES / sc_size(c) * sc_size(c);
        for (uint64_t n = 0; n <= 40; n++) {
            uint64_t cap = n * per_sb, low = too_empty_below(cap);
            for (uint64_t used = 0; used <= cap; used += sc_size(c))
                bad += (used < low) != too_empty_at(used, cap);
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Random malloc/free with phases of growth and shrinkage; after every step the heap's
 * counters match its superblocks and the invariant holds; every block keeps its contents. */
static void test_invariant_random(void)
{
    setup(256, 64);
    enum { N = 600 };
    static unsigned char *blk[N];
    static size_t sz[N];
    memset(blk, 0, sizeof blk);
    unsigned s = 12345;
    char why[256] = "";
    int ok = 1, checked = 0;
    for (int step = 0; step < 12000 && ok; step++) {
        s = s * 1103515245 + 12345;
        int k = (int)((s >> 8) % N);
        int grow = (step / 2000) % 2 == 0; /* alternate phases: mostly alloc, mostly free */
        int want_alloc = ((s >> 20) % 8) < (grow ? 6u : 1u);
        if (blk[k] && !want_alloc) {
            ok &= intact(blk[k], sz[k], (unsigned)k);
            h_free(blk[k]);
            blk[k] = NULL;
        } else if (!blk[k] && want_alloc) {
            sz[k] = (s >> 24) % 16 == 0 ? 40000 + (s >> 4) % 100000 : 1 + (s >> 12) % 3000;
            blk[k] = h_alloc(sz[k]);
            if (!blk[k]) {
                ok = 0;
                break;
            }
            fill(blk[k], sz[k], (unsigned)k);
        } else {
            continue;
        }
        if (heap_check_mine(why, sizeof why) != 0)
            ok = 0;
        checked++;
    }
    if (!ok)
        fprintf(stderr, "invariant test: %s\n", why);
    CU_ASSERT(ok);
    CU_ASSERT(checked > 4000);
    for (int k = 0; k < N; k++)
        if (blk[k])
            h_free(blk[k]);
    heap_collect(); /* frees into superblocks the global heap took count once collected */
    struct heap_totals t;
    heap_totals(&t);
    CU_ASSERT_EQUAL(t.in_use, 0);
    CU_ASSERT(t.held <= SC_COUNT * HOARD_K * SB_BYTES); /* all but the invariant's slack */
    teardown();
}

/* Many superblocks nearly emptied: the heap must hand them to the global heap. */
static void test_invariant_releases(void)
{
    setup(256, 1024);
    enum { N = 64 * 1024 };
    static void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = h_alloc(64); /* 4 MiB of 64-byte blocks: 64 superblocks */
    struct heap_totals full, after;
    heap_totals(&full);
    for (int i = 0; i < N; i++)
        if (i % 1024) /* keep one block per superblock */
            h_free(p[i]);
    heap_collect();
    char why[256] = "";
    int rc = heap_check_mine(why, sizeof why);
    if (rc)
        fprintf(stderr, "%s\n", why);
    CU_ASSERT_EQUAL(rc, 0);
    heap_totals(&after);
    CU_ASSERT_EQUAL(full.held, 64 * SB_BYTES);
    CU_ASSERT_EQUAL(after.in_use, 64 * 64);
    /* The superblocks still exist (one block each), but the thread heap holds at most K more
     * than it uses: the rest went to the global heap, where any thread can take them. */
    CU_ASSERT_EQUAL(after.held, 64 * SB_BYTES);
    for (int i = 0; i < N; i += 1024)
        h_free(p[i]);
    heap_release_empty();
    heap_totals(&after);
    CU_ASSERT_EQUAL(after.held, 0);
    CU_ASSERT_EQUAL(after.in_use, 0);
    teardown();
}

/* Hoard's blowup case: a producer allocates, a consumer frees.  Memory held must stay bounded,
 * not grow with the rounds. */
enum { ROUNDS = 300, BATCH = 2000 };
static void *volatile mailbox[BATCH];
static volatile int round_ready, round_done;

static void *consumer(void *arg)
{
    (void)arg;
    for (int r = 1; r <= ROUNDS; r++) {
        while (__atomic_load_n(&round_ready, __ATOMIC_ACQUIRE) < r)
            sched_yield();
        for (int i = 0; i < BATCH; i++)
            h_free(mailbox[i]);
        __atomic_store_n(&round_done, r, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void test_blowup_bounded(void)
{
    setup(512, 64);
    round_ready = round_done = 0;
    pthread_t t;
    pthread_create(&t, NULL, consumer, NULL);
    uint64_t held_early = 0, peak = 0;
    for (int r = 1; r <= ROUNDS; r++) {
        for (int i = 0; i < BATCH; i++)
            mailbox[i] = h_alloc(200);
        __atomic_store_n(&round_ready, r, __ATOMIC_RELEASE);
        while (__atomic_load_n(&round_done, __ATOMIC_ACQUIRE) < r)
            sched_yield();
        struct heap_totals tot;
        heap_totals(&tot);
        if (r == 10)
            held_early = tot.held;
        if (tot.held > peak)
            peak = tot.held;
    }
    pthread_join(t, NULL);
    /* One round is 2000 x 224 B = 437 KiB; without reuse 300 rounds would hold 128 MiB. */
    CU_ASSERT(held_early > 0);
    CU_ASSERT(peak <= held_early + 2 * SB_BYTES);
    CU_ASSERT(peak <= 4 * (uint64_t)BATCH * 224 + HOARD_K * SB_BYTES);
    teardown();
}

/* Threads allocate, fill, pass blocks around, check and free them. */
struct xarg {
    unsigned seed;
    int ok;
};
static void *volatile slot_of[4][256];

static void *cross_thread(void *a)
{
    struct xarg *x = a;
    unsigned s = x->seed;
    int me = (int)(x->seed % 4);
    for (int it = 0; it < 20000; it++) {
        s = s * 1103515245 + 12345;
        int k = (int)((s >> 8) % 256), to = (me + 1 + (int)((s >> 16) % 3)) % 4;
        size_t n = 1 + (s >> 18) % ((s >> 28) ? 512 : 40000);
        /* The size in the first bytes, so whoever frees it can check the rest. */
        size_t n8 = n < 16 ? 16 : n;
        unsigned char *p = h_alloc(n8);
        if (!p) {
            x->ok = 0;
            break;
        }
        memcpy(p, &n8, sizeof n8);
        fill(p + 8, n8 - 8, (unsigned)n8);
        void *old = __atomic_exchange_n(&slot_of[to][k], p, __ATOMIC_ACQ_REL);
        if (old) {
            size_t m;
            memcpy(&m, old, sizeof m);
            x->ok &= m >= 16 && m <= 40000 && intact((unsigned char *)old + 8, m - 8, (unsigned)m);
            h_free(old);
        }
    }
    return NULL;
}

static void test_cross_thread(void)
{
    setup(1024, 64);
    memset((void *)slot_of, 0, sizeof slot_of);
    pthread_t th[4];
    struct xarg xa[4];
    for (int t = 0; t < 4; t++) {
        xa[t] = (struct xarg){(unsigned)(t + 4 * 7), 1};
        pthread_create(&th[t], NULL, cross_thread, &xa[t]);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        CU_ASSERT(xa[t].ok);
    }
    for (int t = 0; t < 4; t++)
        for (int k = 0; k < 256; k++)
            if (slot_of[t][k])
                h_free(slot_of[t][k]);
    heap_release_empty(); /* the global heap now owns the exited threads' superblocks */
    struct heap_totals tot;
    heap_totals(&tot);
    CU_ASSERT_EQUAL(tot.in_use, 0);
    CU_ASSERT_EQUAL(tot.held, 0);
    teardown();
}

/* Fill the segment with small blocks, free them, and a large block fits again; past the
 * retained amount the freed pages went back to the system. */
static void test_exhaustion(void)
{
    setup(8, 1);
    enum { MAX = 16 * 1024 };
    static void *p[MAX];
    int n = 0;
    while (n < MAX && (p[n] = h_alloc(1000)) != NULL)
        n++;
    CU_ASSERT_EQUAL(n, 8192); /* 8 MiB of 1 KiB blocks */
    CU_ASSERT_PTR_NULL(large_alloc(64 * 1024, 1));
    for (int i = 0; i < n; i++)
        h_free(p[i]);
    heap_release_empty();
    void *big = large_alloc(7 << 20, 1);
    CU_ASSERT_PTR_NOT_NULL(big);
    CU_ASSERT(discarded_pages >= 256); /* more than the 1 MiB retained was given back */
    if (big) {
        memset(big, 1, 7 << 20);
        CU_ASSERT(large_resize((size_t)((char *)big - base) / 4096, 1024)); /* shrink 7 -> 4 */
        CU_ASSERT_EQUAL(PI_VALUE(page_info[((char *)big - base) / 4096]), 1024);
        CU_ASSERT(large_resize((size_t)((char *)big - base) / 4096, 1792)); /* grow back */
        h_free(big);
    }
    teardown();
}

/* Memory that cannot go back (pinned for RDMA) is asked for once, then kept: nothing is
 * counted as trimmed, and later frees do not try again. */
static void test_pinned_kept(void)
{
    pinned = 1;
    setup(8, 1);
    for (int round = 0; round < 8; round++) {
        void *p = large_alloc(2 << 20, 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        memset(p, 1, 2 << 20);
        h_free(p);
    }
    CU_ASSERT_EQUAL(discard_calls, 1);
    CU_ASSERT_EQUAL(discarded_pages, 0);
    CU_ASSERT_EQUAL(segment_trimmed_bytes(), 0);
    teardown();
    pinned = 0;
}

/* Every page handed out was exposed first, in a few steps ahead of use (not one per
 * superblock); an exposure refused fails that allocation only, and what fits in what is
 * exposed is still handed out. */
static void test_exposed_before_use(void)
{
    setup(64, 1);
    enum { N = 2000 };
    static void *p[N];
    size_t top = 0;
    for (int i = 0; i < N; i++) {
        p[i] = h_alloc(i % 2 ? 100 : 20000);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p[i]);
        size_t sb = SB_BYTES / 4096, end = ((size_t)((char *)p[i] - base) / 4096 / sb + 1) * sb;
        top = end > top ? end : top; /* the end of its superblock */
    }
    CU_ASSERT(top <= exposed_end);
    CU_ASSERT(expose_calls >= 1 && expose_calls <= 12);
    CU_ASSERT_EQUAL(expose_out_of_order, 0);
    /* A limit that allows the exact need but not the headroom: granted exactly.  The block
     * is larger than any hole below the top, so it goes there and needs 2 more pages. */
    expose_limit = exposed_end + 3;
    size_t before = exposed_end;
    void *fits = large_alloc((before - top + 2) * 4096, 1);
    CU_ASSERT_PTR_NOT_NULL(fits);
    CU_ASSERT_EQUAL(exposed_end, before + 2);
    /* Past the limit: a block that needs new pages fails; a small one still fits. */
    int calls = expose_calls;
    CU_ASSERT_PTR_NULL(large_alloc(8 << 20, 1));
    CU_ASSERT(expose_calls > calls);
    void *small = h_alloc(100);
    CU_ASSERT_PTR_NOT_NULL(small);
    for (int i = 0; i < N; i++)
        h_free(p[i]);
    h_free(small);
    if (fits)
        large_free((size_t)((char *)fits - base) / 4096, "test", fits);
    teardown();
}

int main(void)
{
    static const struct cm_test tests[] = {
        {"size classes: smallest fit, waste bound", test_size_classes},
        {"block index of every offset of every class", test_block_index},
        {"the free's threshold is the emptiness test", test_invariant_threshold},
        {"invariant holds after every random step", test_invariant_random},
        {"emptied superblocks go to the global heap", test_invariant_releases},
        {"producer/consumer blowup stays bounded", test_blowup_bounded},
        {"4 threads, cross-thread frees, contents intact", test_cross_thread},
        {"exhaustion, recovery, trimming, large resize", test_exhaustion},
        {"pinned memory is kept, not trimmed", test_pinned_kept},
        {"pages are exposed before use, in few steps; a refusal fails one allocation",
         test_exposed_before_use},
        {NULL, NULL}};
    return cm_main("heap", tests);
}
