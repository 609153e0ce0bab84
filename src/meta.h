/* meta: the layout of a rank's registered metadata, after its global range in its memfd.
 * Other ranks reach it with the transport at these offsets from sp.meta_off. */
#ifndef GALLOCY_META_H
#define GALLOCY_META_H
#include <stddef.h>

#include "space.h"
#include "transport.h"

#define META_RFQ_HEAD 0    /* u64: remote frees reserved (fetch-add by senders) */
#define META_RFQ_TAIL 64   /* u64: remote frees consumed (stored by the owner) */
#define META_SCRATCH 128   /* 2 x u64: the transport's start-up self-test */
#define META_NOTICE_COUNT 192 /* u64: write notices published (see notice.c) */
#define META_ANNOUNCE_HEAD 224 /* 2 x u64: announcements reserved in each ring (notice.c) */
#define META_RFQ_SLOTS 256 /* slots x u64: freed addresses, 0 = empty */

static inline size_t meta_round(size_t x)
{
    return (x + GPAGE - 1) / GPAGE * GPAGE;
}
/* Offset (from meta start) of the transport's own TP_META_BYTES. */
static inline size_t meta_transport_off(size_t slots)
{
    return meta_round(META_RFQ_SLOTS + slots * 8);
}
/* Then the page table of the rank's heap: one u32 per heap page. */
static inline size_t meta_pageinfo_off(size_t slots)
{
    return meta_transport_off(slots) + meta_round(TP_META_BYTES);
}
/* Then the ring of write notices (u64 runs), then the two rings of announcements made to
 * this rank (one for barriers of each parity): sizes independent of the job's. */
enum { META_NOTICE_SLOTS = 8192, META_ANNOUNCE_SLOTS = 4096 };
static inline size_t meta_notice_ring_off(size_t heap_size, size_t slots)
{
    return meta_pageinfo_off(slots) + meta_round(heap_size / GPAGE * 4);
}
static inline size_t meta_announce_off(size_t heap_size, size_t slots, int parity)
{
    return meta_notice_ring_off(heap_size, slots) + META_NOTICE_SLOTS * 8 +
           (size_t)parity * META_ANNOUNCE_SLOTS * 8;
}
static inline size_t meta_size(size_t heap_size, size_t slots)
{
    return meta_round(meta_announce_off(heap_size, slots, 2));
}

#endif
