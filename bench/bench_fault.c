/* bench_fault: the DSM's fault path, against its bare parts measured in the same run.
 *
 *   mpirun -np 2 bench/bench_fault [--csv] [--reps N] [--scale X] [--only TABLE]
 *
 * Rank 0 touches an array homed on rank 1 (16 MiB at --scale 1), cold: its cache is dropped
 * (gallocy_acquire) before every run.  Tables:
 *   read_fault  one byte read per page, per page: with no prefetch (GALLOCY_PREFETCH=1) and
 *               with the prefetch in effect; baseline: one bare protection fault (SIGSEGV
 *               and mprotect on private memory) plus one raw 4 KiB get (raw.h)
 *   seq_read    reading the whole array (every word), MB/s, both prefetch settings; baseline:
 *               raw 4 KiB gets of the same bytes, each flushed (what a page-at-a-time
 *               DSM with free faults would move)
 *   write_fault one byte written per page and gallocy_release, per page, both prefetch
 *               settings (prefetch 1 turns write-ahead off: a fault a page); baseline: two
 *               bare faults (read then write) plus one raw 4 KiB put
 *   memset_bw   memset of the array and gallocy_barrier, MB/s; baseline: one raw put of the
 *               array, completed, and MPI_Barrier
 *   prepare     gallocy_prepare of the cold array (whole, and a page per call, for reading;
 *               whole for writing, then a release), per page; baseline as read_fault
 *   fault_ways  the prefetch-1 read and write faults under each GALLOCY_FAULTS way the
 *               machine allows (uffd, sigbus, mprotect), same baselines; and the uffd way's
 *               read fault against its own floor (fault_ways_uffd): a bare userfaultfd fault
 *               (raw_uffd.h) plus one raw 4 KiB get
 *   random_access  every rank: random read-modify-writes of 8-byte words with plain loads
 *               and stores over a CYCLIC array of the same size, then gallocy_barrier,
 *               updates/s per rank, by way; baseline: the same loop over private memory
 *   fault_threads  read faults (no prefetch) on distinct pages from 1 and 2 threads of rank 0
 *               at once, pinned to cores 0 and 1, pages/s; baseline: perfect scaling of the
 *               1-thread rate
 *   sticky_sharing, teardown: see bench/README.md
 * When the ranks share a node, gallocy copies rank 1's pages from its memory (node.c); the
 * tables then also give the transport's path (GALLOCY_NODE_SHARED=0), rows "... (transport)",
 * and the notes the share of pages each path copied.  The settings are read at gallocy_init,
 * so each is measured after re-initialising gallocy in the same process. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "raw.h"
#include "raw_uffd.h"

enum { PAGE = 4096 };

static size_t pages, bytes;
static char *arr; /* homed on rank 1 */
static char *local;

struct figures {
    double read_fault, seq_read, write_fault, memset_bw; /* us/page, MB/s, us/page, MB/s */
    double faults_per_page, mprotects_per_page;
    double on_node; /* share of the fetched pages copied from the home's memory */
};

static void setup(void)
{
    arr = gallocy_coalloc(bytes, 1);
    if (!arr) {
        fprintf(stderr, "bench_fault: rank %d: gallocy_coalloc(%zu) failed\n", bench_me, bytes);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (bench_me == 1)
        memset(arr, 1, bytes); /* home pages exist before anyone fetches them */
    gallocy_barrier();
}

static double per_page_read(void)
{
    gallocy_acquire(); /* cold */
    volatile char sink = 0;
    double t0 = bench_now();
    for (size_t i = 0; i < pages; i++)
        sink += ((volatile char *)arr)[i * PAGE];
    (void)sink;
    return (bench_now() - t0) / (double)pages * 1e6;
}

static double seq_read_mbs(void)
{
    gallocy_acquire();
    const uint64_t *w = (const uint64_t *)arr;
    uint64_t sum = 0;
    double t0 = bench_now();
    for (size_t i = 0; i < bytes / 8; i++)
        sum += w[i];
    double t = bench_now() - t0;
    if (sum != bytes / 8 * 0x0101010101010101ull) {
        fprintf(stderr, "bench_fault: read wrong data from rank 1's array\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return (double)bytes / t / 1e6;
}

static double per_page_write(void)
{
    gallocy_acquire();
    double t0 = bench_now();
    for (size_t i = 0; i < pages; i++)
        arr[i * PAGE] = 1; /* the value it has: the diff sends nothing, the faults are all */
    gallocy_release();
    return (bench_now() - t0) / (double)pages * 1e6;
}

/* Rank 0's gallocy figures, medians of reps, with the prefetch gallocy was started with. */
static void measure(struct figures *f)
{
    double a[32], b[32], c[32], d[32];
    gallocy_stats_t s0, s1;
    setup();
    if (bench_me == 0) {
        gallocy_stats(&s0);
        for (int k = 0; k < bench_reps; k++)
            a[k] = per_page_read();
        gallocy_stats(&s1);
        double touched = (double)(pages * (size_t)bench_reps);
        f->faults_per_page = (double)(s1.read_faults - s0.read_faults) / touched;
        f->mprotects_per_page = (double)(s1.protection_changes - s0.protection_changes) / touched;
        f->on_node = (double)(s1.pages_fetched_on_node - s0.pages_fetched_on_node) /
                     (double)(s1.pages_fetched - s0.pages_fetched);
        for (int k = 0; k < bench_reps; k++)
            b[k] = seq_read_mbs();
        for (int k = 0; k < bench_reps; k++)
            c[k] = per_page_write();
        f->read_fault = bench_median(a, bench_reps);
        f->seq_read = bench_median(b, bench_reps);
        f->write_fault = bench_median(c, bench_reps);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    for (int k = 0; k < bench_reps; k++) {
        gallocy_acquire();
        double t0 = bench_now();
        if (bench_me == 0)
            memset(arr, 1, bytes);
        gallocy_barrier();
        d[k] = (double)bytes / (bench_now() - t0) / 1e6;
    }
    f->memset_bw = bench_median(d, bench_reps);
    gallocy_cofree(arr);
}

struct baselines {
    double bare_fault, get4k, put4k, seq_get_mbs, put_all_mbs; /* us, us, us, MB/s, MB/s */
    double bare_uffd_fault; /* us; negative (an errno) where userfaultfd is not allowed */
};

static void measure_baselines(struct baselines *b)
{
    double f[32], u[32], g[32], p[32], s[32], m[32];
    for (int k = 0; k < bench_reps; k++) {
        if (bench_me == 0) {
            f[k] = raw_bare_fault(pages) * 1e6;
            /* only for the table that uses it: each costs a fault a page */
            u[k] = bench_wanted("fault_ways") ? raw_bare_uffd_fault(pages) : -1;
            u[k] = u[k] < 0 ? u[k] : u[k] * 1e6;
            double t0 = bench_now();
            for (size_t i = 0; i < pages; i++)
                raw_get(local + i * PAGE, 1, i * PAGE, PAGE);
            double t = bench_now() - t0;
            g[k] = t / (double)pages * 1e6;
            s[k] = (double)bytes / t / 1e6;
            t0 = bench_now();
            for (size_t i = 0; i < pages; i++)
                raw_put(1, i * PAGE, local + i * PAGE, PAGE);
            p[k] = (bench_now() - t0) / (double)pages * 1e6;
        }
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = bench_now();
        if (bench_me == 0)
            raw_put(1, 0, local, bytes);
        MPI_Barrier(MPI_COMM_WORLD);
        m[k] = (double)bytes / (bench_now() - t0) / 1e6;
    }
    if (bench_me == 0) {
        b->bare_fault = bench_median(f, bench_reps);
        b->bare_uffd_fault = bench_median(u, bench_reps);
        b->get4k = bench_median(g, bench_reps);
        b->put4k = bench_median(p, bench_reps);
        b->seq_get_mbs = bench_median(s, bench_reps);
    }
    b->put_all_mbs = bench_median(m, bench_reps);
}

static void reinit(const char *prefetch, const char *node_shared)
{
    bench_restart("GALLOCY_PREFETCH", prefetch, "GALLOCY_NODE_SHARED", node_shared);
}

/* The rows of the read_fault, seq_read and write_fault tables for one path. */
static void rows(const char *path, int prefetch, const struct figures *with,
                 const struct figures *without, const struct baselines *base)
{
    char p1[48], pn[48];
    const char *env_max = getenv("GALLOCY_PREFETCH_MAX");
    int most = env_max ? atoi(env_max) : 64;
    snprintf(p1, sizeof p1, "prefetch 1%s", path);
    if (most > prefetch) /* read-ahead grows the window on sequential faults */
        snprintf(pn, sizeof pn, "prefetch %d to %d%s", prefetch, most, path);
    else
        snprintf(pn, sizeof pn, "prefetch %d%s", prefetch, path);
    if (bench_wanted("read_fault")) {
        bench_table("read_fault", "remote read fault per page (one byte per page, cold)",
                    "Setting", "us", "bare fault+4K get", 0);
        bench_row(p1, without->read_fault, base->bare_fault + base->get4k);
        bench_row(pn, with->read_fault, base->bare_fault + base->get4k);
        bench_note("bare fault %.2f us, raw 4 KiB get %.2f us; faults per page %.3f and %.3f, "
                   "mprotect calls per page %.3f and %.3f; pages copied on the node %.0f%% and "
                   "%.0f%%", base->bare_fault, base->get4k, without->faults_per_page,
                   with->faults_per_page, without->mprotects_per_page, with->mprotects_per_page,
                   without->on_node * 100, with->on_node * 100);
    }
    if (bench_wanted("seq_read")) {
        char title[96];
        snprintf(title, sizeof title, "sequential cold read of a %zu MiB array homed on rank 1",
                 bytes >> 20);
        bench_table("seq_read", title, "Setting", "MB/s", raw_label(RAW_GETS_4K), 1);
        bench_row(p1, without->seq_read, base->seq_get_mbs);
        bench_row(pn, with->seq_read, base->seq_get_mbs);
        bench_note("%s reads %.2fx faster than prefetch 1", pn, with->seq_read / without->seq_read);
    }
    if (bench_wanted("write_fault")) {
        bench_table("write_fault", "write fault and release per page (one byte per page, cold)",
                    "Setting", "us", "2 bare faults+4K put", 0);
        bench_row(p1, without->write_fault, 2 * base->bare_fault + base->put4k);
        bench_row(pn, with->write_fault, 2 * base->bare_fault + base->put4k);
        bench_note("raw 4 KiB put %.2f us", base->put4k);
    }
}

/* --- the ways of catching faults (GALLOCY_FAULTS), random access, gallocy_prepare --- */

static const char *const ways[] = {"uffd", "sigbus", "mprotect"};
enum { WAY_UFFD = 0, NWAYS = 3 }; /* ways[WAY_UFFD] is "uffd" */
struct way_figures {
    int ran;                /* the way is available here */
    double read, write;     /* us per page, prefetch 1 */
    double gups, gups_base; /* updates per second per rank, gallocy and private memory */
};

/* Random read-modify-writes of 64-bit words, plain loads and stores, then a barrier:
 * updates per second of this rank.  t is global memory (CYCLIC) or private (baseline). */
static double random_updates(uint64_t *t, size_t words, long updates, int global)
{
    uint64_t x = 88172645463325252ull ^ (uint64_t)(bench_me + 1) * 0x9e3779b97f4a7c15ull;
    if (global)
        gallocy_acquire(); /* cold */
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = bench_now();
    for (long u = 0; u < updates; u++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t[x % words] += x;
    }
    if (global)
        gallocy_barrier();
    else
        MPI_Barrier(MPI_COMM_WORLD);
    return (double)updates / (bench_now() - t0);
}

static void measure_way(struct way_figures *w)
{
    double a[32], b[32], g[32], h[32];
    setup();
    if (bench_me == 0)
        for (int k = 0; k < bench_reps; k++) {
            a[k] = per_page_read();
            b[k] = per_page_write();
        }
    gallocy_cofree(arr);
    MPI_Barrier(MPI_COMM_WORLD);
    size_t words = bytes / 8;
    long updates = (long)pages * 4;
    uint64_t *t = gallocy_coalloc(bytes, GALLOCY_CYCLIC), *priv = calloc(words, 8);
    for (int k = 0; k < bench_reps; k++) {
        g[k] = random_updates(t, words, updates, 1);
        h[k] = random_updates(priv, words, updates, 0);
    }
    gallocy_cofree(t);
    free(priv);
    w->ran = 1;
    if (bench_me == 0) {
        w->read = bench_median(a, bench_reps);
        w->write = bench_median(b, bench_reps);
    }
    w->gups = bench_median(g, bench_reps);
    w->gups_base = bench_median(h, bench_reps);
}

/* The ways, on the path given by GALLOCY_NODE_SHARED (shared: "1" or "0"). */
static void measure_ways(struct way_figures *w, const char *shared)
{
    setenv("GALLOCY_PREFETCH", "1", 1);
    setenv("GALLOCY_NODE_SHARED", shared, 1);
    for (int i = 0; i < NWAYS; i++) {
        w[i].ran = 0;
        if (bench_try_setting("GALLOCY_FAULTS", ways[i]) == 0)
            measure_way(&w[i]);
    }
    unsetenv("GALLOCY_FAULTS");
}

static void way_rows(const struct way_figures *w, const char *path, const struct baselines *b)
{
    char row[96];
    if (bench_wanted("fault_ways")) {
        bench_table("fault_ways", "read fault, and write fault + release, per page, by the way "
                    "faults are caught (GALLOCY_FAULTS; prefetch 1)", "Way", "us",
                    "bare fault+4K get (write: 2 bare faults+4K put)", 0);
        for (int i = 0; i < NWAYS; i++) {
            if (!w[i].ran) {
                bench_note("%s: not available here, skipped", ways[i]);
                continue;
            }
            snprintf(row, sizeof row, "%s read%s", ways[i], path);
            bench_row(row, w[i].read, b->bare_fault + b->get4k);
            snprintf(row, sizeof row, "%s write%s", ways[i], path);
            bench_row(row, w[i].write, 2 * b->bare_fault + b->put4k);
        }
        /* The uffd way's faults pass through the kernel's hand-off to a fault server and
         * back, which a signal's round trip does not: its floor is a bare uffd fault. */
        if (w[WAY_UFFD].ran && b->bare_uffd_fault > 0) {
            bench_table("fault_ways_uffd", "the uffd way's read fault (prefetch 1) against its "
                        "own floor: a bare userfaultfd fault served by a thread", "Way", "us",
                        "bare uffd fault+4K get", 0);
            snprintf(row, sizeof row, "uffd read%s", path);
            bench_row(row, w[WAY_UFFD].read, b->bare_uffd_fault + b->get4k);
            bench_note("bare uffd fault %.2f us, bare SIGSEGV fault %.2f us (%.2fx), raw 4 KiB "
                       "get %.2f us", b->bare_uffd_fault, b->bare_fault,
                       b->bare_uffd_fault / b->bare_fault, b->get4k);
        } else if (w[WAY_UFFD].ran) {
            bench_note("fault_ways_uffd: skipped: the bare uffd fault is not allowed here");
        }
    }
    if (bench_wanted("random_access")) {
        char title[160];
        snprintf(title, sizeof title, "random 8-byte read-modify-writes (plain loads and "
                 "stores) over a %zu MiB CYCLIC array, then gallocy_barrier; per rank",
                 bytes >> 20);
        bench_table("random_access", title, "Way", "Mupd/s", "the same over private memory", 1);
        for (int i = 0; i < NWAYS; i++)
            if (w[i].ran) {
                snprintf(row, sizeof row, "%s%s", ways[i], path);
                bench_row(row, w[i].gups / 1e6, w[i].gups_base / 1e6);
            }
        bench_note("%ld updates per rank and run, on %zu pages (homes alternate page by page)",
                   (long)pages * 4, pages);
    }
}

/* gallocy_prepare of the cold array: the whole at once, and a page per call; per page. */
static void measure_prepare(double *whole, double *single, double *whole_write)
{
    double a[32], b[32], c[32];
    setup();
    if (bench_me == 0)
        for (int k = 0; k < bench_reps; k++) {
            gallocy_acquire();
            double t0 = bench_now();
            gallocy_prepare(arr, bytes, GALLOCY_READ);
            a[k] = (bench_now() - t0) / (double)pages * 1e6;
            gallocy_acquire();
            t0 = bench_now();
            for (size_t i = 0; i < pages; i++)
                gallocy_prepare(arr + i * PAGE, PAGE, GALLOCY_READ);
            b[k] = (bench_now() - t0) / (double)pages * 1e6;
            gallocy_acquire();
            t0 = bench_now();
            gallocy_prepare(arr, bytes, GALLOCY_WRITE);
            gallocy_release();
            c[k] = (bench_now() - t0) / (double)pages * 1e6;
        }
    gallocy_cofree(arr);
    if (bench_me == 0) {
        *whole = bench_median(a, bench_reps);
        *single = bench_median(b, bench_reps);
        *whole_write = bench_median(c, bench_reps);
    }
}

/* Read faults from several threads at once, each on its own pages (a fault a page: the run
 * uses GALLOCY_PREFETCH=1), thread t pinned to core t: whether faults on different pages
 * proceed in parallel. */
struct fault_job {
    volatile char *pages;
    size_t n;
    int core;
    pthread_barrier_t *start;
    double seconds;
};

static void *fault_thread(void *arg)
{
    struct fault_job *j = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(j->core, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort */
    pthread_barrier_wait(j->start);
    double t0 = bench_now();
    char sink = 0;
    for (size_t i = 0; i < j->n; i++)
        sink += j->pages[i * PAGE];
    j->seconds = bench_now() - t0;
    (void)sink;
    return NULL;
}

/* Pages a second, all threads together, for nthreads threads over n pages each. */
static double faults_at_once(char *a, size_t n, int nthreads)
{
    pthread_t th[2];
    struct fault_job jobs[2];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)nthreads);
    for (int t = 0; t < nthreads; t++) {
        jobs[t] = (struct fault_job){a + (size_t)t * n * PAGE, n, t, &start, 0};
        pthread_create(&th[t], NULL, fault_thread, &jobs[t]);
    }
    double slowest = 0;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(th[t], NULL);
        slowest = jobs[t].seconds > slowest ? jobs[t].seconds : slowest;
    }
    pthread_barrier_destroy(&start);
    return (double)n * nthreads / slowest;
}

static void fault_threads(void)
{
    size_t n = pages / 2 ? pages / 2 : 1;
    double r[2][32];
    for (int k = 0; k < bench_reps; k++)
        for (int t = 1; t <= 2; t++) {
            char *a = gallocy_coalloc(2 * n * PAGE, 1); /* cold: a fresh array each run */
            if (!a) {
                fprintf(stderr, "bench_fault: rank %d: gallocy_coalloc failed\n", bench_me);
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            if (bench_me == 1)
                memset(a, 1, 2 * n * PAGE);
            gallocy_barrier();
            if (bench_me == 0)
                r[t - 1][k] = faults_at_once(a, n, t);
            bench_idle_barrier(); /* rank 1 leaves the cores to rank 0's threads */
            gallocy_cofree(a);
        }
    bench_table("fault_threads", "read faults on distinct pages homed on rank 1 from threads "
                "of rank 0 at once (GALLOCY_PREFETCH=1), all threads together", "Threads",
                "pages/s", "the 1-thread rate times the threads", 1);
    double one = bench_median(r[0], bench_reps);
    bench_row("1", one, one);
    bench_row("2", bench_median(r[1], bench_reps), 2 * one);
    bench_note("GALLOCY_FAULTS=%s; %zu pages per thread; rank 0 runs on cores 0 and 1, its "
               "threads pinned one to each", gallocy_faults(), n);
}

/* Sharing that ends: rank 0 stores into every cache line of an array it homes, then
 * gallocy_barrier, epoch after epoch; rank 1 reads the whole array once in between.  Rank 0's
 * time an epoch: before the read, in the 3 epochs after it (the pages are shared, faulted and
 * noticed until the home sees that nobody reads them again), and from the 4th on.  Baseline:
 * the same stores into private memory, then MPI_Barrier. */
enum { STICKY_BEFORE = 8, STICKY_AFTER = 24, STICKY_SETTLE = 3 };

static double sweep_epoch(char *a, size_t n, int global)
{
    double t0 = bench_now();
    if (bench_me == 0)
        for (size_t i = 0; i < n; i += 64)
            a[i] = (char)(a[i] + 1);
    if (global)
        gallocy_barrier();
    else
        MPI_Barrier(MPI_COMM_WORLD);
    return bench_now() - t0;
}

static void sticky_sharing(void)
{
    size_t n = ((size_t)bench_iters(4096) * PAGE);
    double before[32], soon[32], later[32], base[32];
    for (int k = 0; k < bench_reps; k++) {
        char *a = gallocy_coalloc(n, 0), *priv = malloc(n);
        if (!a || !priv) {
            fprintf(stderr, "bench_fault: rank %d: no memory for sticky_sharing\n", bench_me);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        memset(priv, 0, n);
        double e[STICKY_AFTER], b[STICKY_BEFORE];
        for (int i = 0; i < STICKY_BEFORE; i++) {
            b[i] = sweep_epoch(priv, n, 0);
            e[i] = sweep_epoch(a, n, 1);
        }
        base[k] = bench_median(b + 2, STICKY_BEFORE - 2) * 1e6;
        before[k] = bench_median(e + 2, STICKY_BEFORE - 2) * 1e6; /* past the first touches */
        if (bench_me == 1) {
            volatile char sink = 0;
            for (size_t off = 0; off < n; off += PAGE)
                sink += a[off];
            (void)sink;
        }
        gallocy_barrier();
        for (int i = 0; i < STICKY_AFTER; i++)
            e[i] = sweep_epoch(a, n, 1);
        soon[k] = bench_median(e, STICKY_SETTLE) * 1e6;
        later[k] = bench_median(e + STICKY_SETTLE, STICKY_AFTER - STICKY_SETTLE) * 1e6;
        gallocy_cofree(a);
        free(priv);
    }
    bench_table("sticky_sharing", "rank 0 stores into every line of an array it homes, then "
                "gallocy_barrier; rank 1 reads the whole array once between the first two rows",
                "Epochs", "us", "the same stores into private memory then MPI_Barrier", 0);
    double bl = bench_median(base, bench_reps);
    char label[48];
    snprintf(label, sizeof label, "before the read (%zu KiB)", n >> 10);
    bench_row(label, bench_median(before, bench_reps), bl);
    bench_row("1-3 after it", bench_median(soon, bench_reps), bl);
    snprintf(label, sizeof label, "4-%d after it", STICKY_AFTER);
    bench_row(label, bench_median(later, bench_reps), bl);
}

/* What a job leaves to tear down: each rank homes half of a coalloc array and caches the other
 * half (it read every page), then gallocy_finalize, the slowest rank's time.  Baseline: the
 * same bytes of touched private memory per rank (malloc, memset), then free.  The process's
 * exit after either, and the next job's start, are measured outside (bench/README.md). */
static void teardown(void)
{
    size_t half = (size_t)bench_iters(256) << 20, all = 2 * half;
    double g[32], b[32];
    for (int k = 0; k < bench_reps; k++) {
        char *m = malloc(all);
        if (!m) {
            fprintf(stderr, "bench_fault: rank %d: out of memory\n", bench_me);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        memset(m, 1, all);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = bench_now();
        free(m);
        double t = bench_now() - t0;
        MPI_Allreduce(&t, &b[k], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        char *p = gallocy_coalloc(all, GALLOCY_BLOCKED);
        if (!p) {
            fprintf(stderr, "bench_fault: rank %d: gallocy_coalloc of %zu bytes failed\n",
                    bench_me, all);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        size_t mine = (size_t)gallocy_rank() * (all / (size_t)gallocy_nranks());
        memset(p + mine, 1, all / (size_t)gallocy_nranks());
        gallocy_barrier();
        volatile char sink = 0;
        for (size_t off = 0; off < all; off += PAGE)
            sink += p[off];
        (void)sink;
        gallocy_barrier();
        g[k] = bench_time_finalize(); /* frees p */
    }
    char param[32];
    snprintf(param, sizeof param, "%zu MiB", all >> 20);
    bench_table("teardown", "gallocy_finalize after each rank homed its share of a coalloc "
                "array and cached the rest (the slowest rank)", "Memory", "ms",
                "free of the same bytes of touched private memory", 0);
    bench_row(param, bench_median(g, bench_reps) * 1e3, bench_median(b, bench_reps) * 1e3);
}

int main(int argc, char **argv)
{
    bench_start(&argc, &argv, "bench_fault",
                "  tables: read_fault seq_read write_fault memset_bw prepare fault_ways "
                "random_access fault_threads sticky_sharing teardown\n");
    pages = (size_t)bench_iters(4096);
    bytes = pages * PAGE;
    local = malloc(bytes);
    if (!local) {
        fprintf(stderr, "bench_fault: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    memset(local, 1, bytes);
    raw_open(bytes);
    memset(raw_base(), 1, bytes);
    MPI_Barrier(MPI_COMM_WORLD);

    const char *env = getenv("GALLOCY_PREFETCH"), *shared_env = getenv("GALLOCY_NODE_SHARED");
    int prefetch = env ? atoi(env) : 8;
    char pn[16];
    snprintf(pn, sizeof pn, "%d", prefetch);
    const char *shared = shared_env ? shared_env : "1";
    struct baselines base = {0};
    struct figures with = {0}, without = {0}, tp_with = {0}, tp_without = {0};
    measure_baselines(&base);
    measure(&with);
    reinit("1", shared);
    measure(&without);
    int both = bench_node_copies(); /* then the transport's path too */
    if (both) {
        reinit(pn, "0");
        measure(&tp_with);
        reinit("1", "0");
        measure(&tp_without);
    }
    double prep_whole = 0, prep_single = 0, prep_write = 0;
    const char *default_way = gallocy_faults();
    if (bench_wanted("prepare"))
        measure_prepare(&prep_whole, &prep_single, &prep_write);
    struct way_figures w[NWAYS], wt[NWAYS];
    int ways_wanted = bench_wanted("fault_ways") || bench_wanted("random_access");
    if (ways_wanted) {
        measure_ways(w, shared);
        if (both)
            measure_ways(wt, "0");
    }
    rows("", prefetch, &with, &without, &base);
    if (both)
        rows(" (transport)", prefetch, &tp_with, &tp_without, &base);
    if (bench_wanted("memset_bw")) {
        char param[32];
        snprintf(param, sizeof param, "%zu", bytes);
        bench_table("memset_bw", "memset of an array homed on rank 1, then gallocy_barrier",
                    "Size", "MB/s", raw_label(RAW_PUT_BARRIER), 1);
        bench_row(param, with.memset_bw, base.put_all_mbs);
    }
    if (ways_wanted) {
        way_rows(w, "", &base);
        if (both)
            way_rows(wt, " (transport)", &base);
    }
    if (bench_wanted("prepare")) {
        bench_table("prepare", "gallocy_prepare of a cold array homed on rank 1, per page",
                    "Call", "us", "bare fault+4K get", 0);
        double bound = base.bare_fault + base.get4k;
        bench_row("READ: whole array", prep_whole, bound);
        bench_row("READ: a page a call", prep_single, bound);
        bench_row("WRITE + release: whole array", prep_write, bound);
        bench_note("GALLOCY_FAULTS=%s; a prepare fetches each run of pages of one home with one "
                   "transfer and one protection change", default_way);
    }
    if (bench_wanted("fault_threads")) {
        /* Rank 0's threads run on cores 0 and 1: the rank is given both, as a hybrid job's
         * rank is given the cores of its threads, before gallocy starts its own threads
         * (under uffd, a fault server per core of the rank). */
        cpu_set_t bound, two;
        sched_getaffinity(0, sizeof bound, &bound);
        CPU_ZERO(&two);
        CPU_SET(0, &two);
        CPU_SET(1, &two);
        if (bench_me == 0)
            sched_setaffinity(0, sizeof two, &two); /* best effort */
        reinit("1", shared); /* a fault a page */
        fault_threads(); /* collective */
        if (bench_me == 0)
            sched_setaffinity(0, sizeof bound, &bound);
    }
    if (bench_wanted("sticky_sharing")) {
        reinit(pn, shared); /* the run's own settings (the tables above changed them) */
        sticky_sharing(); /* collective */
    }
    if (bench_wanted("teardown"))
        teardown(); /* collective; last: it finalizes and initialises again */
    raw_close();
    free(local);
    bench_stop();
    return 0;
}
