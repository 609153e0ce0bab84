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
#include "verbs_keys.h"
#include "verbs_memory.h"

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

/* A peer's registrations, met in any order: found by offset, gaps between them, the next. */
static void test_vkeys(void)
{
    struct vkeys k = {0};
    static const uint64_t starts[] = {40, 0, 100, 20, 70};
    for (int i = 0; i < 5; i++) {
        struct vkey e = {.off = starts[i], .len = 10, .rkey = (uint32_t)starts[i]};
        CU_ASSERT_EQUAL(vkeys_insert(&k, &e), 0);
    }
    for (size_t i = 1; i < k.n; i++)
        CU_ASSERT(k.e[i - 1].off < k.e[i].off);
    for (uint64_t off = 0; off < 130; off++) {
        const struct vkey *e = vkeys_find(&k, off);
        uint64_t t = off / 10; /* the entries hold the tens 0, 2, 4, 7 and 10 */
        int held = t == 0 || t == 2 || t == 4 || t == 7 || t == 10;
        CU_ASSERT_EQUAL(e != NULL, held);
        if (e)
            CU_ASSERT(e->rkey == off / 10 * 10 && off - e->off < e->len);
    }
    CU_ASSERT_EQUAL(vkeys_next(&k, 5), 20);
    CU_ASSERT_EQUAL(vkeys_next(&k, 100), UINT64_MAX);
    uint64_t g0, g1;
    CU_ASSERT(vkeys_gap(&k, 0, 130, &g0, &g1) && g0 == 10 && g1 == 20);
    CU_ASSERT(vkeys_gap(&k, 20, 45, &g0, &g1) && g0 == 30 && g1 == 40);
    CU_ASSERT(!vkeys_gap(&k, 40, 50, &g0, &g1));
    CU_ASSERT(vkeys_gap(&k, 105, 300, &g0, &g1) && g0 == 110 && g1 == 300);
    vkeys_free(&k);
    CU_ASSERT(vkeys_find(&k, 0) == NULL);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

/* What may be pinned: RLIMIT_MEMLOCK unless privileged, then the node's free memory shared
 * by the ranks pinning at once; the free memory read as the OOM killer counts it. */
static void test_pin_limits(void)
{
    const unsigned long long M = 1 << 20, inf = (unsigned long long)-1;
    CU_ASSERT_EQUAL(vm_pin_verdict(1 << 30, 0, 64 * M, 1, 0, 1), VM_PIN_OK); /* CAP_IPC_LOCK */
    CU_ASSERT_EQUAL(vm_pin_verdict(1 << 30, 0, inf, 0, 0, 1), VM_PIN_OK);     /* unlimited */
    CU_ASSERT_EQUAL(vm_pin_verdict(32 * M, 32 * M, 64 * M, 0, 0, 1), VM_PIN_OK);
    CU_ASSERT_EQUAL(vm_pin_verdict(32 * M + 1, 32 * M, 64 * M, 0, 0, 1), VM_PIN_MEMLOCK);
    /* 3 GiB free: one rank may pin 2 GiB, two ranks 1 GiB each but not 1.5 each. */
    CU_ASSERT_EQUAL(vm_pin_verdict(2048 * M, 0, inf, 0, 3072 * M, 1), VM_PIN_OK);
    CU_ASSERT_EQUAL(vm_pin_verdict(1024 * M, 0, inf, 0, 3072 * M, 2), VM_PIN_OK);
    CU_ASSERT_EQUAL(vm_pin_verdict(1536 * M, 0, inf, 0, 3072 * M, 2), VM_PIN_MEMORY);
    CU_ASSERT_EQUAL(vm_pin_verdict(3072 * M - VM_NODE_RESERVE + 1, 0, inf, 1, 3072 * M, 1),
                    VM_PIN_MEMORY);

    char dir[] = "/tmp/gallocy-unit-XXXXXX", mi[64], max[64], cur[64];
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(mi, sizeof mi, "%s/meminfo", dir);
    snprintf(max, sizeof max, "%s/max", dir);
    snprintf(cur, sizeof cur, "%s/current", dir);
    write_file(mi, "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:    3000000 kB\n");
    CU_ASSERT_EQUAL(vm_memory_available_from(mi, NULL, NULL), 3000000ull << 10);
    write_file(max, "max\n"); /* no cgroup limit */
    write_file(cur, "5000\n");
    CU_ASSERT_EQUAL(vm_memory_available_from(mi, max, cur), 3000000ull << 10);
    write_file(max, "1073741824\n"); /* 1 GiB limit, 5000 bytes used: the limit counts */
    CU_ASSERT_EQUAL(vm_memory_available_from(mi, max, cur), 1073741824ull - 5000);
    write_file(cur, "2000000000\n"); /* over it: nothing left, and known */
    CU_ASSERT_EQUAL(vm_memory_available_from(mi, max, cur), 1);
    CU_ASSERT_EQUAL(vm_memory_available_from("/nonexistent", NULL, NULL), 0);
    CU_ASSERT(vm_memory_available() > 0); /* this machine has /proc/meminfo */
    remove(mi);
    remove(max);
    remove(cur);
    remove(dir);
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
        {"verbs keys: sorted, found by offset, gaps", test_vkeys},
        {"pin limits: RLIMIT_MEMLOCK, node memory, cgroup", test_pin_limits},
        {NULL, NULL}};
    return cm_main("unit", tests);
}
