/* transport_node: the layer over the backend for ranks whose memory this rank maps (node.h).
 * A get or put to such a rank is a copy, complete at once, so its flush is only a fence; its
 * atomics are CPU atomics when every rank of the job reaches every word that way
 * (node_cpu_atomics), else the backend's, for every rank alike: one word never sees both
 * kinds.  Everything else goes to the backend. */
#include <string.h>

#include "node.h"
#include "transport.h"

static const struct tp_ops *backend;

static void layer_get(void *dst, int rank, uint64_t off, size_t len)
{
    const char *v = node_view(rank, off);
    if (v)
        memcpy(dst, v, len);
    else
        backend->get(dst, rank, off, len);
}

static void layer_put(int rank, uint64_t off, const void *src, size_t len)
{
    char *v = node_view(rank, off);
    if (v)
        memcpy(v, src, len);
    else
        backend->put(rank, off, src, len);
}

static void layer_flush(int rank)
{
    /* The copies are done; the fence orders them before what follows (a release's notice, an
     * unlock), as the backend's flush does for its own operations. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (rank == TP_ALL_RANKS ? !node_all_mapped : !node_reaches(rank))
        backend->flush(rank);
}

static uint64_t layer_fetch_add(int rank, uint64_t off, uint64_t v)
{
    return node_cpu_atomics ? node_fetch_add(rank, off, v) : backend->fetch_add(rank, off, v);
}

static uint64_t layer_compare_swap(int rank, uint64_t off, uint64_t expected, uint64_t desired)
{
    return node_cpu_atomics ? node_compare_swap(rank, off, expected, desired)
                            : backend->compare_swap(rank, off, expected, desired);
}

/* With CPU atomics every rank reaches every other directly, so no rank makes a backend
 * operation on this one and its progress serves nobody: the idle service thread may sleep as
 * long as a lone rank's does (its ticks cost the computing thread a wake each). */
enum { QUIET_IDLE_US = 20000 };

static int layer_progress(void)
{
    int us = backend->progress();
    return node_cpu_atomics && us < QUIET_IDLE_US ? QUIET_IDLE_US : us;
}

static struct tp_ops layer;

const struct tp_ops *tp_node_layer(const struct tp_ops *b)
{
    if (!node_heap_view)
        return b; /* nobody to reach directly: the backend alone */
    backend = b;
    layer = *b; /* name, expose, pinned, fini: the backend's own */
    layer.get = layer_get;
    layer.put = layer_put;
    layer.flush = layer_flush;
    layer.fetch_add = layer_fetch_add;
    layer.compare_swap = layer_compare_swap;
    layer.progress = layer_progress;
    layer.atomics_need_target = !node_cpu_atomics && b->atomics_need_target;
    return &layer;
}
