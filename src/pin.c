/* pin: ready and pin ranges of global memory (see pin.h), and gallocy_prepare. */
#include "pin.h"

#include <errno.h>
#include <stdint.h>

#include "cache.h"
#include "extent.h"
#include "coherence.h"
#include "gallocy_api.h"
#include "lifecycle.h"
#include "space.h"

/* Bumped by every gallocy_init: a span pinned before a finalize names pages of a range that
 * is gone. */
static unsigned generation;

int pin_ready(const void *p, size_t len, int write, int keep, struct pin_span *out)
{
    *out = (struct pin_span){0, 0, 0};
    if (len == 0 || !lifecycle_is_up())
        return 0;
    uintptr_t lo = (uintptr_t)p, hi = lo + len, base = (uintptr_t)sp.base;
    if (hi < lo)
        hi = UINTPTR_MAX;
    if (hi <= base || lo >= base + sp.range)
        return 0;
    size_t off_lo = lo > base ? lo - base : 0;
    size_t off_hi = hi - base < sp.range ? hi - base : sp.range;
    size_t page = off_lo / GPAGE, n = (off_hi + GPAGE - 1) / GPAGE - page;
    cache_lock_all();
    int rc = coherence_prepare(page, n, write);
    if (rc == 0 && keep) {
        cache_pin(page, n);
        *out = (struct pin_span){page, n, generation};
    }
    cache_unlock_all();
    return rc;
}

void pin_drop(struct pin_span *s)
{
    if (s->n == 0 || s->generation != generation ||
        !lifecycle_is_up())
        return;
    cache_lock_all();
    cache_unpin(s->page, s->n);
    cache_unlock_all();
    s->n = 0;
}

void pin_new_generation(void)
{
    generation++;
}

int gallocy_prepare(void *p, size_t n, unsigned flags)
{
    if (!lifecycle_is_up())
        return -GALLOCY_ERR_NOT_INITIALIZED;
    if ((flags & ~(unsigned)(GALLOCY_READ | GALLOCY_WRITE)) || !flags || !p ||
        !space_contains(p) || (n && !space_contains((char *)p + n - 1)))
        return -EINVAL;
    if (n && extent_require(p, n, "gallocy_prepare", 0))
        return -EINVAL;
    struct pin_span s;
    return pin_ready(p, n, (flags & GALLOCY_WRITE) != 0, 0, &s);
}
