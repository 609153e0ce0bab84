/* test_maps: page states that do not cost a memory map each.  Under mpirun:
 *   test_maps cyclic      a GALLOCY_CYCLIC allocation of the whole collective region, written
 *                         and read by every rank (every other page is another rank's)
 *   test_maps scattered   rank 0 caches the pages a GALLOCY_CYCLIC allocation of the whole
 *                         region homes on the last rank, in random order: with 2 ranks, every
 *                         other page (GALLOCY_COALLOC_SIZE=2G caches 1 GiB)
 * The process's memory maps are counted from /proc/self/maps before and after.  Under
 * GALLOCY_FAULTS=uffd they must hardly change; under mprotect, each separately protected run
 * is a map, and the job must still finish (shedding clean copies) with the right data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "suites.h"

static size_t region;

static long maps_count(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    long n = 0;
    int c;
    if (!f)
        return -1;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static long max_map_count(void)
{
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    long v = 65530;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = 65530;
        fclose(f);
    }
    return v;
}

static int uffd(void)
{
    return strcmp(gallocy_faults(), "uffd") == 0;
}

static void report(const char *what, long before, long after, const gallocy_stats_t *a,
                   const gallocy_stats_t *b)
{
    printf("rank %d: %s: memory maps %ld -> %ld, read faults %lu, protection changes %lu, "
           "invalidations %lu (%s)\n", me, what, before, after,
           (unsigned long)(b->read_faults - a->read_faults),
           (unsigned long)(b->protection_changes - a->protection_changes),
           (unsigned long)(b->invalidations - a->invalidations), gallocy_faults());
    fflush(stdout);
}

static uint64_t word(size_t page, int writer)
{
    return (uint64_t)page * 1000003u + (uint64_t)writer * 7 + 1;
}

/* Every rank writes one word of its own into every page (a remote page is fetched and
 * twinned, its own is plain memory); after the barrier, every rank reads every word. */
static void test_cyclic_whole_region(void)
{
    CM_SKIP_UNLESS(nranks >= 2 && nranks <= 512, "needs 2 to 512 ranks");
    long before = maps_count();
    gallocy_stats_t a, b;
    gallocy_stats(&a);
    uint64_t *p = gallocy_coalloc(region, GALLOCY_CYCLIC);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    size_t pages = region / 4096, per = 4096 / sizeof *p;
    for (size_t i = 0; i < pages; i++)
        p[i * per + (size_t)me] = word(i, me);
    gallocy_barrier();
    int ok = 1;
    for (size_t i = 0; i < pages; i++) {
        ok &= gallocy_home(&p[i * per]) == (int)(i % (size_t)nranks);
        for (int r = 0; r < nranks; r++)
            ok &= p[i * per + (size_t)r] == word(i, r);
    }
    long after = maps_count();
    gallocy_stats(&b);
    report("cyclic, whole region", before, after, &a, &b);
    CU_ASSERT(all_true(ok));
    if (uffd())
        CU_ASSERT(after - before < 64);
    gallocy_barrier();
    gallocy_cofree(p);
}

/* Rank 0 reads every page a CYCLIC allocation homes on the last rank, in random order (with 2
 * ranks, every other page: read-ahead cannot join them), then reads them all again.  Under
 * uffd every copy is kept (the second pass fetches nothing); under mprotect each copy is a
 * memory map, they outgrow vm.max_map_count and are shed, and the data stays right. */
static void test_scattered_cache(void)
{
    CM_SKIP_UNLESS(nranks >= 2, "needs 2 ranks");
    int home = nranks - 1;
    uint64_t *p = gallocy_coalloc(region, GALLOCY_CYCLIC);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    size_t pages = region / 4096, per = 4096 / sizeof *p, n = pages / (size_t)nranks;
    if (me == home)
        for (size_t k = 0; k < n; k++)
            p[(k * (size_t)nranks + (size_t)home) * per] =
                word(k * (size_t)nranks + (size_t)home, home);
    gallocy_barrier();
    int ok = 1;
    if (me == 0) {
        size_t *order = malloc(n * sizeof *order);
        for (size_t k = 0; k < n; k++)
            order[k] = k * (size_t)nranks + (size_t)home;
        srand(12345);
        for (size_t k = n - 1; k > 0; k--) {
            size_t j = (size_t)rand() % (k + 1), t = order[k];
            order[k] = order[j];
            order[j] = t;
        }
        long before = maps_count();
        gallocy_stats_t a, b, c;
        gallocy_stats(&a);
        for (size_t k = 0; k < n; k++)
            ok &= p[order[k] * per] == word(order[k], home);
        long after = maps_count();
        gallocy_stats(&b);
        report("scattered, first pass", before, after, &a, &b);
        for (size_t k = 0; k < n; k++)
            ok &= p[order[k] * per] == word(order[k], home);
        gallocy_stats(&c);
        report("scattered, second pass", after, maps_count(), &b, &c);
        if (uffd()) {
            CU_ASSERT(after - before < 64);
            CU_ASSERT_EQUAL(c.read_faults - b.read_faults, 0); /* all n copies were kept */
            CU_ASSERT(b.read_faults - a.read_faults <= n);
        } else if ((long)n > max_map_count()) {
            /* More copies than the process may have maps: it lived by shedding some. */
            CU_ASSERT(b.invalidations - a.invalidations > 0);
            CU_ASSERT(c.read_faults - b.read_faults > 0);
        }
        free(order);
    }
    CU_ASSERT(all_true(ok));
    gallocy_barrier();
    gallocy_cofree(p);
}

int main(int argc, char **argv)
{
    harness_mpi_init(&argc, &argv);
    harness_gallocy_init();
    /* The region is the whole collective area: its size as gallocy read it (the same table
     * and parser, linked in). */
    char err[256];
    if (opt_load(err, sizeof err) != 0) {
        fprintf(stderr, "test_maps: %s\n0 passed, 1 failed\n", err);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    region = opt.coalloc_size;
    static const struct cm_test cyclic[] = {
        {"a CYCLIC allocation of the whole collective region, every rank writes and reads",
         test_cyclic_whole_region},
        {NULL, NULL}};
    static const struct cm_test scattered[] = {
        {"one rank caches the pages of one home, scattered, in random order",
         test_scattered_cache},
        {NULL, NULL}};
    const char *which = argc > 1 ? argv[1] : "cyclic";
    if (!strcmp(which, "scattered"))
        CM_ADD_SUITE("maps", scattered);
    else
        CM_ADD_SUITE("maps", cyclic);
    return harness_run_and_finish();
}
