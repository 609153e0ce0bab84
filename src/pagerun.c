/* pagerun: a sorted array of free runs; allocation splits one, free merges with neighbours. */
#include "pagerun.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int reserve(struct pagerun *pr, size_t more)
{
    if (pr->nfree + more <= pr->cap)
        return 0;
    size_t ncap = pr->cap ? pr->cap * 2 : 64;
    while (ncap < pr->nfree + more)
        ncap *= 2;
    void *p = realloc(pr->free, ncap * sizeof *pr->free);
    if (!p)
        return -ENOMEM;
    pr->free = p;
    pr->cap = ncap;
    return 0;
}

static void remove_at(struct pagerun *pr, size_t i)
{
    memmove(pr->free + i, pr->free + i + 1, (pr->nfree - i - 1) * sizeof *pr->free);
    pr->nfree--;
}

static void insert_at(struct pagerun *pr, size_t i, size_t start, size_t n)
{
    memmove(pr->free + i + 1, pr->free + i, (pr->nfree - i) * sizeof *pr->free);
    pr->free[i] = (struct pr_free){start, n};
    pr->nfree++;
}

int pagerun_init(struct pagerun *pr, size_t npages)
{
    memset(pr, 0, sizeof *pr);
    if (reserve(pr, 1))
        return -ENOMEM;
    pr->free[0] = (struct pr_free){0, npages};
    pr->nfree = npages > 0;
    return 0;
}

void pagerun_fini(struct pagerun *pr)
{
    free(pr->free);
    memset(pr, 0, sizeof *pr);
}

/* Removes [start, start+n) from free run i, which contains it. */
static int carve(struct pagerun *pr, size_t i, size_t start, size_t n)
{
    struct pr_free r = pr->free[i];
    size_t before = start - r.start, after = r.start + r.n - (start + n);
    if (before && after) {
        if (reserve(pr, 1))
            return -ENOMEM;
        pr->free[i].n = before;
        insert_at(pr, i + 1, start + n, after);
    } else if (before) {
        pr->free[i].n = before;
    } else if (after) {
        pr->free[i] = (struct pr_free){start + n, after};
    } else {
        remove_at(pr, i);
    }
    return 0;
}

long pagerun_alloc(struct pagerun *pr, size_t n, size_t align)
{
    if (n == 0 || align == 0)
        return -1;
    for (size_t i = 0; i < pr->nfree; i++) {
        size_t s = (pr->free[i].start + pr->origin + align - 1) / align * align - pr->origin;
        if (s + n <= pr->free[i].start + pr->free[i].n)
            return carve(pr, i, s, n) ? -1 : (long)s;
    }
    return -1;
}

int pagerun_take(struct pagerun *pr, size_t start, size_t n)
{
    for (size_t i = 0; i < pr->nfree && pr->free[i].start <= start; i++)
        if (start + n <= pr->free[i].start + pr->free[i].n)
            return carve(pr, i, start, n) == 0;
    return 0;
}

void pagerun_free(struct pagerun *pr, size_t start, size_t n)
{
    size_t lo = 0, hi = pr->nfree; /* first run starting after start */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (pr->free[mid].start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    int merge_left = lo > 0 && pr->free[lo - 1].start + pr->free[lo - 1].n == start;
    int merge_right = lo < pr->nfree && start + n == pr->free[lo].start;
    if (merge_left && merge_right) {
        pr->free[lo - 1].n += n + pr->free[lo].n;
        remove_at(pr, lo);
    } else if (merge_left) {
        pr->free[lo - 1].n += n;
    } else if (merge_right) {
        pr->free[lo].start = start;
        pr->free[lo].n += n;
    } else if (reserve(pr, 1) == 0) {
        insert_at(pr, lo, start, n);
    } /* else: out of memory for bookkeeping; the run is leaked, never handed out twice */
}
