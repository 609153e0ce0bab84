/* bench_alloc: the classic allocator workloads against gallocy_malloc, each run beside glibc
 * malloc in the same process, medians of several runs, printed with their ratio.
 *
 *   mpirun -np 2 --bind-to none bench/bench_alloc [--csv] [--reps N] [--scale X] [--only W]
 *
 * --bind-to none: Open MPI binds each rank to one core by default, which would put both
 * threads of the 2-thread runs on the same core.
 *
 * Workloads (the single-node ones run on rank 0 while rank 1 sleeps in a polling wait):
 *   pairs       one thread: malloc then free of one block, 16..256 B (ns per pair)
 *   threadtest  Hoard's threadtest: each thread allocates 1000 64-byte blocks and frees
 *               them, over and over; 1 and 2 threads (million ops/s, and 2-thread scaling)
 *   larson      Larson & Krishnan's server workload: each thread replaces random blocks of
 *               16..256 B in its slots; a quarter of the blocks it frees were allocated by
 *               the other thread (cross-thread frees); 2 threads (million ops/s)
 *   remote-free both ranks allocate, swap pointers, and free each other's blocks: frees per
 *               second per rank, delivery included (until gallocy_release returns); baseline:
 *               the same frees on the owning rank
 * Ratio: gallocy's speed over the baseline's (above 1: gallocy is faster).
 */
#include <gallocy.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void *(*malloc_fn)(size_t);
typedef void (*free_fn)(void *);
struct allocator {
    const char *name;
    malloc_fn alloc;
    free_fn release;
};
/* Through volatile pointers, so the compiler cannot pair up and drop glibc's calls. */
static struct allocator gallocy = {"gallocy", gallocy_malloc, gallocy_free};
static struct allocator glibc = {"glibc", malloc, free};
static struct allocator *volatile allocs[2] = {&gallocy, &glibc};

static int me, nranks, csv, reps = 5;
static const char *only; /* --only NAME: one workload */
static double scale = 1.0;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Prints one row.  higher_is_better: the unit is a rate, else a time. */
static void row(const char *bench, const char *param, const char *unit, double g, double base,
                const char *base_name, int higher_is_better)
{
    double ratio = higher_is_better ? g / base : base / g;
    if (csv)
        printf("%s,%s,%s,%.4f,%s,%.4f,%.3f\n", bench, param, unit, g, base_name, base, ratio);
    else
        printf("%-12s %-10s %-14s %12.3f %12.3f  %-8s %7.2f\n", bench, param, unit, g, base,
               base_name, ratio);
    fflush(stdout);
}

/* --- pairs ------------------------------------------------------------------------------ */

static double pairs_once(struct allocator *a, size_t size, long n)
{
    malloc_fn al = a->alloc;
    free_fn fr = a->release;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        char *p = al(size);
        p[0] = (char)i;
        fr(p);
    }
    return (now() - t0) / (double)n * 1e9;
}

static void bench_pairs(void)
{
    static const size_t sizes[] = {16, 32, 64, 128, 256};
    long n = (long)(2000000 * scale);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        double t[2][32];
        for (int r = 0; r < reps; r++)
            for (int k = 0; k < 2; k++) /* interleaved: both see the same machine moments */
                t[k][r] = pairs_once(allocs[k], sizes[s], n);
        char param[32];
        snprintf(param, sizeof param, "%zu B", sizes[s]);
        row("pairs", param, "ns/pair", median(t[0], reps), median(t[1], reps), "glibc", 0);
    }
}

/* --- threadtest and larson ---------------------------------------------------------------- */

struct job {
    struct allocator *a;
    int id, nthreads;
    long iters;
    pthread_barrier_t *start;
    double elapsed;
    long ops;
};

static void *threadtest_thread(void *arg)
{
    struct job *j = arg;
    enum { OBJS = 1000 };
    char *obj[OBJS];
    malloc_fn al = j->a->alloc;
    free_fn fr = j->a->release;
    pthread_barrier_wait(j->start);
    double t0 = now();
    for (long it = 0; it < j->iters; it++) {
        for (int i = 0; i < OBJS; i++) {
            obj[i] = al(64);
            obj[i][0] = (char)i;
        }
        for (int i = 0; i < OBJS; i++)
            fr(obj[i]);
    }
    j->elapsed = now() - t0;
    j->ops = j->iters * OBJS * 2;
    return NULL;
}

/* Larson: slots per thread; a quarter of the replacements swap through a shared exchange
 * array, so the block freed was allocated by the other thread. */
enum { LSLOTS = 1000 };
static char *volatile exchange_slots[LSLOTS];

static void *larson_thread(void *arg)
{
    struct job *j = arg;
    char *slot[LSLOTS];
    malloc_fn al = j->a->alloc;
    free_fn fr = j->a->release;
    unsigned s = 2463534242u + (unsigned)j->id * 7919u;
    for (int i = 0; i < LSLOTS; i++)
        slot[i] = al(16 + (size_t)(i % 241));
    pthread_barrier_wait(j->start);
    double t0 = now();
    for (long it = 0; it < j->iters; it++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        int k = (int)(s % LSLOTS);
        size_t size = 16 + (s >> 12) % 241;
        char *p = al(size);
        p[0] = (char)size;
        if ((s >> 24) % 4 == 0) /* hand ours over, free what the other thread left */
            p = __atomic_exchange_n(&exchange_slots[k], p, __ATOMIC_ACQ_REL);
        if (p) {
            fr(slot[k]);
            slot[k] = p;
        }
    }
    j->elapsed = now() - t0;
    j->ops = j->iters * 2;
    pthread_barrier_wait(j->start);
    for (int i = 0; i < LSLOTS; i++)
        fr(slot[i]);
    return NULL;
}

/* Runs nthreads of fn; returns million ops per second over the slowest thread. */
static double run_threads(void *(*fn)(void *), struct allocator *a, int nthreads, long iters)
{
    pthread_t th[8];
    struct job j[8];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)nthreads);
    for (int t = 0; t < nthreads; t++) {
        j[t] = (struct job){a, t, nthreads, iters, &start, 0, 0};
        pthread_create(&th[t], NULL, fn, &j[t]);
    }
    double slowest = 0;
    long ops = 0;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(th[t], NULL);
        slowest = j[t].elapsed > slowest ? j[t].elapsed : slowest;
        ops += j[t].ops;
    }
    pthread_barrier_destroy(&start);
    for (int i = 0; i < LSLOTS; i++)
        if (exchange_slots[i]) {
            a->release(exchange_slots[i]);
            exchange_slots[i] = NULL;
        }
    return (double)ops / slowest / 1e6;
}

static void bench_threads(const char *name, void *(*fn)(void *), long iters)
{
    double rate[2][3][32]; /* allocator, threads */
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < 2; k++)
            for (int t = 1; t <= 2; t++)
                rate[k][t][r] = run_threads(fn, allocs[k], t, iters);
    double m[2][3];
    for (int k = 0; k < 2; k++)
        for (int t = 1; t <= 2; t++)
            m[k][t] = median(rate[k][t], reps);
    row(name, "1 thread", "Mops/s", m[0][1], m[1][1], "glibc", 1);
    row(name, "2 threads", "Mops/s", m[0][2], m[1][2], "glibc", 1);
    row(name, "2 vs 1", "scaling", m[0][2] / m[0][1], m[1][2] / m[1][1], "glibc", 1);
}

/* --- cross-rank frees --------------------------------------------------------------------- */

static double remote_free_once(int remote, long n, uintptr_t *mine, uintptr_t *theirs)
{
    for (long i = 0; i < n; i++)
        mine[i] = (uintptr_t)gallocy_malloc(48);
    if (remote)
        MPI_Sendrecv(mine, (int)n, MPI_UINT64_T, (me + 1) % nranks, 0, theirs, (int)n,
                     MPI_UINT64_T, (me + nranks - 1) % nranks, 0, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
    else
        memcpy(theirs, mine, (size_t)n * sizeof *mine);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now();
    for (long i = 0; i < n; i++)
        gallocy_free((void *)theirs[i]);
    gallocy_release(); /* the last batch is delivered */
    double t = now() - t0;
    gallocy_barrier(); /* and applied by its owner before the next round */
    return (double)n / t / 1e6;
}

static void bench_remote_free(void)
{
    long n = (long)(200000 * scale);
    uintptr_t *mine = malloc((size_t)n * sizeof *mine), *theirs = malloc((size_t)n * sizeof *mine);
    double rate[2][32];
    for (int r = 0; r < reps; r++) {
        rate[0][r] = remote_free_once(1, n, mine, theirs);
        rate[1][r] = remote_free_once(0, n, mine, theirs);
    }
    double m[2] = {median(rate[0], reps), median(rate[1], reps)};
    double *all = malloc(2 * (size_t)nranks * sizeof *all);
    MPI_Gather(m, 2, MPI_DOUBLE, all, 2, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (me == 0) { /* the slowest rank */
        double lo = all[0], base = all[1];
        for (int r = 1; r < nranks; r++) {
            lo = all[2 * r] < lo ? all[2 * r] : lo;
            base = all[2 * r + 1] < base ? all[2 * r + 1] : base;
        }
        row("remote-free", "48 B", "Mfrees/s/rank", lo, base, "local", 1);
    }
    free(all);
    free(mine);
    free(theirs);
}

/* Rank 1 waits for rank 0's single-node workloads without spinning on a core. */
static void idle_barrier(void)
{
    MPI_Request req;
    int done = 0;
    MPI_Ibarrier(MPI_COMM_WORLD, &req);
    while (!done) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (!done) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
}

static int wanted(const char *name)
{
    return !only || !strcmp(only, name);
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--csv"))
            csv = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--scale") && i + 1 < argc)
            scale = atof(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
    }
    if (reps < 1 || reps > 31)
        reps = 5;
    int rc = gallocy_init(MPI_COMM_WORLD);
    if (rc) {
        fprintf(stderr, "bench_alloc: gallocy_init: %s\n", gallocy_strerror(rc));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    me = gallocy_rank();
    nranks = gallocy_nranks();
    if (me == 0) {
        if (csv)
            printf("bench,param,unit,gallocy,baseline_name,baseline,ratio\n");
        else
            printf("# gallocy allocator benchmarks: %d ranks, median of %d runs; ratio = "
                   "gallocy's speed / baseline's\n# %-10s %-10s %-14s %12s %12s  %-8s %7s\n",
                   nranks, reps, "Benchmark", "Param", "Unit", "gallocy", "baseline", "name",
                   "ratio");
        if (wanted("pairs"))
            bench_pairs();
        if (wanted("threadtest"))
            bench_threads("threadtest", threadtest_thread, (long)(2000 * scale));
        if (wanted("larson"))
            bench_threads("larson", larson_thread, (long)(2000000 * scale));
    }
    idle_barrier();
    if (nranks > 1 && wanted("remote-free"))
        bench_remote_free();
    gallocy_finalize();
    MPI_Finalize();
    return 0;
}
