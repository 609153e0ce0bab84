/* coherence: the events that change the state of this rank's pages (pagetable.h): the faults
 * that bring pages in, release, acquire and barrier.  This module chooses what each does;
 * cache.c applies its choices (protections, twins, transfers, the lists of copies); notice.c
 * keeps the logs between ranks.  coherence.c sends each event to the protocols
 * (coherence_protocol.h): a fault to its page's, a release, an acquire or a barrier to each.
 * The one protocol so far is lazy release consistency (coherence_lrc.c), described here.
 *
 * The protocol.  Every page has a home, the rank whose segment holds it; the others cache
 * copies of it, which are made consistent only at synchronisation (so a program without
 * data races sees sequential consistency, as under release consistency).
 *  - Read fault on another rank's page: the page, and those after it a read stream reaches,
 *    are fetched as clean read-only copies.  Write fault: fetched, or taken from the clean
 *    copy, twinned and made writable (dirty).
 *  - Release: the dirty copies are write-protected, each one's diff against its twin goes to
 *    its home (one-sided puts), and write notices naming the pages changed are published in
 *    this rank's ring (notice.c).
 *  - Acquire (a lock taken, gallocy_acquire): this rank's own changes are written back first,
 *    as a release does (a copy with changes in it cannot be dropped without losing them, and
 *    keeping it would keep what others wrote from being seen); then every copy that may be
 *    stale is dropped: each untracked copy, and each tracked one that a new notice names.
 *    Copies written or read in critical sections time after time are kept and refreshed
 *    from their homes instead (cache.c, "Kept copies").
 *  - Barrier: a release by every rank, one reduction (the barrier itself, which also says who
 *    published notices), then an acquire of those ranks' notices.
 *  - A home's own pages are plain memory to it until other ranks announce (at a barrier)
 *    that they cache them; then they are shared, write-protected, so that the home's writes
 *    fault and become notices at its next release.  A copy of a page confirmed shared is
 *    tracked: kept across acquires until a notice names it.  Sharing ends when it no longer
 *    pays (notice.c).
 * Everything here needs cache_lock (cache.h) held as each function says. */
#ifndef GALLOCY_COHERENCE_H
#define GALLOCY_COHERENCE_H
#include <stddef.h>

#include "coherence_protocol.h" /* enum coherence_via */

/* Before the job's first fault: no read or write stream under way. */
void coherence_init(void);

/* With cache_lock held: a read fault (write 0) or a write fault (1; -1 unknown, taken as a
 * write where it matters) on page.  0 when the page is now accessible for it (from a signal
 * handler: or it is worth trying the access again: a fetch of absent pages lets cache_lock go
 * while the data comes, cache.h's flights, and a fault on a page in flight waits for it); -1
 * when it is not a page gallocy serves (no allocation there, or own plain memory that
 * faulted anyway). */
int coherence_fault(size_t page, int write, enum coherence_via via);
/* With cache_lock held, from a thread that may call the transport: makes [page, page+n)
 * readable, or writable, now, with one transfer per run of pages of one home.  0, or
 * -EINVAL when part of the range is in no allocation. */
int coherence_prepare(size_t page, size_t n, int write);

/* Without cache_lock: this rank's changes go to their homes and become notices. */
void coherence_release(void);
/* With cache_lock_all held: this rank's changes written back, then its copies that may be
 * stale dropped and its kept copies refreshed. */
void coherence_acquire(void);
/* Collective, without cache_lock held, after a release: the barrier itself, and the acquire
 * after it.  Announcements go to their homes, then one reduction (log N steps) is the
 * barrier and says who published notices; then each rank write-protects its newly shared
 * pages and drops what those ranks' notices name. */
void coherence_barrier(void);

#endif
