/* bench common: see common.h. */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int bench_me, bench_nranks, bench_reps = 5, bench_csv;
double bench_scale = 1.0;
static const char *only;
static const char *program_name;

/* gallocy_init, or the job ends with the reason. */
static void init_or_die(void)
{
    int rc = gallocy_init(MPI_COMM_WORLD);
    if (rc) {
        fprintf(stderr, "%s: rank %d: gallocy_init: %s\n", program_name, bench_me,
                gallocy_strerror(rc));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}
static FILE *csv_file; /* --csv-out: CSV rows written here too */
static struct {
    const char *name, *unit, *base;
    int rate;
} table;

static void usage_exit(const char *program, const char *usage, int status)
{
    if (bench_me == 0)
        fprintf(status ? stderr : stdout,
                "usage: mpirun -np 2 %s [--csv] [--csv-out FILE] [--reps N] [--scale X]\n"
                "                           [--only NAME]\n"
                "  --csv      machine-readable rows: bench,param,unit,gallocy,baseline_name,"
                "baseline,ratio\n"
                "  --csv-out F  also append those rows to file F (bench/plot reads them)\n"
                "  --reps N   runs per figure, the median is printed (default 5, at most 31)\n"
                "  --scale X  multiply the iterations (and so the time) by X\n"
                "  --only N   run only the table or workload N\n%s",
                program, usage);
    MPI_Finalize();
    exit(status);
}

double bench_mpi_init_seconds;

void bench_start_mpi(int *argc, char ***argv, const char *program, const char *usage)
{
    int provided;
    double t0 = bench_now();
    MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
    bench_mpi_init_seconds = bench_now() - t0;
    MPI_Comm_rank(MPI_COMM_WORLD, &bench_me);
    MPI_Comm_size(MPI_COMM_WORLD, &bench_nranks);
    for (int i = 1; i < *argc; i++) {
        const char *a = (*argv)[i];
        int has_value = i + 1 < *argc;
        if (!strcmp(a, "--csv"))
            bench_csv = 1;
        else if (!strcmp(a, "--reps") && has_value)
            bench_reps = atoi((*argv)[++i]);
        else if (!strcmp(a, "--scale") && has_value)
            bench_scale = atof((*argv)[++i]);
        else if (!strcmp(a, "--only") && has_value)
            only = (*argv)[++i];
        else if (!strcmp(a, "--csv-out") && has_value) {
            const char *path = (*argv)[++i];
            if (bench_me == 0 && !(csv_file = fopen(path, "a"))) {
                perror(path);
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            if (csv_file && ftell(csv_file) == 0)
                fprintf(csv_file, "bench,param,unit,gallocy,baseline_name,baseline,ratio\n");
        }
        else
            usage_exit(program, usage, strcmp(a, "--help") != 0);
    }
    if (bench_reps < 1 || bench_reps > 31 || !(bench_scale > 0)) {
        if (bench_me == 0)
            fprintf(stderr, "%s: --reps takes 1 to 31, --scale a positive number\n", program);
        usage_exit(program, usage, 1);
    }
    if (bench_nranks < 2) {
        if (bench_me == 0)
            fprintf(stderr, "%s: run it with 2 ranks (mpirun -np 2): it measures one rank "
                    "reaching memory homed on the other\n", program);
        MPI_Finalize();
        exit(1);
    }
    program_name = program;
}

void bench_start(int *argc, char ***argv, const char *program, const char *usage)
{
    bench_start_mpi(argc, argv, program, usage);
    init_or_die();
    bench_header();
}

void bench_header(void)
{
    if (bench_me == 0) {
        if (bench_csv)
            printf("bench,param,unit,gallocy,baseline_name,baseline,ratio\n");
        else
            printf("# %s: %d ranks, median of %d runs; ratio = gallocy's cost / the "
                   "baseline's (1.00: as fast)\n", program_name, bench_nranks, bench_reps);
        fflush(stdout);
    }
}

int bench_node_copies(void)
{
    volatile char *p = gallocy_coalloc(4096, 1);
    if (!p) {
        fprintf(stderr, "%s: rank %d: gallocy_coalloc of one page failed\n", program_name,
                bench_me);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (bench_me == 1)
        p[0] = 1;
    gallocy_barrier();
    int copied = 0;
    if (bench_me == 0) {
        gallocy_stats_t a, b;
        gallocy_stats(&a);
        (void)p[0];
        gallocy_stats(&b);
        copied = b.pages_fetched_on_node > a.pages_fetched_on_node;
    }
    MPI_Bcast(&copied, 1, MPI_INT, 0, MPI_COMM_WORLD);
    gallocy_barrier();
    gallocy_cofree((void *)p);
    return copied;
}

void bench_restart(const char *var, const char *value, const char *var2, const char *value2)
{
    gallocy_finalize();
    setenv(var, value, 1);
    if (var2)
        setenv(var2, value2, 1);
    init_or_die();
}

double bench_time_finalize(void)
{
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = bench_now();
    gallocy_finalize();
    double t = bench_now() - t0, slowest;
    MPI_Allreduce(&t, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    init_or_die();
    return slowest;
}

int bench_try_setting(const char *var, const char *value)
{
    const char *was = getenv(var);
    char keep[256];
    snprintf(keep, sizeof keep, "%s", was ? was : "");
    gallocy_finalize();
    setenv(var, value, 1);
    int rc = gallocy_init(MPI_COMM_WORLD);
    if (rc) { /* refused everywhere alike: init agrees */
        if (was)
            setenv(var, keep, 1);
        else
            unsetenv(var);
        init_or_die();
    }
    return rc;
}

int bench_wanted(const char *name)
{
    return !only || !strcmp(only, name);
}

void bench_stop(void)
{
    if (csv_file)
        fclose(csv_file);
    gallocy_finalize();
    MPI_Finalize();
}

double bench_now(void)
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

double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

long bench_iters(double n)
{
    long k = (long)(n * bench_scale);
    return k < 1 ? 1 : k;
}

void bench_table(const char *name, const char *title, const char *param, const char *unit,
                 const char *base, int rate)
{
    /* The CSV's fields are plain: a name, unit or baseline must not split them */
    if (strpbrk(name, ",\"\n") || strpbrk(unit, ",\"\n") || strpbrk(base, ",\"\n")) {
        fprintf(stderr, "bench: table %s: its name, unit or baseline \"%s\" has a comma, quote "
                "or newline\n", name, base);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    table.name = name;
    table.unit = unit;
    table.base = base;
    table.rate = rate;
    if (bench_me != 0 || bench_csv)
        return;
    char g[64], b[64];
    snprintf(g, sizeof g, "gallocy (%s)", unit);
    snprintf(b, sizeof b, "%s (%s)", base, unit);
    printf("\n# %s [%s]\n# %-12s %16s %26s %8s\n", title, name, param, g, b, "ratio");
    fflush(stdout);
}

double bench_row(const char *param, double gallocy, double baseline)
{
    if (strpbrk(param, ",\"\n")) { /* the CSV's fields are plain: a label must not split them */
        fprintf(stderr, "bench: row label \"%s\" has a comma, quote or newline\n", param);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    double ratio = table.rate ? baseline / gallocy : gallocy / baseline;
    if (bench_me != 0)
        return ratio;
    if (csv_file) {
        fprintf(csv_file, "%s,%s,%s,%.6g,%s,%.6g,%.4f\n", table.name, param, table.unit,
                gallocy, table.base, baseline, ratio);
        fflush(csv_file);
    }
    if (bench_csv)
        printf("%s,%s,%s,%.6g,%s,%.6g,%.4f\n", table.name, param, table.unit, gallocy,
               table.base, baseline, ratio);
    else
        printf("%-14s %16.3f %26.3f %8.2f\n", param, gallocy, baseline, ratio);
    fflush(stdout);
    return ratio;
}

double bench_row_size(size_t size, double gallocy, double baseline)
{
    char param[32];
    snprintf(param, sizeof param, "%zu", size);
    return bench_row(param, gallocy, baseline);
}

void bench_note(const char *fmt, ...)
{
    if (bench_me != 0 || bench_csv)
        return;
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

void bench_idle_barrier(void)
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
