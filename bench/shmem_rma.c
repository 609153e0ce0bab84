/* shmem_rma: OpenSHMEM's figures for what bench_rma's node_lat and gups tables measure, for
 * bench/run to set beside gallocy's (built by make bench with Open MPI's oshcc when it is
 * installed; run with oshrun --mca memory ^patcher -np 2).
 *
 *   shmem_rma [--reps N] [--scale X]      (bench/run's other options are ignored)
 *
 * PE 0 makes 8 B shmem_getmem, shmem_putmem + shmem_quiet, and 64-bit fetch-add and
 * compare-and-swap on PE 1's symmetric memory while PE 1 waits in shmem_barrier_all; then
 * both PEs make GUPS updates (random fetch-adds into a 2^20-word table split between them,
 * HPCC's random sequence, as bench_rma).  Prints one line per figure, the median of N runs:
 *   shmem,PARAM,UNIT,VALUE */
#include <shmem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { GUPS_LOG2 = 20, GUPS_WORDS = 1 << GUPS_LOG2, MAX_REPS = 32 };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t gups_next(uint64_t x)
{
    return x << 1 ^ ((int64_t)x < 0 ? 7 : 0);
}

int main(int argc, char **argv)
{
    int reps = 5;
    double scale = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--scale") && i + 1 < argc)
            scale = atof(argv[++i]);
        else if (!strcmp(argv[i], "--help")) {
            fprintf(stderr, "usage: shmem_rma [--reps N] [--scale X]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS || !(scale > 0)) {
        fprintf(stderr, "shmem_rma: --reps is 1 to %d and --scale above 0\n", MAX_REPS);
        return 2;
    }
    shmem_init();
    int me = shmem_my_pe(), npes = shmem_n_pes();
    if (npes < 2) {
        if (me == 0)
            fprintf(stderr, "shmem_rma: needs 2 PEs\n");
        shmem_finalize();
        return 2;
    }
    long n = (long)(20000 * scale) > 0 ? (long)(20000 * scale) : 1;
    long n_gups = (long)(100000 * scale) > 0 ? (long)(100000 * scale) : 1;
    size_t half = GUPS_WORDS / (size_t)npes;
    unsigned long long *word = shmem_calloc(2, sizeof *word);
    unsigned long long *table = shmem_calloc(half, sizeof *table);
    char *buf = shmem_malloc(8);
    char local[8] = {0};
    if (!word || !table || !buf) {
        fprintf(stderr, "shmem_rma: PE %d: out of symmetric memory\n", me);
        shmem_global_exit(1);
    }
    double t[4][MAX_REPS], g[MAX_REPS];
    unsigned long long sink = 0, x = 1 + (unsigned long long)me;
    shmem_barrier_all();
    for (int k = 0; k < reps; k++) {
        if (me == 0) {
            double t0 = now();
            for (long i = 0; i < n; i++)
                shmem_getmem(local, buf, 8, 1);
            double t1 = now();
            for (long i = 0; i < n; i++) {
                shmem_putmem(buf, local, 8, 1);
                shmem_quiet();
            }
            double t2 = now();
            for (long i = 0; i < n; i++)
                sink += shmem_ulonglong_atomic_fetch_add(word, 1, 1);
            double t3 = now();
            for (long i = 0; i < n; i++)
                sink += shmem_ulonglong_atomic_compare_swap(word + 1, (unsigned long long)i,
                                                             (unsigned long long)i + 1, 1);
            double t4 = now();
            t[0][k] = (t1 - t0) / (double)n * 1e6;
            t[1][k] = (t2 - t1) / (double)n * 1e6;
            t[2][k] = (t3 - t2) / (double)n * 1e6;
            t[3][k] = (t4 - t3) / (double)n * 1e6;
        }
        shmem_barrier_all();
        double t0 = now();
        for (long i = 0; i < n_gups; i++) {
            x = gups_next(x);
            size_t w = x & (GUPS_WORDS - 1);
            sink += shmem_ulonglong_atomic_fetch_add(&table[w % half], x, (int)(w / half));
        }
        shmem_barrier_all();
        g[k] = (double)n_gups * npes / (now() - t0) / 1e6;
    }
    if (me == 0) {
        static const char *const names[] = {"get", "put", "fetch_add", "compare_swap"};
        for (int j = 0; j < 4; j++)
            printf("shmem,%s,us,%.6g\n", names[j], median(t[j], reps));
        printf("shmem,gups,M/s,%.6g\n", median(g, reps));
    }
    if (sink == 42) /* keeps the loops */
        fprintf(stderr, "\n");
    shmem_barrier_all();
    shmem_free(buf);
    shmem_free(table);
    shmem_free(word);
    shmem_finalize();
    return 0;
}
