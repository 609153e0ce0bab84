/* cunit_main: runs the registered CUnit suites and prints one verdict per test and the closing
 * line "N passed, N failed".  A test that cannot run here (CM_SKIP_UNLESS) is listed as "skip"
 * with the reason, and counted neither passed nor failed.  Under MPI (reduce != NULL) a test
 * fails when it failed on any rank, and only rank 0 prints the verdicts; each failed
 * assertion is printed by its rank. */
#ifndef GALLOCY_CUNIT_MAIN_H
#define GALLOCY_CUNIT_MAIN_H
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CM_MAX_TESTS = 512 };
static int cm_failed[CM_MAX_TESTS];
static char cm_names[CM_MAX_TESTS][128];
static int cm_ntests, cm_rank;
/* Set by CM_SKIP_UNLESS in the running test.  One object per program, though every test file
 * includes this header: weak, so the linker keeps a single copy. */
__attribute__((weak)) const char *cm_skip_why;
static char cm_skipped[CM_MAX_TESTS][192];
static int cm_nskipped;

/* In a test: ends it as skipped, not passed, unless cond holds.  Under MPI, cond must be the
 * same on every rank (the job's size, say), so that every rank skips the same tests. */
#define CM_SKIP_UNLESS(cond, why)                                                          \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            cm_skip_why = (why);                                                           \
            return;                                                                        \
        }                                                                                  \
    } while (0)

static inline void cm_complete(const CU_pTest test, const CU_pSuite suite, const CU_pFailureRecord f)
{
    if (cm_skip_why) {
        if (!f && cm_nskipped < CM_MAX_TESTS)
            snprintf(cm_skipped[cm_nskipped++], sizeof cm_skipped[0], "%s: %s (%s)",
                     suite->pName, test->pName, cm_skip_why);
        cm_skip_why = NULL;
        if (!f)
            return; /* a test that failed before it skipped still counts as failed */
    }
    if (cm_ntests >= CM_MAX_TESTS)
        return;
    snprintf(cm_names[cm_ntests], sizeof cm_names[0], "%s: %s", suite->pName, test->pName);
    cm_failed[cm_ntests] = f != NULL;
    for (CU_pFailureRecord r = f; r; r = r->pNext)
        fprintf(stderr, "FAILED (rank %d) %s: %s:%u: %s\n", cm_rank, cm_names[cm_ntests],
                r->strFileName, r->uiLineNumber, r->strCondition);
    cm_ntests++;
}

/* reduce: combines cm_failed over ranks (element-wise max), or NULL for one process. */
static inline int cm_run(int rank, void (*reduce)(int *flags, int n))
{
    cm_rank = rank;
    CU_set_test_complete_handler(cm_complete);
    CU_run_all_tests();
    if (reduce)
        reduce(cm_failed, cm_ntests);
    int failed = 0;
    for (int i = 0; i < cm_ntests; i++) {
        failed += cm_failed[i];
        if (rank == 0)
            printf("%s %s\n", cm_failed[i] ? "FAIL" : "ok  ", cm_names[i]);
    }
    if (rank == 0) {
        for (int i = 0; i < cm_nskipped; i++)
            printf("skip %s\n", cm_skipped[i]);
        printf("%d passed, %d failed\n", cm_ntests - failed, failed);
        fflush(stdout);
    }
    return failed;
}

#define CM_ADD_SUITE(suite_name, tests)                                                            \
    do {                                                                                     \
        CU_pSuite s_ = CU_add_suite(suite_name, NULL, NULL);                                       \
        for (size_t i_ = 0; (tests)[i_].name; i_++)                                          \
            CU_add_test(s_, (tests)[i_].name, (tests)[i_].fn);                               \
    } while (0)

struct cm_test {
    const char *name;
    void (*fn)(void);
};

/* The whole main of a one-process test program: one suite, run, exit status. */
static inline int cm_main(const char *suite, const struct cm_test *tests)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CM_ADD_SUITE(suite, tests);
    int failed = cm_run(0, NULL);
    CU_cleanup_registry();
    return failed ? 1 : 0;
}

#endif
