/* gallocy-info: what this gallocy is and what it would do on this machine, like ompi_info or
 * ucx_info: version, build options, transports and which one auto would take, RDMA devices
 * and their NUMA nodes, the ways of catching faults this kernel allows (GALLOCY_FAULTS) and
 * which one auto would take, the topology, and every GALLOCY_* option with its default, current
 * value and help (from the table the library parses, src/options.def).  Needs no MPI job.
 *
 *   gallocy-info [--json]
 */
#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "numa.h"
#include "options.h"
#include "runtime.h"
#include "transport.h"
#include "uffd_probe.h"

struct machine {
    int packages, numa_nodes, cores, pus;
    struct {
        char name[64];
        int numa; /* -1: unknown */
    } dev[NUMA_MAX_DEVICES];
    int ndev;
    char dev_error[128]; /* why there are none */
    /* GALLOCY_FAULTS ways by the library's own probe: why not, "" when available. */
    char uffd_why[160], sigbus_why[160];
};

static const char *const fault_way_help[] = {
    "userfaultfd, served by a thread; system calls and MPI wait for pages",
    "userfaultfd, served in the faulting thread; system calls need gallocy_prepare",
    "mprotect and SIGSEGV; works everywhere; a memory map per run of pages",
};

/* What GALLOCY_FAULTS=auto takes (prot_choose's rule): uffd where it works, else mprotect. */
static const char *faults_auto(const struct machine *m)
{
    return *m->uffd_why ? "mprotect" : "uffd";
}

static void probe_faults(struct machine *m)
{
    int fd = uffd_probe_open(0, m->uffd_why, sizeof m->uffd_why);
    if (fd >= 0)
        close(fd);
    fd = uffd_probe_open(1, m->sigbus_why, sizeof m->sigbus_why);
    if (fd >= 0)
        close(fd);
}

static void survey(struct machine *m)
{
    memset(m, 0, sizeof *m);
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0)
        return;
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (hwloc_topology_load(topo) != 0) {
        hwloc_topology_destroy(topo);
        return;
    }
    m->packages = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
    m->numa_nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    m->cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    m->pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    /* The same list, and the same locality, the library's placement uses. */
    struct numa_device devs[NUMA_MAX_DEVICES];
    m->ndev = numa_devices(topo, devs, NUMA_MAX_DEVICES, m->dev_error, sizeof m->dev_error);
    for (int i = 0; i < m->ndev; i++) {
        memcpy(m->dev[i].name, devs[i].name, sizeof m->dev[i].name); /* both 64, terminated */
        m->dev[i].numa = numa_node_of(topo, devs[i].cpuset);
    }
    numa_devices_free(devs, m->ndev);
    hwloc_topology_destroy(topo);
}

/* What GALLOCY_TRANSPORT=auto takes on this machine (for a job, every rank must agree): the
 * registry's first backend, by priority, whose probe passes here.  why says what was found:
 * the taker's own finding, else why the one before it failed. */
static const char *auto_choice(const struct machine *m, char *why, size_t len)
{
    const char *device = *opt.ib_device ? opt.ib_device : m->ndev ? m->dev[0].name : "";
    int n;
    const struct tp_backend *const *b = tp_backends(&n);
    char found[256];
    for (int i = 0; i < n; i++) {
        found[0] = 0;
        int ok = b[i]->probe(device, found, sizeof found);
        if (b[i]->unprobe)
            b[i]->unprobe();
        if (*found || i == 0)
            snprintf(why, len, "%s", found);
        if (ok)
            return b[i]->name;
    }
    return "none";
}

static void print_text(const struct machine *m)
{
    printf("gallocy %s\n", PACKAGE_VERSION);
    printf("build: %s %s\n", GALLOCY_BUILD_CC, GALLOCY_BUILD_CFLAGS);
    printf("configured with: %s\n", GALLOCY_BUILD_CONFIGURE);
    printf("hwloc: built against API %#x, running %#x\n", (unsigned)HWLOC_API_VERSION,
           hwloc_get_api_version());
    char why[256];
    const char *choice = auto_choice(m, why, sizeof why);
    int n;
    const struct tp_backend *const *b = tp_backends(&n);
    printf("transports:\n");
    for (int i = 0; i < n; i++)
        printf("  %-6s built: %s\n", b[i]->name, b[i]->summary);
    printf("  auto   takes: %s%s%s%s\n", choice, *why ? " (" : "", why, *why ? ")" : "");
    printf("RDMA devices:\n");
    if (m->ndev == 0)
        printf("  none (%s)\n", m->dev_error[0] ? m->dev_error : "the list is empty");
    for (int i = 0; i < m->ndev; i++) {
        if (m->dev[i].numa >= 0)
            printf("  %-16s NUMA node %d\n", m->dev[i].name, m->dev[i].numa);
        else
            printf("  %-16s NUMA node unknown\n", m->dev[i].name);
    }
    printf("faults (GALLOCY_FAULTS):\n");
    const char *no[] = {m->uffd_why, m->sigbus_why, ""}, *names[] = {"uffd", "sigbus", "mprotect"};
    for (int i = 0; i < 3; i++) {
        if (*no[i])
            printf("  %-9s no: %s\n", names[i], no[i]);
        else
            printf("  %-9s yes: %s\n", names[i], fault_way_help[i]);
    }
    printf("  %-9s takes: %s\n", "auto", faults_auto(m));
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
    char why[256];
    int n;
    const struct tp_backend *const *b = tp_backends(&n);
    const char *choice = auto_choice(m, why, sizeof why);
    printf("  \"transports\": {\"built\": [");
    for (int i = 0; i < n; i++)
        printf("%s\"%s\"", i ? ", " : "", b[i]->name);
    printf("], \"auto\": \"%s\", \"why\": ", choice);
    opt_json_string(stdout, why);
    printf("},\n");
    printf("  \"rdma_devices\": [");
    for (int i = 0; i < m->ndev; i++) {
        printf("%s{\"name\": ", i ? ", " : "");
        opt_json_string(stdout, m->dev[i].name);
        printf(", \"numa_node\": %d}", m->dev[i].numa);
    }
    printf("],\n");
    printf("  \"faults\": {\"available\": [%s%s\"mprotect\"], \"auto\": \"%s\"},\n",
           *m->uffd_why ? "" : "\"uffd\", ", *m->sigbus_why ? "" : "\"sigbus\", ",
           faults_auto(m));
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
    probe_faults(&m);
    if (json)
        print_json(&m);
    else
        print_text(&m);
    return 0;
}
