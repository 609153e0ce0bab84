/* space: reserve the global range at one address on every rank and back it with a memfd. */
#include "space.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "addr_agree.h"
#include "gallocy_api.h"
#include "log.h"
#include "runtime.h"
#include "vg.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

struct space sp = {.fd = -1};
static space_home_run_fn collective_homes;
static space_pinned_fn pinned_test;

enum { AGREE_ROUNDS = 4 };

/* Maps the application view of the memfd (absent until touched) at a base free in every rank
 * (addr_agree.c), the same on all.  Another thread of the process (MPI's, UCX's) may map
 * something there between the survey and the mapping: then every rank lets go and surveys
 * again.  1 when mapped; 0 when no common range is long enough (*c says the largest) or the
 * races went on. */
static int map_view_at_agreed_base(struct addr_choice *c, int *raced)
{
    *raced = 0;
    for (int round = 0; round < AGREE_ROUNDS; round++) {
        *c = addr_agree(sp.range);
        if (!c->base)
            return 0;
        void *v = mmap((void *)c->base, sp.range, PROT_NONE,
                       MAP_SHARED | MAP_FIXED_NOREPLACE | MAP_NORESERVE, sp.fd, 0);
        long ok = v != MAP_FAILED && (uintptr_t)v == c->base;
        if (v != MAP_FAILED && !ok) /* a kernel before 4.17 took the address as a hint */
            munmap(v, sp.range);
        if (rt_allreduce_min(ok)) {
            sp.base = (char *)c->base;
            return 1;
        }
        if (ok)
            munmap(v, sp.range);
        *raced = 1;
    }
    return 0;
}

int space_init(size_t heap_size, size_t coalloc_size, size_t meta_size)
{
    sp.rank = rt_rank();
    sp.nranks = rt_size();
    sp.heap_size = heap_size;
    sp.coalloc_off = (size_t)sp.nranks * heap_size;
    sp.coalloc_size = coalloc_size;
    sp.range = sp.coalloc_off + coalloc_size;
    sp.meta_off = sp.range;
    sp.meta_size = meta_size;
    sp.total = sp.range + meta_size;

    sp.fd = memfd_create("gallocy", MFD_CLOEXEC);
    long ok = sp.fd >= 0 && ftruncate(sp.fd, (off_t)sp.total) == 0;
    if (!rt_allreduce_min(ok)) {
        if (!ok)
            log_error("gallocy_init", "cannot create the %zu-byte backing of the heap: %s; "
                      "lower GALLOCY_HEAP_SIZE or GALLOCY_COALLOC_SIZE", sp.total, strerror(errno));
        space_fini();
        return -ENOMEM;
    }
    /* The view first, before this rank maps anything else of its own (the alias is as large
     * as the range). */
    struct addr_choice c;
    int raced;
    if (!map_view_at_agreed_base(&c, &raced)) {
        if (sp.rank == 0 && raced)
            log_error("gallocy_init", "the ranks agreed on a free address range of %zu bytes "
                      "%d times, and each time another thread had mapped memory into it on some "
                      "rank before it could be reserved", sp.range, AGREE_ROUNDS);
        else if (sp.rank == 0)
            log_error("gallocy_init", "no address range of %zu bytes (%d ranks x "
                      "GALLOCY_HEAP_SIZE %zu + GALLOCY_COALLOC_SIZE %zu) is free in every rank: "
                      "the largest free in all is %zu bytes at %p-%p; lower GALLOCY_HEAP_SIZE "
                      "or GALLOCY_COALLOC_SIZE", sp.range, sp.nranks, heap_size, coalloc_size,
                      c.gap_len, (void *)c.gap_lo, (void *)(c.gap_lo + c.gap_len));
        space_fini();
        return -GALLOCY_ERR_ADDRESS_SPACE;
    }
    sp.alias = mmap(NULL, sp.total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, sp.fd, 0);
    ok = sp.alias != MAP_FAILED;
    if (!rt_allreduce_min(ok)) {
        if (!ok)
            log_error("gallocy_init", "cannot map the %zu-byte backing of the heap a second "
                      "time: %s; lower GALLOCY_HEAP_SIZE or GALLOCY_COALLOC_SIZE", sp.total,
                      strerror(errno));
        space_fini();
        return -ENOMEM;
    }
    /* The view is absent (cached) until touched, except this rank's home segment, which is
     * plain local memory. */
    if (mprotect(sp.base + space_my_heap_off(), sp.heap_size, PROT_READ | PROT_WRITE) != 0)
        log_fatal("gallocy_init", "mapping the home segment failed: %s", strerror(errno));
    vg_accessible(sp.base, sp.range); /* gallocy serves its faults (vg.h) */
    /* A child made by fork gets none of it: its writes would land in the parent's heap
     * (these are shared mappings) and in memory the RDMA device may be writing. */
    madvise(sp.base, sp.range, MADV_DONTFORK);
    madvise(sp.alias, sp.total, MADV_DONTFORK);
    log_verbose(1, "global range %p-%p (%zu MiB per rank, %zu MiB collective)", (void *)sp.base,
                (void *)(sp.base + sp.range), heap_size >> 20, coalloc_size >> 20);
    return 0;
}

void space_fini(void)
{
    if (sp.base)
        munmap(sp.base, sp.range);
    if (sp.alias && sp.alias != MAP_FAILED)
        munmap(sp.alias, sp.total);
    if (sp.fd >= 0)
        close(sp.fd);
    sp = (struct space){.fd = -1};
}

int space_home_run(size_t off, size_t *run_end)
{
    if (off < sp.coalloc_off) {
        size_t h = off / sp.heap_size;
        *run_end = (h + 1) * sp.heap_size;
        return (int)h;
    }
    if (off < sp.range && collective_homes)
        return collective_homes(off, run_end);
    *run_end = off;
    return -1;
}

void space_set_collective_homes(space_home_run_fn homes)
{
    collective_homes = homes;
}

void space_set_pinned_test(space_pinned_fn pinned)
{
    pinned_test = pinned;
}

void space_populate(size_t off, size_t len)
{
    if (len && fallocate(sp.fd, 0, (off_t)off, (off_t)len) != 0)
        log_fatal("gallocy (page fault)", "no memory to back %zu bytes of global memory at %p: "
                  "%s", len, (void *)(sp.base + off), strerror(errno));
}

int space_discard(size_t off, size_t len, int zero)
{
    /* Registered memory stays pinned to its pages: punching a hole would leave the device
     * writing pages the mapping no longer shows. */
    if (!len || (!(pinned_test && pinned_test(off, len)) &&
                 fallocate(sp.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                           (off_t)len) == 0))
        return 1;
    if (zero)
        memset(sp.alias + off, 0, len);
    return 0;
}
