/*
 * gallocy_api.h - gallocy's API without MPI's types: every call but gallocy_init, the types
 * and the error codes.  Programs include gallocy.h, which includes this and declares
 * gallocy_init(MPI_Comm); this header alone serves code that must build without MPI (the
 * library's own core).  gallocy.h's first comment says the conventions of every call.
 */
#ifndef GALLOCY_API_H
#define GALLOCY_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

#define GALLOCY_VERSION_MAJOR 0
#define GALLOCY_VERSION_MINOR 1
#define GALLOCY_VERSION_PATCH 0

/* Placement policies for gallocy_coalloc (a rank number >= 0 homes every page there). */
#define GALLOCY_BLOCKED (-1) /* rank r homes the r-th contiguous equal share of the pages */
#define GALLOCY_CYCLIC  (-2) /* page i is homed on rank i % nranks */

/* Error codes beyond errno: returned negated, like the errno ones. */
#define GALLOCY_ERR_NOT_INITIALIZED 1001 /* a call that needs gallocy_init came first */
#define GALLOCY_ERR_THREAD_LEVEL    1002 /* MPI was not initialised with MPI_THREAD_MULTIPLE */
#define GALLOCY_ERR_ADDRESS_SPACE   1003 /* ranks could not agree on a free address range */
#define GALLOCY_ERR_TRANSPORT       1004 /* the one-sided transport failed its start-up checks */

/* gallocy_finalize - collective.  Releases, frees every resource; global pointers become
 * invalid.  Prints statistics when GALLOCY_STATS=1.  Returns 0 or -GALLOCY_ERR_NOT_INITIALIZED. */
int gallocy_finalize(void);

/* This rank's number and the number of ranks, in the communicator given to gallocy_init;
 * -1 before gallocy_init.  Any thread. */
int gallocy_rank(void);
int gallocy_nranks(void);
/* The one-sided transport the job runs on: "verbs" or "mpi" (GALLOCY_TRANSPORT=auto takes
 * verbs when every rank has a usable RDMA device); NULL before gallocy_init.  Any thread. */
const char *gallocy_transport(void);

/* How this rank catches accesses to global pages it does not hold (GALLOCY_FAULTS): "uffd"
 * (the kernel waits for such a page in system calls too), "sigbus" or "mprotect" (system
 * calls need gallocy_prepare); NULL before gallocy_init.  Any thread. */
const char *gallocy_faults(void);

/* A static message for a code returned by a gallocy call (negative or positive errno). */
const char *gallocy_strerror(int err);

/*
 * Allocation: any rank, any thread, not collective.  The memory is homed on the calling rank
 * (local loads and stores cost nothing extra) and reachable from every rank by the same
 * pointer.  Alignment is 16 bytes (alignof(max_align_t)).  Failure: NULL, errno = ENOMEM
 * (heap exhausted, size overflow); the heap stays usable, and freeing makes room again.
 * Small blocks (up to 32 KiB) come from the calling thread's own heap (Hoard's design: no
 * lock, no contention between threads); larger ones are runs of pages.
 * gallocy_free(NULL) does nothing.  Any thread may free a block allocated by any thread, any
 * rank a block allocated by any rank.  A free of another rank's block is queued and delivered
 * in a batch (when the queue fills, at this rank's next release, barrier, unlock or finalize,
 * or when its service thread is idle); its home reuses the memory once it has applied it.
 * A double free, or a free of a pointer gallocy did not return or of the inside of a block,
 * ends the job with a message naming the call and the address.
 * gallocy_realloc grows or shrinks in place when it can (a small block within its size
 * class, a large one into the free pages after it); otherwise it moves the block to the
 * calling rank.  gallocy_aligned_alloc takes any power-of-two alignment (above 4 KiB the
 * block is a page run at that alignment); EINVAL for others.
 * gallocy_usable_size gives the exact usable bytes of a block (the size class, or the whole
 * pages of a large block); for a block homed elsewhere it reads one entry of the home's page
 * table.  For a pointer gallocy_coalloc returned, it gives the allocation's whole pages.
 */
void *gallocy_malloc(size_t size);
void *gallocy_calloc(size_t n, size_t size);
void *gallocy_realloc(void *p, size_t size);
void *gallocy_aligned_alloc(size_t alignment, size_t size); /* alignment: a power of two */
void gallocy_free(void *p);
size_t gallocy_usable_size(const void *p);

/*
 * gallocy_coalloc - collective: every rank gets the same pointer to size bytes of zeroed
 * memory whose pages are homed by place (GALLOCY_BLOCKED, GALLOCY_CYCLIC, or a rank).  Ranks
 * passing different arguments all get NULL with errno = EINVAL and a message naming the
 * ranks.  Exhaustion: NULL, errno = ENOMEM on every rank.
 * gallocy_cofree - collective, same pointer on every rank.  Ranks passing different pointers
 * free nothing, get errno = EINVAL, and a message names the pointers.
 */
void *gallocy_coalloc(size_t size, int place);
void gallocy_cofree(void *p);

/* Home rank of the page holding p; -1 if p is not global memory.  Any thread. */
int gallocy_home(const void *p);

/*
 * Consistency.  gallocy_release makes this rank's writes visible at their homes (to be seen
 * by a later acquire elsewhere) and publishes which pages it changed; gallocy_acquire drops
 * the cached copies that may be stale, so later reads see what was released before.  An
 * acquire first sends this rank's own unreleased changes home, as a release does: a copy
 * with changes in it is never kept past an acquire.
 * gallocy_barrier (collective) = release, barrier, acquire.
 * Any thread; they act on the whole rank (all its threads' cached pages).
 */
void gallocy_acquire(void);
void gallocy_release(void);
void gallocy_barrier(void);

/*
 * Locks in global memory, FIFO-fair (ticket lock on the lock's home).  Zero-initialise (a
 * coalloc'd or calloc'd lock is ready) and make the zeroes visible before first use.
 * lock = take + acquire; unlock = release + give.  trylock returns 1 when it took the lock,
 * 0 when held by someone.  Any rank, any thread.  Do not touch the lock's bytes directly.
 */
typedef struct {
    uint64_t word[2];
} gallocy_lock_t;
void gallocy_lock(gallocy_lock_t *l);
int gallocy_trylock(gallocy_lock_t *l);
void gallocy_unlock(gallocy_lock_t *l);

/*
 * Explicit one-sided access to the home copy, bypassing this rank's cache (like shmem_get /
 * shmem_put).  n bytes; the range must lie in one allocated block.  gallocy_put is complete
 * (visible at the home) when it returns.  A get or put with a home on this node is a copy
 * from or into its memory (GALLOCY_NODE_SHARED).  Returns 0, or -EINVAL with nothing moved when the global side
 * is not global memory, or not inside one allocated block (it runs past the block's end, or
 * the block is freed); the first such refusal of a rank is also reported on stderr, naming
 * the range and the block.  The check costs one look-up of the block in its home's page table,
 * cached: a block homed elsewhere is seen as freed once its home has applied the free and
 * this rank has acquired since (a lock, gallocy_acquire, a barrier), and a small block (up to
 * 32 KiB) only once its home has also given its superblock back.  Ordering against cached
 * loads and stores of the same bytes needs release/acquire.  Any thread.
 */
int gallocy_get(void *dst, const void *global_src, size_t n);
int gallocy_put(void *global_dst, const void *src, size_t n);

/*
 * Global memory in MPI calls and system calls.
 *  - MPI: every MPI call of a program linked with -lgallocy works on global memory, homed
 *    anywhere, touched or not (point-to-point, collectives with MPI_IN_PLACE, one-sided
 *    origin buffers, windows over global memory, MPI-IO).  gallocy's MPI layer (the MPI
 *    profiling interface: libgallocy defines MPI_Send and the rest and calls PMPI_Send) makes
 *    the buffers of each call present, and writable where MPI writes, before MPI touches
 *    them, and keeps them so until the operation completes (MPI_Wait/Test, a window's
 *    flush, unlock, fence or complete).  Data received into global memory is this rank's
 *    write: visible at its home after this rank's next release, like a store.
 *  - System calls (read, write, recv, send, ...): under GALLOCY_FAULTS=uffd (the default
 *    where the kernel allows userfaultfd, see gallocy-info) the kernel waits for a global page
 *    as a thread does, and they work on any global memory.  Under GALLOCY_FAULTS=mprotect or
 *    sigbus the kernel cannot wait, and a system call on global memory that is not present
 *    here fails with EFAULT: call gallocy_prepare first.
 * gallocy_prepare makes [p, p+n) of global memory present here at once (one transfer per
 * run of pages of one home, not a fault per page): readable until this rank's next acquire
 * (GALLOCY_READ), or also writable until its next release (GALLOCY_WRITE).  Any thread.
 * Returns 0; -EINVAL when [p, p+n) is not global memory of one allocated block (checked and
 * reported as by gallocy_get) or flags are
 * not GALLOCY_READ and/or GALLOCY_WRITE; -GALLOCY_ERR_NOT_INITIALIZED.
 */
#define GALLOCY_READ  1u
#define GALLOCY_WRITE 2u
int gallocy_prepare(void *p, size_t n, unsigned flags);

/* Atomics on an 8-byte aligned word of allocated global memory, performed at its home (CPU
 * atomics on its memory when the whole job shares one node's memory, else the transport's,
 * for every rank alike: README, "Ranks on one node").  They return the previous value.  Do
 * not mix with plain stores to the same word.  Any thread.  A
 * word that is not one (local memory, unaligned, a freed block as gallocy_get sees it) ends
 * the job with a message naming the call and the address: there is no error to return. */
uint64_t gallocy_atomic_fetch_add(uint64_t *global, uint64_t v);
uint64_t gallocy_atomic_compare_swap(uint64_t *global, uint64_t expected, uint64_t desired);

/* Counters of this rank since gallocy_init.  Any thread. */
#define GALLOCY_SIZE_CLASSES 40
typedef struct {
    uint64_t read_faults;      /* faults on pages absent from this rank's cache */
    uint64_t write_faults;     /* faults that made pages writable (twins made) */
    uint64_t pages_fetched;    /* pages read from their home, prefetched ones included */
    uint64_t bytes_fetched;
    uint64_t pages_fetched_on_node; /* of pages_fetched: copied from a home on this node */
    uint64_t fetches_handed_off; /* fault transfers a signal handler left to the service thread
                                    (the faulting thread was inside MPI; GALLOCY_FAULTS=sigbus or
                                    mprotect, pages from another node) */
    uint64_t pages_written_back; /* dirty pages diffed at release with a change to send */
    uint64_t bytes_written_back; /* bytes of the diffs sent home */
    uint64_t diff_runs;        /* puts the diffs took (adjacent runs of adjacent pages join) */
    uint64_t invalidations;    /* cached pages dropped at acquire */
    uint64_t stale_drops;      /* of those, dropped because a write notice named them */
    uint64_t write_notices;    /* runs of changed pages this rank published at releases */
    uint64_t pages_shared;     /* own pages write-protected because other ranks cache them */
    uint64_t pages_unshared;   /* of those, unprotected again: changed at every release, and
                                  only refetched, never kept, by their readers */
    uint64_t home_write_faults; /* faults on own shared pages (their writes become notices) */
    uint64_t pages_kept;       /* copies this rank changed in 2 releases, or fetched in 2
                                  critical sections, kept writable since: a release diffs
                                  them, an acquire refreshes them in place */
    uint64_t pages_refreshed;  /* kept copies brought up to date at acquires (not dropped) */
    uint64_t bytes_refreshed;  /* bytes of them that other ranks had changed */
    uint64_t protection_changes; /* mprotect calls */
    uint64_t acquires, releases, barriers, locks;
    uint64_t remote_frees_sent;    /* frees of other ranks' blocks delivered to their queues */
    uint64_t remote_frees_drained; /* frees from other ranks taken from this rank's queue */
    uint64_t remote_free_batches;  /* deliveries: each is one reserve, one put, one publish */
    /* The transport (verbs; 0 under MPI RMA, whose MPI keeps its own). */
    uint64_t bytes_registered; /* memory registered with the RDMA device now (pinned) */
    uint64_t connections;      /* peers this rank holds a queue pair to (made when first needed) */
    /* This rank's heap.  A block freed by another thread counts as in use until the heap that
     * owns it collects it (when that heap runs short, or at a release). */
    uint64_t bytes_in_use;     /* small blocks at their class size, large ones in pages */
    uint64_t bytes_held;       /* superblocks held by the heaps, plus large blocks */
    uint64_t bytes_trimmed;    /* freed heap memory given back to the system so far */
    uint64_t superblocks[GALLOCY_SIZE_CLASSES]; /* per size class (gallocy-info lists them) */
} gallocy_stats_t;
void gallocy_stats(gallocy_stats_t *out);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* GALLOCY_API_H */
