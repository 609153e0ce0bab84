/* space: the global range, reserved at the same address on every rank, and its backing.
 *
 * Layout, as offsets from the range base (the same on every rank):
 *   [r*H, (r+1)*H)        home segment of rank r (H = GALLOCY_HEAP_SIZE)
 *   [n*H, n*H + C)        collective allocations (C = GALLOCY_COALLOC_SIZE)
 * Every rank backs the whole range with one sparse memfd, at offset = global offset: pages it
 * homes live there, and so do its cached copies of pages homed elsewhere.  The memfd is mapped
 * twice: the application view at the agreed base (page states follow the cache state, see
 * prot.h) and an always-writable alias that the transport exposes and gallocy itself reads and writes.  Past
 * the range, the memfd holds the rank's registered metadata (remote-free queue, page table of
 * its heap), mapped in the alias only.
 */
#ifndef GALLOCY_SPACE_H
#define GALLOCY_SPACE_H
#include <stddef.h>
#include <stdint.h>

#define GPAGE ((size_t)4096)

struct space {
    char *base;  /* application view, same on every rank */
    char *alias; /* read-write view of this rank's memfd */
    int fd;
    int rank, nranks;
    size_t heap_size;    /* H */
    size_t coalloc_off;  /* n*H */
    size_t coalloc_size; /* C */
    size_t range;        /* n*H + C */
    size_t meta_off;     /* == range */
    size_t meta_size;
    size_t total;        /* range + meta_size: the memfd and the registered region */
};

extern struct space sp;

/* Collective.  0, -ENOMEM, -GALLOCY_ERR_ADDRESS_SPACE, after a message.  The page
 * protections of the view are set up after, by prot_setup. */
int space_init(size_t heap_size, size_t coalloc_size, size_t meta_size);
void space_fini(void);

static inline int space_contains(const void *p)
{
    return (uintptr_t)p - (uintptr_t)sp.base < sp.range;
}
static inline size_t space_off(const void *p)
{
    return (size_t)((uintptr_t)p - (uintptr_t)sp.base);
}
static inline size_t space_my_heap_off(void)
{
    return (size_t)sp.rank * sp.heap_size;
}

/* Home rank of the page at off, and in *run_end the end of the stretch of following pages
 * with the same home in the same allocation region.  -1 where nothing is allocated. */
int space_home_run(size_t off, size_t *run_end);
/* The same for the collective area (off >= sp.coalloc_off), whose homes its allocator keeps
 * (coalloc.c registers it at its init; until then the area has none): space sits below the
 * allocators and asks them through this, never by name. */
typedef int (*space_home_run_fn)(size_t off, size_t *run_end);
void space_set_collective_homes(space_home_run_fn homes);
static inline int space_home(size_t off)
{
    size_t end;
    return space_home_run(off, &end);
}

/* Makes sure the memfd holds pages for [off, off+len) (zero where it held none): userfaultfd
 * maps only what the memfd holds.  Dies with an explanation when memory is exhausted. */
void space_populate(size_t off, size_t len);
/* Gives the memory of [off, off+len) of this rank's memfd back to the system (it reads zero
 * afterwards) and returns 1.  When it cannot (registered memory stays pinned to its pages;
 * or no hole punching here) returns 0, after zeroing the range if zero is set. */
int space_discard(size_t off, size_t len, int zero);
/* Whether [off, off+len) is registered memory, pinned to its pages (the transport knows,
 * above: core registers its test; until then nothing is). */
typedef int (*space_pinned_fn)(size_t off, size_t len);
void space_set_pinned_test(space_pinned_fn pinned);

#endif
