/* extent: the allocated block around a global address (see extent.h). */
#include "extent.h"

#include <errno.h>
#include <string.h>

#include "coalloc.h"
#include "heap.h"
#include "log.h"
#include "meta.h"
#include "options.h"
#include "segment.h"
#include "sizeclass.h"
#include "space.h"
#include "superblock.h"
#include "transport.h"

/* Other homes' page-table entries, direct-mapped by tag = global page number + 1:
 *   epoch (12 bits) << 52 | tag / CACHE_SLOTS (20 bits) << 32 | entry
 * so a slot is one atomic load.  An entry of an older epoch is a miss: the epoch changes at
 * every acquire, after which this rank may learn of blocks other homes freed.  Free entries
 * are not kept (a refusal reads again anyway). */
enum { CACHE_SLOTS = 4096, EPOCH_BITS = 12 };
static uint64_t cache[CACHE_SLOTS];
unsigned extent_epoch = 1; /* never 0, so that an empty slot never matches */
__thread struct extent_memo extent_memo;
static int reported; /* a refusal with an error return was reported (extent_require) */

size_t extent_pageinfo_off(void)
{
    return sp.meta_off + meta_pageinfo_off((size_t)opt.remote_free_slots);
}

void extent_forget(void)
{
    unsigned e = (__atomic_load_n(&extent_epoch, __ATOMIC_RELAXED) + 1) % (1u << EPOCH_BITS);
    __atomic_store_n(&extent_epoch, e ? e : 1, __ATOMIC_RELAXED);
}

void extent_fini(void)
{
    memset(cache, 0, sizeof cache);
    extent_forget(); /* not back to 1: other threads' memos would match again */
    reported = 0;
}

static uint32_t entry_of(int home, size_t page, int fresh)
{
    if (home == sp.rank)
        return __atomic_load_n(&segment_page_info[page], __ATOMIC_RELAXED);
    uint64_t tag = (uint64_t)home * (sp.heap_size / GPAGE) + page + 1;
    uint64_t *slot = tag >> 32 ? NULL : &cache[tag % CACHE_SLOTS]; /* past 16 TiB: uncached */
    uint64_t key = (uint64_t)__atomic_load_n(&extent_epoch, __ATOMIC_RELAXED) << 20 |
                   tag / CACHE_SLOTS;
    uint64_t v = slot ? __atomic_load_n(slot, __ATOMIC_RELAXED) : 0;
    if (slot && !fresh && v >> 32 == key)
        return (uint32_t)v;
    uint32_t e;
    tp->get(&e, home, extent_pageinfo_off() + page * sizeof e, sizeof e);
    tp->flush(home);
    if (slot && PI_KIND(e) != PI_FREE)
        __atomic_store_n(slot, key << 32 | e, __ATOMIC_RELAXED);
    return e;
}

int extent_heap_block(int home, size_t hoff, int fresh, size_t *start, size_t *end)
{
    size_t page = hoff / GPAGE;
    uint32_t e = entry_of(home, page, fresh);
    if (PI_KIND(e) == PI_TAIL) {
        if (PI_VALUE(e) > page)
            return 0;
        page -= PI_VALUE(e);
        e = entry_of(home, page, fresh);
    }
    if (PI_KIND(e) == PI_LARGE) {
        *start = page * GPAGE;
        *end = *start + (size_t)PI_VALUE(e) * GPAGE;
        return hoff < *end; /* else a stale tail or head */
    }
    if (PI_KIND(e) != PI_SB || PI_SB_PAGE(e) > page)
        return 0;
    size_t size = sc_size((int)PI_SB_CLASS(e)), sb_off = (page - PI_SB_PAGE(e)) * GPAGE, i;
    if (home == sp.rank) {
        /* The descriptor: its reciprocal saves a division, and its state byte is the truth
         * (a free flips it first).  A descriptor of another class means the page table was
         * read while the superblock changed hands. */
        struct sb *s = heap_desc_of(sb_off);
        if (__atomic_load_n(&s->size, __ATOMIC_RELAXED) != size)
            return 0;
        i = (size_t)((uint64_t)(hoff - sb_off) * s->recip >> 32); /* exact: see sb_index */
        if (i >= s->nobjs || !__atomic_load_n(&sb_state(s)[i], __ATOMIC_RELAXED))
            return 0;
    } else {
        i = (hoff - sb_off) / size;
        if (i >= SB_BYTES / size)
            return 0;
    }
    *start = sb_off + i * size;
    *end = *start + size;
    return 1;
}

static enum extent_verdict verdict(size_t off, size_t n, int fresh, size_t *start, size_t *end)
{
    int found;
    if (off >= sp.coalloc_off) {
        found = coalloc_extent(off, start, end);
    } else {
        size_t home = off / sp.heap_size, base = home * sp.heap_size, s = 0, e = 0;
        found = extent_heap_block((int)home, off - base, fresh, &s, &e);
        *start = base + s;
        *end = base + e;
    }
    if (!found)
        return EXTENT_NO_BLOCK;
    return n <= *end - off ? EXTENT_INSIDE : EXTENT_PAST_END;
}

enum extent_verdict extent_check(size_t off, size_t n, size_t *start, size_t *end)
{
    *start = *end = off;
    enum extent_verdict v = verdict(off, n, 0, start, end);
    if (v != EXTENT_INSIDE && off < sp.coalloc_off && off / sp.heap_size != (size_t)sp.rank)
        v = verdict(off, n, 1, start, end); /* perhaps stale: ask the home */
    return v;
}

/* The memo of [start, end), the block holding [off, off+n): a collective allocation spread
 * over the ranks whole, with its layout; else cut to the run of one home that holds the range
 * (none when the range itself is on two homes). */
static void remember(size_t off, size_t n, size_t start, size_t end, unsigned epoch)
{
    size_t stretch = off >= sp.coalloc_off ? coalloc_stretch_pages(off) : 0;
    if (stretch && (end - start) / GPAGE < ((size_t)1 << 32)) { /* spread: home from layout */
        extent_memo = (struct extent_memo){start, end, epoch, -1, stretch};
        return;
    }
    size_t run_end, start_run_end;
    int home = space_home_run(off, &run_end);
    if (home < 0 || n > run_end - off)
        return;
    if (space_home_run(start, &start_run_end) != home || start_run_end != run_end)
        start = off; /* the block begins in another run: keep from here */
    extent_memo = (struct extent_memo){start, end < run_end ? end : run_end, epoch, home, 0};
}

int extent_require_slow(const void *p, size_t n, const char *call, int fatal)
{
    size_t start, end, off = space_off(p);
    unsigned epoch = __atomic_load_n(&extent_epoch, __ATOMIC_ACQUIRE); /* before the reads */
    enum extent_verdict v = extent_check(off, n, &start, &end);
    if (v == EXTENT_INSIDE) {
        if (off >= sp.coalloc_off || off / sp.heap_size != (size_t)sp.rank)
            remember(off, n, start, end, epoch);
        return 0;
    }
    if (!fatal && __atomic_exchange_n(&reported, 1, __ATOMIC_RELAXED))
        return -EINVAL;
    void (*say)(const char *, const char *, ...) = fatal ? log_fatal : log_error;
    const char *outcome = fatal ? "" : " Nothing was done; the call returns -EINVAL (further "
                                       "such errors of this rank are not reported).";
    if (v == EXTENT_NO_BLOCK)
        say(call, "%p is in no allocated block (a freed block, free memory, or past the end "
            "of one): use memory from gallocy_malloc or gallocy_coalloc that is not freed.%s",
            p, outcome);
    else
        say(call, "the %zu bytes at %p run past the end of their block [%p, %p) by %zu bytes: "
            "the range must lie in one allocation.%s", n, p, (void *)(sp.base + start),
            (void *)(sp.base + end), space_off(p) + n - end, outcome);
    return -EINVAL;
}
