/* numa: the placement decision and the binding (see numa.h). */
#include "numa.h"

#include <errno.h>
#ifdef GALLOCY_HAVE_VERBS
#include <hwloc/openfabrics-verbs.h>
#include <infiniband/verbs.h>
#endif
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "options.h"

struct numa_choice numa_chosen = {.node = -1};
static hwloc_topology_t topology;
static int have_topology;

int numa_parse_policy(const char *s, enum numa_policy *out)
{
    static const char *const names[] = {"auto", "local", "device", "interleave", "none"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i])) {
            *out = (enum numa_policy)i;
            return 0;
        }
    return -1;
}

static int bound(hwloc_topology_t topo, hwloc_const_cpuset_t binding)
{
    return binding && !hwloc_bitmap_iszero(binding) &&
           !hwloc_bitmap_isincluded(hwloc_topology_get_topology_cpuset(topo), binding);
}

int numa_node_of(hwloc_topology_t topo, hwloc_const_cpuset_t set)
{
    int best = -1, best_weight = 0;
    hwloc_bitmap_t common = hwloc_bitmap_alloc();
    for (hwloc_obj_t n = NULL; (n = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, n));) {
        hwloc_bitmap_and(common, n->cpuset, set);
        int w = hwloc_bitmap_weight(common);
        if (w > best_weight) {
            best = (int)n->os_index;
            best_weight = w;
        }
    }
    hwloc_bitmap_free(common);
    return best;
}

int numa_devices(hwloc_topology_t topo, struct numa_device *out, int max, char *why,
                 size_t len)
{
    int n = 0;
    why[0] = '\0';
    for (hwloc_obj_t d = NULL; n < max && (d = hwloc_get_next_osdev(topo, d));) {
        if (d->attr->osdev.type != HWLOC_OBJ_OSDEV_OPENFABRICS)
            continue;
        hwloc_obj_t a = hwloc_get_non_io_ancestor_obj(topo, d);
        snprintf(out[n].name, sizeof out[n].name, "%s", d->name);
        out[n].cpuset = hwloc_bitmap_dup(a ? a->cpuset : hwloc_topology_get_topology_cpuset(topo));
        n++;
    }
    if (n)
        return n;
    /* A topology read from a file describes another machine: this one's devices are not
     * in it. */
    if (!hwloc_topology_is_thissystem(topo)) {
        snprintf(why, len, "the topology has no OpenFabrics devices");
        return 0;
    }
#ifndef GALLOCY_HAVE_VERBS
    snprintf(why, len, "this build has no verbs transport (configure --without-verbs)");
    return 0;
#else
    /* The kernels of the build machines have no RDMA support: the list is NULL with ENOSYS,
     * not empty.  Both mean "no device". */
    int count = 0;
    errno = 0;
    struct ibv_device **list = ibv_get_device_list(&count);
    if (!list) {
        snprintf(why, len, "ibv_get_device_list: %s", errno ? strerror(errno) : "no devices");
        return 0;
    }
    for (int i = 0; i < count && n < max; i++) {
        snprintf(out[n].name, sizeof out[n].name, "%s", ibv_get_device_name(list[i]));
        out[n].cpuset = hwloc_bitmap_alloc();
        if (hwloc_ibv_get_device_cpuset(topo, list[i], out[n].cpuset) != 0)
            hwloc_bitmap_copy(out[n].cpuset, hwloc_topology_get_topology_cpuset(topo));
        n++;
    }
    ibv_free_device_list(list);
    if (!n)
        snprintf(why, len, "ibv_get_device_list: no devices");
    return n;
#endif
}

void numa_devices_free(struct numa_device *d, int n)
{
    for (int i = 0; i < n; i++)
        hwloc_bitmap_free(d[i].cpuset);
}

/* GALLOCY_IB_DEVICE when it exists, else the device sharing the most CPUs with the binding
 * (the first one when the rank is unbound); NULL when there is none. */
static const struct numa_device *choose_device(const struct numa_device *devs, int ndev,
                                               hwloc_const_cpuset_t binding, const char *wanted,
                                               char *note, size_t len)
{
    const struct numa_device *best = NULL;
    int best_weight = -1;
    hwloc_bitmap_t common = hwloc_bitmap_alloc();
    for (int i = 0; i < ndev; i++) {
        if (wanted && *wanted && !strcmp(devs[i].name, wanted)) {
            best = &devs[i];
            break;
        }
        int w = 0;
        if (binding) {
            hwloc_bitmap_and(common, devs[i].cpuset, binding);
            w = hwloc_bitmap_weight(common);
        }
        if (w > best_weight) {
            best = &devs[i];
            best_weight = w;
        }
    }
    hwloc_bitmap_free(common);
    if (wanted && *wanted && (!best || strcmp(best->name, wanted)))
        snprintf(note, len, "; GALLOCY_IB_DEVICE=%s is not a device here", wanted);
    return best;
}

void numa_decide(hwloc_topology_t topo, hwloc_const_cpuset_t binding,
                 const struct numa_device *devs, int ndev, enum numa_policy policy,
                 const char *ib_device, struct numa_choice *out)
{
    char note[96] = "";
    memset(out, 0, sizeof *out);
    out->node = -1;
    int is_bound = bound(topo, binding);
    const struct numa_device *dev = choose_device(devs, ndev, is_bound ? binding : NULL,
                                                  ib_device, note, sizeof note);
    if (dev)
        snprintf(out->device, sizeof out->device, "%s", dev->name);
    int local = is_bound ? numa_node_of(topo, binding) : -1;
    int devnode = dev ? numa_node_of(topo, dev->cpuset) : -1;
    const char *dev_name = dev ? dev->name : "none";
    switch (policy) {
    case NUMA_NONE:
        snprintf(out->why, sizeof out->why, "GALLOCY_NUMA=none: memory left to first touch");
        break;
    case NUMA_INTERLEAVE:
        out->interleave = 1;
        snprintf(out->why, sizeof out->why, "GALLOCY_NUMA=interleave: pages spread over all "
                 "%d NUMA nodes", hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE));
        break;
    case NUMA_AUTO:
    case NUMA_DEVICE:
        if (devnode >= 0) {
            out->node = devnode;
            snprintf(out->why, sizeof out->why, "GALLOCY_NUMA=%s: NUMA node %d, that of RDMA "
                     "device %s%s", policy == NUMA_AUTO ? "auto" : "device", devnode, dev_name,
                     note);
            break;
        }
        /* no device: the rank's own node */
        /* fall through */
    case NUMA_LOCAL:
        out->node = local;
        if (local >= 0)
            snprintf(out->why, sizeof out->why, "GALLOCY_NUMA=%s: NUMA node %d, that of the "
                     "rank's cores (RDMA device: %s)%s",
                     policy == NUMA_LOCAL ? "local" : policy == NUMA_AUTO ? "auto" : "device",
                     local, dev_name, note);
        else
            snprintf(out->why, sizeof out->why, "the rank is not bound to cores: memory left "
                     "to first touch (bind ranks, e.g. mpirun --bind-to core, to place it)%s",
                     note);
        break;
    }
}

void numa_init(void)
{
    enum numa_policy policy = NUMA_AUTO;
    numa_parse_policy(opt.numa, &policy); /* checked by gallocy_init already */
    numa_chosen = (struct numa_choice){.node = -1};
    if (hwloc_topology_init(&topology) != 0)
        return;
    hwloc_topology_set_io_types_filter(topology, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (hwloc_topology_load(topology) != 0) {
        hwloc_topology_destroy(topology);
        log_error("gallocy_init", "hwloc could not read the topology; memory is not placed");
        return;
    }
    have_topology = 1;
    hwloc_bitmap_t binding = hwloc_bitmap_alloc();
    if (binding && hwloc_get_cpubind(topology, binding, HWLOC_CPUBIND_PROCESS) != 0)
        hwloc_bitmap_zero(binding);
    struct numa_device devs[NUMA_MAX_DEVICES];
    char why[128];
    int ndev = numa_devices(topology, devs, NUMA_MAX_DEVICES, why, sizeof why);
    numa_decide(topology, binding, devs, ndev, policy, opt.ib_device, &numa_chosen);
    numa_devices_free(devs, ndev);
    hwloc_bitmap_free(binding);
    log_verbose(1, "%s", numa_chosen.why);
}

void numa_fini(void)
{
    if (have_topology)
        hwloc_topology_destroy(topology);
    have_topology = 0;
}

void numa_bind(void *addr, size_t len, const char *what)
{
    static int reported;
    if (!have_topology || (numa_chosen.node < 0 && !numa_chosen.interleave) || !len)
        return;
    hwloc_nodeset_t set = hwloc_bitmap_alloc();
    hwloc_membind_policy_t pol = HWLOC_MEMBIND_BIND;
    if (numa_chosen.interleave) {
        hwloc_bitmap_copy(set, hwloc_topology_get_topology_nodeset(topology));
        pol = HWLOC_MEMBIND_INTERLEAVE;
    } else {
        hwloc_bitmap_only(set, (unsigned)numa_chosen.node);
    }
    if (hwloc_set_area_membind(topology, addr, len, set, pol, HWLOC_MEMBIND_BYNODESET) != 0 &&
        !__atomic_exchange_n(&reported, 1, __ATOMIC_RELAXED))
        log_error("gallocy_init", "binding the %s to %s failed (%s); continuing unbound", what,
                  numa_chosen.interleave ? "all NUMA nodes" : "its NUMA node", strerror(errno));
    hwloc_bitmap_free(set);
}
