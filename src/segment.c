/* segment: page runs of the home segment under one lock, large blocks, and trimming. */
#include "segment.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "log.h"
#include "pagerun.h"
#include "superblock.h"

uint32_t *segment_page_info;
char *segment_base;
size_t segment_npages;

static pthread_mutex_t seg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pagerun runs;
static struct segment_config cfg;
static size_t high_water; /* pages below it may be backed */
static size_t exposed;    /* pages below it are addressable by other ranks: never lowered */
static size_t freed_since_trim;
static uint64_t large_pages, trimmed_pages; /* atomic for readers */

int segment_init(const struct segment_config *c)
{
    cfg = *c;
    segment_page_info = c->page_info;
    segment_base = c->base;
    segment_npages = c->npages;
    high_water = freed_since_trim = exposed = 0;
    large_pages = trimmed_pages = 0;
    if ((uintptr_t)c->base % SB_BYTES)
        return -EINVAL; /* superblocks are found by offset and must sit at aligned addresses */
    int rc = pagerun_init(&runs, c->npages);
    runs.origin = (uintptr_t)c->base / 4096;
    return rc;
}

void segment_fini(void)
{
    pagerun_fini(&runs);
    segment_page_info = NULL;
    segment_base = NULL; /* free's fast path finds nothing of ours from now on */
    segment_npages = 0;
}

static void set_entry(size_t page, uint32_t e)
{
    __atomic_store_n(&segment_page_info[page], e, __ATOMIC_RELAXED);
}

/* Exposes pages below end, ahead of need by an eighth of what is exposed (at least 4 MiB)
 * so that a growing heap registers a few dozen times, not once per superblock; exactly to
 * end when the headroom cannot be had.  0 or -1.  Lock held. */
static int expose_to(size_t end)
{
    enum { MIN_STEP = 1024 };
    if (end <= exposed || !cfg.expose)
        return 0;
    size_t step = exposed / 8 > MIN_STEP ? exposed / 8 : MIN_STEP, ahead = exposed + step;
    if (ahead < end)
        ahead = end;
    if (ahead > cfg.npages)
        ahead = cfg.npages;
    if (ahead > end && cfg.expose(exposed, ahead - exposed, 1) == 0) {
        exposed = ahead;
        return 0;
    }
    if (cfg.expose(exposed, end - exposed, 0) != 0)
        return -1;
    exposed = end;
    return 0;
}

long segment_alloc(size_t n, size_t align)
{
    pthread_mutex_lock(&seg_lock);
    long pg = pagerun_alloc(&runs, n, align);
    if (pg >= 0 && expose_to((size_t)pg + n) != 0) {
        pagerun_free(&runs, (size_t)pg, n);
        pg = -1;
    }
    if (pg >= 0 && (size_t)pg + n > high_water)
        high_water = (size_t)pg + n;
    pthread_mutex_unlock(&seg_lock);
    return pg;
}

/* Gives back every free page below the high-water mark.  Lock held. */
static void trim_locked(void)
{
    for (size_t i = 0; i < runs.nfree && runs.free[i].start < high_water; i++) {
        size_t s = runs.free[i].start, e = s + runs.free[i].n;
        if (e > high_water)
            e = high_water;
        if (!cfg.discard(s, e - s)) {
            cfg.retain_pages = SIZE_MAX; /* the memory cannot go back: keep all of it */
            return;
        }
        __atomic_fetch_add(&trimmed_pages, e - s, __ATOMIC_RELAXED);
    }
    /* Free runs at the top are never backed again until handed out. */
    if (runs.nfree && runs.free[runs.nfree - 1].start + runs.free[runs.nfree - 1].n ==
                          cfg.npages && runs.free[runs.nfree - 1].start < high_water)
        high_water = runs.free[runs.nfree - 1].start;
    freed_since_trim = 0;
}

static void free_locked(size_t page, size_t n)
{
    pagerun_free(&runs, page, n);
    freed_since_trim += n;
    if (freed_since_trim > cfg.retain_pages)
        trim_locked();
}

void segment_free(size_t page, size_t n)
{
    pthread_mutex_lock(&seg_lock);
    free_locked(page, n);
    pthread_mutex_unlock(&seg_lock);
}

static void mark_large(size_t page, size_t from, size_t n)
{
    set_entry(page, PI_LARGE | (uint32_t)n);
    for (size_t i = from > 1 ? from : 1; i < n; i++)
        set_entry(page + i, PI_TAIL | (uint32_t)i);
}

void *large_alloc(size_t size, size_t align_pages)
{
    size_t n = (size + 4095) / 4096;
    if (n == 0 || n > cfg.npages)
        return NULL;
    long pg = segment_alloc(n, align_pages);
    if (pg < 0)
        return NULL;
    mark_large((size_t)pg, 1, n);
    __atomic_fetch_add(&large_pages, n, __ATOMIC_RELAXED);
    return segment_base + (size_t)pg * 4096;
}

void large_free(size_t page, const char *call, const void *p)
{
    pthread_mutex_lock(&seg_lock);
    uint32_t e = segment_page_info[page];
    if (PI_KIND(e) != PI_LARGE) { /* another thread freed it first */
        pthread_mutex_unlock(&seg_lock);
        log_fatal(call, "double free of %p (a large block already free)", p);
    }
    size_t n = PI_VALUE(e);
    for (size_t i = 0; i < n; i++)
        set_entry(page + i, PI_FREE);
    __atomic_fetch_sub(&large_pages, n, __ATOMIC_RELAXED);
    free_locked(page, n);
    pthread_mutex_unlock(&seg_lock);
}

int large_resize(size_t page, size_t want)
{
    pthread_mutex_lock(&seg_lock);
    size_t n = PI_VALUE(segment_page_info[page]);
    int done = 1;
    if (want > n) {
        done = page + want <= cfg.npages && pagerun_take(&runs, page + n, want - n);
        if (done && expose_to(page + want) != 0) {
            pagerun_free(&runs, page + n, want - n);
            done = 0;
        }
        if (done) {
            mark_large(page, n, want);
            __atomic_fetch_add(&large_pages, want - n, __ATOMIC_RELAXED);
            if (page + want > high_water)
                high_water = page + want;
        }
    } else if (want < n) {
        set_entry(page, PI_LARGE | (uint32_t)want);
        for (size_t i = want; i < n; i++)
            set_entry(page + i, PI_FREE);
        __atomic_fetch_sub(&large_pages, n - want, __ATOMIC_RELAXED);
        free_locked(page + want, n - want);
    }
    pthread_mutex_unlock(&seg_lock);
    return done;
}

uint64_t segment_large_bytes(void)
{
    return __atomic_load_n(&large_pages, __ATOMIC_RELAXED) * 4096;
}

uint64_t segment_trimmed_bytes(void)
{
    return __atomic_load_n(&trimmed_pages, __ATOMIC_RELAXED) * 4096;
}
