/* test_numa: the placement decision (numa_decide) on topologies loaded from XML files in
 * tests/: a 2-socket node with one NIC on socket 1, a 2-socket node with a NIC per socket,
 * and a one-socket laptop without RDMA; ranks bound to different cores, or to none.  The
 * devices come from the XML (hwloc OS devices), as numa_devices finds them.
 *   usage: test_numa TESTS_SRCDIR */
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "numa.h"

static const char *srcdir = ".";

static hwloc_topology_t load(const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", srcdir, file);
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) != 0)
        return NULL;
    hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (hwloc_topology_set_xml(t, path) != 0 || hwloc_topology_load(t) != 0) {
        fprintf(stderr, "cannot load %s\n", path);
        hwloc_topology_destroy(t);
        return NULL;
    }
    return t;
}

/* Decides for a rank bound to PU pu (-1: unbound). */
static struct numa_choice decide(hwloc_topology_t t, int pu, enum numa_policy p, const char *ib)
{
    struct numa_choice c;
    struct numa_device devs[NUMA_MAX_DEVICES];
    char why[128];
    int n = numa_devices(t, devs, NUMA_MAX_DEVICES, why, sizeof why);
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (pu >= 0)
        hwloc_bitmap_only(set, (unsigned)pu);
    else
        hwloc_bitmap_copy(set, hwloc_topology_get_topology_cpuset(t));
    numa_decide(t, set, devs, n, p, ib, &c);
    hwloc_bitmap_free(set);
    numa_devices_free(devs, n);
    return c;
}

static void test_policies(void)
{
    enum numa_policy p;
    CU_ASSERT(numa_parse_policy("auto", &p) == 0 && p == NUMA_AUTO);
    CU_ASSERT(numa_parse_policy("interleave", &p) == 0 && p == NUMA_INTERLEAVE);
    CU_ASSERT(numa_parse_policy("none", &p) == 0 && p == NUMA_NONE);
    CU_ASSERT_EQUAL(numa_parse_policy("socket", &p), -1);
}

static void test_two_sockets_one_nic(void)
{
    hwloc_topology_t t = load("topo-2socket-1nic.xml");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    struct numa_choice c = decide(t, 1, NUMA_LOCAL, NULL); /* a core of socket 0 */
    CU_ASSERT_EQUAL(c.node, 0);
    CU_ASSERT_STRING_EQUAL(c.device, "mlx5_0");
    c = decide(t, 1, NUMA_DEVICE, NULL); /* the NIC sits on socket 1 */
    CU_ASSERT_EQUAL(c.node, 1);
    c = decide(t, 1, NUMA_AUTO, NULL);
    CU_ASSERT_EQUAL(c.node, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(c.why, "RDMA device mlx5_0"));
    c = decide(t, 6, NUMA_LOCAL, NULL); /* a core of socket 1 */
    CU_ASSERT_EQUAL(c.node, 1);
    c = decide(t, 6, NUMA_INTERLEAVE, NULL);
    CU_ASSERT(c.interleave && c.node == -1);
    c = decide(t, 6, NUMA_NONE, NULL);
    CU_ASSERT(!c.interleave && c.node == -1);
    c = decide(t, -1, NUMA_LOCAL, NULL); /* unbound: no local node, says how to bind */
    CU_ASSERT_EQUAL(c.node, -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(c.why, "not bound"));
    c = decide(t, -1, NUMA_AUTO, NULL); /* unbound, but the device has a node */
    CU_ASSERT_EQUAL(c.node, 1);
    hwloc_topology_destroy(t);
}

static void test_two_nics(void)
{
    hwloc_topology_t t = load("topo-2socket-2nic.xml");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    struct numa_choice c = decide(t, 2, NUMA_AUTO, NULL); /* nearest NIC: socket 0's */
    CU_ASSERT_STRING_EQUAL(c.device, "mlx5_0");
    CU_ASSERT_EQUAL(c.node, 0);
    c = decide(t, 5, NUMA_AUTO, NULL);
    CU_ASSERT_STRING_EQUAL(c.device, "mlx5_1");
    CU_ASSERT_EQUAL(c.node, 1);
    c = decide(t, 2, NUMA_AUTO, "mlx5_1"); /* GALLOCY_IB_DEVICE overrides nearness */
    CU_ASSERT_STRING_EQUAL(c.device, "mlx5_1");
    CU_ASSERT_EQUAL(c.node, 1);
    c = decide(t, 2, NUMA_LOCAL, "mlx5_1"); /* ... but local stays local */
    CU_ASSERT_EQUAL(c.node, 0);
    c = decide(t, 2, NUMA_AUTO, "mlx9_9"); /* no such device: said, nearest taken */
    CU_ASSERT_STRING_EQUAL(c.device, "mlx5_0");
    CU_ASSERT_PTR_NOT_NULL(strstr(c.why, "GALLOCY_IB_DEVICE=mlx9_9 is not a device here"));
    hwloc_topology_destroy(t);
}

static void test_laptop(void)
{
    hwloc_topology_t t = load("topo-laptop.xml");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    struct numa_choice c = decide(t, 3, NUMA_AUTO, NULL); /* no RDMA: the rank's node */
    CU_ASSERT_EQUAL(c.node, 0);
    CU_ASSERT_STRING_EQUAL(c.device, "");
    c = decide(t, 3, NUMA_DEVICE, NULL); /* asked for the device's node, there is none */
    CU_ASSERT_EQUAL(c.node, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(c.why, "RDMA device: none"));
    c = decide(t, -1, NUMA_AUTO, NULL);
    CU_ASSERT_EQUAL(c.node, -1);
    hwloc_topology_destroy(t);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        srcdir = argv[1];
    static const struct cm_test tests[] = {
        {"policy names", test_policies},
        {"2 sockets, NIC on socket 1: every policy", test_two_sockets_one_nic},
        {"2 sockets, a NIC each: nearest, override", test_two_nics},
        {"laptop without RDMA", test_laptop},
        {NULL, NULL}};
    return cm_main("numa", tests);
}
