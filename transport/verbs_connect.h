/* verbs_connect: queue pairs made when first needed.  Each rank listens with rdma_cm on its
 * device's IPv4 address (the RoCE GID's, or the IPoIB interface's) and tells the others that
 * address and port at init (8 bytes a rank); the first operation to a peer connects to it,
 * so a rank that talks to 8 peers holds 8 queue pairs.  rdma_cm is only the rendezvous: the
 * queue pairs are gallocy's own (on its protection domain and completion queue), moved to
 * RTS by hand from the cards the connect and accept messages carry.  One thread serves the
 * connection events; it never calls MPI nor touches global memory.  When two ranks connect
 * to each other at once, each accepts the other's request as well, so the pair holds two
 * queue pairs, each usable both ways. */
#ifndef GALLOCY_VERBS_CONNECT_H
#define GALLOCY_VERBS_CONNECT_H
#include <infiniband/verbs.h>
#include <stdint.h>

#include "verbs_device.h"

/* What a rank tells a peer it connects to (or accepts): who it is, where its registered
 * metadata is, and its queue pair's endpoint.  48 bytes: rdma_cm carries up to 56 in a
 * connection request. */
struct vc_card {
    int32_t rank;
    uint32_t meta_rkey;
    uint64_t meta_addr;
    struct verbs_endpoint ep;
    uint32_t zero; /* what would be padding, named so that every byte sent is defined */
};
_Static_assert(sizeof(struct vc_card) == 48 && sizeof(struct vc_card) <= 56,
               "a card fits rdma_cm's private data and has no padding");

struct vc_config {
    struct ibv_context *ctx;
    struct ibv_pd *pd;
    struct ibv_cq *cq;
    int port, depth, gid_index, rd_atomic;
    struct verbs_endpoint ep; /* this port's half: qpn and psn are set per queue pair */
    uint32_t meta_rkey;
    uint64_t meta_addr;
    const char *desc; /* the device, for messages */
    /* A queue pair to rank is ready (made here, or accepted), with what rank told.  Called
     * from the connection thread, once per queue pair. */
    void (*connected)(int rank, struct ibv_qp *qp, const struct vc_card *theirs);
};

/* Collective: finds this rank's address, listens, gathers every rank's address, starts the
 * connection thread.  0, or -1 with why (every rank gets the same answer). */
int vc_start(const struct vc_config *c, char *why, size_t len);
/* Connects to rank unless that is done or under way, and returns once connected() has been
 * called for it.  A peer that does not answer within VC_DEADLINE_S, or refuses, ends the
 * job with a message naming it. */
void vc_connect(int rank);
/* Stops the thread and lets every connection go (the queue pairs are the caller's). */
void vc_stop(void);
/* This rank's address, "a.b.c.d:port", for messages. */
const char *vc_address(void);

enum { VC_DEADLINE_S = 60 };

#endif
