/* test_unit: pieces of the core tested alone, without MPI: diffs, page runs, options,
 * size classes, the address agreement (with the other ranks simulated). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "addr_agree.h"
#include "cunit_main.h"
#include "diff.h"
#include "options.h"
#include "pagerun.h"
#include "runtime.h"

struct runs {
    size_t off[64], len[64];
    int n;
};

static void record(size_t off, size_t len, void *ctx)
{
    struct runs *r = ctx;
    if (r->n < 64) {
        r->off[r->n] = off;
        r->len[r->n] = len;
    }
    r->n++;
}

static void test_diff_exact_runs(void)
{
    unsigned char twin[4096], cur[4096];
    memset(twin, 0, sizeof twin);
    memcpy(cur, twin, sizeof cur);
    struct runs r = {0};
    CU_ASSERT_EQUAL(diff_runs(twin, cur, 4096, record, &r), 0);
    cur[0] = 1;      /* first byte */
    cur[2] = 1;      /* a gap of one unchanged byte: two runs, never merged */
    cur[9] = 1;      /* inside the second word */
    cur[10] = 1;
    cur[4095] = 1;   /* last byte */
    for (int i = 100; i < 300; i++)
        cur[i] = 7;  /* a long run across words */
    memset(&r, 0, sizeof r);
    CU_ASSERT_EQUAL(diff_runs(twin, cur, 4096, record, &r), 5);
    size_t want_off[] = {0, 2, 9, 100, 4095}, want_len[] = {1, 1, 2, 200, 1};
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(r.off[i], want_off[i]);
        CU_ASSERT_EQUAL(r.len[i], want_len[i]);
    }
}

/* Random pages: applying the runs to a copy of the twin gives the page back, and no run
 * contains an unchanged byte. */
static void test_diff_random(void)
{
    static unsigned char twin[4096], cur[4096], rebuilt[4096];
    srand(7);
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 4096; i++)
            twin[i] = cur[i] = (unsigned char)rand();
        int changes = rand() % 50;
        for (int c = 0; c < changes; c++) {
            int at = rand() % 4096, n = 1 + rand() % 40;
            for (int i = at; i < at + n && i < 4096; i++)
                cur[i] = (unsigned char)(cur[i] + 1 + rand() % 255);
        }
        struct runs r = {0};
        size_t n = diff_runs(twin, cur, 4096, record, &r);
        CU_ASSERT_EQUAL((int)n, r.n);
        if (r.n > 64)
            continue;
        memcpy(rebuilt, twin, 4096);
        int exact = 1;
        for (int k = 0; k < r.n; k++)
            for (size_t i = r.off[k]; i < r.off[k] + r.len[k]; i++) {
                exact &= twin[i] != cur[i];
                rebuilt[i] = cur[i];
            }
        CU_ASSERT(exact);
        CU_ASSERT_EQUAL(memcmp(rebuilt, cur, 4096), 0);
    }
}

static void test_pagerun(void)
{
    struct pagerun pr;
    CU_ASSERT_EQUAL(pagerun_init(&pr, 100), 0);
    long a = pagerun_alloc(&pr, 10, 1), b = pagerun_alloc(&pr, 10, 1), c = pagerun_alloc(&pr, 10, 16);
    CU_ASSERT_EQUAL(a, 0);
    CU_ASSERT_EQUAL(b, 10);
    CU_ASSERT_EQUAL(c, 32); /* aligned to 16 */
    CU_ASSERT_EQUAL(pagerun_alloc(&pr, 80, 1), -1);
    pagerun_free(&pr, 10, 10);
    CU_ASSERT_EQUAL(pagerun_take(&pr, 12, 3), 1);
    CU_ASSERT_EQUAL(pagerun_take(&pr, 12, 3), 0); /* already taken */
    pagerun_free(&pr, 12, 3);
    pagerun_free(&pr, 0, 10);
    pagerun_free(&pr, 32, 10);
    CU_ASSERT_EQUAL(pr.nfree, 1); /* everything coalesced back into one run */
    CU_ASSERT_EQUAL(pagerun_alloc(&pr, 100, 1), 0);
    pagerun_fini(&pr);
}

/* Random allocations and frees against a reference bitmap: no page handed out twice. */
static void test_pagerun_random(void)
{
    enum { N = 512 };
    struct pagerun pr;
    unsigned char used[N] = {0};
    long start[64] = {0};
    size_t len[64] = {0};
    pagerun_init(&pr, N);
    srand(3);
    int ok = 1;
    for (int it = 0; it < 5000; it++) {
        int k = rand() % 64;
        if (len[k]) {
            for (size_t i = 0; i < len[k]; i++)
                used[start[k] + (long)i] = 0;
            pagerun_free(&pr, (size_t)start[k], len[k]);
            len[k] = 0;
        } else {
            size_t n = 1 + (size_t)(rand() % 20), al = (size_t)1 << (rand() % 4);
            long s = pagerun_alloc(&pr, n, al);
            if (s < 0)
                continue;
            ok &= s % (long)al == 0;
            for (size_t i = 0; i < n; i++) {
                ok &= used[s + (long)i] == 0;
                used[s + (long)i] = 1;
            }
            start[k] = s;
            len[k] = n;
        }
    }
    CU_ASSERT(ok);
    pagerun_fini(&pr);
}

static void test_options(void)
{
    size_t v;
    CU_ASSERT_EQUAL(opt_parse_size("4096", &v), 0);
    CU_ASSERT_EQUAL(v, 4096);
    CU_ASSERT_EQUAL(opt_parse_size("512M", &v), 0);
    CU_ASSERT_EQUAL(v, (size_t)512 << 20);
    CU_ASSERT_EQUAL(opt_parse_size("2GiB", &v), 0);
    CU_ASSERT_EQUAL(v, (size_t)2 << 30);
    CU_ASSERT_EQUAL(opt_parse_size("1t", &v), 0);
    CU_ASSERT_EQUAL(v, (size_t)1 << 40);
    CU_ASSERT_EQUAL(opt_parse_size("12Q", &v), -EINVAL);
    CU_ASSERT_EQUAL(opt_parse_size("-5", &v), -EINVAL);
    CU_ASSERT_EQUAL(opt_parse_size("", &v), -EINVAL);
    char err[256];
    unsetenv("GALLOCY_HEAP_SIZE");
    setenv("GALLOCY_PREFETCH", "3", 1);
    CU_ASSERT_EQUAL(opt_load(err, sizeof err), 0);
    CU_ASSERT_EQUAL(opt.heap_size, (size_t)1 << 30); /* the table's default */
    CU_ASSERT_EQUAL(opt.prefetch, 3);
    setenv("GALLOCY_PREFETCH", "three", 1);
    CU_ASSERT_EQUAL(opt_load(err, sizeof err), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "GALLOCY_PREFETCH=three"));
    setenv("GALLOCY_STATS", "maybe", 1);
    unsetenv("GALLOCY_PREFETCH");
    CU_ASSERT_EQUAL(opt_load(err, sizeof err), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "GALLOCY_STATS"));
    unsetenv("GALLOCY_STATS");
}

/* The runtime's reduction, as if one other rank had the granules marked in other_busy. */
enum { BITS = 8 * (int)sizeof(unsigned long) };
static unsigned long other_busy[(ADDR_USER_TOP >> ADDR_GRANULE_SHIFT) / BITS];

void rt_allreduce_or(unsigned long *words, size_t n)
{
    CU_ASSERT_EQUAL(n, sizeof other_busy / sizeof other_busy[0]);
    for (size_t i = 0; i < n; i++)
        words[i] |= other_busy[i];
}

static void other_rank_uses(uintptr_t lo, size_t len)
{
    for (uintptr_t g = lo >> ADDR_GRANULE_SHIFT; g < (lo + len) >> ADDR_GRANULE_SHIFT; g++)
        other_busy[g / BITS] |= 1UL << (g % BITS);
}

/* No line of /proc/self/maps overlaps [lo, lo+len). */
static int free_here(uintptr_t lo, size_t len)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int ok = f != NULL;
    while (ok && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a < lo + len && lo < b)
            ok = 0;
    }
    if (f)
        fclose(f);
    return ok;
}

/* The base is aligned, free here and reservable; another rank's mappings are avoided; a range
 * larger than any common gap gets no base and the largest gap. */
static void test_addr_agree(void)
{
    const size_t range = (size_t)64 << 30;
    memset(other_busy, 0, sizeof other_busy);
    struct addr_choice c = addr_agree(range);
    CU_ASSERT_FATAL(c.base != 0);
    CU_ASSERT_EQUAL(c.base % ((uintptr_t)1 << ADDR_GRANULE_SHIFT), 0);
    CU_ASSERT(c.base >= c.gap_lo && c.base + range <= c.gap_lo + c.gap_len);
    CU_ASSERT(free_here(c.base, range));
    void *v = mmap((void *)c.base, range, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    CU_ASSERT_EQUAL((uintptr_t)v, c.base);
    if (v != MAP_FAILED)
        munmap(v, range);
    /* Another rank has mappings all over this choice: the next one keeps clear of them. */
    other_rank_uses(c.base, range);
    struct addr_choice d = addr_agree(range);
    CU_ASSERT_FATAL(d.base != 0);
    CU_ASSERT(d.base + range <= c.base || c.base + range <= d.base);
    CU_ASSERT(free_here(d.base, range));
    /* More than the whole address space: no base, and the largest common gap, smaller. */
    struct addr_choice e = addr_agree((size_t)ADDR_USER_TOP);
    CU_ASSERT_EQUAL(e.base, 0);
    CU_ASSERT(e.gap_len > 0 && e.gap_len < (size_t)ADDR_USER_TOP);
    memset(other_busy, 0, sizeof other_busy);
}

int main(void)
{
    static const struct cm_test tests[] = {
        {"diff: exact runs", test_diff_exact_runs},
        {"diff: random pages rebuild exactly", test_diff_random},
        {"pagerun: split, align, coalesce", test_pagerun},
        {"pagerun: random, never twice", test_pagerun_random},
        {"options: sizes, defaults, errors", test_options},
        {"addr_agree: a base free here and on the other ranks, or the largest gap",
         test_addr_agree},
        {NULL, NULL}};
    return cm_main("unit", tests);
}
