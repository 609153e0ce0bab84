/* coherence: the events of lazy release consistency that span a rank's cached pages (cache.c)
 * and the notices between ranks (notice.c): release, acquire, barrier.  The faults that bring
 * pages in are fault.c's. */
#ifndef GALLOCY_COHERENCE_H
#define GALLOCY_COHERENCE_H

/* This rank's changes go to their homes and become notices (cache_write_back). */
void coherence_release(void);
/* With cache_lock_all held: drops the copies that may be stale (every untracked one, the
 * tracked ones that new notices name) and refreshes the kept ones. */
void coherence_acquire(void);
/* Collective, without cache_lock held, after a release: the barrier itself, and the acquire
 * after it.  Announcements go to their homes, then one reduction (log N steps) is the
 * barrier and says who published notices; then each rank write-protects its newly shared
 * pages and drops what those ranks' notices name. */
void coherence_barrier(void);

#endif
