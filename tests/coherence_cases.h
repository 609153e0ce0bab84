/* coherence_cases: coherence tests that both harnesses run, each collective: test_coherence.c
 * under mpirun (CUnit) and test_local.c on forked ranks without MPI.  The includer defines
 * CASE_CHECK(cond) (its assertion) and the ints me and nranks; ranks meet through gallocy
 * alone (barriers, atomics), which both runtimes have.  A case that needs 2 ranks does
 * nothing with fewer (the includer says whether that is a skip). */
#ifndef GALLOCY_TESTS_COHERENCE_CASES_H
#define GALLOCY_TESTS_COHERENCE_CASES_H
#include <stdint.h>

#include "gallocy_api.h"

/* Every rank writes interleaved single bytes of the same pages: all writes must land. */
static void case_many_writers(void)
{
    enum { LEN = 3 * 4096 };
    unsigned char *p = gallocy_coalloc(LEN, nranks - 1);
    for (int i = me; i < LEN; i += nranks)
        p[i] = (unsigned char)(1 + (i * 13) % 251);
    gallocy_barrier();
    int ok = 1;
    for (int i = 0; i < LEN; i++)
        ok &= p[i] == (unsigned char)(1 + (i * 13) % 251);
    CASE_CHECK(ok);
    gallocy_barrier();
    gallocy_cofree(p);
}

/* Message passing: rank 1 writes and releases, then raises a flag; rank 0 acquires after
 * seeing it and reads what was written. */
static void case_release_flag_acquire(void)
{
    if (nranks < 2)
        return;
    uint64_t *flag = gallocy_coalloc(sizeof *flag, nranks - 1);
    char *msg = gallocy_coalloc(8192, 0); /* data homed on rank 0, written by rank 1 */
    gallocy_barrier();
    if (me == 1) {
        for (int i = 0; i < 8192; i++)
            msg[i] = (char)(i % 97);
        gallocy_release();
        gallocy_atomic_fetch_add(flag, 1);
    } else if (me == 0) {
        while (gallocy_atomic_fetch_add(flag, 0) == 0)
            ;
        gallocy_acquire();
        int ok = 1;
        for (int i = 0; i < 8192; i++)
            ok &= msg[i] == (char)(i % 97);
        CASE_CHECK(ok);
    }
    gallocy_barrier();
    gallocy_cofree(msg);
    gallocy_cofree(flag);
}

/* An acquire writes back this rank's unreleased changes first (src/coherence.h): a copy it
 * has written but not released is no exception to the acquire, and shows what another rank
 * released into the same page meanwhile; its own write reaches the home too.  The steps are
 * ordered by a counter: 1, rank 1 has its dirty copy; 2, rank 0 has released; 3, rank 1 has
 * acquired. */
static void case_acquire_writes_back_first(void)
{
    if (nranks < 2)
        return;
    uint64_t *step = gallocy_coalloc(sizeof *step, 0);
    volatile unsigned char *p = gallocy_coalloc(4096, 0); /* one page, homed on rank 0 */
    gallocy_barrier();
    if (me == 1) {
        p[0] = 1; /* a dirty copy, not released */
        gallocy_atomic_fetch_add(step, 1);
        while (gallocy_atomic_fetch_add(step, 0) < 2)
            ;
        gallocy_acquire();
        CASE_CHECK(p[100] == 7); /* rank 0's released write: the copy was not kept */
        CASE_CHECK(p[0] == 1);
        gallocy_atomic_fetch_add(step, 1);
    } else if (me == 0) {
        while (gallocy_atomic_fetch_add(step, 0) < 1)
            ;
        p[100] = 7;
        gallocy_release();
        gallocy_atomic_fetch_add(step, 1);
        while (gallocy_atomic_fetch_add(step, 0) < 3)
            ;
        CASE_CHECK(p[0] == 1); /* sent home by rank 1's acquire, before any release */
    }
    gallocy_barrier();
    gallocy_cofree((void *)p);
    gallocy_cofree(step);
}

#endif
