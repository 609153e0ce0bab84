/* test_coalloc: placement policies home pages where they say; memory comes zeroed, also
 * after reuse; bad arguments fail on every rank alike. */
#include <errno.h>
#include <stdio.h>

#include "suites.h"

static void check_policy(int place, size_t pages)
{
    char *p = gallocy_coalloc(pages * 4096, place);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL((uintptr_t)p % 4096, 0);
    size_t share = (pages + (size_t)nranks - 1) / (size_t)nranks;
    int ok = 1;
    for (size_t i = 0; i < pages; i++) {
        int want = place >= 0 ? place
                   : place == GALLOCY_CYCLIC ? (int)(i % (size_t)nranks)
                                             : (int)(i / share);
        int h = gallocy_home(p + i * 4096), h2 = gallocy_home(p + i * 4096 + 4095);
        if (h != want || h2 != want || p[i * 4096 + 17] != 0)
            fprintf(stderr, "rank %d place %d page %zu: home %d/%d want %d value %d\n", me, place,
                    i, h, h2, want, p[i * 4096 + 17]);
        ok &= h == want && h2 == want;
        ok &= p[i * 4096 + 17] == 0;
    }
    CU_ASSERT(ok);
    gallocy_barrier(); /* everyone has checked the zeroes before anyone writes */
    /* Each page written by its home is read right by everyone. */
    for (size_t i = 0; i < pages; i++)
        if (gallocy_home(p + i * 4096) == me)
            p[i * 4096 + 17] = (char)(i + 1);
    gallocy_barrier();
    ok = 1;
    for (size_t i = 0; i < pages; i++)
        ok &= p[i * 4096 + 17] == (char)(i + 1);
    CU_ASSERT(ok);
    gallocy_barrier();
    gallocy_cofree(p);
}

static void test_blocked(void)
{
    check_policy(GALLOCY_BLOCKED, 10);
}

static void test_cyclic(void)
{
    check_policy(GALLOCY_CYCLIC, 9);
}

static void test_on_one_rank(void)
{
    check_policy(nranks - 1, 5);
    check_policy(0, 3);
}

static void test_reuse_is_zeroed(void)
{
    for (int round = 0; round < 3; round++) {
        int *p = gallocy_coalloc(8 * 4096, GALLOCY_CYCLIC);
        int ok = 1;
        for (int i = 0; i < 8 * 1024; i++)
            ok &= p[i] == 0;
        CU_ASSERT(ok);
        gallocy_barrier();
        for (int i = me; i < 8 * 1024; i += nranks)
            p[i] = 7;
        gallocy_barrier();
        gallocy_cofree(p);
    }
    CU_ASSERT_EQUAL(gallocy_home((char *)gallocy_rank + 0), -1); /* not global memory */
}

static void test_bad_arguments(void)
{
    errno = 0;
    CU_ASSERT_PTR_NULL(gallocy_coalloc(4096, nranks)); /* no such rank */
    CU_ASSERT_EQUAL(errno, EINVAL);
    errno = 0;
    CU_ASSERT_PTR_NULL(gallocy_coalloc((size_t)1 << 50, GALLOCY_BLOCKED));
    CU_ASSERT_EQUAL(errno, ENOMEM);
    void *p = gallocy_coalloc(4096, 0); /* still usable */
    CU_ASSERT_PTR_NOT_NULL(p);
    gallocy_cofree(p);
}

void register_coalloc_tests(void)
{
    static const struct cm_test tests[] = {
        {"blocked placement", test_blocked},
        {"cyclic placement", test_cyclic},
        {"placement on one rank", test_on_one_rank},
        {"reuse after cofree is zeroed", test_reuse_is_zeroed},
        {"bad arguments fail everywhere", test_bad_arguments},
        {NULL, NULL}};
    CM_ADD_SUITE("coalloc", tests);
}
