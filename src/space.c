/* space: reserve the global range at one address on every rank and back it with a memfd. */
#include "space.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coalloc.h"
#include "gallocy.h"
#include "log.h"
#include "prot.h"
#include "runtime.h"
#include "stats.h"
#include "transport.h"
#include "vg.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

struct space sp = {.fd = -1};

enum { AGREE_ROUNDS = 16 };
#define BASE_ALIGN ((size_t)2 << 20)

/* Every rank in turn proposes an address its kernel found free; the others try to reserve it
 * there without replacing anything.  The first proposal every rank could take wins. */
static char *agree_on_base(size_t range)
{
    for (int round = 0; round < AGREE_ROUNDS; round++) {
        int proposer = round % sp.nranks;
        void *mine = MAP_FAILED;
        uintptr_t cand = 0;
        int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
        if (sp.rank == proposer) {
            /* Aligned, so that superblocks and huge pages line up with addresses, not just
             * with offsets: reserve with slack and give back both ends. */
            char *wide = mmap(NULL, range + BASE_ALIGN, PROT_NONE, flags, -1, 0);
            if (wide != MAP_FAILED) {
                cand = ((uintptr_t)wide + BASE_ALIGN - 1) & ~(uintptr_t)(BASE_ALIGN - 1);
                size_t head = cand - (uintptr_t)wide;
                if (head)
                    munmap(wide, head);
                if (BASE_ALIGN - head)
                    munmap((char *)cand + range, BASE_ALIGN - head);
                mine = (void *)cand;
            }
        }
        rt_bcast(&cand, sizeof cand, proposer);
        if (cand == 0)
            continue;
        if (sp.rank != proposer) {
            mine = mmap((void *)cand, range, PROT_NONE, flags | MAP_FIXED_NOREPLACE, -1, 0);
            if (mine != MAP_FAILED && (uintptr_t)mine != cand) { /* kernel ignored the flag */
                munmap(mine, range);
                mine = MAP_FAILED;
            }
        }
        long ok = mine != MAP_FAILED;
        if (rt_allreduce_min(ok))
            return (char *)cand;
        if (ok)
            munmap(mine, range);
    }
    return NULL;
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
    if (ok) {
        sp.alias = mmap(NULL, sp.total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                        sp.fd, 0);
        ok = sp.alias != MAP_FAILED;
    }
    if (!rt_allreduce_min(ok)) {
        if (!ok)
            log_error("gallocy_init", "cannot create the %zu-byte backing of the heap: %s; "
                      "lower GALLOCY_HEAP_SIZE or GALLOCY_COALLOC_SIZE", sp.total, strerror(errno));
        space_fini();
        return -ENOMEM;
    }
    sp.base = agree_on_base(sp.range);
    if (!sp.base) {
        if (sp.rank == 0)
            log_error("gallocy_init", "the ranks found no address range of %zu bytes free in "
                      "all of them after %d tries; lower GALLOCY_HEAP_SIZE or "
                      "GALLOCY_COALLOC_SIZE", sp.range, AGREE_ROUNDS);
        space_fini();
        return -GALLOCY_ERR_ADDRESS_SPACE;
    }
    /* Replace our own reservation with the memfd view: absent (cached) until touched ... */
    if (mmap(sp.base, sp.range, PROT_NONE, MAP_SHARED | MAP_FIXED | MAP_NORESERVE, sp.fd, 0) ==
        MAP_FAILED)
        log_fatal("gallocy_init", "mapping the global range failed: %s", strerror(errno));
    /* ... except this rank's home segment, which is plain local memory. */
    if (mprotect(sp.base + space_my_heap_off(), sp.heap_size, PROT_READ | PROT_WRITE) != 0)
        log_fatal("gallocy_init", "mapping the home segment failed: %s", strerror(errno));
    vg_accessible(sp.base, sp.range); /* gallocy serves its faults (vg.h) */
    int rc = prot_setup(); /* the page tables' way needs the rest mapped and registered */
    if (rc) {
        space_fini();
        return rc;
    }
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
    if (off < sp.range)
        return coalloc_home_run(off, run_end);
    *run_end = off;
    return -1;
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
    if (!len || (!tp_pinned && fallocate(sp.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                         (off_t)off, (off_t)len) == 0))
        return 1;
    if (zero)
        memset(sp.alias + off, 0, len);
    return 0;
}
