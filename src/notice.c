/* notice: write notices and home sharing (lazy release consistency that costs what is stale).
 *
 * Each rank keeps two kinds of one-sided logs in its registered metadata (meta.h):
 *  - Its notice ring: runs of pages it changed at their homes (diffs sent at a release,
 *    writes to its own shared pages, explicit puts and atomics), and the count published.
 *    An acquirer reads the counts of the others (at a barrier they come with the exchange),
 *    then the runs it has not seen, and drops its copies of those pages.
 *  - One announcement ring per home: runs of that home's pages it has fetched.  A home cannot
 *    see its own writes (its pages are plain memory to it), so it must learn which of its
 *    pages others cache and write-protect them ("shared"): then its writes to them fault
 *    (cache_make_home_dirty) and become notices at its next release.  A home reads the
 *    announcements made to it at each barrier, with the exchange.
 *
 * A cached copy is "tracked" (kept across acquires unless a notice names it) only if its page
 * was known to be shared at its home when the copy was fetched.  An announcement given at
 * exchange e is read by the home after e, and the page protected before the home enters
 * exchange e+1; so after e+1 the fetcher knows the page is shared ("confirmed").  Every other
 * copy is untracked and dropped at every acquire, which is always safe.  Sharing is for the
 * rest of the job (or until gallocy_cofree): nothing tells a home when copies go away.
 *
 * Overflow is safe both ways: an announcement that does not fit its ring is not made (the copy
 * stays untracked and the page is announced on a later fetch); a reader that finds more new
 * notices than the ring holds, or a ring overwritten while it read, drops every tracked copy.
 * Runs are packed in a u64: first page << RUN_BITS | (pages - 1).
 */
#include "notice.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cache.h"
#include "log.h"
#include "meta.h"
#include "options.h"
#include "runtime.h"
#include "space.h"
#include "stats.h"
#include "transport.h"
#include "vec.h"

enum { RUN_BITS = 20 };
#define RUN_MAX ((size_t)1 << RUN_BITS)

enum { KNOWN_NONE = 0, KNOWN_ANNOUNCED = 1, KNOWN_CONFIRMED = 2 };

/* What this rank, as a fetcher, has told one home (counts of its ring for that home). */
struct announcer {
    uint64_t head;      /* runs written */
    uint64_t giving;    /* count given at the exchange under way (or the last one) */
    uint64_t given;     /* count given at the last completed exchange */
    uint64_t read_from; /* the home may be reading [read_from, given): not to be overwritten */
    uint64_t void_below; /* runs below this are never confirmed (written before a cofree) */
};

static uint8_t *known;          /* per page of the range: KNOWN_* */
static uint64_t *count_word;    /* this rank's published count, in registered memory */
static uint64_t *notice_ring;   /* this rank's ring, in registered memory */
static uint64_t *pending;       /* runs recorded since the last publish */
static size_t npending, pending_cap;
static struct announcer *ann;   /* per home */
static uint64_t *processed;     /* per fetcher: its announcements to this rank read so far */
static uint64_t *seen;          /* per rank: its notices applied so far */
static uint64_t *counts;        /* per rank: scratch for notice counts */
static uint64_t *exchange_buf;  /* 2 x 2 per rank: out then in */
static uint64_t *read_buf;      /* runs read from another rank's ring */

static inline uint64_t run_pack(size_t page, size_t n)
{
    return (uint64_t)page << RUN_BITS | (n - 1);
}
static inline size_t run_page(uint64_t r)
{
    return (size_t)(r >> RUN_BITS);
}
static inline size_t run_len(uint64_t r)
{
    return (size_t)(r & (RUN_MAX - 1)) + 1;
}

static size_t ring_off(int home)
{
    return sp.meta_off + meta_announce_off(sp.heap_size, (size_t)opt.remote_free_slots, home);
}
static uint64_t *announce_ring(int home)
{
    return (uint64_t *)(sp.alias + ring_off(home));
}
static size_t notice_ring_off(void)
{
    return sp.meta_off + meta_notice_ring_off(sp.heap_size, (size_t)opt.remote_free_slots);
}

int notice_init(void)
{
    size_t n = (size_t)sp.nranks, npages = sp.range / GPAGE;
    known = mmap(NULL, npages, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
    ann = calloc(n, sizeof *ann);
    processed = calloc(n, sizeof *processed);
    seen = calloc(n, sizeof *seen);
    counts = calloc(n, sizeof *counts);
    exchange_buf = calloc(4 * n, sizeof *exchange_buf);
    read_buf = malloc(META_NOTICE_SLOTS * sizeof *read_buf);
    if (known == MAP_FAILED)
        known = NULL;
    if (!known || !ann || !processed || !seen || !counts || !exchange_buf || !read_buf) {
        notice_fini();
        return -ENOMEM;
    }
    count_word = (uint64_t *)(sp.alias + sp.meta_off + META_NOTICE_COUNT);
    notice_ring = (uint64_t *)(sp.alias + notice_ring_off());
    return 0;
}

void notice_fini(void)
{
    if (known)
        munmap(known, sp.range / GPAGE);
    vec_free(pending, pending_cap, sizeof *pending);
    free(ann);
    free(processed);
    free(seen);
    free(counts);
    free(exchange_buf);
    free(read_buf);
    known = NULL;
    pending = NULL;
    npending = pending_cap = 0;
    ann = NULL;
    processed = seen = counts = exchange_buf = read_buf = NULL;
}

/* Appends a run to the array, extending the last run when this one follows it. */
static void add_run(uint64_t **arr, size_t *len, size_t *cap, size_t page, size_t n)
{
    while (n) {
        size_t k = n < RUN_MAX ? n : RUN_MAX;
        uint64_t *last = *len ? &(*arr)[*len - 1] : NULL;
        if (last && run_page(*last) + run_len(*last) == page && run_len(*last) + k <= RUN_MAX) {
            *last = run_pack(run_page(*last), run_len(*last) + k);
        } else {
            if (*len == *cap)
                *arr = vec_grow(*arr, cap, sizeof **arr, "write notices");
            (*arr)[(*len)++] = run_pack(page, k);
        }
        page += k;
        n -= k;
    }
}

void notice_record(size_t page, size_t n)
{
    if (sp.nranks > 1)
        add_run(&pending, &npending, &pending_cap, page, n);
}

void notice_publish(void)
{
    if (npending == 0)
        return;
    /* One slot, then the count that covers it: a reader that sees count c finds slot c-1
     * written, and a slot being written is always the one at the current count. */
    uint64_t c = __atomic_load_n(count_word, __ATOMIC_RELAXED);
    for (size_t i = 0; i < npending; i++) {
        __atomic_store_n(&notice_ring[c % META_NOTICE_SLOTS], pending[i], __ATOMIC_RELAXED);
        __atomic_store_n(count_word, ++c, __ATOMIC_RELEASE);
    }
    stats_add(write_notices, npending);
    npending = 0;
}

/* Logs a run for home; 0 when it does not fit (the home may still be reading the slots). */
static int log_announcement(int home, size_t page, size_t n)
{
    struct announcer *a = &ann[home];
    uint64_t *ring = announce_ring(home);
    if (a->head > a->giving) { /* the last run is not given yet: extend it when adjacent */
        uint64_t *last = &ring[(a->head - 1) % META_ANNOUNCE_SLOTS];
        if (run_page(*last) + run_len(*last) == page && run_len(*last) + n <= RUN_MAX) {
            *last = run_pack(run_page(*last), run_len(*last) + n);
            return 1;
        }
    }
    if (a->head >= a->read_from + META_ANNOUNCE_SLOTS)
        return 0;
    ring[a->head % META_ANNOUNCE_SLOTS] = run_pack(page, n);
    a->head++;
    return 1;
}

void notice_announce(int home, size_t page, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (known[page + i] != KNOWN_NONE) {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < n && known[page + j] == KNOWN_NONE)
            j++;
        if (log_announcement(home, page + i, j - i))
            memset(known + page + i, KNOWN_ANNOUNCED, j - i);
        i = j;
    }
}

int notice_page_tracked(size_t page)
{
    return known[page] == KNOWN_CONFIRMED;
}

/* Pages of runs [from, to) of this rank's ring for home, still ANNOUNCED, become to. */
static void mark_announced(int home, uint64_t from, uint64_t to, uint8_t state)
{
    const uint64_t *ring = announce_ring(home);
    for (uint64_t i = from; i < to; i++) {
        uint64_t r = ring[i % META_ANNOUNCE_SLOTS];
        for (size_t p = run_page(r), e = p + run_len(r); p < e; p++)
            if (known[p] == KNOWN_ANNOUNCED)
                known[p] = state;
    }
}

void notice_forget(size_t page, size_t n)
{
    memset(known + page, KNOWN_NONE, n);
    /* Runs not yet confirmed may name pages that a new allocation reuses before they would
     * be: never confirm them; their pages are announced again when next fetched. */
    for (int h = 0; h < sp.nranks; h++) {
        struct announcer *a = &ann[h];
        uint64_t from = a->read_from > a->void_below ? a->read_from : a->void_below;
        mark_announced(h, from, a->head, KNOWN_NONE);
        a->void_below = a->head;
    }
}

/* Reads runs [from, to) of the ring of len slots at off on rank r into read_buf. */
static void read_runs(int r, size_t off, size_t len, uint64_t from, uint64_t to)
{
    uint64_t k = to - from, first = from % len;
    uint64_t n1 = k < len - first ? k : len - first;
    tp->get(read_buf, r, off + first * 8, n1 * 8);
    if (k > n1)
        tp->get(read_buf + n1, r, off, (k - n1) * 8);
    tp->flush(r);
}

/* Drops the copies named by the notices other ranks published since this rank last looked:
 * count[r] is rank r's published count, read or received. */
static void apply_notices(const uint64_t *count)
{
    int drop_all = 0;
    for (int r = 0; r < sp.nranks; r++) {
        if (r == sp.rank || count[r] == seen[r])
            continue;
        uint64_t from = seen[r], to = count[r];
        seen[r] = to;
        if (cache_tracked == 0 || drop_all) /* nothing the notices could name */
            continue;
        if (to - from > META_NOTICE_SLOTS) {
            drop_all = 1;
            continue;
        }
        read_runs(r, notice_ring_off(), META_NOTICE_SLOTS, from, to);
        /* Slot i is rewritten only while the count is i + SLOTS: if it is still below
         * from + SLOTS, every run read is the one published. */
        uint64_t now;
        tp->get(&now, r, sp.meta_off + META_NOTICE_COUNT, 8);
        tp->flush(r);
        if (now - from >= META_NOTICE_SLOTS) {
            drop_all = 1;
            continue;
        }
        for (uint64_t i = 0; i < to - from; i++)
            stats_add(stale_drops, cache_drop(run_page(read_buf[i]), run_len(read_buf[i])));
    }
    if (drop_all)
        stats_add(stale_drops, cache_drop_tracked());
}

void notice_acquire(void)
{
    if (cache_tracked == 0 || sp.nranks == 1)
        return; /* the counts can wait: whatever is fetched from now on is fresh */
    for (int r = 0; r < sp.nranks; r++)
        if (r != sp.rank)
            tp->get(&counts[r], r, sp.meta_off + META_NOTICE_COUNT, 8);
    tp->flush(TP_ALL_RANKS);
    apply_notices(counts);
}

/* Home side: write-protects the pages other ranks announced fetching since the last
 * exchange; in[2r+1] is the count of rank r's announcements to this rank. */
static void share_announced(const uint64_t *in)
{
    for (int r = 0; r < sp.nranks; r++) {
        uint64_t from = processed[r], to = in[2 * r + 1];
        if (r == sp.rank || to == from)
            continue;
        if (to - from > META_ANNOUNCE_SLOTS) /* the fetcher's limit makes this impossible */
            log_fatal("gallocy_barrier", "rank %d announced %lu page runs at once, more than "
                      "its ring holds (%d): gallocy is inconsistent", r,
                      (unsigned long)(to - from), META_ANNOUNCE_SLOTS);
        read_runs(r, ring_off(sp.rank), META_ANNOUNCE_SLOTS, from, to);
        for (uint64_t i = 0; i < to - from; i++)
            stats_add(pages_shared, cache_share_home(run_page(read_buf[i]),
                                                     run_len(read_buf[i])));
        processed[r] = to;
    }
}

/* Fetcher side, after an exchange: what the homes read at the previous one is now
 * protected there. */
static void confirm_announced(void)
{
    for (int h = 0; h < sp.nranks; h++) {
        struct announcer *a = &ann[h];
        uint64_t from = a->read_from > a->void_below ? a->read_from : a->void_below;
        if (a->given > from)
            mark_announced(h, from, a->given, KNOWN_CONFIRMED);
        a->read_from = a->given;
        a->given = a->giving;
    }
}

void notice_barrier(void)
{
    if (sp.nranks == 1) {
        rt_barrier();
        futex_lock(&cache_lock);
        cache_invalidate();
        futex_unlock(&cache_lock);
        return;
    }
    size_t n = (size_t)sp.nranks;
    uint64_t *out = exchange_buf, *in = exchange_buf + 2 * n;
    futex_lock(&cache_lock);
    uint64_t c = __atomic_load_n(count_word, __ATOMIC_RELAXED);
    for (size_t r = 0; r < n; r++) {
        ann[r].giving = ann[r].head;
        out[2 * r] = c;
        out[2 * r + 1] = ann[r].head;
    }
    futex_unlock(&cache_lock);
    /* Also the barrier: nobody leaves before everyone has released. */
    rt_alltoall(out, in, 2 * sizeof *out);
    futex_lock(&cache_lock);
    cache_invalidate(); /* untracked copies, and what this rank put or swapped itself */
    confirm_announced();
    share_announced(in);
    for (size_t r = 0; r < n; r++)
        counts[r] = in[2 * r];
    apply_notices(counts);
    futex_unlock(&cache_lock);
}
