/* cache: twins, dirty list, clean-run list, write back, invalidation, home sharing, pins. */
#include "cache.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "diff.h"
#include "log.h"
#include "notice.h"
#include "pagetable.h"
#include "pagefilter.h"
#include "prot.h"
#include "space.h"
#include "stats.h"
#include "transport.h"
#include "vec.h"

futex_mutex_t cache_lock;
size_t cache_tracked;

struct run {
    size_t page, n;
};
struct dirty {
    size_t page;
    unsigned char *twin;  /* NULL for an own home-dirty page: it is written in place */
    unsigned char *fresh; /* during a write back of a pinned or kept page: its snapshot */
    uint8_t keep;         /* a kept copy (below): stays writable, refreshed at acquires */
    uint8_t idle;         /* write backs in a row that found a kept copy unchanged */
    uint8_t changed;      /* the current write back found a change to send */
};

/* Arrays grow with mremap and twins come from mmap'd chunks: the fault handler adds to both,
 * and malloc is not safe there. */
static struct run *runs; /* untracked clean copies: dropped at every acquire */
static size_t nruns, runs_cap;
static struct dirty *dirty;
static size_t ndirty, dirty_cap;
static struct run *stale; /* changed by this rank's puts and atomics: dropped at acquire */
static size_t nstale, stale_cap;
static struct pagefilter stale_seen; /* pages in stale, mostly */
static size_t tracked_lo = SIZE_MAX, tracked_hi; /* pages holding every tracked copy */
/* A page's age (pagetable.h) counts releases (saturating); own pages and other ranks' never
 * share a page, so one field serves both:
 *  - an own shared page: releases that noticed a change since a reader last announced it.  At
 *    UNSHARE_AFTER the readers only refetch it after each notice, never keep it, so protecting
 *    it costs its home a fault, a twin and a compare every epoch for nothing: the home stops
 *    (notice.c, "Sharing ends"), and an announcement protects it again.
 *  - a copy: AGE_COUNT, releases that sent a change of it (at KEEP_AFTER it becomes a kept
 *    copy), and two flags: AGE_FETCHED_IN_SECTION, its last fetch came while this rank held
 *    a lock; AGE_DROPPED_IN_SECTION, an acquire dropped it after such a fetch.  A copy
 *    fetched in a critical section again after that is read under the lock time after time:
 *    the next acquire keeps it instead of dropping it. */
enum { AGE_COUNT = 63, AGE_DROPPED_IN_SECTION = 64, AGE_FETCHED_IN_SECTION = 128 };
static int locks_held; /* cache_locks_held */
static int fetched_in_section; /* since the last acquire: a copy with AGE_FETCHED_IN_SECTION */
uint64_t cache_unshares;
enum { UNSHARE_AFTER = 3 };

/* Kept copies: a copy that this rank changes release after release (a counter or a queue
 * head under a lock) would otherwise cost, every critical section, a drop at the acquire, a
 * read fault and a fetch, a write fault and a twin, and a write-protection at the release:
 * four page-table changes for a few bytes.  Once changed in KEEP_AFTER releases, a copy
 * stays in the dirty list, writable: a release diffs a snapshot of it against its twin and
 * sends the change (as for a pinned page), and an acquire, instead of dropping it, reads the
 * home's page and writes the bytes that differ from the twin (what other ranks changed since)
 * into both the copy and its twin.  Bytes this rank's threads write meanwhile differ from the
 * twin only on this side, so a refresh never overwrites them.  A refresh is always as fresh
 * as a drop and a refetch, so kept copies need no notices and are never tracked.  A copy
 * read, not written, in critical sections is kept too, once refetched in one after an
 * acquire dropped it (keep_section_reads).  At most KEEP_MAX are kept (each costs a transfer
 * at every acquire); one that neither this rank nor another changed in KEEP_IDLE write
 * backs in a row becomes an ordinary copy again (an acquire's write back counts: a page
 * written in every critical section is found unchanged at every acquire). */
enum { KEEP_AFTER = 2, KEEP_MAX = 32, KEEP_IDLE = 8 };
static void *twin_free; /* free list of page-sized twins, linked through their first word */

enum { TWIN_CHUNK_PAGES = 64 };

/* Single pages cache_changed recorded, for a check without cache_lock: a loop of atomics on
 * scattered words (GUPS) would otherwise take the lock for each only to find its page
 * recorded already (a third of a node-path fetch-add's time).  A slot holds the page, whether
 * its home is this rank (the stale list was skipped) and the generation it was recorded in;
 * the generation moves, under cache_lock, before either list is emptied (changed_lists_emptying).
 * So a slot matching the current generation means the page is still in both lists and any
 * write-back that empties them starts after this check, hence after the change it guards:
 * the notice goes out with it.  Slots are written under cache_lock, read with relaxed
 * atomics (a stale read only sends the caller to the lock); at a wrap of the generation's
 * bits every slot is cleared, word by word, so no slot of an earlier lap can match. */
enum { CHANGED_SLOTS = 4096, CHANGED_GEN_BITS = 24 };
static uint64_t changed_slot[CHANGED_SLOTS];
static uint64_t changed_gen;

static uint64_t changed_key(size_t page, int mine, uint64_t gen)
{
    return ((uint64_t)page + 1) << (CHANGED_GEN_BITS + 1) | (uint64_t)mine << CHANGED_GEN_BITS |
           (gen & ((1u << CHANGED_GEN_BITS) - 1));
}

/* Before the pending notices or the stale list are emptied; under cache_lock. */
static void changed_lists_emptying(void)
{
    uint64_t gen = changed_gen + 1;
    __atomic_store_n(&changed_gen, gen, __ATOMIC_SEQ_CST);
    if ((gen & ((1u << CHANGED_GEN_BITS) - 1)) == 0)
        for (size_t i = 0; i < CHANGED_SLOTS; i++)
            __atomic_store_n(&changed_slot[i], 0, __ATOMIC_RELAXED);
}

static size_t npages_all(void)
{
    return sp.range / GPAGE;
}

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

/* Kept copies in the dirty list now (at most KEEP_MAX). */
static size_t count_kept(void)
{
    size_t n = 0;
    for (size_t i = 0; i < ndirty; i++)
        n += dirty[i].keep;
    return n;
}

/* The dirty copy d (twinned against what its home has, writable or made so by the caller)
 * is kept from now on. */
static void start_keeping(struct dirty *d)
{
    d->keep = 1;
    d->idle = 0;
    pagetable[d->page].age &= AGE_COUNT;
    stats_inc(pages_kept);
}

static void twin_release(unsigned char *t)
{
    *(void **)t = twin_free;
    twin_free = t;
}

int cache_init(void)
{
    pagetable_set_state(space_my_heap_off() / GPAGE, sp.heap_size / GPAGE, PS_OWN);
    return 0;
}

void cache_fini(void)
{
    /* Twin chunks are not tracked one by one; the few that exist die with the process image
     * of a finished job, and a re-init reuses the free list. */
    vec_free(runs, runs_cap, sizeof *runs);
    vec_free(dirty, dirty_cap, sizeof *dirty);
    vec_free(stale, stale_cap, sizeof *stale);
    runs = stale = NULL;
    dirty = NULL;
    nruns = runs_cap = ndirty = dirty_cap = nstale = stale_cap = 0;
    pagefilter_clear(&stale_seen);
    memset(changed_slot, 0, sizeof changed_slot); /* no thread left to read them */
    changed_gen = 0;
    cache_tracked = 0;
    tracked_lo = SIZE_MAX;
    tracked_hi = 0;
}

/* --- protection changes, and what the mprotect way does when it runs out of memory maps -- */

enum how { MAP_RO, MAP_RW, UNMAP, MAKE_RO, MAKE_RW };

static int call_prot(enum how how, size_t page, size_t n)
{
    size_t off = page * GPAGE, len = n * GPAGE;
    switch (how) {
    case MAP_RO: return prot_map(off, len, 0);
    case MAP_RW: return prot_map(off, len, 1);
    case UNMAP: return prot_unmap(off, len);
    case MAKE_RO: return prot_set_writable(off, len, 0);
    default: return prot_set_writable(off, len, 1);
    }
}

/* Pages a shortage of maps may make absent: clean copies, and own pages of the collective
 * area (plain or shared), not pinned; absent pages too, so that the runs are long. */
static int sheddable(size_t p)
{
    uint8_t k = pagetable_kind(p);
    return !pagetable[p].pins && !(pagetable[p].state & PS_STALE) &&
           (k == PS_INVALID || k == PS_READ || k == PS_OWN || k == PS_SHARED);
}

/* The mprotect way is out of memory maps (one per separately protected run of pages, up to
 * vm.max_map_count): every clean copy and every own page of the collective area outside
 * [ex, ex+exn) (the change under way) becomes absent, in runs as long as the dirty and
 * pinned pages allow, so that the maps merge.  Their data stays in the memfd: an own page
 * is mapped again when touched, a copy fetched again.  Returns how many were dropped. */
static size_t shed(size_t ex, size_t exn)
{
    size_t npages = npages_all(), mine = space_my_heap_off() / GPAGE;
    size_t mine_end = mine + sp.heap_size / GPAGE, dropped = 0;
    for (size_t i = 0; i < npages;) {
        if ((i >= mine && i < mine_end) || (i >= ex && i < ex + exn) || !sheddable(i)) {
            i = i >= mine && i < mine_end ? mine_end : i >= ex && i < ex + exn ? ex + exn : i + 1;
            continue;
        }
        size_t j = i + 1;
        while (j < npages && !(j >= mine && j < mine_end) && !(j >= ex && j < ex + exn) &&
               sheddable(j))
            j++;
        if (prot_unmap(i * GPAGE, (j - i) * GPAGE) == 0) {
            for (size_t p = i; p < j; p++) {
                uint8_t k = pagetable_kind(p);
                if (k == PS_READ || k == PS_OWN) {
                    cache_tracked -= (pagetable[p].state & PS_TRACKED) != 0;
                    pagetable[p].state = PS_INVALID;
                    dropped++;
                }
            }
        }
        i = j;
    }
    stats_add(invalidations, dropped);
    log_verbose(1, "page protection: out of memory maps (vm.max_map_count); made %zu clean "
                "or own pages absent to merge them", dropped);
    return dropped;
}

/* Changes the protection of [page, page+n); on the mprotect way, a shortage of maps sheds
 * clean pages and tries again once: 0, or -ENOMEM still (the caller has another way). */
static int protect_or_shed(enum how how, size_t page, size_t n)
{
    if (n == 0 || call_prot(how, page, n) == 0)
        return 0;
    shed(page, n);
    return call_prot(how, page, n);
}

/* The same where there is no other way: a shortage of maps left after shedding is fatal. */
static void protect(enum how how, size_t page, size_t n)
{
    if (protect_or_shed(how, page, n) == 0)
        return;
    static const char *what[] = {"mapping", "mapping", "dropping", "write-protecting",
                                 "making writable"};
    log_fatal("gallocy (page protection)", "mprotect failed with ENOMEM %s %zu pages at %p: "
              "this process hit vm.max_map_count even after dropping every clean cached page, "
              "with too many separately written runs of pages; raise it (sysctl -w "
              "vm.max_map_count=1048576), release more often, or use GALLOCY_FAULTS=uffd where "
              "the kernel allows it", what[how], n, (void *)(sp.base + page * GPAGE));
}

/* --- copies coming in -------------------------------------------------------------------- */

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
            pagetable_set_state(page + i, j - i, PS_READ | PS_TRACKED);
            cache_tracked += j - i;
            tracked_lo = page + i < tracked_lo ? page + i : tracked_lo;
            tracked_hi = page + j > tracked_hi ? page + j : tracked_hi;
        } else {
            pagetable_set_state(page + i, j - i, PS_READ);
            add_run(&runs, &nruns, &runs_cap, page + i, j - i);
            int in_section = __atomic_load_n(&locks_held, __ATOMIC_RELAXED) > 0;
            fetched_in_section |= in_section;
            for (size_t p = page + i; p < page + j; p++) {
                uint8_t *age = &pagetable[p].age;
                *age = in_section ? (uint8_t)(*age | AGE_FETCHED_IN_SECTION)
                                  : (uint8_t)(*age & ~AGE_FETCHED_IN_SECTION);
            }
        }
        i = j;
    }
}

void cache_locks_held(int delta)
{
    __atomic_fetch_add(&locks_held, delta, __ATOMIC_RELAXED);
}

void cache_add_clean(size_t page, size_t n, int home)
{
    protect(MAP_RO, page, n);
    record_clean(page, n, home);
}

static void add_dirty(size_t page, unsigned char *twin, uint8_t state)
{
    if (ndirty == dirty_cap)
        dirty = vec_grow(dirty, &dirty_cap, sizeof *dirty, "page-cache bookkeeping");
    dirty[ndirty++] = (struct dirty){.page = page, .twin = twin};
    pagetable[page].state = state;
}

static void twin_all(size_t page, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char *t = twin_alloc();
        memcpy(t, sp.alias + (page + i) * GPAGE, GPAGE);
        add_dirty(page + i, t, PS_DIRTY | (pagetable[page + i].state & (PS_TRACKED | PS_STALE)));
    }
}

void cache_make_dirty(size_t page, size_t n)
{
    twin_all(page, n);
    protect(MAKE_RW, page, n);
}

void cache_add_dirty(size_t page, size_t n, int home)
{
    record_clean(page, n, home);
    twin_all(page, n);
    protect(MAP_RW, page, n); /* straight to writable: one protection change, not two */
}

void cache_map_own(size_t page, size_t n)
{
    if (prot_way != PROT_WAY_MPROTECT)
        space_populate(page * GPAGE, n * GPAGE); /* userfaultfd maps what the memfd holds */
    protect(MAP_RW, page, n);
    pagetable_set_state(page, n, PS_OWN);
}

void cache_touch_shared(size_t page, size_t n, int write)
{
    int writable = write || pagetable_kind(page) == PS_HOME_DIRTY;
    for (size_t i = page; write && i < page + n; i++)
        if (pagetable_kind(i) == PS_SHARED)
            add_dirty(i, NULL, PS_HOME_DIRTY | (pagetable[i].state & PS_HISTORY));
    if (prot_way != PROT_WAY_MPROTECT && page * GPAGE >= sp.coalloc_off)
        space_populate(page * GPAGE, n * GPAGE);
    protect(writable ? MAP_RW : MAP_RO, page, n);
}

void cache_write_shared(size_t page, size_t n)
{
    /* The page that faulted is being written: a fresh history */
    pagetable[page].state = (uint8_t)(pagetable[page].state & ~PS_HISTORY) | PS_WRITTEN;
    for (size_t i = page; i < page + n; i++) {
        unsigned char *t = twin_alloc();
        memcpy(t, sp.alias + i * GPAGE, GPAGE);
        add_dirty(i, t, PS_HOME_DIRTY | (pagetable[i].state & PS_HISTORY));
    }
    /* A protection change, not a mapping: the pages are mapped (write-protected) but for
     * the rare shared page this rank never touched, whose access then faults once more and
     * is mapped as home-dirty (coherence_fault).  Mapping a run of mapped pages would cost
     * two calls a page (each finds its entry there). */
    protect(MAKE_RW, page, n);
}

void cache_enforce(size_t page)
{
    uint8_t k = pagetable_kind(page);
    if (k == PS_SHARED || k == PS_HOME_DIRTY || k == PS_OWN) {
        if (prot_way != PROT_WAY_MPROTECT && page * GPAGE >= sp.coalloc_off)
            space_populate(page * GPAGE, GPAGE);
    }
    protect(k == PS_READ || k == PS_SHARED ? MAP_RO : MAP_RW, page, 1);
}

/* --- flights (cache.h) -------------------------------------------------------------------- */

static int inflight;           /* flights begun and not ended (cache_lock) */
static int draining;           /* cache_lock_all callers waiting for them (cache_lock) */
static int sleepers;           /* threads asleep on flights_ended (counted under cache_lock,
                                  so that an ending flight wakes them only when there are) */
static uint32_t flights_ended; /* futex word: moves at every flight's end */
static struct cache_flight *flying; /* the flights under way (cache_lock) */
static int flight_warned;

/* Under cache_lock, after CACHE_FLIGHT_WARN_S with no flight ending: once per process. */
static void warn_flights_stuck(void)
{
    char homes[96];
    int at = 0;
    for (struct cache_flight *f = flying; f && at < (int)sizeof homes - 12; f = f->next)
        at += snprintf(homes + at, sizeof homes - (size_t)at, "%s%d", at ? ", " : "", f->home);
    log_error("gallocy (page fault)", "no fetch of pages in flight has finished in %d s (%d "
              "under way, from rank(s) %s): a rank may have died, or stopped answering its "
              "transport; still waiting", CACHE_FLIGHT_WARN_S, inflight, at ? homes : "?");
    flight_warned = 1;
}

void cache_flight_wait(void)
{
    sleepers++;
    uint32_t seen = __atomic_load_n(&flights_ended, __ATOMIC_ACQUIRE);
    futex_unlock(&cache_lock);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    futex_wait(&flights_ended, seen, CACHE_FLIGHT_WARN_S * 1000000000L);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    futex_lock(&cache_lock);
    sleepers--;
    if (!flight_warned && t1.tv_sec - t0.tv_sec >= CACHE_FLIGHT_WARN_S && inflight > 0 &&
        __atomic_load_n(&flights_ended, __ATOMIC_ACQUIRE) == seen)
        warn_flights_stuck();
}

void cache_lock_all(void)
{
    futex_lock(&cache_lock);
    while (inflight > 0) {
        draining++; /* no flight begins meanwhile: faults keep the lock as before */
        cache_flight_wait();
        draining--;
    }
}

void cache_unlock_all(void)
{
    futex_unlock(&cache_lock);
}

int cache_flight_begin(struct cache_flight *f, size_t page, size_t n, int home, int writable)
{
    /* The mprotect way's changes may run out of maps and shed, which needs the lock. */
    if (draining || prot_way == PROT_WAY_MPROTECT || n > CACHE_FLIGHT_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (pagetable[page + i].state != PS_INVALID)
            return 0;
    *f = (struct cache_flight){.page = page, .n = n, .home = home, .writable = writable};
    for (size_t i = 0; writable && i < n; i++)
        f->twin[i] = twin_alloc();
    pagetable_set_state(page, n, PS_BUSY);
    inflight++;
    f->next = flying;
    flying = f;
    return 1;
}

void cache_flight_map(struct cache_flight *f)
{
    for (size_t i = 0; f->writable && i < f->n; i++)
        memcpy(f->twin[i], sp.alias + (f->page + i) * GPAGE, GPAGE);
    /* The page-table ways' changes never run short (only mprotect's may: no flight there). */
    if (call_prot(f->writable ? MAP_RW : MAP_RO, f->page, f->n) != 0)
        log_fatal("gallocy (page fault)", "mapping %zu fetched pages at %p failed", f->n,
                  (void *)(sp.base + f->page * GPAGE));
}

void cache_flight_end(struct cache_flight *f)
{
    record_clean(f->page, f->n, f->home); /* PS_BUSY becomes a copy's state */
    for (size_t i = 0; f->writable && i < f->n; i++)
        add_dirty(f->page + i, f->twin[i],
                  PS_DIRTY | (pagetable[f->page + i].state & (PS_TRACKED | PS_STALE)));
    inflight--;
    for (struct cache_flight **p = &flying; *p; p = &(*p)->next)
        if (*p == f) {
            *p = f->next;
            break;
        }
    __atomic_fetch_add(&flights_ended, 1, __ATOMIC_RELEASE);
    if (sleepers)
        futex_wake_all(&flights_ended);
}

/* --- release ----------------------------------------------------------------------------- */

static int by_page(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* The diff runs of the dirty pages, in page order, go home as puts; a run that continues
 * the previous one (the end of a page and the start of the next, with the same home, from
 * contiguous memory) joins it, so a stretch of wholly written pages is one put, not one a
 * page. */
struct put_ctx {
    int home;        /* of the page being diffed */
    size_t off;      /* of the page being diffed */
    const char *src; /* its data: the memfd, or the snapshot of a pinned page */
    int run_home;    /* the run waiting to be put, or -1 */
    size_t run_off, run_len;
    const char *run_src;
    size_t bytes, puts;
};

static void put_pending(struct put_ctx *c)
{
    if (c->run_home < 0)
        return;
    tp->put(c->run_home, c->run_off, c->run_src, c->run_len);
    c->puts++;
    c->run_home = -1;
}

static void put_run(size_t roff, size_t len, void *arg)
{
    struct put_ctx *c = arg;
    size_t off = c->off + roff;
    const char *src = c->src + roff;
    if (c->run_home != c->home || c->run_off + c->run_len != off ||
        c->run_src + c->run_len != src) {
        put_pending(c);
        c->run_home = c->home;
        c->run_off = off;
        c->run_src = src;
        c->run_len = 0;
    }
    c->run_len += len;
    c->bytes += len;
}

/* Diffs the dirty page d against its twin into the puts of c; 1 when something changed.  A
 * pinned or kept page is diffed from a snapshot (MPI, the kernel or a thread may still be
 * writing it: it stays writable), which becomes its twin once the puts are done. */
static int diff_page(struct dirty *d, struct put_ctx *c)
{
    size_t off = d->page * GPAGE;
    c->home = space_home(off);
    c->off = off;
    c->src = sp.alias + off;
    if (pagetable[d->page].pins || d->keep) {
        /* Unchanged (a kept copy at an acquire, mostly): no snapshot, the twin stays; a
         * write after this compare differs from it at the next write back */
        if (memcmp(d->twin, sp.alias + off, GPAGE) == 0)
            return 0;
        d->fresh = twin_alloc();
        memcpy(d->fresh, sp.alias + off, GPAGE);
        c->src = (const char *)d->fresh;
    }
    return diff_runs(d->twin, (const unsigned char *)c->src, GPAGE, put_run, c) > 0;
}

/* Collects the pages a write back makes writable again (own pages unshared, copies kept) into
 * runs (in page order), each made writable with one protection change; page SIZE_MAX ends the
 * last. */
static void writable_run(struct run *r, size_t page)
{
    if (r->n && page == r->page + r->n) {
        r->n++;
        return;
    }
    if (r->n)
        protect(MAKE_RW, r->page, r->n);
    *r = (struct run){page, page == SIZE_MAX ? 0 : 1};
}

void cache_write_back(void)
{
    changed_lists_emptying(); /* the pending notices, below */
    if (ndirty == 0) {
        notice_publish(); /* what puts and atomics recorded */
        return;
    }
    /* struct dirty starts with its page number, so by_page sorts both arrays. */
    qsort(dirty, ndirty, sizeof *dirty, by_page);
    /* Kept copies left unchanged too long are written back as ordinary copies, and end clean
     * (in the list of untracked copies, which the next acquire drops). */
    size_t nkeep = 0;
    for (size_t i = 0; i < ndirty; i++) {
        struct dirty *d = &dirty[i];
        if (d->keep && d->idle >= KEEP_IDLE && !pagetable[d->page].pins) {
            d->keep = 0;
            /* fetched again in a section: kept again */
            pagetable[d->page].age = AGE_DROPPED_IN_SECTION;
            add_run(&runs, &nruns, &runs_cap, d->page, 1);
        }
        nkeep += d->keep;
    }
    /* Write-protect first, in runs of adjacent pages: a thread still writing faults and waits
     * for cache_lock, so the diff below sees a stable page.  Pinned pages stay writable.
     * When the mprotect way runs out of memory maps even after shedding (dirty copies
     * scattered among plain own pages: each read-only one would be a map), the runs are
     * made absent instead, which merges them with their shed neighbours: their copies are
     * dropped once written back.  cache_lock is held throughout, so pins do not change, and
     * absent with a page's pin count says what became of it. */
    int absent = 0;
    for (size_t i = 0; i < ndirty;) {
        if (pagetable[dirty[i].page].pins || dirty[i].keep) {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < ndirty && dirty[j].page == dirty[j - 1].page + 1 &&
               !pagetable[dirty[j].page].pins && !dirty[j].keep)
            j++;
        if (!absent && protect_or_shed(MAKE_RO, dirty[i].page, j - i) != 0) {
            log_verbose(1, "write back: out of memory maps (vm.max_map_count); the unpinned of "
                        "%zu dirty pages go absent, not read-only", ndirty);
            absent = 1;
            i = 0; /* the runs write-protected so far go absent too: each is a map */
            continue;
        }
        if (absent)
            protect(UNMAP, dirty[i].page, j - i);
        i = j;
    }
    size_t pages = 0;
    struct put_ctx c = {.run_home = -1};
    struct run writable = {0, 0};
    for (size_t i = 0; i < ndirty; i++) {
        uint8_t *st = &pagetable[dirty[i].page].state;
        if ((*st & PS_KIND) == PS_HOME_DIRTY) { /* own page, written in place */
            /* One made writable by a fault (twinned) is noticed only if it changed: a store
             * of the value already there tells no reader anything.  One taken ahead may not
             * have been written at all (a store of an unchanged value looks the same), so
             * its history lets the next epoch's first write take it ahead again until it is
             * found unchanged three epochs running (the page that faulted starts again at
             * zero: cache_write_shared). */
            const unsigned char *t = dirty[i].twin;
            size_t pg = dirty[i].page;
            int changed = !t || memcmp(t, sp.alias + pg * GPAGE, GPAGE) != 0;
            if (changed && !pagetable[pg].pins && !absent && pagetable[pg].age + 1 >= UNSHARE_AFTER)
                notice_record_unshare(pg, 1); /* and made plain below */
            else if (changed)
                notice_record(pg, 1);
            if (changed && pagetable[pg].age < UNSHARE_AFTER)
                pagetable[pg].age++;
            uint8_t idle = (uint8_t)((*st & PS_IDLE) + PS_IDLE_ONE);
            *st = (uint8_t)(*st & ~PS_HISTORY) |
                  (changed ? PS_WRITTEN : idle == PS_IDLE ? 0 : PS_WRITTEN | idle);
            continue;
        }
        int changed = diff_page(&dirty[i], &c);
        if (changed)
            notice_record(dirty[i].page, 1);
        pages += changed;
        dirty[i].changed = (uint8_t)changed;
        if (dirty[i].keep)
            dirty[i].idle = changed ? 0 : (uint8_t)(dirty[i].idle + (dirty[i].idle < 255));
        else if (changed && (pagetable[dirty[i].page].age & AGE_COUNT) < AGE_COUNT)
            pagetable[dirty[i].page].age++;
    }
    put_pending(&c);
    if (c.puts)
        tp->flush(TP_ALL_RANKS);
    size_t kept = 0;
    for (size_t i = 0; i < ndirty; i++) {
        struct dirty d = dirty[i];
        uint8_t *st = &pagetable[d.page].state;
        if ((*st & PS_KIND) == PS_HOME_DIRTY) { /* own: written in place, nothing was sent */
            if (d.twin)
                twin_release(d.twin);
            d.twin = NULL;
            if (pagetable[d.page].pins) {
                dirty[kept++] = d; /* stays writable, noticed at every release */
            } else if (!absent && pagetable[d.page].age >= UNSHARE_AFTER) {
                *st = PS_OWN; /* unshared: plain memory again, writable */
                pagetable[d.page].age = 0;
                writable_run(&writable, d.page);
                stats_inc(pages_unshared);
                __atomic_store_n(&cache_unshares, cache_unshares + 1, __ATOMIC_RELEASE);
            } else { /* write-protected again, or absent (then mapped again when touched) */
                *st = PS_SHARED | (*st & PS_HISTORY);
            }
            continue;
        }
        if (pagetable[d.page].pins || d.keep) { /* stays dirty (writable), against what was sent */
            if (d.fresh) { /* else unchanged: the twin stays */
                twin_release(d.twin);
                d.twin = d.fresh;
                d.fresh = NULL;
            }
            dirty[kept++] = d;
        } else if (!absent && d.changed && (pagetable[d.page].age & AGE_COUNT) >= KEEP_AFTER &&
                   nkeep < KEEP_MAX) {
            /* Kept from now on: write-protected above, so the page is what was sent */
            memcpy(d.twin, sp.alias + d.page * GPAGE, GPAGE);
            start_keeping(&d);
            nkeep++;
            cache_tracked -= (*st & PS_TRACKED) != 0; /* refreshed, never tracked */
            *st = PS_DIRTY | (*st & PS_STALE);
            writable_run(&writable, d.page);
            dirty[kept++] = d;
        } else if (absent) { /* dropped for want of maps (above) */
            if (d.twin)
                twin_release(d.twin);
            cache_tracked -= (*st & PS_TRACKED) != 0;
            *st = PS_INVALID;
        } else { /* a copy: clean again */
            twin_release(d.twin);
            *st = PS_READ | (*st & (PS_TRACKED | PS_STALE));
        }
    }
    writable_run(&writable, SIZE_MAX); /* the last run */
    ndirty = kept;
    notice_publish();
    stats_add(pages_written_back, pages);
    stats_add(bytes_written_back, c.bytes);
    stats_add(diff_runs, c.puts);
}

/* --- acquire ----------------------------------------------------------------------------- */

/* A copy an acquire drops, unless it is pinned: then it is marked, and brought up to date
 * when unpinned (cache_unpin). */
static int wants_drop(uint8_t s, int tracked_too)
{
    uint8_t k = s & PS_KIND;
    return (k == PS_READ || k == PS_DIRTY) && (tracked_too || !(s & PS_TRACKED));
}

/* Drops the clean copies among [page, page+n): untracked ones, and tracked ones too if
 * tracked_too.  One protection change per run of them. */
static size_t drop_clean(size_t page, size_t n, int tracked_too)
{
    size_t npages = npages_all(), dropped = 0;
    if (page >= npages)
        return 0;
    size_t end = n < npages - page ? page + n : npages;
    for (size_t i = page; i < end;) {
        uint8_t s = pagetable[i].state;
        if (!wants_drop(s, tracked_too) || (s & PS_STALE)) {
            i++;
            continue;
        }
        if (pagetable[i].pins || (s & PS_KIND) == PS_DIRTY) { /* after a write back: pinned, kept */
            if (pagetable[i].pins)
                pagetable[i].state |= PS_STALE;
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < end && !pagetable[j].pins && pagetable_kind(j) == PS_READ &&
               !(pagetable[j].state & PS_STALE) && wants_drop(pagetable[j].state, tracked_too))
            j++;
        protect(UNMAP, i, j - i);
        for (size_t p = i; p < j; p++) {
            cache_tracked -= (pagetable[p].state & PS_TRACKED) != 0;
            pagetable[p].state = PS_INVALID;
        }
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

/* Writes the bytes where the home's page differs from the twin into the copy and the twin. */
struct merge_ctx {
    unsigned char *copy, *twin;
    const unsigned char *home;
    size_t bytes;
};

static void merge_run(size_t off, size_t len, void *arg)
{
    struct merge_ctx *m = arg;
    memcpy(m->copy + off, m->home + off, len);
    memcpy(m->twin + off, m->home + off, len);
    m->bytes += len;
}

/* Acquire, before the untracked copies are dropped: one fetched in a critical section again
 * after an acquire dropped such a fetch is kept instead, while there is room (twinned,
 * writable, and refreshed below with the others).  Any other fetched in a section is marked
 * as dropped. */
static void keep_section_reads(void)
{
    if (!fetched_in_section)
        return;
    fetched_in_section = 0;
    size_t nkeep = count_kept();
    for (size_t r = 0; r < nruns; r++)
        for (size_t p = runs[r].page; p < runs[r].page + runs[r].n; p++) {
            struct page_entry *e = &pagetable[p];
            if (!(e->age & AGE_FETCHED_IN_SECTION) || e->state != PS_READ || e->pins)
                continue;
            if (!(e->age & AGE_DROPPED_IN_SECTION) || nkeep >= KEEP_MAX) {
                e->age = (uint8_t)((e->age & ~AGE_FETCHED_IN_SECTION) | AGE_DROPPED_IN_SECTION);
                continue;
            }
            unsigned char *t = twin_alloc();
            memcpy(t, sp.alias + p * GPAGE, GPAGE);
            add_dirty(p, t, PS_DIRTY);
            start_keeping(&dirty[ndirty - 1]);
            protect(MAKE_RW, p, 1);
            nkeep++;
        }
}

/* Acquire: the kept copies (not pinned: a pinned one is marked stale by the drops instead)
 * brought up to date from their homes, one transfer each and one completion for all. */
static void refresh_kept(void)
{
    unsigned char *home[KEEP_MAX];
    size_t at[KEEP_MAX], n = 0;
    enum { NO_HOME = -2 }; /* not TP_ALL_RANKS */
    int flush_home = NO_HOME; /* the one home read, or TP_ALL_RANKS (one rank's flush is
                                 cheaper) */
    for (size_t i = 0; i < ndirty && n < KEEP_MAX; i++) {
        size_t off = dirty[i].page * GPAGE;
        if (!dirty[i].keep || pagetable[dirty[i].page].pins)
            continue;
        int h = space_home(off);
        home[n] = twin_alloc();
        at[n++] = i;
        tp->get(home[n - 1], h, off, GPAGE);
        flush_home = flush_home == NO_HOME || flush_home == h ? h : TP_ALL_RANKS;
    }
    if (n == 0)
        return;
    tp->flush(flush_home);
    struct merge_ctx m = {0};
    for (size_t k = 0; k < n; k++) {
        struct dirty *d = &dirty[at[k]];
        m.copy = (unsigned char *)sp.alias + d->page * GPAGE;
        m.twin = d->twin;
        m.home = home[k];
        if (diff_runs(d->twin, home[k], GPAGE, merge_run, &m))
            d->idle = 0; /* others change it: still worth keeping */
        twin_release(home[k]);
    }
    stats_add(pages_refreshed, n);
    stats_add(bytes_refreshed, m.bytes);
}

void cache_invalidate(void)
{
    /* The stale list is emptied below: the write back just before moved changed_gen, under
     * the same hold of cache_lock (cache.h). */
    keep_section_reads();
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
    pagefilter_clear(&stale_seen);
    refresh_kept(); /* instead of drops: they are dirty, which drop_clean leaves */
}

/* --- home side --------------------------------------------------------------------------- */

size_t cache_share_home(size_t page, size_t n)
{
    size_t npages = npages_all(), shared = 0;
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
        for (size_t p = i; p < stop; p++)
            pagetable[p].age = 0; /* a reader keeps it again */
        while (i < stop) {
            uint8_t k = pagetable_kind(i);
            if (k == PS_INVALID) { /* not mapped yet: its first touch maps it shared */
                pagetable[i++].state = PS_SHARED;
                shared++;
            } else if (k == PS_OWN && pagetable[i].pins) { /* used by MPI: stays writable */
                add_dirty(i++, NULL, PS_HOME_DIRTY);
                shared++;
            } else if (k == PS_OWN) {
                size_t j = i + 1;
                while (j < stop && pagetable[j].state == PS_OWN && !pagetable[j].pins)
                    j++;
                protect(MAKE_RO, i, j - i);
                pagetable_set_state(i, j - i, PS_SHARED);
                shared += j - i;
                i = j;
            } else {
                i++;
            }
        }
    }
    return shared;
}

void cache_changed(size_t off, size_t len, int home)
{
    if (len == 0)
        return;
    size_t page = off / GPAGE, n = (off + len - 1) / GPAGE - page + 1;
    int mine = home == sp.rank;
    uint64_t *slot = &changed_slot[page % CHANGED_SLOTS];
    /* The change is done (an atomic or a completed copy): the generation is read after it. */
    if (n == 1 && __atomic_load_n(slot, __ATOMIC_RELAXED) ==
                      changed_key(page, mine, __atomic_load_n(&changed_gen, __ATOMIC_SEQ_CST)))
        return;
    cache_lock_all();
    notice_record(page, n);
    if (!mine && pagefilter_new(&stale_seen, page, n))
        add_run(&stale, &nstale, &stale_cap, page, n);
    if (n == 1)
        __atomic_store_n(slot, changed_key(page, mine, changed_gen), __ATOMIC_RELAXED);
    cache_unlock_all();
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
    for (size_t i = page; i < end; i++) {
        cache_tracked -= (pagetable[i].state & PS_TRACKED) != 0;
        pagetable[i].state = PS_INVALID;
        pagetable[i].pins = 0;
        pagetable[i].age = 0;
    }
    notice_forget(page, n);
}

/* --- pins -------------------------------------------------------------------------------- */

void cache_pin(size_t page, size_t n)
{
    for (size_t i = page; i < page + n; i++)
        if (pagetable[i].pins == UINT16_MAX)
            log_fatal("gallocy (MPI buffer)", "page %p is in %u MPI operations at once, more "
                      "than gallocy counts", (void *)(sp.base + i * GPAGE), UINT16_MAX);
        else
            pagetable[i].pins++;
}

/* A pinned copy that an acquire would have dropped: a clean one is dropped now, a dirty one
 * (what MPI received, say) sends its diff home first, as a release would. */
static void bring_up_to_date(size_t page)
{
    pagetable[page].state &= (uint8_t)~PS_STALE;
    if (pagetable_kind(page) == PS_DIRTY) {
        size_t i = 0;
        while (i < ndirty && dirty[i].page != page)
            i++;
        protect(MAKE_RO, page, 1);
        struct put_ctx c = {.run_home = -1};
        if (i < ndirty && diff_page(&dirty[i], &c))
            notice_record(page, 1);
        put_pending(&c);
        if (c.puts)
            tp->flush(c.home);
        if (i < ndirty) {
            twin_release(dirty[i].twin);
            if (dirty[i].fresh)
                twin_release(dirty[i].fresh);
            dirty[i] = dirty[--ndirty];
        }
        stats_add(bytes_written_back, c.bytes);
        stats_add(diff_runs, c.puts);
        pagetable[page].state = PS_READ | (pagetable[page].state & PS_TRACKED);
    }
    drop_clean(page, 1, 1);
}

void cache_unpin(size_t page, size_t n)
{
    for (size_t i = page; i < page + n; i++) {
        if (!pagetable[i].pins)
            continue; /* freed and reused meanwhile (cache_forget) */
        if (--pagetable[i].pins == 0 && (pagetable[i].state & PS_STALE))
            bring_up_to_date(i);
    }
}
