/* coalloc: placement records and the collective protocol (check arguments agree, allocate,
 * map this rank's pages; free: forget cached copies, give memory back, barrier). */
#include "coalloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "gallocy_api.h"
#include "log.h"
#include "pagerun.h"
#include "prot.h"
#include "runtime.h"
#include "space.h"
#include "transport.h"

struct placement {
    size_t page, n; /* pages from the region start */
    int place;      /* GALLOCY_BLOCKED, GALLOCY_CYCLIC or a rank */
    int used;
};

static struct placement *recs;
static size_t nrecs, recs_cap;
static struct pagerun region;

static int home_run(size_t off, size_t *run_end);

int coalloc_init(void)
{
    nrecs = 0;
    space_set_collective_homes(home_run);
    return pagerun_init(&region, sp.coalloc_size / GPAGE);
}

void coalloc_fini(void)
{
    space_set_collective_homes(NULL);
    free(recs);
    recs = NULL;
    nrecs = recs_cap = 0;
    pagerun_fini(&region);
}

/* Home of page i of an allocation of n pages, and the end of its same-home stretch. */
static int home_in(const struct placement *r, size_t i, size_t *stretch_end)
{
    size_t nr = (size_t)sp.nranks;
    if (r->place >= 0) {
        *stretch_end = r->n;
        return r->place;
    }
    if (r->place == GALLOCY_CYCLIC) {
        *stretch_end = i + 1;
        return (int)(i % nr);
    }
    size_t share = (r->n + nr - 1) / nr; /* blocked */
    size_t h = i / share;
    *stretch_end = (h + 1) * share < r->n ? (h + 1) * share : r->n;
    return (int)h;
}

/* The live allocation holding region offset off, or NULL. */
static const struct placement *rec_holding(size_t off)
{
    size_t page = (off - sp.coalloc_off) / GPAGE;
    for (size_t k = 0; k < nrecs; k++)
        if (recs[k].used && page >= recs[k].page && page < recs[k].page + recs[k].n)
            return &recs[k];
    return NULL;
}

/* For space_home_run (registered): home of the page at off (in the region) or -1, and its
 * same-home run. */
static int home_run(size_t off, size_t *run_end)
{
    const struct placement *r = rec_holding(off);
    if (!r) {
        *run_end = off;
        return -1;
    }
    size_t end;
    int h = home_in(r, (off - sp.coalloc_off) / GPAGE - r->page, &end);
    *run_end = sp.coalloc_off + (r->page + end) * GPAGE;
    return h;
}

int coalloc_extent(size_t off, size_t *start, size_t *end)
{
    const struct placement *r = rec_holding(off);
    if (r) {
        *start = sp.coalloc_off + r->page * GPAGE;
        *end = *start + r->n * GPAGE;
    }
    return r != NULL;
}

size_t coalloc_stretch_pages(size_t off)
{
    const struct placement *r = rec_holding(off);
    if (!r || r->place >= 0)
        return 0;
    size_t nr = (size_t)sp.nranks;
    return r->place == GALLOCY_CYCLIC ? 1 : (r->n + nr - 1) / nr; /* as home_in */
}

/* The pages of an allocation this rank homes lie in [*first, *end) (empty when none). */
static void homed_span(const struct placement *r, size_t *first, size_t *end)
{
    size_t nr = (size_t)sp.nranks, me = (size_t)sp.rank, stretch;
    *first = *end = 0;
    if (r->place == GALLOCY_CYCLIC) {
        if (me < r->n) {
            *first = me;
            *end = r->n - (r->n - 1 - me) % nr;
        }
        return;
    }
    for (size_t i = 0; i < r->n; i = stretch) /* blocked or one rank: one stretch at most */
        if ((size_t)home_in(r, i, &stretch) == me) {
            *first = i;
            *end = stretch;
            return;
        }
}

struct coalloc_args {
    uint64_t size;
    int64_t place;
};

/* Collective check that every rank passed the same arguments; rank 0 names who differs. */
static int args_agree(const char *call, struct coalloc_args mine)
{
    struct coalloc_args *all = malloc((size_t)sp.nranks * sizeof *all);
    if (!all)
        log_fatal(call, "out of memory");
    rt_allgather(&mine, all, sizeof mine);
    int agree = 1;
    for (int r = 1; r < sp.nranks; r++) {
        if (all[r].size == all[0].size && all[r].place == all[0].place)
            continue;
        if (agree && sp.rank == 0 && !strcmp(call, "gallocy_cofree"))
            log_error(call, "ranks passed different pointers (it is collective): rank 0 passed "
                      "%p but rank %d passed %p; nothing was freed", (void *)all[0].size, r,
                      (void *)all[r].size);
        else if (agree && sp.rank == 0)
            log_error(call, "ranks passed different arguments (it is collective): rank 0 passed "
                      "(%lu, %ld) but rank %d passed (%lu, %ld); nothing was allocated",
                      all[0].size, (long)all[0].place, r, all[r].size, (long)all[r].place);
        agree = 0;
    }
    free(all);
    return agree;
}

void *coalloc_alloc(size_t size, int place)
{
    const char *call = "gallocy_coalloc";
    if (!args_agree(call, (struct coalloc_args){size, place})) {
        errno = EINVAL;
        return NULL;
    }
    if (size == 0 || place < GALLOCY_CYCLIC || place >= sp.nranks) {
        if (sp.rank == 0)
            log_error(call, size == 0 ? "size 0" : "place %d is not GALLOCY_BLOCKED, "
                      "GALLOCY_CYCLIC or a rank in 0..%d", place, sp.nranks - 1);
        errno = EINVAL;
        return NULL;
    }
    size_t n = (size + GPAGE - 1) / GPAGE;
    cache_lock_all(); /* the fault handler reads the placement records */
    long page = size <= sp.coalloc_size ? pagerun_alloc(&region, n, 1) : -1;
    size_t k = 0;
    while (page >= 0 && k < nrecs && recs[k].used)
        k++;
    if (page >= 0 && k == recs_cap) {
        size_t ncap = recs_cap ? recs_cap * 2 : 16;
        struct placement *nr = realloc(recs, ncap * sizeof *nr);
        if (!nr) {
            pagerun_free(&region, (size_t)page, n);
            page = -1;
        } else {
            recs = nr;
            recs_cap = ncap;
        }
    }
    if (page < 0) {
        cache_unlock_all();
        errno = ENOMEM; /* the same on every rank: the allocator state is the same */
        return NULL;
    }
    /* Every page is absent until touched, this rank's own too (its first touch maps it):
     * a page-cyclic allocation costs no protection change per page. */
    long open = prot_region_open(sp.coalloc_off + (size_t)page * GPAGE, n * GPAGE) == 0;
    /* The slot is taken before the lock goes, so that no other call can take it meanwhile. */
    recs[k] = (struct placement){(size_t)page, n, place, 1};
    if (k == nrecs)
        nrecs++;
    cache_unlock_all(); /* no collective, nor registration, with it held */
    /* Other ranks address the pages this rank homes: a registering transport pins them
     * (what it pins stays pinned after a cofree, for the next allocation there). */
    size_t first, end;
    homed_span(&recs[k], &first, &end);
    int exposed = !open || tp_expose(sp.coalloc_off + ((size_t)page + first) * GPAGE,
                                     (end - first) * GPAGE, call) == 0;
    int all = (int)rt_allreduce_min(open && exposed); /* the same answer everywhere */
    cache_lock_all();
    if (!all) {
        recs[k].used = 0;
        if (open)
            prot_region_close(sp.coalloc_off + (size_t)page * GPAGE, n * GPAGE);
        pagerun_free(&region, (size_t)page, n);
        size_t held = 0;
        for (size_t i = 0; i < nrecs; i++)
            held += recs[i].used;
        cache_unlock_all();
        if (!open)
            log_error(call, "this process is out of memory maps (vm.max_map_count, %zu "
                      "allocations held); free some with gallocy_cofree, or raise it (sysctl -w "
                      "vm.max_map_count=1048576)", held);
        errno = ENOMEM;
        return NULL;
    }
    cache_unlock_all();
    return sp.base + sp.coalloc_off + (size_t)page * GPAGE;
}

/* Under cache_lock or not: the records change only in collective calls, which the caller
 * does not make meanwhile. */
size_t coalloc_usable_size(const void *p, const char *call)
{
    size_t off = space_off(p);
    const struct placement *r = rec_holding(off);
    if (r && off == sp.coalloc_off + r->page * GPAGE)
        return r->n * GPAGE;
    log_fatal(call, "%p is in gallocy_coalloc's region but not the start of an allocation it "
              "returned (or that allocation was freed)", p);
}

void coalloc_free(void *p)
{
    const char *call = "gallocy_cofree";
    /* The gather is also the entry barrier: every rank's earlier write backs are complete. */
    if (!args_agree(call, (struct coalloc_args){(uintptr_t)p, 0})) {
        errno = EINVAL;
        return;
    }
    if (!p)
        return;
    size_t k = 0;
    if (space_contains(p) && space_off(p) >= sp.coalloc_off)
        for (size_t page = (space_off(p) - sp.coalloc_off) / GPAGE; k < nrecs; k++)
            if (recs[k].used && recs[k].page == page)
                break;
    if (!space_contains(p) || space_off(p) < sp.coalloc_off || k == nrecs ||
        space_off(p) % GPAGE)
        log_fatal(call, "%p is not a pointer returned by gallocy_coalloc (or it was freed)", p);
    size_t off = sp.coalloc_off + recs[k].page * GPAGE, len = recs[k].n * GPAGE;
    cache_lock_all();
    cache_forget(off / GPAGE, recs[k].n);
    prot_region_close(off, len);
    space_discard(off, len, 1); /* home pages and cached copies: a later coalloc reads zeroes */
    recs[k].used = 0;
    pagerun_free(&region, recs[k].page, recs[k].n);
    cache_unlock_all();
    rt_barrier(); /* nobody reuses the range before everyone has let go of it */
}
