/* notice: write notices and home sharing (lazy release consistency that costs what is stale).
 *
 * Two kinds of one-sided logs live in registered metadata (meta.h), neither sized by the job:
 *  - Each rank's notice ring: runs of pages it changed at their homes (diffs sent at a
 *    release, writes to its own shared pages, explicit puts and atomics), and the count
 *    published.  An acquirer reads the counts of the ranks that may have published (at a
 *    barrier: those whose bit is set in the barrier's one reduction; at a lock, every rank,
 *    and only when it keeps tracked copies), then the runs it has not seen, and drops its
 *    copies of those pages.
 *  - Each home's two announcement rings: runs of its pages that other ranks fetched.  A home
 *    cannot see its own writes (its pages are plain memory to it), so it must learn which of
 *    its pages others cache and write-protect them ("shared"): then its writes to them fault
 *    (cache_write_shared) and become notices at its next release.  A fetcher queues its
 *    announcements locally and, at the next barrier e, before the barrier's reduction,
 *    reserves room in ring e % 2 of each home it announces to (one fetch-add) and writes its
 *    runs there (one put).  The home reads that ring after barrier e, write-protects the
 *    pages, and empties the ring before it enters barrier e + 1; nobody writes ring e % 2
 *    again before barrier e + 2, so the home has it to itself meanwhile.
 *
 * A cached copy is "tracked" (kept across acquires unless a notice names it) only if its page
 * was known to be shared at its home when the copy was fetched: pushed at barrier e, it is
 * protected there before the home enters e + 1, so after e + 1 the fetcher knows
 * ("confirmed").  Every other copy is untracked and dropped at every acquire, which is always
 * safe.
 *
 * Sharing ends when it no longer pays.  A reader announces a page again when it fetches it
 * after a notice named it (KNOWN_REREAD): so a page its home has changed in UNSHARE_AFTER
 * releases (cache.c) with no new announcement is cached by no reader any more, and the home
 * stops protecting it and publishes its notice flagged RUN_UNSHARE.  A reader
 * that applies it drops its copy, as for any notice, and forgets the confirmation: a later
 * fetch announces the page again.  The flagged notice is published in the same release that
 * stops the protection, and an announcement the home reads after that release protects the
 * page again; a reader confirms what it pushed at barrier e only at e + 1, before it applies
 * the notices of the releases that ended e + 1, so a confirmation is always revoked by an
 * unshare that follows it (one applied earlier, at a lock, revokes the announcement itself).
 * Hence a reader with confirmed pages reads notices even when it
 * holds no tracked copy (nconfirmed), and a reader that missed notices (a ring overflow)
 * forgets every confirmation.
 *
 * Overflow is safe both ways: runs that do not fit a home's ring are not announced (the copy
 * stays untracked and the page is announced on a later fetch); a reader that finds more new
 * notices than the ring holds, or a ring overwritten while it read, drops every tracked copy.
 * Runs are packed in a u64: first page << RUN_BITS | (pages - 1), and the RUN_UNSHARE bit.
 */
#include "notice.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "meta.h"
#include "options.h"
#include "pagefilter.h"
#include "pagetable.h"
#include "runtime.h"
#include "space.h"
#include "stats.h"
#include "transport.h"
#include "vec.h"

#define RUN_BITS NOTICE_RUN_BITS
#define RUN_MAX ((size_t)1 << RUN_BITS)
#define RUN_UNSHARE NOTICE_RUN_UNSHARE

/* A page's state at a reader: not announced; announced, not yet confirmed; confirmed (its
 * home protects it); confirmed, but a notice named it since it was last fetched, so the next
 * fetch announces it again, which tells the home that a reader still keeps it. */
enum { KNOWN_NONE = 0, KNOWN_ANNOUNCED = 1, KNOWN_CONFIRMED = 2, KNOWN_REREAD = 3 };

/* An announcement waiting for the next barrier. */
struct queued {
    int home;
    uint64_t run;
};

/* A page's reader field (pagetable.h) holds its KNOWN_*; pages [reader_lo, reader_hi) hold
 * every one that is not KNOWN_NONE. */
static size_t reader_lo = SIZE_MAX, reader_hi;
static size_t nconfirmed;       /* pages KNOWN_CONFIRMED or KNOWN_REREAD */
static uint64_t *count_word;    /* this rank's published count, in registered memory */
static uint64_t *notice_ring;   /* this rank's ring, in registered memory */
static uint64_t *pending;       /* runs recorded since the last publish */
static size_t npending, pending_cap;
static struct pagefilter pending_seen; /* pages in pending, mostly */
static struct queued *queued;   /* announcements since the last barrier */
static size_t nqueued, queued_cap;
static uint64_t *pushed[2];     /* runs pushed at the last barrier of each parity */
static size_t npushed[2], pushed_cap[2];
static uint64_t epoch;          /* barriers passed */
static uint64_t published_at_barrier; /* *count_word when the last barrier began */
static uint64_t *seen;          /* per rank: its notices applied so far */
static uint64_t *counts;        /* per rank: scratch for notice counts */
static unsigned long *publishers; /* the barrier's bitmap: who published since the last one */
static size_t publisher_words;
static uint64_t *read_buf;      /* runs read from another rank's ring */
/* An acquire's reading (notice_read_*): the ranks with notices not yet read, in rank order. */
static struct unread {
    int rank;
    uint64_t from, to;
} *unread;
static size_t nunread, next_unread;
static int missed; /* notices were missed: every tracked copy must go */

static inline uint64_t run_pack(size_t page, size_t n)
{
    return (uint64_t)page << RUN_BITS | (n - 1);
}

/* Whether run r ends where pages [page, page+n) start, and can take them. */
static inline int run_extends(uint64_t r, size_t page, size_t n)
{
    return notice_run_page(r) + notice_run_len(r) == page && notice_run_len(r) + n <= RUN_MAX;
}
/* Run r, n pages longer (its flags dropped). */
static inline uint64_t run_grown(uint64_t r, size_t n)
{
    return run_pack(notice_run_page(r), notice_run_len(r) + n);
}

static size_t announce_ring_off(int parity)
{
    return sp.meta_off + meta_announce_off(sp.heap_size, (size_t)opt.remote_free_slots, parity);
}
static size_t notice_ring_off(void)
{
    return sp.meta_off + meta_notice_ring_off(sp.heap_size, (size_t)opt.remote_free_slots);
}

int notice_init(void)
{
    size_t n = (size_t)sp.nranks;
    publisher_words = (n + 63) / 64;
    seen = calloc(n, sizeof *seen);
    counts = calloc(n, sizeof *counts);
    publishers = calloc(publisher_words, sizeof *publishers);
    read_buf = malloc(META_NOTICE_SLOTS * sizeof *read_buf);
    unread = calloc(n, sizeof *unread);
    if (!seen || !counts || !publishers || !read_buf || !unread) {
        notice_fini();
        return -ENOMEM;
    }
    nconfirmed = 0;
    count_word = (uint64_t *)(sp.alias + sp.meta_off + META_NOTICE_COUNT);
    notice_ring = (uint64_t *)(sp.alias + notice_ring_off());
    epoch = published_at_barrier = 0;
    return 0;
}

void notice_fini(void)
{
    vec_free(pending, pending_cap, sizeof *pending);
    vec_free(queued, queued_cap, sizeof *queued);
    for (int i = 0; i < 2; i++) {
        vec_free(pushed[i], pushed_cap[i], sizeof *pushed[i]);
        pushed[i] = NULL;
        npushed[i] = pushed_cap[i] = 0;
    }
    free(seen);
    free(counts);
    free(publishers);
    free(read_buf);
    free(unread);
    unread = NULL;
    nunread = next_unread = 0;
    reader_lo = SIZE_MAX;
    reader_hi = 0;
    pending = NULL;
    queued = NULL;
    npending = pending_cap = nqueued = queued_cap = 0;
    pagefilter_clear(&pending_seen);
    seen = counts = read_buf = NULL;
    publishers = NULL;
}

/* Appends a run (flags: 0 or RUN_UNSHARE) to the array, extending the last run when this one
 * follows it with the same flags. */
static void add_run(uint64_t **arr, size_t *len, size_t *cap, size_t page, size_t n,
                    uint64_t flags)
{
    while (n) {
        size_t k = n < RUN_MAX ? n : RUN_MAX;
        uint64_t *last = *len ? &(*arr)[*len - 1] : NULL;
        if (last && (*last & RUN_UNSHARE) == flags && run_extends(*last, page, k)) {
            *last = run_grown(*last, k) | flags;
        } else {
            if (*len == *cap)
                *arr = vec_grow(*arr, cap, sizeof **arr, "write notices");
            (*arr)[(*len)++] = run_pack(page, k) | flags;
        }
        page += k;
        n -= k;
    }
}

void notice_record(size_t page, size_t n)
{
    if (sp.nranks > 1 && pagefilter_new(&pending_seen, page, n))
        add_run(&pending, &npending, &pending_cap, page, n, 0);
}

void notice_record_unshare(size_t page, size_t n)
{
    /* Not filtered: the page may be in the list already, unflagged (both are applied). */
    if (sp.nranks > 1)
        add_run(&pending, &npending, &pending_cap, page, n, RUN_UNSHARE);
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
    pagefilter_clear(&pending_seen);
}

/* Queues a run for home, extending the last one when it follows it. */
static void queue_announcement(int home, size_t page, size_t n)
{
    struct queued *last = nqueued ? &queued[nqueued - 1] : NULL;
    if (last && last->home == home && run_extends(last->run, page, n)) {
        last->run = run_grown(last->run, n);
        return;
    }
    if (nqueued == queued_cap)
        queued = vec_grow(queued, &queued_cap, sizeof *queued, "announcements");
    queued[nqueued++] = (struct queued){home, run_pack(page, n)};
}

static int to_announce(uint8_t k)
{
    return k == KNOWN_NONE || k == KNOWN_REREAD;
}

void notice_announce(int home, size_t page, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (!to_announce(pagetable[page + i].reader)) {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < n && to_announce(pagetable[page + j].reader) && j - i < RUN_MAX)
            j++;
        queue_announcement(home, page + i, j - i);
        for (size_t p = page + i; p < page + j; p++) { /* a reread page stays confirmed */
            uint8_t *r = &pagetable[p].reader;
            *r = *r == KNOWN_REREAD ? KNOWN_CONFIRMED : KNOWN_ANNOUNCED;
        }
        reader_lo = page + i < reader_lo ? page + i : reader_lo;
        reader_hi = page + j > reader_hi ? page + j : reader_hi;
        i = j;
    }
}

int notice_page_tracked(size_t page)
{
    return pagetable[page].reader == KNOWN_CONFIRMED;
}

/* A notice named pages [page, page+n): the confirmed ones are announced again when next
 * fetched. */
static void mark_reread(size_t page, size_t n)
{
    for (size_t p = page; p < page + n; p++)
        if (pagetable[p].reader == KNOWN_CONFIRMED)
            pagetable[p].reader = KNOWN_REREAD;
}

/* The pages of run r still ANNOUNCED become state. */
static void mark_run(uint64_t r, uint8_t state)
{
    for (size_t p = notice_run_page(r), e = p + notice_run_len(r); p < e; p++)
        if (pagetable[p].reader == KNOWN_ANNOUNCED) {
            pagetable[p].reader = state;
            nconfirmed += state == KNOWN_CONFIRMED;
        }
}

/* Pages [page, page+n) no longer protected at their home: confirmations revoked, and
 * announcements not yet confirmed too (the home may have read one before it stopped
 * protecting the page; an unneeded revocation only leaves a copy untracked). */
static void unconfirm(size_t page, size_t n)
{
    for (size_t p = page; p < page + n; p++) {
        nconfirmed -= pagetable[p].reader >= KNOWN_CONFIRMED;
        pagetable[p].reader = KNOWN_NONE;
    }
}

/* After missed notices: any home may have stopped protecting any page. */
static void unconfirm_all(void)
{
    if (nconfirmed)
        for (size_t p = reader_lo; p < reader_hi; p++)
            pagetable[p].reader = KNOWN_NONE;
    nconfirmed = 0;
}

static void mark_runs(const uint64_t *runs, size_t n, uint8_t state)
{
    for (size_t i = 0; i < n; i++)
        mark_run(runs[i], state);
}

void notice_forget(size_t page, size_t n)
{
    unconfirm(page, n);
    /* Runs not yet confirmed may name pages that a new allocation reuses before they would
     * be: never confirm them; their pages are announced again when next fetched. */
    for (size_t i = 0; i < nqueued; i++)
        mark_run(queued[i].run, KNOWN_NONE);
    nqueued = 0;
    for (int i = 0; i < 2; i++) {
        mark_runs(pushed[i], npushed[i], KNOWN_NONE);
        npushed[i] = 0;
    }
}

/* Posts the reads of runs [from, to) of rank r's ring into dst (valid after a flush). */
static void get_runs(uint64_t *dst, int r, uint64_t from, uint64_t to)
{
    uint64_t k = to - from, first = from % META_NOTICE_SLOTS;
    uint64_t n1 = k < META_NOTICE_SLOTS - first ? k : META_NOTICE_SLOTS - first;
    tp->get(dst, r, notice_ring_off() + first * 8, n1 * 8);
    if (k > n1)
        tp->get(dst + n1, r, notice_ring_off(), (k - n1) * 8);
}

static int wanted(const unsigned long *want, int r)
{
    return r != sp.rank && (!want || (want[r / 64] >> (r % 64) & 1));
}

/* Publishers whose new runs are read together: their rings' runs in one round of gets, then
 * their counts again in a second (slot i is rewritten only while the count is i + SLOTS, so a
 * count still below from + SLOTS means every run read is the one published).  Two round trips
 * for up to READ_BATCH publishers, not two each. */
enum { READ_BATCH = 64 };
static struct batched {
    int rank;
    uint64_t from, to, now;
    size_t at; /* where its runs start in read_buf */
} batch[READ_BATCH];

/* Reads the batch of nb publishers whose runs fill used slots of read_buf, and marks what
 * they name; 1 when a ring was overwritten while it was read (every tracked copy must go). */
static int read_batch(int nb, size_t used)
{
    for (int i = 0; i < nb; i++)
        get_runs(read_buf + batch[i].at, batch[i].rank, batch[i].from, batch[i].to);
    tp->flush(TP_ALL_RANKS);
    for (int i = 0; i < nb; i++)
        tp->get(&batch[i].now, batch[i].rank, sp.meta_off + META_NOTICE_COUNT, 8);
    tp->flush(TP_ALL_RANKS);
    for (int i = 0; i < nb; i++)
        if (batch[i].now - batch[i].from >= META_NOTICE_SLOTS)
            return 1;
    for (size_t i = 0; i < used; i++) {
        if (read_buf[i] & RUN_UNSHARE)
            unconfirm(notice_run_page(read_buf[i]), notice_run_len(read_buf[i]));
        else
            mark_reread(notice_run_page(read_buf[i]), notice_run_len(read_buf[i]));
    }
    return 0;
}

int notice_any_confirmed(void)
{
    return nconfirmed != 0;
}

void notice_read_begin(const unsigned long *want)
{
    int any = 0;
    nunread = next_unread = 0;
    missed = 0;
    for (int r = 0; r < sp.nranks; r++)
        if (wanted(want, r)) {
            tp->get(&counts[r], r, sp.meta_off + META_NOTICE_COUNT, 8);
            any = 1;
        }
    if (!any)
        return;
    tp->flush(TP_ALL_RANKS);
    for (int r = 0; r < sp.nranks; r++)
        if (wanted(want, r) && counts[r] != seen[r]) {
            unread[nunread++] = (struct unread){r, seen[r], counts[r]};
            seen[r] = counts[r];
        }
}

size_t notice_read_next(int copies_tracked, const uint64_t **runs)
{
    int nb = 0;
    size_t used = 0;
    while (next_unread < nunread) {
        const struct unread *u = &unread[next_unread];
        uint64_t k = u->to - u->from;
        if (missed || (!copies_tracked && nconfirmed == 0)) { /* nothing to name */
            next_unread++;
        } else if (k > META_NOTICE_SLOTS) {
            missed = 1;
            next_unread++;
        } else if (nb == READ_BATCH || used + k > META_NOTICE_SLOTS) {
            break; /* this one starts the next batch */
        } else {
            batch[nb++] = (struct batched){.rank = u->rank, .from = u->from, .to = u->to,
                                           .at = used};
            used += k;
            next_unread++;
        }
    }
    if (nb == 0)
        return 0;
    if (read_batch(nb, used)) {
        missed = 1;
        next_unread = nunread;
        return 0;
    }
    *runs = read_buf;
    return used;
}

int notice_read_end(void)
{
    if (missed)
        unconfirm_all();
    return missed;
}

static int by_home(const void *a, const void *b)
{
    const struct queued *x = a, *y = b;
    return (x->home > y->home) - (x->home < y->home);
}

/* Fetcher side, before the barrier's reduction: the queued announcements go to their
 * homes' rings of this parity; what does not fit is not announced. */
static void push_announcements(int parity)
{
    qsort(queued, nqueued, sizeof *queued, by_home);
    uint64_t head_off = sp.meta_off + META_ANNOUNCE_HEAD + 8 * (uint64_t)parity;
    while (npushed[parity] + nqueued > pushed_cap[parity])
        pushed[parity] = vec_grow(pushed[parity], &pushed_cap[parity], sizeof *pushed[parity],
                                  "announcements");
    uint64_t *out = pushed[parity] + npushed[parity];
    size_t nout = 0;
    for (size_t i = 0; i < nqueued;) {
        int home = queued[i].home;
        size_t j = i;
        while (j < nqueued && queued[j].home == home)
            j++;
        uint64_t k = j - i, at = tp->fetch_add(home, head_off, k);
        uint64_t fit = at >= META_ANNOUNCE_SLOTS ? 0
                       : k < META_ANNOUNCE_SLOTS - at ? k : META_ANNOUNCE_SLOTS - at;
        for (size_t q = i; q < j; q++)
            out[nout + (q - i)] = queued[q].run;
        if (fit)
            tp->put(home, announce_ring_off(parity) + at * 8, out + nout, fit * 8);
        mark_runs(out + nout + fit, k - fit, KNOWN_NONE); /* no room: untracked */
        nout += fit;
        i = j;
    }
    tp->flush(TP_ALL_RANKS); /* in place before this rank enters the reduction */
    npushed[parity] += nout;
    nqueued = 0;
}

unsigned long *notice_barrier_enter(size_t *words)
{
    push_announcements((int)(epoch & 1));
    uint64_t c = __atomic_load_n(count_word, __ATOMIC_RELAXED);
    memset(publishers, 0, publisher_words * sizeof *publishers);
    if (c != published_at_barrier)
        publishers[sp.rank / 64] |= 1ul << (sp.rank % 64);
    published_at_barrier = c;
    *words = publisher_words;
    return publishers;
}

void notice_barrier_passed(void)
{
    int parity = (int)(epoch & 1);
    epoch++;
    /* Pushed at the barrier before this one: protected at their homes by now. */
    mark_runs(pushed[!parity], npushed[!parity], KNOWN_CONFIRMED);
    npushed[!parity] = 0;
}

/* The ring of the barrier just passed: its parity. */
static uint64_t *announced_head(void)
{
    return (uint64_t *)(sp.alias + sp.meta_off + META_ANNOUNCE_HEAD) + ((epoch - 1) & 1);
}

size_t notice_announced(const uint64_t **runs)
{
    uint64_t n = __atomic_load_n(announced_head(), __ATOMIC_ACQUIRE);
    *runs = (const uint64_t *)(sp.alias + announce_ring_off((int)((epoch - 1) & 1)));
    return n < META_ANNOUNCE_SLOTS ? (size_t)n : META_ANNOUNCE_SLOTS;
}

void notice_announced_done(void)
{
    /* No other rank touches this ring before the barrier after next, which this rank enters
     * later. */
    __atomic_store_n(announced_head(), 0, __ATOMIC_RELEASE);
}
