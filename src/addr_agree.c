/* addr_agree: an address range free in every rank (see addr_agree.h). */
#include "addr_agree.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "runtime.h"

#define GRANULE_SHIFT ADDR_GRANULE_SHIFT
#define GRANULE ((uintptr_t)1 << GRANULE_SHIFT)
#define USER_TOP ADDR_USER_TOP
enum {
    GRANULES = (int)(USER_TOP >> GRANULE_SHIFT),
    WORD_BITS = 8 * (int)sizeof(unsigned long),
    WORDS = GRANULES / WORD_BITS,
};
/* Room left for the brk heap to grow above its mapping. */
#define BRK_ROOM ((uintptr_t)4 << 30)

static unsigned long busy[WORDS];

static void mark(uintptr_t lo, uintptr_t hi)
{
    if (hi > USER_TOP)
        hi = USER_TOP;
    if (lo >= hi)
        return;
    for (uintptr_t g = lo >> GRANULE_SHIFT; g <= (hi - 1) >> GRANULE_SHIFT; g++)
        busy[g / WORD_BITS] |= 1UL << (g % WORD_BITS);
}

static int is_busy(uintptr_t g)
{
    return (busy[g / WORD_BITS] >> (g % WORD_BITS)) & 1;
}

/* This rank's mappings, with room for the stack (down to its limit) and the brk heap to
 * grow, and the first granule (mmap_min_addr and the null page). */
static void mark_mine(void)
{
    memset(busy, 0, sizeof busy);
    mark(0, GRANULE);
    struct rlimit rl;
    uintptr_t stack_room = (uintptr_t)8 << 20;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur > stack_room)
        stack_room = rl.rlim_cur;
    if (stack_room > ((uintptr_t)64 << 30))
        stack_room = (uintptr_t)64 << 30;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) { /* nothing known: only the stack's neighbourhood is certain to be used */
        mark((uintptr_t)&rl - stack_room, (uintptr_t)&rl + GRANULE);
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
            continue;
        uintptr_t l = lo, h = hi;
        if (strstr(line, "[stack]"))
            l = l > stack_room ? l - stack_room : 0;
        else if (strstr(line, "[heap]"))
            h += BRK_ROOM;
        mark(l, h);
        /* A line longer than the buffer: skip the rest of it. */
        while (!strchr(line, '\n') && fgets(line, sizeof line, f))
            ;
    }
    fclose(f);
}

struct addr_choice addr_agree(size_t range)
{
    mark_mine();
    rt_allreduce_or(busy, WORDS);
    /* Every rank holds the same map: the same choice follows. */
    uintptr_t best_lo = 0, best_len = 0;
    for (uintptr_t g = 0; g < (uintptr_t)GRANULES;) {
        if (is_busy(g)) {
            g++;
            continue;
        }
        uintptr_t start = g;
        while (g < (uintptr_t)GRANULES && !is_busy(g))
            g++;
        if (g - start >= best_len) { /* ties: the higher run, as mmap itself prefers */
            best_lo = start;
            best_len = g - start;
        }
    }
    struct addr_choice c = {0, best_lo << GRANULE_SHIFT, (size_t)(best_len << GRANULE_SHIFT)};
    uintptr_t need = (range + GRANULE - 1) >> GRANULE_SHIFT;
    if (need <= best_len)
        c.base = (best_lo + (best_len - need) / 2) << GRANULE_SHIFT;
    return c;
}
