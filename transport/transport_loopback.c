/* transport_loopback: every rank reached through its memory, mapped by this one (node.h):
 * gets and puts are copies, atomics CPU atomics, nothing needs the target's help.  It needs
 * every rank of the job on this node, each mapping every other (node_cpu_atomics); it is
 * what the tests without MPI run the core on (tests/test_local.c), as ArgoDSM's
 * single-node backend serves its tests.  The library does not list it (backends.c): on one
 * node the node layer gives any backend the same paths. */
#include <errno.h>
#include <string.h>

#include "gallocy_api.h"
#include "log.h"
#include "node.h"
#include "runtime.h"
#include "transport.h"

static void loopback_get(void *dst, int rank, uint64_t off, size_t len)
{
    memcpy(dst, node_view(rank, off), len);
}

static void loopback_put(int rank, uint64_t off, const void *src, size_t len)
{
    memcpy(node_view(rank, off), src, len);
}

static void loopback_flush(int rank)
{
    (void)rank;
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* the copies are done: ordered before what follows */
}

static uint64_t loopback_fetch_add(int rank, uint64_t off, uint64_t v)
{
    return node_fetch_add(rank, off, v);
}

static uint64_t loopback_compare_swap(int rank, uint64_t off, uint64_t expected,
                                      uint64_t desired)
{
    return node_compare_swap(rank, off, expected, desired);
}

/* Nothing to serve: the service thread wakes only for its other work. */
static int loopback_progress(void)
{
    return 20000;
}

/* A copy takes no lock and allocates nothing: a fault handler may make it anywhere. */
static int loopback_signal_safe(const void *pc)
{
    (void)pc;
    return 1;
}

static void loopback_fini(void)
{
}

static const struct tp_ops loopback_ops = {
    .name = "loopback",
    .get = loopback_get,
    .put = loopback_put,
    .flush = loopback_flush,
    .fetch_add = loopback_fetch_add,
    .compare_swap = loopback_compare_swap,
    .progress = loopback_progress,
    .signal_safe = loopback_signal_safe,
    .fini = loopback_fini,
};

/* Collective: node_cpu_atomics is the same on every rank, so all agree. */
static int loopback_create(const struct tp_config *c, const struct tp_ops **out)
{
    (void)c;
    if (rt_size() > 1 && !node_cpu_atomics) {
        if (rt_rank() == 0)
            log_error("gallocy_init", "the loopback transport reaches every rank through its "
                      "mapped memory, but not every rank maps every other: run every rank on "
                      "one node, with GALLOCY_NODE_SHARED=1 and access to /proc/<pid>/fd");
        return -GALLOCY_ERR_TRANSPORT;
    }
    *out = &loopback_ops;
    return 0;
}

/* Local: whether the ranks map each other is known only at create. */
static int loopback_probe(const char *device, char *why, size_t len)
{
    (void)device;
    (void)why;
    (void)len;
    return 1;
}

const struct tp_backend tp_loopback_backend = {
    .name = "loopback",
    .summary = "every rank on this node, through its mapped memory (tests without MPI)",
    .priority = 0,
    .probe = loopback_probe,
    .create = loopback_create,
};
