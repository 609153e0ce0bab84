/* verbs_keys: what a rank has registered, as the other ranks see it.  A registering rank
 * publishes each registration once in its part of the metadata (a count, then entries that
 * are written before the count covers them and never change); every rank keeps, per peer it
 * talks to (and for itself), the entries it has read, sorted by offset. */
#ifndef GALLOCY_VERBS_KEYS_H
#define GALLOCY_VERBS_KEYS_H
#include <stddef.h>
#include <stdint.h>

#include "transport.h"

/* One registration: [off, off+len) of the owner's region at its address addr.  32 bytes,
 * the published form; lkey means something to the owner only. */
struct vkey {
    uint64_t off, len, addr;
    uint32_t rkey, lkey;
};

/* The published table, at the backend's metadata offset: a u64 count, then the entries. */
#define VKEYS_COUNT_OFF 0
#define VKEYS_ENTRY_OFF 64
#define VKEYS_MAX ((TP_META_BYTES - VKEYS_ENTRY_OFF) / sizeof(struct vkey))

struct vkeys {
    struct vkey *e; /* sorted by off, not overlapping */
    size_t n, cap;
    uint64_t seen; /* published entries read so far */
};

/* The entry holding off, or NULL. */
const struct vkey *vkeys_find(const struct vkeys *k, uint64_t off);
/* The offset of the first entry that starts after off, or UINT64_MAX. */
uint64_t vkeys_next(const struct vkeys *k, uint64_t off);
/* Adds e (it overlaps none): 0, or -1 when out of memory. */
int vkeys_insert(struct vkeys *k, const struct vkey *e);
/* The first stretch of [from, to) that no entry holds, in [*g0, *g1): 1; 0 when none. */
int vkeys_gap(const struct vkeys *k, uint64_t from, uint64_t to, uint64_t *g0, uint64_t *g1);
void vkeys_free(struct vkeys *k);

#endif
