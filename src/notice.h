/* notice: write notices and the sharing of home pages, so that an acquire drops only the
 * cached copies that may be stale rather than every cached copy.  See notice.c for the
 * protocol.  A log service: it says which pages are stale or newly shared, and the caller
 * (coherence.c) drops or protects them; it never calls up.  Every function except
 * init/fini needs cache_lock held (the caller's lock over every page state). */
#ifndef GALLOCY_NOTICE_H
#define GALLOCY_NOTICE_H
#include <stddef.h>
#include <stdint.h>

int notice_init(void);
void notice_fini(void);

/* Pages [page, page+n) were changed at their home by this rank: named in the next publish. */
void notice_record(size_t page, size_t n);
/* Own pages [page, page+n), changed, are no longer write-protected for their readers: named
 * in the next publish as a notice that also revokes the readers' confirmations. */
void notice_record_unshare(size_t page, size_t n);
/* Release: makes the recorded notices readable by every rank. */
void notice_publish(void);

/* Pages [page, page+n), homed by home, were just fetched: queues for the home, to be told at
 * the next barrier, those it has not been told of (safe in the fault handler). */
void notice_announce(int home, size_t page, size_t n);
/* Whether a copy of page fetched now may be kept across acquires: its home write-protects
 * it and turns its own writes into notices. */
int notice_page_tracked(size_t page);
/* The pages' memory was freed collectively: forget what was announced about them. */
void notice_forget(size_t page, size_t n);

/* A notice or an announcement: a run of pages, packed in a u64. */
enum { NOTICE_RUN_BITS = 20 };
#define NOTICE_RUN_UNSHARE ((uint64_t)1 << 63) /* a notice whose home stopped protecting */
static inline size_t notice_run_page(uint64_t run)
{
    return (size_t)((run & ~NOTICE_RUN_UNSHARE) >> NOTICE_RUN_BITS);
}
static inline size_t notice_run_len(uint64_t run)
{
    return (size_t)(run & (((uint64_t)1 << NOTICE_RUN_BITS) - 1)) + 1;
}

/* Whether this rank holds confirmed pages: then it reads notices at an acquire even when it
 * keeps no tracked copy (an unshare notice revokes a confirmation). */
int notice_any_confirmed(void);
/* An acquire's reading of the notices that the ranks in want (a bitmap; NULL: every other
 * rank) published since this rank last read theirs: begin reads their counts; each next
 * reads a batch of runs (in *runs, valid until the next call) whose pages' copies are stale
 * and returns how many, 0 when none is left (copies_tracked: whether this rank keeps tracked
 * copies; runs are read only while it does or holds confirmed pages); end returns 1 when
 * notices were missed (a ring overflowed, or was overwritten while read): then every tracked
 * copy must go. */
void notice_read_begin(const unsigned long *want);
size_t notice_read_next(int copies_tracked, const uint64_t **runs);
int notice_read_end(void);

/* A barrier, around its one reduction (the barrier itself).  enter: this rank's queued
 * announcements go to their homes, and the bitmap (*words longs) of who published notices
 * since the last barrier has this rank's bit when it did: the caller ORs it over all ranks,
 * then reads whose notices to read there.  passed: after the reduction; what was pushed at
 * the barrier before this one is protected at its home by now (confirmed).  announced: the
 * runs of this rank's pages that other ranks announced at the barrier just passed (in place,
 * *runs): the caller write-protects them, then done empties the ring. */
unsigned long *notice_barrier_enter(size_t *words);
void notice_barrier_passed(void);
size_t notice_announced(const uint64_t **runs);
void notice_announced_done(void);

#endif
