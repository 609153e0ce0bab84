/* node: the memory of the other ranks on this node, mapped read-only.
 *
 * Ranks that share a node (MPI_COMM_TYPE_SHARED) map each other's memfds: the part each one
 * homes, its heap segment and the collective region.  A fault on a page homed on this node is
 * then served by a copy from the home's memory, in the faulting thread (a memcpy is safe in a
 * signal handler), instead of a hand-off to the service thread and a transfer; gallocy_get
 * reads such homes the same way.  Writes, releases and atomics keep going through the
 * transport, so every atomic on a word is made by one mechanism.  GALLOCY_NODE_SHARED=0 turns
 * it off; a peer whose memory cannot be mapped (no access to /proc/<pid>/fd) is reached
 * through the transport, after a note under GALLOCY_VERBOSE. */
#ifndef GALLOCY_NODE_H
#define GALLOCY_NODE_H
#include <stddef.h>

#include "space.h"

/* Collective, after space_init.  Never fails: what cannot be mapped is left to the
 * transport. */
void node_init(void);
void node_fini(void);

/* Per rank: its heap segment and its collective region, mapped read-only, or NULL (this rank,
 * another node, or not mappable).  Indexed by rank; NULL when the node has no other rank. */
extern const char **node_heap_view, **node_coalloc_view;

/* Where the home copy of [off, off+len) can be read directly, or NULL (then: the transport):
 * this rank's own alias for its own pages, a peer's view for a peer on this node.  home is
 * the home of every page of the range, and the range lies in one region. */
static inline const char *node_source(int home, size_t off)
{
    if (home == sp.rank)
        return sp.alias + off;
    if (!node_heap_view)
        return NULL;
    if (off < sp.coalloc_off) {
        const char *v = node_heap_view[home];
        return v ? v + (off - (size_t)home * sp.heap_size) : NULL;
    }
    const char *v = node_coalloc_view[home];
    return v ? v + (off - sp.coalloc_off) : NULL;
}

#endif
