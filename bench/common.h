/* bench common: what every benchmark program shares: MPI and gallocy start-up, options,
 * timing, medians, and the one table layout (OSU-style text, or CSV with --csv).
 *
 * Every figure is printed beside the baseline that bounds it, measured in the same run, with
 * their ratio: gallocy's cost over the baseline's for the same work (time over time, or
 * baseline rate over gallocy rate), so 1.00 is as fast and 2.00 takes twice as long. */
#ifndef GALLOCY_BENCH_COMMON_H
#define GALLOCY_BENCH_COMMON_H
#include <gallocy.h>

extern int bench_me, bench_nranks, bench_reps, bench_csv;
extern double bench_scale;

/* MPI_Init_thread, options (--csv, --reps N, --scale X, --only NAME, --help), gallocy_init.
 * usage: the lines --help prints after the common options. */
void bench_start(int *argc, char ***argv, const char *program, const char *usage);
/* bench_start's parts: MPI_Init_thread (its time on this rank in bench_mpi_init_seconds) and
 * the options; the header line (rank 0), after the caller's gallocy_init. */
void bench_start_mpi(int *argc, char ***argv, const char *program, const char *usage);
void bench_header(void);
extern double bench_mpi_init_seconds;
/* Whether table or workload name was asked for (no --only: all). */
int bench_wanted(const char *name);
void bench_stop(void);
/* Collective: 1 when a fault of rank 0 on a page homed on rank 1 copies the page from rank
 * 1's memory (the ranks share a node and GALLOCY_NODE_SHARED is on), as gallocy's counters
 * say; then the benchmarks measure the transport's path too. */
int bench_node_copies(void);
/* gallocy_finalize, the setting var=value (and var2=value2 unless var2 is NULL), gallocy_init:
 * gallocy reads its settings at init.  Collective. */
void bench_restart(const char *var, const char *value, const char *var2, const char *value2);

/* The same with one setting that gallocy may refuse here (GALLOCY_FAULTS=uffd without
 * userfaultfd): 0, or gallocy_init's error after restarting without it.  Collective. */
int bench_try_setting(const char *var, const char *value);

double bench_now(void);
/* Median of v[0..n), sorting v. */
double bench_median(double *v, int n);
/* Iterations scaled by --scale, at least 1. */
long bench_iters(double n);

/* Opens a table (rank 0 prints).  name: short id, also the CSV's first column; title: what is
 * measured; param: the first column's heading (e.g. "Size"); unit: of both figures, e.g.
 * "us" or "MB/s"; base: the baseline's name; rate: 1 when higher is better (bandwidth). */
void bench_table(const char *name, const char *title, const char *param, const char *unit,
                 const char *base, int rate);
/* One row of the open table: the parameter, gallocy's figure and the baseline's.  Returns the
 * ratio (gallocy's cost over the baseline's). */
double bench_row(const char *param, double gallocy, double baseline);
/* The same with a byte size as the parameter (printed as a number: plots use it). */
double bench_row_size(size_t size, double gallocy, double baseline);

/* Times gallocy_finalize (seconds, the slowest rank's), then initialises gallocy again with
 * the same settings.  Collective. */
double bench_time_finalize(void);

/* A comment line under the open table (text mode only; CSV rows carry the figures). */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Waits for the other ranks without holding a core (they are measuring on this machine's
 * cores), still driving MPI progress every millisecond. */
void bench_idle_barrier(void);

#endif
