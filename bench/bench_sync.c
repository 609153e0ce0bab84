/* bench_sync: synchronisation: barriers and locks, against MPI in the same run.
 *
 *   mpirun -np 2 bench/bench_sync [--csv] [--reps N] [--scale X] [--only TABLE]
 *
 * Tables:
 *   barrier   gallocy_barrier with an empty cache, and with CACHED MiB of clean cached
 *             pages on rank 0 (GALLOCY_BENCH_CACHED_MIB, default 1024: rank 0 has read that
 *             much of an array homed on rank 1), against MPI_Barrier; the last row puts the
 *             cached barrier against the empty one.  A barrier should cost what is dirty or
 *             stale, not what is cached.  Rank 0 reads the array, two barriers let rank 1
 *             learn that it is cached (notice.c), rank 0 reads it again: the steady state of
 *             an iterative code.  The note gives the cost of the first barrier after the
 *             first read, and the pages a read after the timed barriers fetched again (0:
 *             every timed barrier kept the whole array).
 *   lock      gallocy_lock + gallocy_unlock, uncontended with the lock homed on rank 0
 *             (local) and on rank 1 (remote), against one raw fetch-and-add (raw.h) to
 *             the same rank; and contended: both ranks take a lock homed on rank 0
 *             in turn, per lock taken, against a raw atomic to rank 0 made while rank 1 makes
 *             them too.
 *   busy_target gallocy_atomic_fetch_add on a word homed on rank 1 while rank 1 computes and
 *             makes no call (its service thread drives the progress the atomic needs):
 *             the first after 100 ms in which neither rank made a call (both service
 *             threads have backed off to GALLOCY_PROGRESS_IDLE_US), then each of a burst;
 *             against the same atomic while rank 1 waits in MPI_Barrier, driving progress
 *             itself.  The note gives an idle rank's CPU use, the price of that service.
 * GALLOCY_COALLOC_SIZE is raised to fit the cached array when it is unset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common.h"
#include "raw.h"

enum { PAGE = 4096 };

static size_t mib; /* GALLOCY_BENCH_CACHED_MIB */

static void read_pages(const char *arr, size_t bytes)
{
    volatile char sink = 0;
    for (size_t i = 0; i < bytes; i += PAGE)
        sink += ((volatile const char *)arr)[i];
    (void)sink;
}

static void barriers(void)
{
    size_t bytes = mib << 20;
    char *arr = gallocy_coalloc(bytes, 1);
    if (!arr) {
        fprintf(stderr, "bench_sync: rank %d: gallocy_coalloc(%zu MiB) failed: raise "
                "GALLOCY_COALLOC_SIZE or lower GALLOCY_BENCH_CACHED_MIB\n", bench_me, mib);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (bench_me == 1)
        memset(arr, 1, bytes);
    gallocy_barrier();
    long n = bench_iters(1000);
    double empty[32], mpi[32], cached[32];
    for (int k = 0; k < bench_reps; k++) {
        double t0 = bench_now();
        for (long i = 0; i < n; i++)
            gallocy_barrier();
        double t1 = bench_now();
        for (long i = 0; i < n; i++)
            MPI_Barrier(MPI_COMM_WORLD);
        double t2 = bench_now();
        empty[k] = (t1 - t0) / (double)n * 1e6;
        mpi[k] = (t2 - t1) / (double)n * 1e6;
    }
    /* Rank 0 caches the array.  The first barrier after its first read tells rank 1 that
     * rank 0 caches it; the second tells rank 0 that rank 1 write-protects it; a copy read
     * after that is kept across barriers while nobody writes it. */
    if (bench_me == 0)
        read_pages(arr, bytes);
    MPI_Barrier(MPI_COMM_WORLD);
    double first = bench_now();
    gallocy_barrier();
    first = (bench_now() - first) * 1e6;
    gallocy_barrier();
    if (bench_me == 0)
        read_pages(arr, bytes);
    gallocy_barrier();
    gallocy_stats_t before, after;
    gallocy_stats(&before);
    for (int k = 0; k < bench_reps; k++) {
        double t0 = bench_now();
        for (long i = 0; i < n; i++)
            gallocy_barrier();
        cached[k] = (bench_now() - t0) / (double)n * 1e6;
    }
    /* Proof that every timed barrier had the array cached: reading it fetches nothing. */
    if (bench_me == 0)
        read_pages(arr, bytes);
    gallocy_stats(&after);
    double e = bench_median(empty, bench_reps), m = bench_median(mpi, bench_reps),
           c = bench_median(cached, bench_reps);
    char param[64];
    bench_table("barrier", "gallocy_barrier latency", "Cache", "us", "MPI_Barrier", 0);
    bench_row("empty", e, m);
    snprintf(param, sizeof param, "%zuMiB", mib);
    bench_row(param, c, m);
    bench_table("barrier_cached", "gallocy_barrier with cached clean pages against an empty "
                "cache", "Cache", "us", "gallocy empty", 0);
    bench_row(param, c, e);
    bench_note("%zu pages cached; fetched again after the timed barriers: %lu; the first "
               "barrier after the first read took %.0f us", bytes / PAGE,
               (unsigned long)(after.pages_fetched - before.pages_fetched), first);
    gallocy_cofree(arr);
}

/* Per lock+unlock pair, us: n pairs on l. */
static double lock_pairs(gallocy_lock_t *l, long n)
{
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        gallocy_lock(l);
        gallocy_unlock(l);
    }
    return (bench_now() - t0) / (double)n * 1e6;
}

static double raw_atomics(int rank, long n)
{
    double t0 = bench_now();
    for (long i = 0; i < n; i++)
        raw_fetch_add(rank, 0, 1);
    return (bench_now() - t0) / (double)n * 1e6;
}

static void locks(void)
{
    gallocy_lock_t *on0 = gallocy_coalloc(PAGE, 0), *on1 = gallocy_coalloc(PAGE, 1);
    if (!on0 || !on1) {
        fprintf(stderr, "bench_sync: rank %d: gallocy_coalloc failed\n", bench_me);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    raw_open(PAGE);
    gallocy_barrier();
    long n = bench_iters(2000);
    double g[3][32], r[3][32];
    for (int k = 0; k < bench_reps; k++) {
        if (bench_me == 0) { /* uncontended: rank 1 waits in MPI_Barrier, driving progress */
            g[0][k] = lock_pairs(on0, n);
            r[0][k] = raw_atomics(0, n);
            g[1][k] = lock_pairs(on1, n);
            r[1][k] = raw_atomics(1, n);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        /* contended: both ranks at once, per pair each rank makes */
        g[2][k] = lock_pairs(on0, n);
        MPI_Barrier(MPI_COMM_WORLD);
        r[2][k] = raw_atomics(0, n);
        MPI_Barrier(MPI_COMM_WORLD);
    }
    bench_table("lock", "gallocy_lock + gallocy_unlock", "Lock", "us", raw_label(RAW_FETCH_ADD),
                0);
    bench_row("local", bench_median(g[0], bench_reps), bench_median(r[0], bench_reps));
    bench_row("remote", bench_median(g[1], bench_reps), bench_median(r[1], bench_reps));
    bench_row("contended", bench_median(g[2], bench_reps), bench_median(r[2], bench_reps));
    raw_close();
    gallocy_cofree(on1);
    gallocy_cofree(on0);
}

/* A critical section that changes data: both ranks at once take a lock homed on rank 0 and
 * add one to a counter on a page homed on rank 1, n times each; per pair, us.  Beside the same
 * loop without the increment, plus two raw fetch-add round trips (what carrying the change
 * with the lock would cost at most): the ratio is the increment's cost over that bound.
 * The count is checked at the end.  path: the row's suffix (the path between nodes too). */
static double locked_adds(gallocy_lock_t *l, uint64_t *counter, long n)
{
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        gallocy_lock(l);
        (*counter)++;
        gallocy_unlock(l);
    }
    return (bench_now() - t0) / (double)n * 1e6;
}

static void lock_increment(const char *path)
{
    gallocy_lock_t *l = gallocy_coalloc(PAGE, 0);
    uint64_t *counter = gallocy_coalloc(PAGE, 1);
    if (!l || !counter) {
        fprintf(stderr, "bench_sync: rank %d: gallocy_coalloc failed\n", bench_me);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    raw_open(PAGE);
    gallocy_barrier();
    long n = bench_iters(1000);
    double inc[32], bare[32], fa[32];
    for (int k = 0; k < bench_reps; k++) {
        MPI_Barrier(MPI_COMM_WORLD);
        inc[k] = locked_adds(l, counter, n);
        MPI_Barrier(MPI_COMM_WORLD);
        bare[k] = lock_pairs(l, n);
        MPI_Barrier(MPI_COMM_WORLD);
        fa[k] = bench_me == 0 ? raw_atomics(1, n) : 0;
        MPI_Barrier(MPI_COMM_WORLD);
    }
    gallocy_barrier();
    uint64_t want = (uint64_t)n * (uint64_t)bench_reps * (uint64_t)bench_nranks;
    if (*counter != want) {
        fprintf(stderr, "bench_sync: rank %d: the locked counter is %llu, not %llu\n", bench_me,
                (unsigned long long)*counter, (unsigned long long)want);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    double g = bench_median(inc, bench_reps), b = bench_median(bare, bench_reps);
    double f = bench_median(fa, bench_reps);
    char label[48];
    snprintf(label, sizeof label, "contended%s", path);
    if (!*path)
        bench_table("lock_increment", "both ranks: gallocy_lock, ++ a counter homed on the "
                    "other rank, gallocy_unlock", "Lock", "us",
                    "lock+unlock alone + 2 raw fetch-adds", 0);
    bench_row(label, g, b + 2 * f);
    bench_note("%s: lock+unlock alone %.2f us, one raw fetch-add %.2f us: the increment costs "
               "%.2f us, %.1f raw fetch-adds", *path ? path + 1 : "node path", b, f, g - b,
               (g - b) / f);
    raw_close();
    gallocy_cofree(counter);
    gallocy_cofree(l);
}

/* Per fetch-add on w, us: n of them. */
static double fetch_adds(uint64_t *w, long n)
{
    double t0 = bench_now();
    for (long i = 0; i < n; i++)
        gallocy_atomic_fetch_add(w, 1);
    return (bench_now() - t0) / (double)n * 1e6;
}

static double cpu_seconds(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

static void busy_target(void)
{
    struct { uint64_t word, done, pad[6]; } *w = gallocy_coalloc(PAGE, 1);
    if (!w) {
        fprintf(stderr, "bench_sync: rank %d: gallocy_coalloc failed\n", bench_me);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    gallocy_barrier();
    long n = bench_iters(500);
    double first[32], burst[32], base[32];
    for (int k = 0; k < bench_reps; k++) {
        if (bench_me == 0)
            base[k] = fetch_adds(&w->word, n); /* rank 1 is in MPI_Barrier */
        MPI_Barrier(MPI_COMM_WORLD);
        if (bench_me == 0) {
            struct timespec quiet = {0, 100000000};
            nanosleep(&quiet, NULL);
            first[k] = fetch_adds(&w->word, 1);
            burst[k] = fetch_adds(&w->word, n);
            gallocy_atomic_fetch_add(&w->done, 1);
        } else { /* computes, no call, until rank 0 is done (or 60 s) */
            double t0 = bench_now();
            volatile double sink = 0;
            while (__atomic_load_n(&w->done, __ATOMIC_ACQUIRE) < (uint64_t)k + 1 &&
                   bench_now() - t0 < 60)
                for (int i = 0; i < 1000; i++)
                    sink = sink * 0.5 + i;
        }
        MPI_Barrier(MPI_COMM_WORLD);
    }
    /* An idle rank: both ranks sleep, the service threads alone run. */
    double c0 = cpu_seconds();
    struct timespec idle = {1, 0};
    nanosleep(&idle, NULL);
    double busy = (cpu_seconds() - c0) * 100;
    double most;
    MPI_Reduce(&busy, &most, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    bench_table("busy_target", "gallocy_atomic_fetch_add on a rank that computes without calls",
                "Op", "us", "target in MPI_Barrier", 0);
    double b = bench_median(base, bench_reps);
    bench_row("first", bench_median(first, bench_reps), b);
    bench_row("burst", bench_median(burst, bench_reps), b);
    bench_note("CPU of an idle rank (its service thread): %.1f%% of a core", most);
    gallocy_barrier();
    gallocy_cofree(w);
}

int main(int argc, char **argv)
{
    const char *env = getenv("GALLOCY_BENCH_CACHED_MIB");
    mib = env ? (size_t)atol(env) : 1024;
    char size[32];
    snprintf(size, sizeof size, "%zuM", mib + 256);
    setenv("GALLOCY_COALLOC_SIZE", size, 0);
    bench_start(&argc, &argv, "bench_sync", "  tables: barrier lock busy_target lock_increment\n"
                "  GALLOCY_BENCH_CACHED_MIB=N  MiB of cached pages for the barrier (1024)\n");
    if (bench_wanted("barrier"))
        barriers();
    if (bench_wanted("lock"))
        locks();
    if (bench_wanted("busy_target"))
        busy_target();
    if (bench_wanted("lock_increment")) {
        lock_increment("");
        if (bench_node_copies()) { /* as between nodes too */
            bench_restart("GALLOCY_NODE_SHARED", "0", NULL, NULL);
            lock_increment(" (transport)");
        }
    }
    bench_stop();
    return 0;
}
