/* verbs_device: opening the RDMA device gallocy would use, its addressing, and RC queue pairs:
 * for the verbs transport, gallocy-info and the benchmarks' raw verbs baseline alike. */
#ifndef GALLOCY_VERBS_DEVICE_H
#define GALLOCY_VERBS_DEVICE_H
#include <infiniband/verbs.h>
#include <stddef.h>
#include <stdint.h>

/* Opens the device named and checks that port is active.  With exact 0 the name is a
 * preference: when no device has it, or for NULL or "", the first device is taken.
 * Returns the context, with the port's attributes in *pa and "device port N" in desc; or
 * NULL with the reason in why (no device at all is one: without kernel RDMA support,
 * ibv_get_device_list gives NULL with ENOSYS rather than an empty list). */
struct ibv_context *verbs_device_open(const char *name, int exact, int port,
                                      struct ibv_port_attr *pa, char *desc, size_t desclen,
                                      char *why, size_t len);

/* What a rank tells a peer to connect a queue pair to it. */
struct verbs_endpoint {
    uint32_t qpn, psn;
    uint16_t lid;
    uint8_t mtu, is_roce;
    uint8_t gid[16];
};

/* This port's half of an endpoint (lid, mtu, link layer, GID; qpn and psn are the caller's)
 * and, for RoCE, the GID index to use: forced_gid when >= 0, else the RoCE v2 GID of the
 * interface's IPv4 address (::ffff:a.b.c.d), else any RoCE v2 GID, else RoCE v1.  link
 * gets "RoCE, GID index 1 (10.0.2.15)" or "InfiniBand, LID 3".  desc names the device in
 * messages.  0, or -1 with why. */
int verbs_port_endpoint(struct ibv_context *ctx, int port, const struct ibv_port_attr *pa,
                        long forced_gid, const char *desc, struct verbs_endpoint *ep,
                        int *gid_index, char *link, size_t linklen, char *why, size_t len);

/* An RC queue pair on cq, in INIT, open to remote read, write and atomics; NULL (errno). */
struct ibv_qp *verbs_qp_create(struct ibv_pd *pd, struct ibv_cq *cq, int port, int depth);

/* Moves qp through RTR to RTS towards theirs.  0, or -1 (errno). */
int verbs_qp_connect(struct ibv_qp *qp, int port, const struct verbs_endpoint *mine,
                     const struct verbs_endpoint *theirs, int gid_index, int rd_atomic);

#endif
