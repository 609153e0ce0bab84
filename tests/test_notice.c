/* test_notice: write notices.  Clean copies whose home knows they are cached survive
 * barriers; every way a page can change at its home (the home's own stores, another rank's
 * diffs, explicit puts and atomics, a freed and reallocated range) still reaches them. */
#include <stdlib.h>
#include <string.h>

#include "suites.h"

enum { NP = 64, PG = 4096 };

static void read_pages(const char *p, size_t npages)
{
    volatile char sink = 0;
    for (size_t i = 0; i < npages; i++)
        sink += ((volatile const char *)p)[i * PG];
    (void)sink;
}

/* The ranks other than home read every page; the barrier after tells home, which
 * write-protects them; the one after that tells the readers, whose copies from then on are
 * tracked: kept across barriers unless a write notice names them.  Ends with a barrier, so
 * that what the test writes next is not read here. */
static void make_tracked(const char *p, size_t npages, int home)
{
    if (me != home)
        read_pages(p, npages);
    gallocy_barrier();
    gallocy_barrier();
    if (me != home)
        read_pages(p, npages);
    gallocy_barrier();
}

static char *shared_array(size_t npages, int home)
{
    char *p = gallocy_coalloc(npages * PG, home);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    if (me == home)
        for (size_t i = 0; i < npages; i++)
            p[i * PG + 1] = (char)i;
    gallocy_barrier();
    return p;
}

static int values_are(const char *p, size_t npages, size_t at, int add)
{
    int ok = 1;
    for (size_t i = 0; i < npages; i++)
        ok &= p[i * PG + at] == (char)(i + (size_t)add);
    return ok;
}

static void test_clean_copies_survive_barriers(void)
{
    gallocy_stats_t a, b, h;
    gallocy_stats(&h);
    char *p = shared_array(NP, 0);
    make_tracked(p, NP, 0);
    gallocy_stats(&a);
    for (int i = 0; i < 3; i++)
        gallocy_barrier();
    CU_ASSERT(values_are(p, NP, 1, 0));
    gallocy_stats(&b);
    CU_ASSERT_EQUAL(b.read_faults, a.read_faults); /* nothing fetched again */
    CU_ASSERT_EQUAL(b.invalidations, a.invalidations);
    if (me == 0 && nranks > 1)
        CU_ASSERT_EQUAL(b.pages_shared - h.pages_shared, NP);
    gallocy_barrier();
    gallocy_cofree(p);
}

static void test_home_writes_reach_tracked_copies(void)
{
    char *p = shared_array(NP, 0);
    make_tracked(p, NP, 0);
    gallocy_stats_t a, b;
    gallocy_stats(&a);
    if (me == 0)
        for (int i = 0; i < NP; i++)
            p[i * PG + 1] = (char)(i + 100);
    gallocy_barrier();
    CU_ASSERT(values_are(p, NP, 1, 100));
    gallocy_stats(&b);
    int in_order[NP];
    for (int i = 0; i < NP; i++)
        in_order[i] = i;
    if (nranks > 1 && me == 0) /* the write stream of a first epoch: 7 faults by default */
        CU_ASSERT_EQUAL(b.home_write_faults - a.home_write_faults,
                        expected_faults(in_order, NP, NP, 1));
    if (me != 0)
        CU_ASSERT_EQUAL(b.stale_drops - a.stale_drops, NP);
    gallocy_barrier();
    gallocy_cofree(p);
}

/* What page i holds after round r of test_home_rewrites_take_one_fault: every page written
 * (r 0, 1), the even ones changed (r 2), every page stored again unchanged (r 3). */
static char rewritten(int r, int i)
{
    return (char)(i + (r == 0 ? 100 : r == 1 || i % 2 ? 110 : 120));
}

/* Epoch after epoch the home writes the same shared pages (a stencil's boundary rows): from
 * the second epoch on, the first write takes every page written before (one fault), yet the
 * readers are told of exactly the pages that changed: all of them, then every other one, then
 * none when the stores repeat the values there. */
static void test_home_rewrites_take_one_fault(void)
{
    CM_SKIP_UNLESS(nranks >= 2, "needs 2 ranks");
    char *p = shared_array(NP, 0);
    make_tracked(p, NP, 0);
    long prefetch = env_long("GALLOCY_PREFETCH", 8), most = env_long("GALLOCY_PREFETCH_MAX", 64);
    int ahead = prefetch > 1 && most > 1; /* GALLOCY_PREFETCH=1: a fault a page written */
    for (int r = 0; r < 4; r++) {
        long one_epoch = ahead ? (NP + most - 1) / most : r == 2 ? NP / 2 : NP;
        gallocy_stats_t a, b;
        gallocy_stats(&a);
        if (me == 0)
            for (int i = 0; i < NP; i++)
                if (r != 2 || i % 2 == 0)
                    p[i * PG + 1] = rewritten(r, i);
        gallocy_barrier();
        int ok = 1;
        for (int i = 0; i < NP; i++)
            ok &= p[i * PG + 1] == rewritten(r, i);
        gallocy_stats(&b);
        long faults = (long)(b.home_write_faults - a.home_write_faults);
        long drops = (long)(b.stale_drops - a.stale_drops), changed = r == 3 ? 0 : r == 2 ? NP / 2 : NP;
        if (!ok || (r > 0 && me == 0 && faults != one_epoch) || (me != 0 && drops != changed))
            printf(me == 0 ? "rank %d: round %d: values %s, %ld home write faults (%ld expected)\n"
                           : "rank %d: round %d: values %s, %ld copies dropped (%ld expected)\n",
                   me, r, ok ? "right" : "WRONG", me == 0 ? faults : drops,
                   me == 0 ? one_epoch : changed);
        CU_ASSERT(ok);
        if (r > 0 && me == 0)
            CU_ASSERT_EQUAL(faults, one_epoch);
        if (me != 0)
            CU_ASSERT_EQUAL(drops, changed);
        gallocy_barrier();
    }
    gallocy_cofree(p);
}

/* Pages the home never touched, read by the others (shared before the home maps them):
 * the home's writes to them, epoch after epoch, reach the readers. */
static void test_home_writes_untouched_shared(void)
{
    char *p = gallocy_coalloc(NP * PG, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int ok = 1;
    if (me != 0) /* zeros: the home has not written them */
        for (int i = 0; i < NP; i++)
            ok &= p[i * PG + 5] == 0;
    gallocy_barrier();
    gallocy_barrier();
    for (int r = 1; r <= 3; r++) {
        if (me == 0)
            for (int i = 0; i < NP; i++)
                p[i * PG + 5] = (char)(r + i);
        gallocy_barrier();
        for (int i = 0; i < NP; i++)
            ok &= p[i * PG + 5] == (char)(r + i);
        gallocy_barrier();
    }
    CU_ASSERT(ok);
    gallocy_cofree(p);
}

/* Sharing ends: a home that changes its shared pages at every release while no reader reads
 * them again stops protecting them (no more faults, twins or notices for them), and readers
 * that come back see every change; pages the readers keep reading stay shared. */
static void test_sharing_ends(void)
{
    CM_SKIP_UNLESS(nranks >= 2, "needs 2 ranks");
    enum { EPOCHS = 6, UNSHARED_BY = 3 }; /* cache.c's UNSHARE_AFTER */
    char *p = shared_array(NP, 0);
    make_tracked(p, NP, 0);
    gallocy_stats_t a, b, c;
    gallocy_stats(&a);
    int v = 0;
    for (int e = 0; e < EPOCHS; e++) { /* the home writes, nobody reads */
        if (e == UNSHARED_BY)
            gallocy_stats(&b);
        v++;
        if (me == 0)
            for (int i = 0; i < NP; i++)
                p[i * PG + 1] = (char)(i + v);
        gallocy_barrier();
    }
    gallocy_stats(&c);
    if (me == 0) {
        CU_ASSERT_EQUAL(c.pages_unshared - a.pages_unshared, NP);
        CU_ASSERT_EQUAL(c.home_write_faults - b.home_write_faults, 0); /* plain memory again */
    }
    int ok = 1;
    for (int round = 0; round < 4; round++) { /* readers come back, and keep reading */
        /* A fetch announces the page again, but the home learns of it only at the barrier:
         * it writes before that, so the copy must not be kept across the barrier. */
        ok &= values_are(p, NP, 1, v);
        MPI_Barrier(test_comm); /* orders the home's writes after the reads, not the memory */
        v++;
        if (me == 0)
            for (int i = 0; i < NP; i++)
                p[i * PG + 1] = (char)(i + v);
        gallocy_barrier();
    }
    ok &= values_are(p, NP, 1, v);
    gallocy_stats_t d;
    gallocy_stats(&d);
    CU_ASSERT(ok);
    if (!ok)
        printf("rank %d: a page read after its sharing ended was stale\n", me);
    if (me == 0) /* read at every epoch: shared again, and kept */
        CU_ASSERT_EQUAL(d.pages_unshared - c.pages_unshared, 0);
    gallocy_barrier();
    gallocy_cofree(p);
}

/* The writer is neither the home nor the reader (with 3 ranks or more). */
static void test_other_writers_reach_tracked_copies(void)
{
    int writer = nranks - 1;
    char *p = shared_array(NP, 0);
    make_tracked(p, NP, 0);
    gallocy_stats_t a, b;
    gallocy_stats(&a);
    if (me == writer)
        for (int i = 0; i < NP; i += 2)
            p[i * PG + 2] = (char)(i + 7);
    gallocy_barrier();
    int ok = 1;
    for (int i = 0; i < NP; i++)
        ok &= p[i * PG + 2] == (i % 2 ? 0 : (char)(i + 7)) && p[i * PG + 1] == (char)i;
    CU_ASSERT(ok);
    gallocy_stats(&b);
    if (me != 0 && me != writer)
        CU_ASSERT_EQUAL(b.stale_drops - a.stale_drops, NP / 2);
    gallocy_barrier();
    gallocy_cofree(p);
}

/* Ordered by a lock, not a barrier: the next holder reads the notice counts itself. */
static void test_lock_orders_home_writes(void)
{
    char *p = shared_array(NP, 0);
    gallocy_lock_t *l = gallocy_coalloc(sizeof *l, 0);
    gallocy_barrier();
    make_tracked(p, NP, 0);
    if (me == 0) {
        gallocy_lock(l);
        for (int i = 0; i < NP; i++)
            p[i * PG + 1] = (char)(i + 50);
        gallocy_unlock(l);
    }
    MPI_Barrier(test_comm); /* orders the lock holders, not the memory */
    gallocy_stats_t a, b;
    gallocy_stats(&a);
    gallocy_lock(l);
    CU_ASSERT(values_are(p, NP, 1, 50));
    gallocy_unlock(l);
    gallocy_stats(&b);
    if (me != 0)
        CU_ASSERT_EQUAL(b.stale_drops - a.stale_drops, NP);
    gallocy_barrier();
    gallocy_cofree(l);
    gallocy_cofree(p);
}

/* Puts and atomics change the home copy without the cache: other ranks learn of them from
 * notices, and the rank that made them drops its own copy at its next acquire. */
static void test_puts_and_atomics_are_noticed(void)
{
    int putter = nranks - 1;
    char *p = shared_array(NP, 0);
    make_tracked(p, NP, 0);
    uint64_t v = 0xabc, w = 0xdef;
    if (me == putter) {
        gallocy_put(p + 3 * PG + 64, &v, 8);
        gallocy_atomic_fetch_add((uint64_t *)(p + 5 * PG + 64), 9);
    }
    if (me == 0) /* the home itself: a memcpy and an atomic on its own memory */
        gallocy_put(p + 7 * PG + 64, &w, 8);
    gallocy_barrier();
    CU_ASSERT_EQUAL(*(uint64_t *)(p + 3 * PG + 64), v);
    CU_ASSERT_EQUAL(*(uint64_t *)(p + 5 * PG + 64), 9);
    CU_ASSERT_EQUAL(*(uint64_t *)(p + 7 * PG + 64), w);
    gallocy_barrier();
    if (me == putter) { /* its own copy, after an acquire alone */
        gallocy_put(p + 9 * PG + 64, &w, 8);
        gallocy_acquire();
        CU_ASSERT_EQUAL(*(uint64_t *)(p + 9 * PG + 64), w);
    }
    gallocy_barrier();
    gallocy_cofree(p);
}

/* The same words changed again after each barrier: every round's change is noticed, not
 * only the first (a page already recorded is skipped without cache_lock until the next
 * release empties the lists), by the other ranks' tracked copies and by the changer's own
 * copy after an acquire. */
static void test_repeated_changes_are_noticed(void)
{
    enum { ROUNDS = 5 };
    int changer = nranks - 1;
    char *p = shared_array(NP, 0);
    make_tracked(p, NP, 0);
    uint64_t *added = (uint64_t *)(p + 5 * PG + 64), *put = (uint64_t *)(p + 3 * PG + 64);
    int ok = 1;
    for (uint64_t round = 1; round <= ROUNDS; round++) {
        if (me == changer) {
            (void)*(volatile uint64_t *)added; /* its own copy of both pages */
            (void)*(volatile uint64_t *)put;
            gallocy_atomic_fetch_add(added, 1);
            gallocy_atomic_fetch_add(added, 1); /* the second: recorded already */
            uint64_t v = 100 + round;
            gallocy_put(put, &v, 8);
            gallocy_put(put, &v, 8);
            gallocy_acquire();
            ok &= *added == 2 * round && *put == 100 + round;
        }
        gallocy_barrier();
        ok &= *added == 2 * round && *put == 100 + round;
        gallocy_barrier();
    }
    CU_ASSERT(ok);
    gallocy_barrier();
    gallocy_cofree(p);
}

/* More notice runs than the ring holds between two looks (one run per release here): the
 * readers drop every tracked copy rather than miss one. */
static void test_notice_ring_overflow(void)
{
    enum { RELEASES = 8192 + 2 }; /* the ring holds 8192 runs */
    char *p = shared_array(NP, 0);
    make_tracked(p, NP, 0);
    gallocy_stats_t a, b;
    gallocy_stats(&a);
    if (me == 0)
        for (uint64_t i = 0; i < RELEASES; i++) {
            gallocy_put(p + (i % NP) * PG + 8, &i, 8);
            gallocy_release();
        }
    gallocy_barrier();
    int ok = 1;
    for (uint64_t i = 0; i < NP; i++)
        ok &= *(uint64_t *)(p + i * PG + 8) == RELEASES - 1 - (RELEASES - 1 - i) % NP;
    CU_ASSERT(ok);
    gallocy_stats(&b);
    if (me != 0)
        CU_ASSERT(b.stale_drops - a.stale_drops >= NP); /* all of them, and any others */
    gallocy_barrier();
    gallocy_cofree(p);
}

/* After gallocy_cofree the home writes the range's pages without faults again; copies of a
 * new allocation there must not be taken for tracked ones. */
static void test_cofree_forgets_sharing(void)
{
    int home = nranks - 1;
    char *p = shared_array(NP, home);
    make_tracked(p, NP, home);
    gallocy_cofree(p);
    char *q = shared_array(NP, home); /* first-fit: the same pages again */
    if (me != home)
        read_pages(q, NP);
    gallocy_barrier();
    if (me == home)
        for (int i = 0; i < NP; i++)
            q[i * PG + 1] = (char)(i + 30);
    gallocy_barrier();
    CU_ASSERT(values_are(q, NP, 1, 30));
    gallocy_barrier();
    gallocy_cofree(q);
}

void register_notice_tests(void)
{
    static const struct cm_test tests[] = {
        {"clean copies survive barriers once their home knows",
         test_clean_copies_survive_barriers},
        {"a home's writes reach tracked copies", test_home_writes_reach_tracked_copies},
        {"another rank's writes reach tracked copies", test_other_writers_reach_tracked_copies},
        {"a lock orders a home's writes", test_lock_orders_home_writes},
        {"puts and atomics are noticed", test_puts_and_atomics_are_noticed},
        {"repeated changes are noticed", test_repeated_changes_are_noticed},
        {"a home's rewrites take one fault", test_home_rewrites_take_one_fault},
        {"sharing ends when readers stop reading", test_sharing_ends},
        {"a home writes shared pages it never touched", test_home_writes_untouched_shared},
        {"overflowing the notice ring drops every tracked copy", test_notice_ring_overflow},
        {"gallocy_cofree forgets what was shared", test_cofree_forgets_sharing},
        {NULL, NULL}};
    CM_ADD_SUITE("notices", tests);
}
