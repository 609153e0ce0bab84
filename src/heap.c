/* heap: thread heaps, the global heap, and the emptiness invariant (see heap.h). */
#include "heap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "numa.h"
#include "segment.h"
#include "superblock.h"

static struct heap global; /* owns superblocks given back by thread heaps; global_lock */
static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
/* Set when a thread free lands in a superblock of the global heap: only then has
 * collect_global work, which every release would otherwise pay for with a walk of every bin.
 * A free pushes, then reads the owner; global_put_locked stores the owner, then reads the
 * pushed list: all four seq_cst, so one of the two sees the other and the flag is set. */
static int global_frees;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct heap *all_heaps, *idle_heaps;
static pthread_key_t heap_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
__thread struct heap *heap_mine __attribute__((tls_model("initial-exec")));
char *heap_descs;
static size_t nslots;
static char *descs_map; /* the mapping heap_descs sits in, DESC_SKEW bytes in */

/* Descriptors start this far into their mapping.  Unskewed, descriptor 0 and block 0 of the
 * segment's first superblock would both be 2 MiB aligned (the kernel aligns large anonymous
 * mappings, and the segment is aligned on purpose), and a program's store to that block
 * followed by the allocator's load of the descriptor's first line then stalls on AMD Zen's
 * store-to-load forwarding: a 16-byte malloc/free pair took 16.5 ns there against 7.4 ns in
 * every other superblock (bench_alloc pairs).  An odd number of cache lines past half a page
 * matches no block start of any superblock's first page. */
enum { DESC_SKEW = 2048 + 64 };
static uint64_t sb_count[SC_COUNT];
static int ready;

/* --- bins ------------------------------------------------------------------------------- */

static void bin_insert(struct heap *h, struct sb *s)
{
    struct sb **head = &h->bins[s->cls][sb_bin_update(s)];
    s->prev = NULL;
    s->next = *head;
    if (*head)
        (*head)->prev = s;
    *head = s;
}

static void bin_remove(struct heap *h, struct sb *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        h->bins[s->cls][s->bin] = s->next;
    if (s->next)
        s->next->prev = s->prev;
}

__attribute__((noinline)) static void rebin(struct heap *h, struct sb *s)
{
    bin_remove(h, s);
    bin_insert(h, s);
}

/* Counts s into h's totals of its class (sign 1) or out of them (sign -1). */
static void account(struct heap *h, const struct sb *s, int sign)
{
    counter_add(&h->used[s->cls], sign * (int64_t)s->inuse * s->size);
    counter_add(&h->cap[s->cls], sign * (int64_t)s->nobjs * s->size);
    h->low[s->cls] = too_empty_below(h->cap[s->cls]);
    counter_add(&h->nsb[s->cls], sign);
}

static void heap_add(struct heap *h, struct sb *s)
{
    /* seq_cst: global_put_locked then reads the thread-free list (global_frees) */
    __atomic_store_n(&s->owner, h, __ATOMIC_SEQ_CST);
    account(h, s, 1);
    bin_insert(h, s);
}

static void heap_remove(struct heap *h, struct sb *s)
{
    bin_remove(h, s);
    account(h, s, -1);
    if (h->cur[s->cls] == s)
        h->cur[s->cls] = NULL;
}

/* Takes what other threads freed into s; returns how many. */
static uint32_t collect(struct heap *h, struct sb *s)
{
    uint32_t n = sb_collect(s);
    if (n) {
        counter_add(&h->used[s->cls], -(int64_t)n * s->size);
        rebin(h, s);
    }
    return n;
}

/* --- superblocks from and to the segment ----------------------------------------------- */

static struct sb *sb_new(int cls)
{
    long pg = segment_alloc(SB_PAGES, SB_PAGES);
    if (pg < 0)
        return NULL;
    struct sb *s = heap_desc_of((size_t)pg * 4096);
    sb_init(s, segment_base + (size_t)pg * 4096, (size_t)pg, cls);
    for (uint32_t i = 0; i < SB_PAGES; i++)
        __atomic_store_n(&segment_page_info[(size_t)pg + i], PI_SB | (uint32_t)cls << 16 | i,
                         __ATOMIC_RELAXED);
    __atomic_fetch_add(&sb_count[cls], 1, __ATOMIC_RELAXED);
    return s;
}

static void sb_retire(struct sb *s)
{
    for (uint32_t i = 0; i < SB_PAGES; i++)
        __atomic_store_n(&segment_page_info[s->page + i], PI_FREE, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&sb_count[s->cls], 1, __ATOMIC_RELAXED);
    sb_clear(s);
    segment_free(s->page, SB_PAGES);
}

/* --- the global heap (global_lock held) ------------------------------------------------- */

static void global_put_locked(struct sb *s)
{
    sb_collect(s);
    if (s->inuse == 0) {
        sb_retire(s);
        return;
    }
    heap_add(&global, s);
    /* A free pushed after the collect by a thread that read the old owner (global_frees). */
    if (__atomic_load_n(&s->tfree, __ATOMIC_SEQ_CST) != SB_NONE)
        __atomic_store_n(&global_frees, 1, __ATOMIC_SEQ_CST);
}

/* The fullest superblock of class cls with a free block, else a full one that threads have
 * freed into since, or NULL. */
static struct sb *global_take_locked(int cls)
{
    struct sb *s = NULL;
    for (int b = SB_FULL - 1; b >= 0 && !s; b--)
        s = global.bins[cls][b];
    for (struct sb *f = global.bins[cls][SB_FULL]; f && !s; f = f->next)
        if (collect(&global, f))
            s = f; /* collect moved it out of the full bin; stop walking that list */
    if (s) {
        collect(&global, s);
        heap_remove(&global, s);
    }
    return s;
}

/* The global heap collects what threads freed into it; superblocks that became empty go
 * back to the segment. */
static void collect_global(void)
{
    if (!__atomic_load_n(&global_frees, __ATOMIC_RELAXED))
        return; /* no thread free landed there since the last walk */
    if (pthread_mutex_trylock(&global_lock) != 0)
        return; /* someone is at it */
    /* Cleared before the walk: a free that the walk misses sets it again after (its push
     * comes after this exchange in the seq_cst order, and its flag after its push). */
    if (!__atomic_exchange_n(&global_frees, 0, __ATOMIC_SEQ_CST)) {
        pthread_mutex_unlock(&global_lock);
        return;
    }
    for (int c = 0; c < SC_COUNT; c++)
        for (int b = 0; b < SB_BINS; b++)
            for (struct sb *s = global.bins[c][b], *next; s; s = next) {
                next = s->next;
                if (__atomic_load_n(&s->tfree, __ATOMIC_SEQ_CST) == SB_NONE)
                    continue;
                heap_remove(&global, s);
                global_put_locked(s);
            }
    pthread_mutex_unlock(&global_lock);
}

/* --- thread heaps ----------------------------------------------------------------------- */

static void release(struct heap *h, struct sb *s)
{
    heap_remove(h, s);
    pthread_mutex_lock(&global_lock);
    global_put_locked(s);
    pthread_mutex_unlock(&global_lock);
}

/* Restores the invariant of class c by giving the global heap superblocks at least f = 1/4
 * empty, emptiest first.  When used < 3/4 cap one always exists: were every superblock at
 * least 3/4 full, so would be their sum. */
void heap_keep_invariant(struct heap *h, int c)
{
    while (too_empty(h, c)) {
        struct sb *victim = NULL;
        for (int b = 0; b < 3 && !victim; b++)
            victim = h->bins[c][b];
        if (!victim)
            return;
        release(h, victim);
    }
}

static void flush_heap(struct heap *h)
{
    for (int c = 0; c < SC_COUNT; c++)
        for (int b = 0; b < SB_BINS; b++)
            while (h->bins[c][b])
                release(h, h->bins[c][b]);
}

/* Collects every superblock of the calling thread's heap; with give_back, the empty ones go
 * to the global heap (and from it to the segment). */
static void collect_mine(int give_back)
{
    struct heap *h = heap_mine;
    if (!h)
        return;
    for (int c = 0; c < SC_COUNT; c++)
        for (int b = 0; b < SB_BINS; b++)
            for (struct sb *s = h->bins[c][b], *next; s; s = next) {
                next = s->next;
                collect(h, s);
                if (give_back && s->inuse == 0)
                    release(h, s);
            }
    for (int c = 0; c < SC_COUNT; c++)
        heap_keep_invariant(h, c);
}

void heap_collect(void)
{
    collect_mine(0);
    collect_global();
}

void heap_release_empty(void)
{
    collect_mine(1);
    collect_global();
}

static void on_thread_exit(void *arg)
{
    struct heap *h = arg;
    if (__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
        flush_heap(h); /* its blocks stay valid; their superblocks now belong to the global heap */
    heap_mine = NULL;
    pthread_mutex_lock(&pool_lock);
    h->next_idle = idle_heaps;
    idle_heaps = h;
    pthread_mutex_unlock(&pool_lock);
}

static void make_key(void)
{
    if (pthread_key_create(&heap_key, on_thread_exit) != 0)
        log_fatal("gallocy_malloc", "pthread_key_create failed: too many thread keys");
}

__attribute__((noinline)) static struct heap *attach(void)
{
    pthread_once(&key_once, make_key);
    pthread_mutex_lock(&pool_lock);
    struct heap *h = idle_heaps;
    if (h) {
        idle_heaps = h->next_idle;
    } else if ((h = calloc(1, sizeof *h)) != NULL) {
        h->next_all = all_heaps;
        __atomic_store_n(&all_heaps, h, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&pool_lock);
    if (h) {
        heap_mine = h;
        pthread_setspecific(heap_key, h);
    }
    return h;
}

static inline void *take(struct heap *h, struct sb *s)
{
    void *p = sb_pop(s);
    counter_add(&h->used[s->cls], s->size);
    if (s->inuse == s->hi)
        rebin(h, s);
    return p;
}

/* The current superblock of cls ran out: take what other threads freed into it, else the
 * fullest superblock with room, else a full one other threads freed into, else one from the
 * global heap, else a new one.  What other threads freed may leave the class too empty: then
 * superblocks go to the global heap first, and the choice starts over. */
__attribute__((noinline)) static void *refill(struct heap *h, int cls)
{
    struct sb *s = h->cur[cls];
    if (s && collect(h, s) && too_empty(h, cls))
        heap_keep_invariant(h, cls);
    if ((s = h->cur[cls]) != NULL && s->local != SB_NONE)
        return take(h, s);
    for (int b = SB_FULL - 1; b >= 0; b--)
        if ((s = h->bins[cls][b]) != NULL) {
            h->cur[cls] = s;
            return take(h, s);
        }
    for (s = h->bins[cls][SB_FULL]; s; s = s->next)
        if (collect(h, s)) {
            if (too_empty(h, cls))
                heap_keep_invariant(h, cls);
            return refill(h, cls); /* s now sits in a bin with room, or was given back */
        }
    pthread_mutex_lock(&global_lock);
    s = global_take_locked(cls);
    pthread_mutex_unlock(&global_lock);
    if (!s && !(s = sb_new(cls)))
        return NULL;
    heap_add(h, s); /* every other superblock of cls here is full: the invariant holds */
    h->cur[cls] = s;
    return take(h, s);
}

void *heap_malloc_slow(int cls)
{
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
        return NULL; /* before init or after fini: the caller reports it */
    struct heap *h = heap_mine;
    if (!h && !(h = attach()))
        return NULL;
    struct sb *s = h->cur[cls];
    if (s && s->local != SB_NONE)
        return take(h, s); /* takes the superblock to its next bin */
    return refill(h, cls);
}

/* Misuse found by heap_free: out of the fast path, so its frame stays small. */
__attribute__((cold, noinline, noreturn)) static void bad_free(const char *call, const void *p,
                                                            int sender, int interior,
                                                            uint32_t size)
{
    char who[40] = "";
    if (sender >= 0)
        snprintf(who, sizeof who, " (freed by rank %d)", sender);
    if (interior)
        log_fatal(call, "%p points inside a %u-byte block, not at its start%s", p, size, who);
    log_fatal(call, "double free of %p (a %u-byte block already free)%s", p, size, who);
}

int heap_free_slow(struct sb *s, long i, const char *call, const void *p, int sender)
{
    if (i < 0)
        bad_free(call, p, sender, 1, s->size);
    struct heap *h = heap_mine;
    if (h && __atomic_load_n(&s->owner, __ATOMIC_RELAXED) == h) {
        /* See heap_free_fast for the plain test and store. */
        if (!__atomic_load_n(&sb_state(s)[i], __ATOMIC_RELAXED))
            bad_free(call, p, sender, 0, s->size);
        int restore = heap_free_owned(h, s, (uint32_t)i);
        if (s->inuse < s->lo)
            rebin(h, s);
        if (restore)
            heap_keep_invariant(h, (int)s->cls);
        return 1;
    }
    if (!sb_mark_free(s, (uint32_t)i))
        bad_free(call, p, sender, 0, s->size);
    sb_push_thread(s, (uint32_t)i); /* only the owner may touch its local list */
    if (__atomic_load_n(&s->owner, __ATOMIC_SEQ_CST) == &global) /* global_frees */
        __atomic_store_n(&global_frees, 1, __ATOMIC_SEQ_CST);
    return 1;
}

/* --- set-up, totals, checks ------------------------------------------------------------ */

int heap_init(void)
{
    /* Reserved, not committed: a descriptor's pages are touched when its superblock is made. */
    nslots = segment_npages / SB_PAGES;
    void *d = mmap(NULL, nslots * SB_DESC_BYTES + DESC_SKEW, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (d == MAP_FAILED)
        return -1;
    descs_map = d;
    heap_descs = descs_map + DESC_SKEW;
    numa_bind(d, nslots * SB_DESC_BYTES + DESC_SKEW, "superblock descriptors");
    memset(sb_count, 0, sizeof sb_count);
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    return 0;
}

/* Every thread is quiet.  Heaps stay attached to their threads, emptied. */
void heap_fini(void)
{
    __atomic_store_n(&ready, 0, __ATOMIC_RELEASE);
    pthread_mutex_lock(&pool_lock);
    for (struct heap *h = all_heaps; h; h = h->next_all)
        memset(h, 0, offsetof(struct heap, next_all));
    pthread_mutex_unlock(&pool_lock);
    memset(&global, 0, offsetof(struct heap, next_all));
    if (descs_map) /* every descriptor goes with it */
        munmap(descs_map, nslots * SB_DESC_BYTES + DESC_SKEW);
    descs_map = heap_descs = NULL;
}

static void add_totals(struct heap_totals *t, struct heap *h)
{
    for (int c = 0; c < SC_COUNT; c++) {
        t->in_use += __atomic_load_n(&h->used[c], __ATOMIC_RELAXED);
        t->held += __atomic_load_n(&h->nsb[c], __ATOMIC_RELAXED) * SB_BYTES;
    }
}

/* Racy sums: each counter is read once, so a total may mix moments. */
void heap_totals(struct heap_totals *t)
{
    memset(t, 0, sizeof *t);
    add_totals(t, &global);
    for (struct heap *h = __atomic_load_n(&all_heaps, __ATOMIC_ACQUIRE); h; h = h->next_all)
        add_totals(t, h);
    for (int c = 0; c < SC_COUNT; c++)
        t->superblocks[c] = __atomic_load_n(&sb_count[c], __ATOMIC_RELAXED);
}

int heap_check_mine(char *why, size_t len)
{
    struct heap *h = heap_mine;
    if (!h)
        return 0;
    for (int c = 0; c < SC_COUNT; c++) {
        uint64_t used = 0, cap = 0, nsb = 0;
        for (int b = 0; b < SB_BINS; b++)
            for (struct sb *s = h->bins[c][b]; s; s = s->next) {
                uint32_t free_local = 0;
                for (uint16_t i = s->local; i != SB_NONE && free_local <= s->nobjs; i = s->link[i])
                    free_local++;
                if (s->owner != h || (int)s->cls != c || s->bin != b ||
                    free_local != s->nobjs - s->inuse) {
                    snprintf(why, len, "superblock at page %zu: owner/class/bin/free list "
                             "disagree (bin %d, inuse %u, local free %u of %u)", s->page, b,
                             s->inuse, free_local, s->nobjs);
                    return -1;
                }
                used += (uint64_t)s->inuse * s->size;
                cap += (uint64_t)s->nobjs * s->size;
                nsb++;
            }
        if (used != h->used[c] || cap != h->cap[c] || nsb != h->nsb[c]) {
            snprintf(why, len, "class %d: counters used %lu cap %lu nsb %lu, superblocks say "
                     "%lu %lu %lu", c, (unsigned long)h->used[c], (unsigned long)h->cap[c],
                     (unsigned long)h->nsb[c], (unsigned long)used, (unsigned long)cap,
                     (unsigned long)nsb);
            return -1;
        }
        if (h->low[c] != too_empty_below(cap)) {
            snprintf(why, len, "class %d: threshold %lu, capacity %lu says %lu", c,
                     (unsigned long)h->low[c], (unsigned long)cap,
                     (unsigned long)too_empty_below(cap));
            return -1;
        }
        if (too_empty_at(used, cap)) {
            snprintf(why, len, "class %d: invariant broken: used %lu of cap %lu", c,
                     (unsigned long)used, (unsigned long)cap);
            return -1;
        }
    }
    return 0;
}
