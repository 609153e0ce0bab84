/* cache: twins, dirty list, clean-run list, write back, invalidation, home sharing. */
#include "cache.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "diff.h"
#include "log.h"
#include "notice.h"
#include "numa.h"
#include "space.h"
#include "stats.h"
#include "transport.h"
#include "vec.h"

uint8_t *cache_state;
futex_mutex_t cache_lock;
size_t cache_tracked;

struct run {
    size_t page, n;
};
struct dirty {
    size_t page;
    unsigned char *twin; /* NULL for an own home-dirty page: it is written in place */
};

/* Arrays grow with mremap and twins come from mmap'd chunks: the fault handler adds to both,
 * and malloc is not safe there. */
static struct run *runs; /* untracked clean copies: dropped at every acquire */
static size_t nruns, runs_cap;
static struct dirty *dirty;
static size_t ndirty, dirty_cap;
static struct run *stale; /* changed by this rank's puts and atomics: dropped at acquire */
static size_t nstale, stale_cap;
static size_t tracked_lo = SIZE_MAX, tracked_hi; /* pages holding every tracked copy */
static void *twin_free; /* free list of page-sized twins, linked through their first word */

enum { TWIN_CHUNK_PAGES = 64 };

static void add_run(struct run **arr, size_t *len, size_t *cap, size_t page, size_t n)
{
    if (*len == *cap)
        *arr = vec_grow(*arr, cap, sizeof **arr, "page-cache bookkeeping");
    (*arr)[(*len)++] = (struct run){page, n};
}

static unsigned char *twin_alloc(void)
{
    if (!twin_free) {
        char *chunk = mmap(NULL, TWIN_CHUNK_PAGES * GPAGE, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (chunk == MAP_FAILED)
            log_fatal("gallocy (write fault)", "out of memory for twin pages");
        for (size_t i = 0; i < TWIN_CHUNK_PAGES; i++) {
            *(void **)(chunk + i * GPAGE) = twin_free;
            twin_free = chunk + i * GPAGE;
        }
    }
    unsigned char *t = twin_free;
    twin_free = *(void **)t;
    return t;
}

static void twin_release(unsigned char *t)
{
    *(void **)t = twin_free;
    twin_free = t;
}

int cache_init(void)
{
    size_t npages = sp.range / GPAGE;
    cache_state = mmap(NULL, npages, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (cache_state == MAP_FAILED) {
        cache_state = NULL;
        return -ENOMEM;
    }
    numa_bind(cache_state, npages, "page-state table");
    return 0;
}

void cache_fini(void)
{
    /* Twin chunks are not tracked one by one; the few that exist die with the process image
     * of a finished job, and a re-init reuses the free list. */
    if (cache_state)
        munmap(cache_state, sp.range / GPAGE);
    vec_free(runs, runs_cap, sizeof *runs);
    vec_free(dirty, dirty_cap, sizeof *dirty);
    vec_free(stale, stale_cap, sizeof *stale);
    cache_state = NULL;
    runs = stale = NULL;
    dirty = NULL;
    nruns = runs_cap = ndirty = dirty_cap = nstale = stale_cap = 0;
    cache_tracked = 0;
    tracked_lo = SIZE_MAX;
    tracked_hi = 0;
}

/* Records fetched pages [page, page+n) as clean copies and announces them; their protection
 * is the caller's. */
static void record_clean(size_t page, size_t n, int home)
{
    notice_announce(home, page, n);
    for (size_t i = 0; i < n;) {
        int tracked = notice_page_tracked(page + i);
        size_t j = i + 1;
        while (j < n && notice_page_tracked(page + j) == tracked)
            j++;
        if (tracked) {
            memset(cache_state + page + i, PS_READ | PS_TRACKED, j - i);
            cache_tracked += j - i;
            tracked_lo = page + i < tracked_lo ? page + i : tracked_lo;
            tracked_hi = page + j > tracked_hi ? page + j : tracked_hi;
        } else {
            memset(cache_state + page + i, PS_READ, j - i);
            add_run(&runs, &nruns, &runs_cap, page + i, j - i);
        }
        i = j;
    }
}

void cache_add_clean(size_t page, size_t n, int home)
{
    record_clean(page, n, home);
    space_protect(page * GPAGE, n * GPAGE, PROT_READ);
}

static void add_dirty(size_t page, unsigned char *twin, uint8_t state)
{
    if (ndirty == dirty_cap)
        dirty = vec_grow(dirty, &dirty_cap, sizeof *dirty, "page-cache bookkeeping");
    dirty[ndirty++] = (struct dirty){page, twin};
    cache_state[page] = state;
}

void cache_make_dirty(size_t page, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char *t = twin_alloc();
        memcpy(t, sp.alias + (page + i) * GPAGE, GPAGE);
        add_dirty(page + i, t, PS_DIRTY | (cache_state[page + i] & PS_TRACKED));
    }
    space_protect(page * GPAGE, n * GPAGE, PROT_READ | PROT_WRITE);
    stats_inc(write_faults);
}

void cache_add_dirty(size_t page, size_t n, int home)
{
    record_clean(page, n, home);
    cache_make_dirty(page, n); /* straight to writable: one protection change, not two */
}

void cache_make_home_dirty(size_t page)
{
    add_dirty(page, NULL, PS_HOME_DIRTY);
    space_protect(page * GPAGE, GPAGE, PROT_READ | PROT_WRITE);
    stats_inc(home_write_faults);
}

static int by_page(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* The diff runs of the dirty pages, in page order, go home as puts; a run that continues
 * the previous one (the end of a page and the start of the next, with the same home) joins
 * it, so a stretch of wholly written pages is one put, not one a page. */
struct put_ctx {
    int home;      /* of the page being diffed */
    size_t off;    /* of the page being diffed */
    int run_home;  /* the run waiting to be put, or -1 */
    size_t run_off, run_len;
    size_t bytes, puts;
};

static void put_pending(struct put_ctx *c)
{
    if (c->run_home < 0)
        return;
    tp->put(c->run_home, c->run_off, sp.alias + c->run_off, c->run_len);
    c->puts++;
    c->run_home = -1;
}

static void put_run(size_t roff, size_t len, void *arg)
{
    struct put_ctx *c = arg;
    size_t off = c->off + roff;
    if (c->run_home != c->home || c->run_off + c->run_len != off) {
        put_pending(c);
        c->run_home = c->home;
        c->run_off = off;
        c->run_len = 0;
    }
    c->run_len += len;
    c->bytes += len;
}

void cache_write_back(void)
{
    if (ndirty == 0) {
        notice_publish(); /* what puts and atomics recorded */
        return;
    }
    /* struct dirty starts with its page number, so by_page sorts both arrays. */
    qsort(dirty, ndirty, sizeof *dirty, by_page);
    /* Write-protect first, in runs of adjacent pages: a thread still writing faults and waits
     * for cache_lock, so the diff below sees a stable page. */
    for (size_t i = 0; i < ndirty;) {
        size_t j = i + 1;
        while (j < ndirty && dirty[j].page == dirty[j - 1].page + 1)
            j++;
        space_protect(dirty[i].page * GPAGE, (j - i) * GPAGE, PROT_READ);
        i = j;
    }
    size_t pages = 0;
    struct put_ctx c = {.run_home = -1};
    for (size_t i = 0; i < ndirty; i++) {
        size_t off = dirty[i].page * GPAGE;
        if (!dirty[i].twin) { /* own page, written in place */
            notice_record(dirty[i].page, 1);
            continue;
        }
        c.home = space_home(off);
        c.off = off;
        size_t r = diff_runs(dirty[i].twin, (unsigned char *)sp.alias + off, GPAGE, put_run, &c);
        if (r)
            notice_record(dirty[i].page, 1);
        pages += r > 0;
    }
    put_pending(&c);
    if (c.puts)
        tp->flush(TP_ALL_RANKS);
    for (size_t i = 0; i < ndirty; i++) {
        uint8_t *st = &cache_state[dirty[i].page];
        if (dirty[i].twin) {
            twin_release(dirty[i].twin);
            *st = PS_READ | (*st & PS_TRACKED);
        } else {
            *st = PS_SHARED;
        }
    }
    ndirty = 0;
    notice_publish();
    stats_add(pages_written_back, pages);
    stats_add(bytes_written_back, c.bytes);
    stats_add(diff_runs, c.puts);
}

/* Drops the clean copies among [page, page+n): untracked ones, and tracked ones too if
 * tracked_too.  One protection change per run of them. */
static size_t drop_clean(size_t page, size_t n, int tracked_too)
{
    size_t npages = sp.range / GPAGE, dropped = 0;
    if (page >= npages)
        return 0;
    size_t end = n < npages - page ? page + n : npages;
    for (size_t i = page; i < end;) {
        uint8_t s = cache_state[i];
        if (s != PS_READ && !(tracked_too && s == (PS_READ | PS_TRACKED))) {
            i++;
            continue;
        }
        size_t j = i;
        for (; j < end; j++) {
            s = cache_state[j];
            if (s == (PS_READ | PS_TRACKED) && tracked_too)
                cache_tracked--;
            else if (s != PS_READ)
                break;
        }
        space_protect(i * GPAGE, (j - i) * GPAGE, PROT_NONE);
        memset(cache_state + i, PS_INVALID, j - i);
        dropped += j - i;
        i = j;
    }
    if (cache_tracked == 0) {
        tracked_lo = SIZE_MAX;
        tracked_hi = 0;
    }
    stats_add(invalidations, dropped);
    return dropped;
}

size_t cache_drop(size_t page, size_t n)
{
    return drop_clean(page, n, 1);
}

size_t cache_drop_tracked(void)
{
    return tracked_hi > tracked_lo ? drop_clean(tracked_lo, tracked_hi - tracked_lo, 1) : 0;
}

void cache_invalidate(void)
{
    cache_write_back();
    qsort(runs, nruns, sizeof *runs, by_page);
    for (size_t i = 0; i < nruns;) {
        size_t start = runs[i].page, end = runs[i].page + runs[i].n, j = i + 1;
        while (j < nruns && runs[j].page <= end) { /* merge adjacent runs: one mprotect */
            if (runs[j].page + runs[j].n > end)
                end = runs[j].page + runs[j].n;
            j++;
        }
        drop_clean(start, end - start, 0);
        i = j;
    }
    nruns = 0;
    for (size_t i = 0; i < nstale; i++)
        drop_clean(stale[i].page, stale[i].n, 1);
    nstale = 0;
}

size_t cache_share_home(size_t page, size_t n)
{
    size_t npages = sp.range / GPAGE, shared = 0;
    if (page >= npages)
        return 0;
    size_t end = n < npages - page ? page + n : npages;
    for (size_t i = page; i < end;) {
        size_t run_end;
        int home = space_home_run(i * GPAGE, &run_end);
        size_t stop = run_end / GPAGE < end ? run_end / GPAGE : end;
        if (home != sp.rank || stop <= i) { /* not ours (any more): the run was stale */
            i = stop > i ? stop : i + 1;
            continue;
        }
        while (i < stop) {
            if (cache_state[i] != PS_INVALID) {
                i++;
                continue;
            }
            size_t j = i + 1;
            while (j < stop && cache_state[j] == PS_INVALID)
                j++;
            memset(cache_state + i, PS_SHARED, j - i);
            space_protect(i * GPAGE, (j - i) * GPAGE, PROT_READ);
            shared += j - i;
            i = j;
        }
    }
    return shared;
}

void cache_changed(size_t off, size_t len, int home)
{
    if (len == 0)
        return;
    size_t page = off / GPAGE, n = (off + len - 1) / GPAGE - page + 1;
    futex_lock(&cache_lock);
    notice_record(page, n);
    if (home != sp.rank)
        add_run(&stale, &nstale, &stale_cap, page, n);
    futex_unlock(&cache_lock);
}

void cache_forget(size_t page, size_t n)
{
    size_t end = page + n;
    for (size_t i = 0; i < ndirty;) {
        if (dirty[i].page >= page && dirty[i].page < end) {
            if (dirty[i].twin)
                twin_release(dirty[i].twin);
            dirty[i] = dirty[--ndirty];
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < nruns;) {
        size_t rs = runs[i].page, re = rs + runs[i].n;
        if (re <= page || rs >= end) {
            i++;
            continue;
        }
        /* Keep the parts outside [page, end). */
        if (rs < page && re > end)
            add_run(&runs, &nruns, &runs_cap, end, re - end);
        if (rs < page) {
            runs[i++].n = page - rs;
        } else if (re > end) {
            runs[i] = (struct run){end, re - end};
            i++;
        } else {
            runs[i] = runs[--nruns];
        }
    }
    for (size_t i = page; i < end; i++)
        cache_tracked -= (cache_state[i] & PS_TRACKED) != 0;
    memset(cache_state + page, PS_INVALID, n);
    notice_forget(page, n);
}
