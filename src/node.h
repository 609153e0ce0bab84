/* node: the memory of the other ranks on this node, mapped.
 *
 * Ranks that share a node (MPI_COMM_TYPE_SHARED) map each other's memfds: the parts each one
 * homes, its heap segment, the collective region and its metadata.  A fault on a page homed
 * on this node is then served by a copy from the home's memory, in the faulting thread (a
 * memcpy is safe in a signal handler), instead of a hand-off to the service thread and a
 * transfer; and the transport's node layer (transport_node.c) carries every get and put to
 * such a rank as a copy, and its atomics as CPU atomics when every rank of the job maps every
 * other (node_cpu_atomics, agreed at init).  GALLOCY_NODE_SHARED=0 turns it off for a rank; a
 * peer whose memory cannot be mapped (no access to /proc/<pid>/fd) is reached through the
 * transport, after a note under GALLOCY_VERBOSE. */
#ifndef GALLOCY_NODE_H
#define GALLOCY_NODE_H
#include <stddef.h>
#include <stdint.h>

#include "space.h"

/* Collective, after space_init.  Never fails: what cannot be mapped is left to the
 * transport. */
void node_init(void);
void node_fini(void);

/* Per rank: its heap segment, the collective region and its metadata in its memfd, mapped
 * read-write, or NULL (this rank, another node, or not mappable: then all three).  Indexed by
 * rank; NULL when no other rank of the node is mapped. */
extern char **node_heap_view, **node_coalloc_view, **node_meta_view;
/* Per rank: 1 when it is on this rank's node (MPI_COMM_TYPE_SHARED), mapped or not. */
extern unsigned char *node_same;
/* This rank maps every other rank of the job. */
extern int node_all_mapped;
/* Every rank maps every other (the same on every rank): atomics are CPU atomics. */
extern int node_cpu_atomics;

/* Where the home copy of [off, off+len) lies in this process, or NULL (then: the transport):
 * this rank's own alias for its own pages, a peer's view for a peer on this node.  home is
 * the home of every byte of the range (for metadata: its owner), and the range lies in one
 * part. */
static inline char *node_view(int home, size_t off)
{
    if (home == sp.rank)
        return sp.alias + off;
    if (!node_heap_view)
        return NULL;
    char *v;
    if (off < sp.coalloc_off) {
        v = node_heap_view[home];
        return v ? v + (off - (size_t)home * sp.heap_size) : NULL;
    }
    v = off < sp.meta_off ? node_coalloc_view[home] : node_meta_view[home];
    return v ? v + (off - (off < sp.meta_off ? sp.coalloc_off : sp.meta_off)) : NULL;
}

/* CPU atomics on the word at off of rank's memory, which this rank reaches directly
 * (node_reaches): for a transport whose every rank does so (node_cpu_atomics), so that no
 * word sees both these and a backend's.  compare_swap returns the value found. */
static inline uint64_t node_fetch_add(int rank, size_t off, uint64_t v)
{
    return __atomic_fetch_add((uint64_t *)node_view(rank, off), v, __ATOMIC_SEQ_CST);
}
static inline uint64_t node_compare_swap(int rank, size_t off, uint64_t expected,
                                         uint64_t desired)
{
    __atomic_compare_exchange_n((uint64_t *)node_view(rank, off), &expected, desired, 0,
                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return expected;
}

/* Whether rank's memory is reached directly (this rank, or a mapped peer). */
static inline int node_reaches(int rank)
{
    return rank == sp.rank || (node_heap_view && node_heap_view[rank]);
}

#endif
