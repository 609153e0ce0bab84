/* gallocy-info: what this gallocy is and what it would do on this machine, like ompi_info or
 * ucx_info: version, build options, transports and which one auto would take, RDMA devices
 * and their NUMA nodes, the topology, and every GALLOCY_* option with its default, current value and help
 * (from the table the library parses, src/options.def).  Needs no MPI job.
 *
 *   gallocy-info [--json]
 */
#include <errno.h>
#include <hwloc.h>
#include <hwloc/openfabrics-verbs.h>
#include <infiniband/verbs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "options.h"

struct device {
    char name[64];
    int numa; /* -1: unknown */
};

struct machine {
    int packages, numa_nodes, cores, pus;
    struct device dev[16];
    int ndev;
    char dev_error[128]; /* why there are none, when the list could not be read */
};

/* The NUMA node whose CPUs the device sits next to, -1 when hwloc cannot tell. */
static int device_numa(hwloc_topology_t topo, struct ibv_device *d)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    int numa = -1;
    if (set && hwloc_ibv_get_device_cpuset(topo, d, set) == 0) {
        hwloc_obj_t node = NULL;
        while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, node)) != NULL)
            if (hwloc_bitmap_isincluded(set, node->cpuset) ||
                hwloc_bitmap_isequal(set, node->cpuset)) {
                numa = (int)node->os_index;
                break;
            }
    }
    hwloc_bitmap_free(set);
    return numa;
}

static void survey(struct machine *m)
{
    memset(m, 0, sizeof *m);
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) == 0 && hwloc_topology_load(topo) == 0) {
        m->packages = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
        m->numa_nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
        m->cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
        m->pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    }
    /* The kernels of the build machines have no RDMA support: the list is NULL with ENOSYS,
     * not empty.  Both mean "no device". */
    int n = 0;
    errno = 0;
    struct ibv_device **list = ibv_get_device_list(&n);
    if (!list) {
        snprintf(m->dev_error, sizeof m->dev_error, "ibv_get_device_list: %s",
                 errno ? strerror(errno) : "no devices");
    }
    for (int i = 0; list && i < n && m->ndev < 16; i++) {
        struct device *d = &m->dev[m->ndev++];
        snprintf(d->name, sizeof d->name, "%s", ibv_get_device_name(list[i]));
        d->numa = device_numa(topo, list[i]);
    }
    if (list)
        ibv_free_device_list(list);
    hwloc_topology_destroy(topo);
}

/* What GALLOCY_TRANSPORT=auto takes.  The verbs transport is not built yet, so MPI it is. */
static const char *auto_choice(void)
{
    return "mpi";
}

static void print_text(const struct machine *m)
{
    printf("gallocy %s\n", PACKAGE_VERSION);
    printf("build: %s %s\n", GALLOCY_BUILD_CC, GALLOCY_BUILD_CFLAGS);
    printf("configured with: %s\n", GALLOCY_BUILD_CONFIGURE);
    printf("hwloc: built against API %#x, running %#x\n", (unsigned)HWLOC_API_VERSION,
           hwloc_get_api_version());
    printf("transports:\n");
    printf("  mpi    built: MPI-3 passive-target RMA (works wherever MPI's one-sided does)\n");
    printf("  verbs  not built in this version\n");
    printf("  auto   takes: %s\n", auto_choice());
    printf("RDMA devices:\n");
    if (m->ndev == 0)
        printf("  none (%s)\n", m->dev_error[0] ? m->dev_error : "the list is empty");
    for (int i = 0; i < m->ndev; i++) {
        if (m->dev[i].numa >= 0)
            printf("  %-16s NUMA node %d\n", m->dev[i].name, m->dev[i].numa);
        else
            printf("  %-16s NUMA node unknown\n", m->dev[i].name);
    }
    printf("topology: %d package(s), %d NUMA node(s), %d core(s), %d PU(s)\n", m->packages,
           m->numa_nodes, m->cores, m->pus);
    printf("options (GALLOCY_*; sizes in bytes):\n");
    opt_print(stdout);
}

static void print_json(const struct machine *m)
{
    printf("{\n  \"version\": \"%s\",\n", PACKAGE_VERSION);
    printf("  \"build\": {\"cc\": ");
    opt_json_string(stdout, GALLOCY_BUILD_CC);
    printf(", \"cflags\": ");
    opt_json_string(stdout, GALLOCY_BUILD_CFLAGS);
    printf(", \"configure\": ");
    opt_json_string(stdout, GALLOCY_BUILD_CONFIGURE);
    printf(", \"hwloc_api\": %u},\n", (unsigned)HWLOC_API_VERSION);
    printf("  \"transports\": {\"built\": [\"mpi\"], \"auto\": \"%s\"},\n", auto_choice());
    printf("  \"rdma_devices\": [");
    for (int i = 0; i < m->ndev; i++)
        printf("%s{\"name\": \"%s\", \"numa_node\": %d}", i ? ", " : "", m->dev[i].name,
               m->dev[i].numa);
    printf("],\n");
    printf("  \"topology\": {\"packages\": %d, \"numa_nodes\": %d, \"cores\": %d, \"pus\": %d},\n",
           m->packages, m->numa_nodes, m->cores, m->pus);
    printf("  \"options\": [");
    opt_print_json(stdout, "    ");
    printf("\n  ]\n}\n");
}

int main(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "usage: %s [--json]\n", argv[0]);
            return 2;
        }
    }
    char err[256];
    if (opt_load(err, sizeof err) != 0) {
        fprintf(stderr, "gallocy-info: %s\n", err);
        return 1;
    }
    struct machine m;
    survey(&m);
    if (json)
        print_json(&m);
    else
        print_text(&m);
    return 0;
}
