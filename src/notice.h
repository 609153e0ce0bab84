/* notice: write notices and the sharing of home pages, so that an acquire drops only the
 * cached copies that may be stale rather than every cached copy.  See notice.c for the
 * protocol.  Every function except init/fini and notice_barrier needs cache_lock held. */
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

/* Acquire outside a barrier: reads the other ranks' notice counts (only when this rank
 * keeps tracked copies or confirmed pages) and drops the copies their new notices name. */
void notice_acquire(void);
/* Collective, without cache_lock held: the whole of gallocy_barrier after its release.
 * Announcements go to their homes, then one reduction (log N steps) is the barrier and
 * says who published notices; then each rank write-protects its newly shared pages and
 * drops what those ranks' notices name. */
void notice_barrier(void);

#endif
