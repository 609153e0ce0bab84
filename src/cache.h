/* cache: applies the transitions of this rank's pages (their states: pagetable.h) with the
 * protection changes, twins and transfers they need: copies coming in, made dirty, written
 * back, dropped; own pages shared with readers and made plain again.  Also the list of
 * untracked cached runs, so an acquire costs what it must drop, not the range size.
 *
 * Pins: a range handed to MPI (or another party that reads or writes it behind gallocy's
 * back, such as the kernel) stays as it was made ready until unpinned: a release diffs a
 * pinned dirty page against a fresh twin instead of write-protecting it, and an acquire that
 * would drop a pinned copy marks it stale instead; it is brought up to date when the last pin
 * goes.
 *
 * Every function below except init/fini needs cache_lock held; the lock is also what the
 * fault handler takes, so a holder never touches the application view itself.
 *
 * Flights: a fault that fetches a run of absent pages (page-table ways: a SIGBUS handler in
 * the faulting thread, or a fault server) marks them PS_BUSY and lets cache_lock go while the
 * data comes and the pages are mapped, then takes it again to record them; so faults on
 * different pages move their data at once.  Everybody else takes the lock with
 * cache_lock_all, which waits until no flight is under way: a release, an acquire, a notice,
 * a pin never meets a page half fetched, and a page mapped by a flight is in the lists
 * before any of them looks. */
#ifndef GALLOCY_CACHE_H
#define GALLOCY_CACHE_H
#include <stddef.h>
#include <stdint.h>

#include "futex.h"
#include "pagetable.h"

extern futex_mutex_t cache_lock;
extern size_t cache_tracked; /* tracked copies held */
/* Own shared pages made plain memory again so far (cache_lock; read without it): a fault on
 * such a page that waited for the lock meanwhile was for its protection, now gone. */
extern uint64_t cache_unshares;

int cache_init(void);
void cache_fini(void);

/* cache_lock for everything but the fault path: taken once no flight is under way. */
void cache_lock_all(void);
void cache_unlock_all(void);

/* A fetch of absent pages in flight (coherence_fault). */
enum { CACHE_FLIGHT_MAX = 64 };
struct cache_flight {
    size_t page, n;
    int home, writable;
    struct cache_flight *next; /* the flights under way, for a wait that lasts too long */
    unsigned char *twin[CACHE_FLIGHT_MAX]; /* for a writable run */
};
/* With cache_lock held, in a fault: whether the fetch of the absent run [page, page+n)
 * (homed by home; writable: to be written) may go on without the lock.  If so (1), its pages
 * are PS_BUSY until cache_flight_end, which must follow; else (0) nothing changed. */
int cache_flight_begin(struct cache_flight *f, size_t page, size_t n, int home, int writable);
/* Without cache_lock, once the data is in the alias: twins taken, the run mapped. */
void cache_flight_map(struct cache_flight *f);
/* With cache_lock held: the run recorded as cache_add_clean or cache_add_dirty does. */
void cache_flight_end(struct cache_flight *f);
/* With cache_lock held (on a PS_BUSY page, or waiting for cache_lock_all): lets the lock go
 * until some flight ends, then takes it again (the caller looks anew).  A wait of
 * CACHE_FLIGHT_WARN_S with no flight ending says so, naming the homes being read (a rank
 * that died or stopped answering); the wait goes on, as the transport decides what fails. */
enum { CACHE_FLIGHT_WARN_S = 60 };
void cache_flight_wait(void);

/* Pages [page, page+n), homed by home, were just fetched: record them as clean copies,
 * readable (and announce them to the home). */
void cache_add_clean(size_t page, size_t n, int home);
/* Clean cached pages [page, page+n) are about to be written: twin each and make the run
 * writable, with one protection change. */
void cache_make_dirty(size_t page, size_t n);
/* Pages [page, page+n), homed by home, were just fetched to be written: record them as
 * copies (announced, as cache_add_clean does), twin each and make the run writable, with one
 * protection change. */
void cache_add_dirty(size_t page, size_t n, int home);
/* Own pages [page, page+n) of the collective area, not yet mapped, become plain memory. */
void cache_map_own(size_t page, size_t n);
/* Own pages [page, page+n), all shared or all home-dirty, are accessed: readable, or
 * (write) writable until the next release. */
void cache_touch_shared(size_t page, size_t n, int write);
/* A write to own shared page `page` faulted: it and the shared pages after it up to page+n
 * (write-ahead: they are likely to be written next) become writable until the next release.
 * Each is twinned, so a release notices only the ones that changed; one found unchanged
 * three epochs running loses PS_WRITTEN (it is no longer taken ahead). */
void cache_write_shared(size_t page, size_t n);
/* The page's protection is made what its state says (a fault on a page whose state says it
 * is accessible: another thread served it first, or the kernel dropped its entry). */
void cache_enforce(size_t page);
/* Release: write-protect dirty pages (own home-dirty ones too), send the diffs home, wait
 * for completion, publish the write notices. */
void cache_write_back(void);
/* Acquire, the local part, right after cache_write_back in the same hold of cache_lock
 * (whose move of the recorded-changes generation lets this empty the stale list): drop the
 * untracked copies and those this rank changed behind its cache (explicit puts and atomics),
 * and refresh the kept ones. */
void cache_invalidate(void);
/* Drops the clean copies among pages [page, page+n); returns how many. */
size_t cache_drop(size_t page, size_t n);
/* Drops every tracked copy; returns how many. */
size_t cache_drop_tracked(void);
/* Own pages among [page, page+n) that other ranks now cache become shared (write-protected);
 * returns how many. */
size_t cache_share_home(size_t page, size_t n);
/* This rank changed [off, off+len) of global memory at its home without its cache (explicit
 * put, atomic): tell the others at the next release; drop its own copy at the next acquire.
 * The change must be complete and visible to other threads first (a locked atomic, a flushed
 * transfer, a seq_cst fence after a copy): a page recorded in this release's generation is not
 * recorded again, without cache_lock. */
void cache_changed(size_t off, size_t len, int home);
/* This rank took (+1) or gave back (-1) a lock: copies fetched while it holds one are read
 * in critical sections, and may be kept across acquires (cache.c, "Kept copies").  Any
 * thread, without cache_lock. */
void cache_locks_held(int delta);
/* Forget pages [page, page+n) without writing anything back (their memory is being freed). */
void cache_forget(size_t page, size_t n);
/* Pins [page, page+n) (made ready by the caller in the same hold of cache_lock) / unpins
 * them, bringing stale ones up to date. */
void cache_pin(size_t page, size_t n);
void cache_unpin(size_t page, size_t n);

#endif
