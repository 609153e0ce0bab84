/* alloc: the allocation calls of one rank.
 *
 * Small blocks (up to SC_MAX) come from the calling thread's Hoard heap (heap.c), large ones
 * are page runs of the home segment (segment.c); both live in this rank's home segment, so
 * what a rank allocates is local to it.  A free is dispatched by address: this rank's blocks
 * are freed here, other ranks' go to their remote-free queues (remote_free.c).  Misuse found
 * on the way (a foreign, interior or already free pointer) is fatal with a message: a heap
 * that hands a block out twice corrupts data silently, later and elsewhere.
 */
#include "alloc.h"

#include <errno.h>
#include <string.h>

#include "extent.h"
#include "heap.h"
#include "lifecycle.h"
#include "log.h"
#include "options.h"
#include "remote_free.h"
#include "segment.h"
#include "sizeclass.h"
#include "space.h"
#include "stats.h"
#include "transport.h"

/* Heap pages need not read zero afterwards (calloc clears): memory that cannot go back
 * (pinned for RDMA) is simply kept. */
static int discard_pages(size_t page, size_t n)
{
    return space_discard(space_my_heap_off() + page * GPAGE, n * GPAGE, 0);
}

static int expose_pages(size_t page, size_t n, int quiet)
{
    return tp_expose(space_my_heap_off() + page * GPAGE, n * GPAGE,
                     quiet ? NULL : "gallocy_malloc");
}

/* The allocator's fields of gallocy_stats_t (registered with stats: stats_set_source). */
_Static_assert(SC_COUNT == GALLOCY_SIZE_CLASSES, "gallocy.h's count of size classes is not "
               "sizeclass.h's");
static void alloc_stats(gallocy_stats_t *s)
{
    struct heap_totals t;
    heap_totals(&t);
    uint64_t large = segment_large_bytes();
    s->bytes_in_use = t.in_use + large;
    s->bytes_held = t.held + large;
    s->bytes_trimmed = segment_trimmed_bytes();
    memcpy(s->superblocks, t.superblocks, sizeof s->superblocks);
}

int alloc_init(void)
{
    struct segment_config c = {
        .base = sp.base + space_my_heap_off(),
        .npages = sp.heap_size / GPAGE,
        .page_info = (uint32_t *)(sp.alias + extent_pageinfo_off()),
        .discard = discard_pages,
        .expose = expose_pages,
        .retain_pages = opt.heap_retain / GPAGE,
    };
    if (segment_init(&c) || heap_init())
        return -ENOMEM;
    stats_set_source(alloc_stats);
    return remote_free_init(alloc_free_mine);
}

void alloc_fini(void)
{
    stats_set_source(NULL);
    extent_fini();
    remote_free_fini();
    heap_fini();
    segment_fini();
}

/* Allocation failed: apply what other ranks have freed here, give back what this thread's
 * heap holds empty (those frees may have emptied some), and try once more. */
static void *retry(int cls, size_t size, size_t align_pages)
{
    remote_free_drain(1);
    heap_release_empty();
    void *p = cls >= 0 ? heap_malloc(cls) : large_alloc(size, align_pages);
    if (!p)
        errno = ENOMEM;
    return p;
}

void *alloc_malloc_slow(size_t size)
{
    LIFECYCLE_REQUIRE("gallocy_malloc");
    remote_free_poll();
    if (size <= SC_MAX) {
        void *p = heap_malloc(sc_of(size));
        return p ? p : retry(sc_of(size), 0, 1);
    }
    void *p = large_alloc(size, 1);
    return p ? p : retry(-1, size, 1);
}

void *alloc_aligned(size_t alignment, size_t size)
{
    if (alignment == 0 || (alignment & (alignment - 1))) {
        errno = EINVAL;
        return NULL;
    }
    if (alignment <= 16)
        return alloc_malloc(size);
    remote_free_poll();
    size_t want = size < alignment ? alignment : size;
    if (alignment <= GPAGE && want <= SC_MAX) {
        /* Blocks sit at multiples of their size from a page-aligned superblock: a class whose
         * size is a multiple of the alignment gives aligned blocks. */
        for (int c = sc_of(want); c < SC_COUNT; c++)
            if (sc_size(c) % alignment == 0) {
                void *p = heap_malloc(c);
                return p ? p : retry(c, 0, 1);
            }
    }
    size_t align_pages = alignment > GPAGE ? alignment / GPAGE : 1;
    void *p = large_alloc(size ? size : 1, align_pages);
    return p ? p : retry(-1, size ? size : 1, align_pages);
}

void alloc_free_mine(size_t off, const char *call, const void *p, int sender)
{
    if (heap_free(off, call, p, sender))
        return;
    size_t page = off / GPAGE;
    uint32_t e = __atomic_load_n(&segment_page_info[page], __ATOMIC_RELAXED);
    switch (PI_KIND(e)) {
    case PI_LARGE:
        if (off % GPAGE == 0) {
            large_free(page, call, p);
            return;
        }
        /* fall through */
    case PI_TAIL:
        log_fatal(call, "%p points inside a large block, not at its start", p);
    default:
        log_fatal(call, "%p is not an allocated block (its page is free): a double free, or "
                  "a pointer gallocy did not return", p);
    }
}

/* Home rank of p; dies when p is not a gallocy_malloc block. */
static int home_of(const void *p, const char *call)
{
    if (!space_contains(p))
        log_fatal(call, "%p is not memory from gallocy (outside the global range %p-%p)", p,
                  (void *)sp.base, (void *)(sp.base + sp.range));
    size_t off = space_off(p);
    if (off >= sp.coalloc_off)
        log_fatal(call, "%p is from gallocy_coalloc; release it with gallocy_cofree (collective)",
                  p);
    return (int)(off / sp.heap_size);
}

void alloc_free_slow(void *p, const char *call)
{
    LIFECYCLE_REQUIRE(call);
    size_t off = alloc_seg_off(p);
    if (off < sp.heap_size)
        alloc_free_mine(off, call, p, -1);
    else
        remote_free_send(home_of(p, call), (uintptr_t)p);
}

size_t alloc_usable_size(const void *p, const char *call)
{
    int home = home_of(p, call);
    size_t off = space_off(p) - (size_t)home * sp.heap_size, start, end;
    if (extent_heap_block(home, off, 1, &start, &end) && start == off)
        return end - start; /* one read of the owner's page table, when not ours */
    log_fatal(call, "%p is not the start of an allocated block", p);
}

void *alloc_realloc(void *p, size_t size)
{
    const char *call = "gallocy_realloc";
    size_t old = alloc_usable_size(p, call), off = alloc_seg_off(p);
    if (off < sp.heap_size) { /* ours: maybe it stays where it is */
        if (old <= SC_MAX && size <= old && sc_size(sc_of(size)) * 2 > old)
            return p; /* fits, and moving would not save half */
        if (old > SC_MAX && size > SC_MAX && large_resize(off / GPAGE, (size + GPAGE - 1) / GPAGE))
            return p; /* grew into the free pages after it, or gave its tail back */
    }
    void *q = alloc_malloc(size);
    if (!q)
        return NULL; /* errno = ENOMEM, p untouched */
    memcpy(q, p, old < size ? old : size); /* p may fault in from its home */
    alloc_free(p, call);
    return q;
}

int alloc_sync(int block)
{
    remote_free_flush(block);
    if (!block)
        return remote_free_poll(); /* the service thread's idle tick: a load unless a batch came */
    remote_free_drain(1);
    heap_collect();
    return 0;
}

