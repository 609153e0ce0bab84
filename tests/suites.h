/* suites: the suites of test_gallocy (run under mpirun), and what they share. */
#ifndef GALLOCY_SUITES_H
#define GALLOCY_SUITES_H
#include <CUnit/CUnit.h>
#include <gallocy.h>
#include <stdint.h>

#include "cunit_main.h"

extern MPI_Comm test_comm; /* the tests' own communicator (gallocy uses its own dup) */
extern int me, nranks;

/* mpi_harness.c: MPI (threads) and test_comm, me, nranks; then gallocy and the CUnit
 * registry (a failure ends the job with a verdict line); then the registered tests are run,
 * verdicts over all ranks printed, everything finalized.  Returns the exit status. */
void harness_mpi_init(int *argc, char ***argv);
void harness_gallocy_init(void);
int harness_run_and_finish(void);

void register_alloc_tests(void);
void register_coherence_tests(void);
void register_notice_tests(void);
void register_sync_tests(void);
void register_coalloc_tests(void);
void register_signal_tests(void);
void register_mpi_tests(void);
void register_syscall_tests(void);
/* From test_gallocy.c: installs the handler the signal tests need to find chained. */
void signals_install_before_init(void);

/* A GALLOCY_* setting as the library reads it (an integer), or otherwise when unset. */
long env_long(const char *name, long otherwise);
/* Faults that touching pages [0, npages) in the order given takes, by the read- and
 * write-ahead rules (writes: 1 for write faults, which start a run at the faulting page). */
long expected_faults(const int *order, int ntouched, int npages, int writes);

/* Broadcast a pointer from root to every rank. */
static inline void *bcast_ptr(void *p, int root)
{
    uintptr_t v = (uintptr_t)p;
    MPI_Bcast(&v, 1, MPI_UINT64_T, root, test_comm);
    return (void *)v;
}

/* 1 on every rank when x held on every rank. */
static inline int all_true(int x)
{
    int r;
    MPI_Allreduce(&x, &r, 1, MPI_INT, MPI_MIN, test_comm);
    return r;
}

#endif
