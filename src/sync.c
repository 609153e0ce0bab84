/* sync: acquire, release, barrier, atomics and explicit get/put (the public calls that
 * order memory or go straight to a home). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cache.h"
#include "coherence.h"
#include "extent.h"
#include "gallocy_api.h"
#include "lifecycle.h"
#include "log.h"
#include "node.h"
#include "runtime.h"
#include "space.h"
#include "stats.h"
#include "sync.h"
#include "transport.h"

void gallocy_release(void)
{
    LIFECYCLE_REQUIRE("gallocy_release");
    coherence_release();
    alloc_sync(1); /* deliver frees of other ranks' blocks, apply theirs of ours */
    stats_inc(releases);
}

void gallocy_acquire(void)
{
    LIFECYCLE_REQUIRE("gallocy_acquire");
    cache_lock_all();
    coherence_acquire();
    extent_forget();
    cache_unlock_all();
    stats_inc(acquires);
}

void gallocy_barrier(void)
{
    LIFECYCLE_REQUIRE("gallocy_barrier");
    gallocy_release();
    coherence_barrier(); /* the barrier itself, and the acquire */
    extent_forget();
    stats_inc(acquires);
    stats_inc(barriers);
}

int sync_word_home(const void *p, size_t len, const char *call, uint64_t *off)
{
    int known = (uintptr_t)p & 7 ? -1 : extent_memo_home(space_off(p), len);
    if (known >= 0) { /* checked before, one home */
        *off = space_off(p);
        return known;
    }
    if (!space_contains(p) || ((uintptr_t)p & 7))
        log_fatal(call, "%p is not an 8-byte aligned word of allocated global memory", p);
    extent_require_slow(p, len, call, 1); /* a freed block, or one too short */
    size_t end;
    int home = space_home_run(space_off(p), &end);
    if (home < 0 || space_off(p) + len > end)
        log_fatal(call, "the %zu bytes at %p are on two homes: align it to %zu bytes", len, p,
                  len);
    *off = space_off(p);
    return home;
}

uint64_t gallocy_atomic_fetch_add(uint64_t *global, uint64_t v)
{
    LIFECYCLE_REQUIRE("gallocy_atomic_fetch_add");
    uint64_t off;
    int home = sync_word_home(global, 8, "gallocy_atomic_fetch_add", &off);
    uint64_t old = tp->fetch_add(home, off, v);
    if (v)
        cache_changed(off, 8, home);
    return old;
}

uint64_t gallocy_atomic_compare_swap(uint64_t *global, uint64_t expected, uint64_t desired)
{
    LIFECYCLE_REQUIRE("gallocy_atomic_compare_swap");
    uint64_t off;
    int home = sync_word_home(global, 8, "gallocy_atomic_compare_swap", &off);
    uint64_t old = tp->compare_swap(home, off, expected, desired);
    if (old == expected && desired != expected)
        cache_changed(off, 8, home);
    return old;
}

/* Explicit transfers: split the global side at changes of home, move each piece with the
 * transport.  Memory this rank reaches directly (its own, a mapped peer's: node_reaches) is a
 * copy, complete at once.  Anything else is a transfer, and a local buffer that is itself
 * global memory goes through a bounce buffer: the backend must not meet a page that would
 * fault. */
enum { BOUNCE = 1 << 16, NO_HOME = -2 };

static int transfer(void *local, const void *global, size_t n, int is_put, const char *call)
{
    LIFECYCLE_REQUIRE(call);
    if (n == 0)
        return 0;
    size_t off = space_off(global), done = 0;
    int known = local ? extent_memo_home(off, n) : -1; /* the range checked before: its home */
    if (known < 0) {
        if (!local || !space_contains(global) || !space_contains((const char *)global + n - 1))
            return -EINVAL;
        if (extent_require_slow(global, n, call, 0))
            return -EINVAL; /* before anything moves: nothing changed */
    }
    /* A global local buffer needs the bounce buffer, unless the one home is reached directly */
    int local_global = space_contains(local) || space_contains((char *)local + n - 1);
    int need_buf = local_global && !(known >= 0 && node_reaches(known));
    char *buf = need_buf ? malloc(n < BOUNCE ? n : BOUNCE) : NULL;
    if (need_buf && !buf)
        return -ENOMEM;
    int rc = 0, flush_home = NO_HOME; /* the one other home transferred to, or TP_ALL_RANKS */
    while (done < n) {
        size_t end = off + n;
        int home = known >= 0 ? known : space_home_run(off + done, &end);
        if (home < 0) {
            rc = -EINVAL;
            break;
        }
        size_t chunk = end - (off + done);
        if (chunk > n - done)
            chunk = n - done;
        int direct = node_reaches(home), bounce = local_global && !direct;
        if (bounce && chunk > BOUNCE)
            chunk = BOUNCE;
        char *mine = bounce ? buf : (char *)local + done;
        if (is_put && bounce)
            memcpy(buf, (char *)local + done, chunk);
        if (is_put)
            tp->put(home, off + done, mine, chunk);
        else
            tp->get(mine, home, off + done, chunk);
        if (!direct && !bounce)
            flush_home = flush_home == NO_HOME || flush_home == home ? home : TP_ALL_RANKS;
        if (bounce) { /* the bounce buffer is reused: complete each piece */
            tp->flush(home);
            if (!is_put)
                memcpy((char *)local + done, buf, chunk);
        }
        done += chunk;
    }
    if (flush_home != NO_HOME)
        tp->flush(flush_home); /* one rank's flush is cheaper than flush_all with most MPIs */
    free(buf);
    if (!is_put) {
        /* The copies before what the caller does next (a flag it stores, say): free on x86 */
        __atomic_thread_fence(__ATOMIC_RELEASE);
        return rc;
    }
    /* What was put is recorded once it is complete and visible (the fence: a direct copy's
     * stores before cache_changed's load of its generation), so a release that publishes it
     * cannot come before it. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    for (size_t at = 0; at < done;) {
        size_t end = off + done;
        int home = known >= 0 ? known : space_home_run(off + at, &end);
        if (end > off + done)
            end = off + done;
        cache_changed(off + at, end - (off + at), home);
        at = end - off;
    }
    return rc;
}

int gallocy_get(void *dst, const void *global_src, size_t n)
{
    return transfer(dst, global_src, n, 0, "gallocy_get");
}

int gallocy_put(void *global_dst, const void *src, size_t n)
{
    return transfer((void *)src, global_dst, n, 1, "gallocy_put");
}
