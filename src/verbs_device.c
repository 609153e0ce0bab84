/* verbs_device: find, open and check the RDMA device. */
#include "verbs_device.h"

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
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

/* Index of the best RoCE GID (see verbs_device.h), or -1 with why. */
static int choose_gid(struct ibv_context *ctx, int port, int table_len, long forced,
                      const char *desc, char *why, size_t len)
{
    if (forced >= 0) {
        if (forced >= table_len) {
            snprintf(why, len, "GALLOCY_IB_GID_INDEX=%ld: %s has %d GIDs", forced, desc,
                     table_len);
            return -1;
        }
        return (int)forced;
    }
    int best = -1, best_score = 0;
    for (int i = 0; i < table_len; i++) {
        struct ibv_gid_entry e;
        if (ibv_query_gid_ex(ctx, (uint32_t)port, (uint32_t)i, &e, 0))
            continue;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        int v4 = !memcmp(e.gid.raw, v4mapped, sizeof v4mapped);
        int score = e.gid_type == IBV_GID_TYPE_ROCE_V2 ? (v4 ? 3 : 2) : 1;
        if (score > best_score) {
            best = i;
            best_score = score;
        }
    }
    if (best < 0)
        snprintf(why, len, "%s has no usable RoCE GID (is the interface up, with an "
                 "address?)", desc);
    return best;
}

int verbs_port_endpoint(struct ibv_context *ctx, int port, const struct ibv_port_attr *pa,
                        long forced_gid, const char *desc, struct verbs_endpoint *ep,
                        int *gid_index, char *link, size_t linklen, char *why, size_t len)
{
    int roce = pa->link_layer == IBV_LINK_LAYER_ETHERNET;
    *ep = (struct verbs_endpoint){.lid = pa->lid, .mtu = (uint8_t)pa->active_mtu,
                                  .is_roce = (uint8_t)roce};
    *gid_index = 0;
    if (!roce) {
        snprintf(link, linklen, "InfiniBand, LID %u", pa->lid);
        return 0;
    }
    if ((*gid_index = choose_gid(ctx, port, pa->gid_tbl_len, forced_gid, desc, why, len)) < 0)
        return -1;
    union ibv_gid gid;
    if (ibv_query_gid(ctx, (uint8_t)port, *gid_index, &gid)) {
        snprintf(why, len, "ibv_query_gid(%s, %d) failed", desc, *gid_index);
        return -1;
    }
    memcpy(ep->gid, gid.raw, 16);
    char addr[64];
    const uint8_t *g = gid.raw;
    if (g[10] == 0xff && g[11] == 0xff)
        snprintf(addr, sizeof addr, "%u.%u.%u.%u", g[12], g[13], g[14], g[15]);
    else
        snprintf(addr, sizeof addr, "%02x%02x:%02x%02x:...:%02x%02x", g[0], g[1], g[2], g[3],
                 g[14], g[15]);
    snprintf(link, linklen, "RoCE, GID index %d (%s)", *gid_index, addr);
    return 0;
}

struct ibv_qp *verbs_qp_create(struct ibv_pd *pd, struct ibv_cq *cq, int port, int depth)
{
    struct ibv_qp_init_attr ia = {
        .send_cq = cq, .recv_cq = cq, .qp_type = IBV_QPT_RC,
        .cap = {.max_send_wr = (uint32_t)depth, .max_recv_wr = 1, .max_send_sge = 1,
                .max_recv_sge = 1},
    };
    struct ibv_qp *qp = ibv_create_qp(pd, &ia);
    if (!qp)
        return NULL;
    struct ibv_qp_attr a = {.qp_state = IBV_QPS_INIT, .port_num = (uint8_t)port,
                            .qp_access_flags = IBV_ACCESS_REMOTE_READ |
                                IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC};
    if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
                      IBV_QP_ACCESS_FLAGS)) {
        ibv_destroy_qp(qp);
        return NULL;
    }
    return qp;
}

int verbs_qp_connect(struct ibv_qp *qp, int port, const struct verbs_endpoint *mine,
                     const struct verbs_endpoint *theirs, int gid_index, int rd_atomic)
{
    struct ibv_qp_attr a = {
        .qp_state = IBV_QPS_RTR,
        .path_mtu = (enum ibv_mtu)(mine->mtu < theirs->mtu ? mine->mtu : theirs->mtu),
        .dest_qp_num = theirs->qpn,
        .rq_psn = theirs->psn,
        .max_dest_rd_atomic = (uint8_t)rd_atomic,
        .min_rnr_timer = 12,
        .ah_attr = {.port_num = (uint8_t)port, .dlid = theirs->lid},
    };
    if (mine->is_roce) {
        a.ah_attr.is_global = 1;
        memcpy(a.ah_attr.grh.dgid.raw, theirs->gid, 16);
        a.ah_attr.grh.sgid_index = (uint8_t)gid_index;
        a.ah_attr.grh.hop_limit = 64;
    }
    if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
                      IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
        return -1;
    struct ibv_qp_attr s = {.qp_state = IBV_QPS_RTS, .timeout = 14, .retry_cnt = 7,
                            .rnr_retry = 7, .sq_psn = mine->psn,
                            .max_rd_atomic = (uint8_t)rd_atomic};
    return ibv_modify_qp(qp, &s, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
                         IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC) ? -1 : 0;
}
