/* cache: this rank's state of every page of the global range it does not home (the local page
 * state of DESIGN.md): invalid (absent), read (a clean copy), dirty (writable, with a twin).
 * Also the list of cached page runs, so acquire costs what is cached, not the range size.
 * Every function below except init/fini needs cache_lock held; the lock is also what the
 * fault handler takes, so a holder never touches the application view itself. */
#ifndef GALLOCY_CACHE_H
#define GALLOCY_CACHE_H
#include <stddef.h>
#include <stdint.h>

#include "futex.h"

enum { PS_INVALID = 0, PS_READ = 1, PS_DIRTY = 2 };

extern uint8_t *cache_state; /* one byte per page of the range */
extern futex_mutex_t cache_lock;

int cache_init(void);
void cache_fini(void);

/* Pages [page, page+n) were just fetched: record them as clean copies, readable. */
void cache_add_clean(size_t page, size_t n);
/* A clean cached page is about to be written: twin it and make it writable. */
void cache_make_dirty(size_t page);
/* Release: write-protect dirty pages, send their diffs home, wait for completion. */
void cache_write_back(void);
/* Acquire: drop every cached copy (write back first what is dirty). */
void cache_invalidate(void);
/* Forget pages [page, page+n) without writing anything back (their memory is being freed). */
void cache_forget(size_t page, size_t n);

#endif
