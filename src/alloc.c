/* alloc: the per-rank heap.
 *
 * Small blocks (<= 2048 B) come from 64 KiB slabs of one size class; larger ones are page runs.
 * Metadata lives in internal memory (slab descriptors) and in this rank's registered page
 * table (one u32 per heap page), never in the global range.  One mutex guards the heap; a free
 * from another rank arrives through the remote-free queue (remote_free.c) and is applied here.
 */
#include "alloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "meta.h"
#include "options.h"
#include "pagerun.h"
#include "remote_free.h"
#include "space.h"
#include "stats.h"
#include "transport.h"

/* Classes: 16-byte steps to 128, then four per doubling to 2048: a block wastes at most
 * 15 bytes below 128 and under 25% of its size above. */
static const uint16_t class_sizes[] = {16,  32,  48,  64,  80,   96,   112,  128,
                                       160, 192, 224, 256, 320,  384,  448,  512,
                                       640, 768, 896, 1024, 1280, 1536, 1792, 2048};
enum { NCLASSES = sizeof class_sizes / sizeof class_sizes[0], SLAB_PAGES = 16 };
#define SLAB_BYTES (SLAB_PAGES * GPAGE)
#define MAX_SMALL 2048
#define SLAB_MAX_OBJS (SLAB_BYTES / 16)

/* Page-table entries: kind in the top 2 bits. */
#define PI_FREE 0u
#define PI_SLAB (1u << 30)  /* | class << 16 | page index within the slab */
#define PI_LARGE (2u << 30) /* | pages in the run (head page) */
#define PI_TAIL (3u << 30)  /* | distance to the head page */
#define PI_KIND(x) ((x) & (3u << 30))
#define PI_VALUE(x) ((x) & ~(3u << 30))

struct slab {
    struct slab *next, *prev; /* in its class's list of slabs with free blocks */
    size_t page;              /* first heap page */
    uint32_t cls, nfree, nobjs;
    uint64_t freebits[SLAB_MAX_OBJS / 64]; /* 1 = free */
};

static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pagerun heap_runs;
static struct slab *partial[NCLASSES];
static struct slab **slab_at; /* by first heap page; sparse */
static uint32_t *page_info;    /* in the registered metadata */
static size_t heap_pages;

int alloc_size_class(size_t size)
{
    if (size > MAX_SMALL)
        return -1;
    if (size <= 128)
        return size <= 16 ? 0 : (int)((size + 15) / 16) - 1;
    int lo = 8, hi = NCLASSES - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (class_sizes[mid] >= size)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

size_t alloc_class_size(int cls)
{
    return class_sizes[cls];
}

int alloc_nclasses(void)
{
    return NCLASSES;
}

int alloc_init(void)
{
    heap_pages = sp.heap_size / GPAGE;
    page_info = (uint32_t *)(sp.alias + sp.meta_off + meta_pageinfo_off((size_t)opt.remote_free_slots));
    slab_at = mmap(NULL, heap_pages * sizeof *slab_at, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (slab_at == MAP_FAILED) {
        slab_at = NULL;
        return -ENOMEM;
    }
    memset(partial, 0, sizeof partial);
    if (pagerun_init(&heap_runs, heap_pages))
        return -ENOMEM;
    return remote_free_init();
}

void alloc_fini(void)
{
    remote_free_fini();
    if (slab_at) {
        for (size_t pg = 0; pg < heap_pages; pg += SLAB_PAGES) /* slabs start at page 0 of 16 */
            if (slab_at[pg])
                free(slab_at[pg]);
        munmap(slab_at, heap_pages * sizeof *slab_at);
    }
    slab_at = NULL;
    pagerun_fini(&heap_runs);
}

static inline char *heap_base(void)
{
    return sp.base + space_my_heap_off();
}

static void list_push(struct slab *s)
{
    s->prev = NULL;
    s->next = partial[s->cls];
    if (s->next)
        s->next->prev = s;
    partial[s->cls] = s;
}

static void list_remove(struct slab *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        partial[s->cls] = s->next;
    if (s->next)
        s->next->prev = s->prev;
}

static struct slab *slab_new(int cls)
{
    long pg = pagerun_alloc(&heap_runs, SLAB_PAGES, 1);
    if (pg < 0)
        return NULL;
    struct slab *s = calloc(1, sizeof *s);
    if (!s) {
        pagerun_free(&heap_runs, (size_t)pg, SLAB_PAGES);
        return NULL;
    }
    s->page = (size_t)pg;
    s->cls = (uint32_t)cls;
    s->nobjs = s->nfree = SLAB_BYTES / class_sizes[cls];
    for (uint32_t i = 0; i < s->nobjs; i++)
        s->freebits[i / 64] |= 1ull << (i % 64);
    for (uint32_t i = 0; i < SLAB_PAGES; i++)
        page_info[pg + i] = PI_SLAB | (uint32_t)cls << 16 | i;
    slab_at[pg] = s;
    list_push(s);
    return s;
}

static void slab_delete(struct slab *s)
{
    list_remove(s);
    for (uint32_t i = 0; i < SLAB_PAGES; i++)
        page_info[s->page + i] = PI_FREE;
    slab_at[s->page] = NULL;
    pagerun_free(&heap_runs, s->page, SLAB_PAGES);
    free(s);
}

static void *small_alloc(int cls)
{
    struct slab *s = partial[cls];
    if (!s && !(s = slab_new(cls)))
        return NULL;
    for (uint32_t w = 0;; w++) {
        if (!s->freebits[w])
            continue;
        uint32_t bit = (uint32_t)__builtin_ctzll(s->freebits[w]);
        s->freebits[w] &= ~(1ull << bit);
        if (--s->nfree == 0)
            list_remove(s);
        stats_add(bytes_allocated, class_sizes[cls]);
        return heap_base() + s->page * GPAGE + (size_t)(w * 64 + bit) * class_sizes[cls];
    }
}

static void *large_alloc(size_t size, size_t align_pages)
{
    size_t n = (size + GPAGE - 1) / GPAGE;
    if (n == 0 || size > sp.heap_size)
        return NULL;
    long pg = pagerun_alloc(&heap_runs, n, align_pages);
    if (pg < 0)
        return NULL;
    page_info[pg] = PI_LARGE | (uint32_t)n;
    for (size_t i = 1; i < n; i++)
        page_info[pg + i] = PI_TAIL | (uint32_t)i;
    stats_add(bytes_allocated, n * GPAGE);
    return heap_base() + (size_t)pg * GPAGE;
}

static void heap_enter(void)
{
    pthread_mutex_lock(&heap_lock);
    remote_free_drain_locked();
}

void *alloc_malloc(size_t size)
{
    int cls = alloc_size_class(size);
    heap_enter();
    void *p = cls >= 0 ? small_alloc(cls) : large_alloc(size, 1);
    pthread_mutex_unlock(&heap_lock);
    if (!p)
        errno = ENOMEM;
    return p;
}

void *alloc_aligned(size_t alignment, size_t size)
{
    if (alignment == 0 || (alignment & (alignment - 1))) {
        errno = EINVAL;
        return NULL;
    }
    if (alignment <= 16)
        return alloc_malloc(size);
    size_t want = size < alignment ? alignment : (size + alignment - 1) / alignment * alignment;
    void *p = NULL;
    heap_enter();
    if (want <= MAX_SMALL) {
        /* Power-of-two classes of at least the alignment: their blocks sit at multiples of
         * their size inside page-aligned slabs, so they are aligned. */
        int cls = alloc_size_class(want);
        while (class_sizes[cls] & (class_sizes[cls] - 1))
            cls++;
        p = small_alloc(cls);
    } else {
        p = large_alloc(size ? size : 1, alignment > GPAGE ? alignment / GPAGE : 1);
    }
    pthread_mutex_unlock(&heap_lock);
    if (!p)
        errno = ENOMEM;
    return p;
}

/* Finds the block at heap offset off: its start and usable size from the page-table entry e.
 * Returns 0 when off is not the start of a block (interior pointer, or free page). */
static int block_of(uint32_t e, size_t page, size_t off, size_t *start, size_t *usable)
{
    switch (PI_KIND(e)) {
    case PI_SLAB: {
        size_t slab_off = (page - (e & 0xffff)) * GPAGE, cs = class_sizes[(e >> 16) & 0xff];
        *start = slab_off + (off - slab_off) / cs * cs;
        *usable = cs;
        return 1;
    }
    case PI_LARGE:
        *start = page * GPAGE;
        *usable = (size_t)PI_VALUE(e) * GPAGE;
        return 1;
    case PI_TAIL:
        *start = (page - PI_VALUE(e)) * GPAGE;
        *usable = 0;
        return 1;
    default:
        return 0;
    }
}

/* Called with heap_lock held.  Misuse is fatal: a heap that hands a block out twice corrupts
 * data silently, later and elsewhere. */
static void free_locked(size_t off, const char *call, const void *p)
{
    size_t page = off / GPAGE, start, usable;
    uint32_t e = page_info[page];
    if (!block_of(e, page, off, &start, &usable))
        log_fatal(call, "%p is not an allocated block (its page is free): double free, or a "
                  "pointer gallocy did not return", p);
    if (start != off)
        log_fatal(call, "%p points inside a block (which starts at %p), not at its start", p,
                  (void *)(heap_base() + start));
    if (PI_KIND(e) == PI_LARGE) {
        size_t n = PI_VALUE(e);
        for (size_t i = 0; i < n; i++)
            page_info[page + i] = PI_FREE;
        pagerun_free(&heap_runs, page, n);
        stats_sub(bytes_allocated, n * GPAGE);
        return;
    }
    struct slab *s = slab_at[page - (e & 0xffff)];
    size_t idx = (off - s->page * GPAGE) / class_sizes[s->cls];
    if (s->freebits[idx / 64] & (1ull << (idx % 64)))
        log_fatal(call, "double free of %p (a %u-byte block already free)", p,
                  (unsigned)class_sizes[s->cls]);
    s->freebits[idx / 64] |= 1ull << (idx % 64);
    stats_sub(bytes_allocated, class_sizes[s->cls]);
    if (++s->nfree == 1)
        list_push(s);
    else if (s->nfree == s->nobjs && (s->next || s->prev))
        slab_delete(s); /* keep one empty slab per class for reuse, give back the rest */
}

void alloc_free_local_locked(uintptr_t addr, const char *call)
{
    free_locked(space_off((void *)addr) - space_my_heap_off(), call, (void *)addr);
}

static int check_global(const void *p, const char *call)
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

void alloc_free(void *p, const char *call)
{
    int home = check_global(p, call);
    if (home != sp.rank) {
        remote_free_send(home, (uintptr_t)p);
        return;
    }
    heap_enter();
    free_locked(space_off(p) - space_my_heap_off(), call, p);
    pthread_mutex_unlock(&heap_lock);
}

size_t alloc_usable_size(const void *p, const char *call)
{
    int home = check_global(p, call);
    size_t off = space_off(p) - (size_t)home * sp.heap_size, page = off / GPAGE, start, usable;
    uint32_t e;
    if (home == sp.rank) {
        e = __atomic_load_n(&page_info[page], __ATOMIC_RELAXED);
    } else { /* one read of the owner's page table */
        size_t pi = sp.meta_off + meta_pageinfo_off((size_t)opt.remote_free_slots) + page * 4;
        tp->get(&e, home, pi, sizeof e);
        tp->flush(home);
    }
    if (!block_of(e, page, off, &start, &usable) || start != off)
        log_fatal(call, "%p is not the start of an allocated block", p);
    return usable;
}

void *alloc_realloc(void *p, size_t size)
{
    const char *call = "gallocy_realloc";
    size_t old = alloc_usable_size(p, call);
    if (size <= old && (size > MAX_SMALL || old <= MAX_SMALL || size == 0)) {
        if (space_off(p) / sp.heap_size == (size_t)sp.rank)
            return p; /* fits where it is */
    }
    if (space_off(p) / sp.heap_size == (size_t)sp.rank && old > MAX_SMALL && size > old) {
        /* A large run grows in place when the pages after it are free. */
        size_t page = (space_off(p) - space_my_heap_off()) / GPAGE, n = old / GPAGE;
        size_t want = (size + GPAGE - 1) / GPAGE;
        heap_enter();
        int grown = page + want <= heap_pages && pagerun_take(&heap_runs, page + n, want - n);
        if (grown) {
            page_info[page] = PI_LARGE | (uint32_t)want;
            for (size_t i = n; i < want; i++)
                page_info[page + i] = PI_TAIL | (uint32_t)i;
            stats_add(bytes_allocated, (want - n) * GPAGE);
        }
        pthread_mutex_unlock(&heap_lock);
        if (grown)
            return p;
    }
    void *q = alloc_malloc(size ? size : 1);
    if (!q)
        return NULL; /* errno = ENOMEM, p untouched */
    memcpy(q, p, old < size ? old : size); /* outside heap_lock: p may fault in from its home */
    alloc_free(p, call);
    return q;
}

void alloc_drain_remote_frees(int block)
{
    if (block)
        pthread_mutex_lock(&heap_lock);
    else if (pthread_mutex_trylock(&heap_lock) != 0)
        return;
    remote_free_drain_locked();
    pthread_mutex_unlock(&heap_lock);
}
