/* verbs_device: find, open and check the RDMA device. */
#include "verbs_device.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct ibv_context *verbs_device_open(const char *name, int exact, int port,
                                      struct ibv_port_attr *pa, char *desc, size_t desclen,
                                      char *why, size_t len)
{
    int n = 0;
    errno = 0;
    struct ibv_device **list = ibv_get_device_list(&n);
    if (!list || n == 0) {
        snprintf(why, len, "no RDMA device (ibv_get_device_list: %s)",
                 list ? "no devices" : errno ? strerror(errno) : "failed");
        if (list)
            ibv_free_device_list(list);
        return NULL;
    }
    struct ibv_device *dev = NULL;
    for (int i = 0; i < n && !dev; i++)
        if (!name || !*name || !strcmp(ibv_get_device_name(list[i]), name))
            dev = list[i];
    if (!dev && !exact)
        dev = list[0];
    if (!dev) {
        snprintf(why, len, "no RDMA device named %s (GALLOCY_IB_DEVICE)", name);
        ibv_free_device_list(list);
        return NULL;
    }
    snprintf(desc, desclen, "%s port %d", ibv_get_device_name(dev), port);
    struct ibv_context *ctx = ibv_open_device(dev);
    ibv_free_device_list(list);
    if (!ctx) {
        snprintf(why, len, "ibv_open_device(%s): %s", desc, strerror(errno));
        return NULL;
    }
    if (ibv_query_port(ctx, (uint8_t)port, pa))
        snprintf(why, len, "%s: no such port (GALLOCY_IB_PORT)", desc);
    else if (pa->state != IBV_PORT_ACTIVE)
        snprintf(why, len, "%s: %s, not active", desc, ibv_port_state_str(pa->state));
    else
        return ctx;
    ibv_close_device(ctx);
    return NULL;
}
