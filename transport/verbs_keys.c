/* verbs_keys: a sorted array, searched by bisection: a rank registers a few dozen times. */
#include "verbs_keys.h"

#include <stdlib.h>
#include <string.h>

/* How many entries start at or before off. */
static size_t upto(const struct vkeys *k, uint64_t off)
{
    size_t lo = 0, hi = k->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k->e[mid].off <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const struct vkey *vkeys_find(const struct vkeys *k, uint64_t off)
{
    size_t i = upto(k, off);
    if (i == 0)
        return NULL;
    const struct vkey *e = &k->e[i - 1];
    return off - e->off < e->len ? e : NULL;
}

uint64_t vkeys_next(const struct vkeys *k, uint64_t off)
{
    size_t i = upto(k, off);
    return i < k->n ? k->e[i].off : UINT64_MAX;
}

int vkeys_insert(struct vkeys *k, const struct vkey *e)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 8;
        struct vkey *ne = realloc(k->e, cap * sizeof *ne);
        if (!ne)
            return -1;
        k->e = ne;
        k->cap = cap;
    }
    size_t i = upto(k, e->off);
    memmove(&k->e[i + 1], &k->e[i], (k->n - i) * sizeof *k->e);
    k->e[i] = *e;
    k->n++;
    return 0;
}

int vkeys_gap(const struct vkeys *k, uint64_t from, uint64_t to, uint64_t *g0, uint64_t *g1)
{
    while (from < to) {
        const struct vkey *e = vkeys_find(k, from);
        if (!e) {
            uint64_t next = vkeys_next(k, from);
            *g0 = from;
            *g1 = next < to ? next : to;
            return 1;
        }
        from = e->off + e->len;
    }
    return 0;
}

void vkeys_free(struct vkeys *k)
{
    free(k->e);
    *k = (struct vkeys){0};
}
