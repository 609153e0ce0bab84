/* numa: where this rank's memory goes (GALLOCY_NUMA) and which RDMA device it would use
 * (GALLOCY_IB_DEVICE), decided from the hwloc topology and the rank's CPU binding.
 *
 *   auto        the NUMA node of the RDMA device when there is one, else local
 *   local       the node of the cores the rank is bound to
 *   device      the node of the RDMA device (local when there is none)
 *   interleave  pages spread over all nodes
 *   none        no binding (first touch decides)
 * The device is GALLOCY_IB_DEVICE when set, else the one nearest the rank's cores.  A rank
 * bound to no cores (or to all of them) has no local node: its memory is left to first touch.
 * A placement is a hint: failing to apply it is reported once and never stops the job. */
#ifndef GALLOCY_NUMA_H
#define GALLOCY_NUMA_H
#include <hwloc.h>
#include <stddef.h>

enum numa_policy { NUMA_AUTO, NUMA_LOCAL, NUMA_DEVICE, NUMA_INTERLEAVE, NUMA_NONE };

struct numa_choice {
    int node;        /* OS index of the node to bind to; -1: none */
    int interleave;  /* 1: spread over all nodes */
    char device[64]; /* the RDMA device chosen; "" when there is none */
    char why[192];   /* one line saying what was chosen and why */
};

/* 0, or -1 when s names no policy. */
int numa_parse_policy(const char *s, enum numa_policy *out);

#define NUMA_MAX_DEVICES 16

/* An RDMA device and the CPUs next to it. */
struct numa_device {
    char name[64];
    hwloc_bitmap_t cpuset;
};

/* The RDMA devices: hwloc's OpenFabrics OS devices when the topology has them (real PCI
 * devices, or devices described in an XML topology), else libibverbs' list with hwloc's
 * idea of each one's locality (software devices such as Soft-RoCE have no PCI parent).
 * Returns how many (at most max), or 0 with the reason in why.  Free with
 * numa_devices_free. */
int numa_devices(hwloc_topology_t topo, struct numa_device *out, int max, char *why,
                 size_t len);
void numa_devices_free(struct numa_device *d, int n);

/* OS index of the NUMA node sharing the most PUs with set; -1 when none does. */
int numa_node_of(hwloc_topology_t topo, hwloc_const_cpuset_t set);

/* The decision alone; binding may be NULL. */
void numa_decide(hwloc_topology_t topo, hwloc_const_cpuset_t binding,
                 const struct numa_device *devs, int ndev, enum numa_policy policy,
                 const char *ib_device, struct numa_choice *out);

/* At init: loads the topology once, reads this process's binding and decides.  Never fails
 * the job: problems become one line of report.  The choice stays in numa_chosen. */
void numa_init(void);
void numa_fini(void);
extern struct numa_choice numa_chosen;

/* Binds [addr, addr+len) per the choice, before first touch; what names it in a report. */
void numa_bind(void *addr, size_t len, const char *what);

#endif
