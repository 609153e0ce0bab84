/* superblock: descriptors, and the collection of blocks freed by other threads. */
#include "superblock.h"


void sb_init(struct sb *s, char *mem, size_t page, int cls)
{
    uint32_t size = (uint32_t)sc_size(cls), n = (uint32_t)(SB_BYTES / size);
    *s = (struct sb){.mem = mem, .page = page, .cls = (uint32_t)cls, .size = size, .nobjs = n,
                     .recip = (uint32_t)((1ull << 32) / size + 1), .local = 0, .tfree = SB_NONE};
    uint8_t *state = sb_state(s);
    for (uint32_t i = 0; i < n; i++) {
        s->link[i] = (uint16_t)(i + 1 < n ? i + 1 : SB_NONE);
        state[i] = 0;
    }
    sb_bin_update(s);
}

void sb_clear(struct sb *s)
{
    /* nobjs 0 makes every index invalid, so a free's fast path passes this slot by. */
    __atomic_store_n(&s->nobjs, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->size, 0, __ATOMIC_RELAXED);
    s->owner = NULL;
}

uint32_t sb_collect(struct sb *s)
{
    if (!sb_has_thread_frees(s))
        return 0;
    uint16_t head = __atomic_exchange_n(&s->tfree, SB_NONE, __ATOMIC_ACQUIRE);
    if (head == SB_NONE)
        return 0;
    uint32_t n = 1;
    uint16_t last = head;
    while (s->link[last] != SB_NONE) {
        last = s->link[last];
        n++;
    }
    s->link[last] = s->local;
    s->local = head;
    s->inuse -= n;
    return n;
}

int sb_bin_update(struct sb *s)
{
    uint32_t n = s->nobjs, u = s->inuse;
    int b = u == n ? SB_FULL : (int)((uint64_t)u * 4 / n);
    s->bin = (uint8_t)b;
    s->lo = b == SB_FULL ? n : (uint32_t)(((uint64_t)b * n + 3) / 4);
    s->hi = b == SB_FULL ? n + 1 : b == 3 ? n : (uint32_t)(((uint64_t)(b + 1) * n + 3) / 4);
    return b;
}
