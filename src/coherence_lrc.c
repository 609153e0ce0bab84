/* coherence_lrc: lazy release consistency, the protocol coherence.h describes: what each
 * event does to the pages it serves.
 *
 * Its faults run where the access was caught: in a signal handler (the mprotect and sigbus
 * ways, in the faulting thread, in signal context: nothing here calls malloc), in a fault
 * server thread (uffd), or in the thread of gallocy_prepare or an MPI call.  A page homed on
 * this node is copied from the home's memory (node.c); else a handler makes the transfer
 * itself where the transport allows it (tp->signal_safe: under MPI, when the thread was not
 * inside MPI) and otherwise hands it to the service thread (svc_fetch), at the cost of two
 * thread switches; the others call the transport themselves.  Everything else is the cache's
 * bookkeeping and protection changes, under cache_lock, so that threads faulting on the same
 * pages at once see one fetch; but the fetch of a run of absent pages lets the lock go while
 * its data comes (cache.h's flights), so that faults on other pages go on meanwhile. */
#include "coherence_protocol.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cache.h"
#include "node.h"
#include "notice.h"
#include "options.h"
#include "pagetable.h"
#include "prot.h"
#include "runtime.h"
#include "space.h"
#include "stats.h"
#include "svc.h"
#include "transport.h"

/* --- faults ------------------------------------------------------------------------------ */

/* Read-ahead and write-ahead, as a file system's read-ahead: a fault on the page where the
 * last run of its kind ended continues a sequential stream, and the run doubles, up to
 * GALLOCY_PREFETCH_MAX pages; any other fault starts again.  A read run starts at
 * GALLOCY_PREFETCH pages and is fetched read-only; a write run starts at the faulting page
 * alone and is made writable at once (fetched where absent, each page twinned).  A code that
 * streams through an array takes a few large runs, one that jumps around small ones: a
 * memset of a remote array faults every 64 pages, not every page.  A page made writable but
 * not written costs its twin and a compare at the release, and sends nothing.  Writes to
 * own pages that other ranks cache (write-protected so that their changes become notices)
 * stream the same way (home_write_run).  GALLOCY_PREFETCH=1 turns all three off.  cache_lock
 * guards the streams. */
struct stream {
    size_t end; /* page after the last run, SIZE_MAX for none */
    int run;    /* pages the last run asked for (it may have stopped short), 0 for none */
};
static struct stream reads, writes, home_writes;

/* Pages the fault at page takes: first when it starts a stream, else twice the last run. */
static int stream_run(const struct stream *s, size_t page, int first)
{
    int most = opt.prefetch_max > first ? opt.prefetch_max : first;
    if (opt.prefetch <= 1)
        return 1;
    return page == s->end && s->run ? (s->run > most / 2 ? most : s->run * 2) : first;
}

/* The fault at page asked for run pages and took n (a run stops at a page already held, or
 * at the end of the home's stretch: the next one still doubles what was asked). */
static void stream_took(struct stream *s, size_t page, size_t n, int run)
{
    s->end = page + n;
    s->run = run;
}

/* Pages from page on, before end and at most n, whose state is kind. */
static size_t run_of(size_t page, size_t end, size_t n, uint8_t kind)
{
    size_t k = 1;
    while (k < n && page + k < end && pagetable_kind(page + k) == kind &&
           (kind != PS_INVALID || pagetable[page + k].state == PS_INVALID))
        k++;
    return k;
}

/* Copies [off, off+len) of home's memory into this rank's memfd. */
static void fetch(int home, size_t off, size_t len, enum coherence_via via)
{
    const char *src = node_view(home, off);
    if (src) {
        memcpy(sp.alias + off, src, len);
        stats_add(pages_fetched_on_node, len / GPAGE);
    } else if (via == COHERENCE_VIA_SERVICE_THREAD) {
        stats_inc(fetches_handed_off);
        svc_fetch(home, off, len);
    } else {
        tp->get(sp.alias + off, home, off, len);
        tp->flush(home);
    }
    stats_add(pages_fetched, len / GPAGE);
    stats_add(bytes_fetched, len);
}

/* Fetches the invalid run of n pages from page, homed by home, as clean copies or (writable)
 * as twinned dirty ones: one transfer and one protection change.  In a signal handler or a
 * fault server the transfer and the mapping run without cache_lock where cache_flight_begin
 * allows (a flight, cache.h), so that threads faulting on other pages go on meanwhile. */
static void fetch_run(size_t page, size_t n, int home, int writable, enum coherence_via via)
{
    struct cache_flight f;
    if (via != COHERENCE_VIA_TRANSPORT && cache_flight_begin(&f, page, n, home, writable)) {
        futex_unlock(&cache_lock);
        fetch(home, page * GPAGE, n * GPAGE, via);
        cache_flight_map(&f);
        futex_lock(&cache_lock);
        cache_flight_end(&f);
        return;
    }
    fetch(home, page * GPAGE, n * GPAGE, via);
    if (writable)
        cache_add_dirty(page, n, home);
    else
        cache_add_clean(page, n, home);
}

/* Own pages of the collective area are mapped on first touch, this many at a time (an
 * allocation maps nothing itself: a page-cyclic one would cost a protection change, and on
 * the mprotect way a memory map, per page). */
static size_t own_run(size_t page, size_t stretch_end)
{
    return run_of(page, stretch_end, (size_t)(opt.prefetch_max > 1 ? opt.prefetch_max : 1),
                  PS_INVALID);
}

/* A write to an own shared page: it, and the shared pages after it that the write stream
 * reaches or that were written in their last epoch (a sweep writes the same rows each time:
 * from the second, one fault takes them all), up to GALLOCY_PREFETCH_MAX pages. */
static size_t home_write_run(size_t page, size_t stretch_end)
{
    size_t run = (size_t)stream_run(&home_writes, page, 1), n = 1;
    size_t most = opt.prefetch > 1 && opt.prefetch_max > 1 ? (size_t)opt.prefetch_max : 1;
    while (n < most && page + n < stretch_end &&
           pagetable_kind(page + n) == PS_SHARED &&
           (n < run || (pagetable[page + n].state & PS_WRITTEN)))
        n++;
    return n;
}

static int resolve_own(size_t page, size_t stretch_end, int write)
{
    switch (pagetable_kind(page)) {
    case PS_INVALID:
        cache_map_own(page, own_run(page, stretch_end));
        return 0;
    case PS_SHARED:
        if (write != 0) {
            stats_inc(home_write_faults);
            size_t n = home_write_run(page, stretch_end);
            cache_write_shared(page, n);
            stream_took(&home_writes, page, n, stream_run(&home_writes, page, 1));
            return 0;
        }
        cache_touch_shared(page, 1, 0);
        return 0;
    case PS_HOME_DIRTY:
        cache_touch_shared(page, 1, write != 0);
        return 0;
    default: /* plain memory: mapped for good on the mprotect way, so not a gallocy fault */
        if (prot_way == PROT_WAY_MPROTECT)
            return -1;
        cache_enforce(page);
        return 0;
    }
}

static int lrc_fault(size_t page, size_t stretch_end, int home, int write,
                     enum coherence_via via)
{
    if (home == sp.rank)
        return resolve_own(page, stretch_end, write);
    int run;
    size_t n;
    switch (pagetable_kind(page)) {
    case PS_INVALID:
        stats_inc(read_faults);
        if (write == 1) { /* the pages it fetches are made writable too, not read-only */
            stats_inc(write_faults);
            run = stream_run(&writes, page, 1);
            n = run_of(page, stretch_end, (size_t)run, PS_INVALID);
            /* The stream first: the next fault of the stream may come while this one's
             * flight maps the run, before it is recorded */
            stream_took(&writes, page, n, run);
            fetch_run(page, n, home, 1, via);
        } else {
            run = stream_run(&reads, page, (int)opt.prefetch);
            n = run_of(page, stretch_end, (size_t)run, PS_INVALID);
            stream_took(&reads, page, n, run);
            fetch_run(page, n, home, 0, via);
        }
        return 0;
    case PS_READ:
        if (write != 0) { /* a read fault here means another thread fetched it meanwhile */
            stats_inc(write_faults);
            run = stream_run(&writes, page, 1);
            n = run_of(page, sp.range / GPAGE, (size_t)run, PS_READ);
            cache_make_dirty(page, n);
            stream_took(&writes, page, n, run);
            return 0;
        }
        break;
    case PS_BUSY: /* another fault is fetching it: wait for that, then look again (a
                   * handler's access is simply tried again) */
        cache_flight_wait();
        return COHERENCE_AGAIN;
    default: /* dirty already: another thread got here first */
        break;
    }
    /* Accessible by its state: another thread served it first, or (in the page-table ways)
     * the kernel dropped the entry; give it the protection its state says.  A fault server
     * also wakes the faulting thread: making a page read-only again wakes nobody. */
    if (prot_way != PROT_WAY_MPROTECT)
        cache_enforce(page);
    if (via == COHERENCE_VIA_SERVER)
        prot_wake(page * GPAGE, GPAGE);
    return 0;
}

static void lrc_prepare(size_t page, size_t n, int home, int write)
{
    for (size_t p = page, end = page + n; p < end;) {
        uint8_t k = pagetable_kind(p);
        size_t len = run_of(p, end, end - p, k);
        if (home == sp.rank) {
            if (k == PS_INVALID)
                cache_map_own(p, len);
            else if (k == PS_SHARED || (k == PS_HOME_DIRTY && write))
                cache_touch_shared(p, len, write);
        } else if (k == PS_INVALID) {
            fetch_run(p, len, home, write, COHERENCE_VIA_TRANSPORT);
        } else if (k == PS_READ && write) {
            cache_make_dirty(p, len);
        }
        p += len;
    }
}

static void lrc_init(void)
{
    reads = writes = home_writes = (struct stream){SIZE_MAX, 0};
}

/* --- release, acquire, barrier ------------------------------------------------------------ */

static void lrc_release(void)
{
    cache_lock_all();
    cache_write_back();
    cache_unlock_all();
}

/* Drops this rank's copies of what the new notices of the ranks in want (NULL: all) name. */
static void apply_notices(const unsigned long *want)
{
    const uint64_t *runs;
    size_t n;
    notice_read_begin(want);
    while ((n = notice_read_next(cache_tracked != 0, &runs)) > 0)
        for (size_t i = 0; i < n; i++) {
            size_t dropped = cache_drop(notice_run_page(runs[i]), notice_run_len(runs[i]));
            stats_add(stale_drops, dropped);
        }
    if (notice_read_end())
        stats_add(stale_drops, cache_drop_tracked());
}

static void lrc_acquire(void)
{
    cache_write_back();
    cache_invalidate();
    /* Without tracked copies or confirmed pages, the counts can wait: whatever is fetched
     * from now on is fresh. */
    if ((cache_tracked != 0 || notice_any_confirmed()) && sp.nranks > 1)
        apply_notices(NULL);
}

static void lrc_barrier(void)
{
    if (sp.nranks == 1) {
        rt_barrier();
        cache_lock_all();
        lrc_acquire();
        cache_unlock_all();
        return;
    }
    size_t words;
    cache_lock_all();
    unsigned long *publishers = notice_barrier_enter(&words);
    cache_unlock_all();
    /* The barrier itself (nobody leaves before everyone has released and announced), and
     * who has published notices since the last one: log N steps of N bits. */
    rt_allreduce_or(publishers, words);
    cache_lock_all();
    notice_barrier_passed();
    cache_write_back(); /* kept and pinned copies: what changed since the release */
    cache_invalidate(); /* untracked copies, and what this rank put or swapped itself */
    const uint64_t *runs;
    size_t n = notice_announced(&runs);
    for (size_t i = 0; i < n; i++)
        stats_add(pages_shared, cache_share_home(notice_run_page(runs[i]),
                                                 notice_run_len(runs[i])));
    notice_announced_done();
    apply_notices(publishers);
    cache_unlock_all();
}

const struct coherence_protocol coherence_lrc = {
    .name = "lazy release consistency",
    .init = lrc_init,
    .fault = lrc_fault,
    .prepare = lrc_prepare,
    .release = lrc_release,
    .acquire = lrc_acquire,
    .barrier = lrc_barrier,
};
