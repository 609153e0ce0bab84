/* cache: twins, dirty list, clean-run list, write back and invalidation. */
#include "cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "diff.h"
#include "log.h"
#include "numa.h"
#include "space.h"
#include "stats.h"
#include "transport.h"

uint8_t *cache_state;
futex_mutex_t cache_lock;

struct run {
    size_t page, n;
};
struct dirty {
    size_t page;
    unsigned char *twin;
};

/* Arrays grow with mremap and twins come from mmap'd chunks: the fault handler adds to both,
 * and malloc is not safe there. */
static struct run *runs;
static size_t nruns, runs_cap;
static struct dirty *dirty;
static size_t ndirty, dirty_cap;
static void *twin_free; /* free list of page-sized twins, linked through their first word */

enum { TWIN_CHUNK_PAGES = 64 };

static void *grow(void *arr, size_t *cap, size_t elem)
{
    size_t ncap = *cap ? *cap * 2 : 1024;
    void *p = arr ? mremap(arr, *cap * elem, ncap * elem, MREMAP_MAYMOVE)
                  : mmap(NULL, ncap * elem, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                         -1, 0);
    if (p == MAP_FAILED)
        log_fatal("gallocy (page cache)", "out of memory for page-cache bookkeeping");
    *cap = ncap;
    return p;
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
    if (runs)
        munmap(runs, runs_cap * sizeof *runs);
    if (dirty)
        munmap(dirty, dirty_cap * sizeof *dirty);
    cache_state = NULL;
    runs = NULL;
    dirty = NULL;
    nruns = runs_cap = ndirty = dirty_cap = 0;
}

void cache_add_clean(size_t page, size_t n)
{
    if (nruns == runs_cap)
        runs = grow(runs, &runs_cap, sizeof *runs);
    runs[nruns++] = (struct run){page, n};
    memset(cache_state + page, PS_READ, n);
    space_protect(page * GPAGE, n * GPAGE, PROT_READ);
}

void cache_make_dirty(size_t page)
{
    if (ndirty == dirty_cap)
        dirty = grow(dirty, &dirty_cap, sizeof *dirty);
    unsigned char *t = twin_alloc();
    memcpy(t, sp.alias + page * GPAGE, GPAGE);
    dirty[ndirty++] = (struct dirty){page, t};
    cache_state[page] = PS_DIRTY;
    space_protect(page * GPAGE, GPAGE, PROT_READ | PROT_WRITE);
    stats_inc(write_faults);
}

static int by_page(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

struct put_ctx {
    int home;
    size_t off;
    size_t bytes;
};

static void put_run(size_t roff, size_t len, void *arg)
{
    struct put_ctx *c = arg;
    tp->put(c->home, c->off + roff, sp.alias + c->off + roff, len);
    c->bytes += len;
}

void cache_write_back(void)
{
    if (ndirty == 0)
        return;
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
    size_t pages = 0, bytes = 0, nputs = 0;
    for (size_t i = 0; i < ndirty; i++) {
        size_t off = dirty[i].page * GPAGE;
        struct put_ctx c = {space_home(off), off, 0};
        size_t r = diff_runs(dirty[i].twin, (unsigned char *)sp.alias + off, GPAGE, put_run, &c);
        nputs += r;
        pages += r > 0;
        bytes += c.bytes;
    }
    if (nputs)
        tp->flush(TP_ALL_RANKS);
    for (size_t i = 0; i < ndirty; i++) {
        twin_release(dirty[i].twin);
        cache_state[dirty[i].page] = PS_READ;
    }
    ndirty = 0;
    stats_add(pages_written_back, pages);
    stats_add(bytes_written_back, bytes);
    stats_add(diff_runs, nputs);
}

void cache_invalidate(void)
{
    cache_write_back();
    if (nruns == 0)
        return;
    qsort(runs, nruns, sizeof *runs, by_page);
    size_t dropped = 0;
    for (size_t i = 0; i < nruns;) {
        size_t start = runs[i].page, end = runs[i].page + runs[i].n, j = i + 1;
        while (j < nruns && runs[j].page <= end) { /* merge adjacent runs: one mprotect */
            if (runs[j].page + runs[j].n > end)
                end = runs[j].page + runs[j].n;
            j++;
        }
        space_protect(start * GPAGE, (end - start) * GPAGE, PROT_NONE);
        memset(cache_state + start, PS_INVALID, end - start);
        dropped += end - start;
        i = j;
    }
    nruns = 0;
    stats_add(invalidations, dropped);
}

void cache_forget(size_t page, size_t n)
{
    size_t end = page + n;
    for (size_t i = 0; i < ndirty;) {
        if (dirty[i].page >= page && dirty[i].page < end) {
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
        if (rs < page && re > end) {
            if (nruns == runs_cap)
                runs = grow(runs, &runs_cap, sizeof *runs);
            runs[nruns++] = (struct run){end, re - end};
        }
        if (rs < page) {
            runs[i++].n = page - rs;
        } else if (re > end) {
            runs[i] = (struct run){end, re - end};
            i++;
        } else {
            runs[i] = runs[--nruns];
        }
    }
    memset(cache_state + page, PS_INVALID, n);
}
