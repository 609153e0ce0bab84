/* verbs_connect: the rdma_cm rendezvous and its event thread. */
#include "verbs_connect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "runtime.h"

#define WHO "gallocy (transport verbs)"

/* Where a rank listens; gathered from every rank at init. */
struct vc_address {
    uint32_t ip;   /* network order */
    uint16_t port; /* network order */
    uint16_t pad;
};

enum { VC_NONE, VC_CONNECTING, VC_DONE };

/* A connection under way, the context of its id.  Active: its queue pair waits for the
 * peer's card.  Accepted (passive): its queue pair is ready, and is handed over once the
 * peer says its own is (the ESTABLISHED event), so that nothing is posted to a queue pair
 * the peer has not yet moved to receive. */
struct pending {
    int rank, passive;
    struct ibv_qp *qp;
    struct verbs_endpoint mine;
    struct vc_card theirs; /* passive: the requester's card */
};

static struct vc_config cfg;
static struct rdma_event_channel *channel;
static struct rdma_cm_id *listener;
static struct vc_address *addrs; /* per rank */
static uint8_t *state;           /* per rank: VC_* (under lock) */
static struct rdma_cm_id **ids;  /* every id made, to destroy at the end (under lock) */
static size_t nids, ids_cap;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static pthread_t thread;
static int running, stopping;
static int me, nranks;
static unsigned seed;
static char my_address[64];

static void keep_id(struct rdma_cm_id *id)
{
    pthread_mutex_lock(&lock);
    if (nids == ids_cap) {
        size_t cap = ids_cap ? 2 * ids_cap : 16;
        struct rdma_cm_id **n = realloc(ids, cap * sizeof *n);
        if (!n)
            log_fatal(WHO, "out of memory for connection identifiers");
        ids = n;
        ids_cap = cap;
    }
    ids[nids++] = id;
    pthread_mutex_unlock(&lock);
}

static const char *addr_str(int rank, char *buf, size_t len)
{
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &addrs[rank].ip, ip, sizeof ip);
    snprintf(buf, len, "%s:%u", ip, ntohs(addrs[rank].port));
    return buf;
}

/* A queue pair in INIT with its endpoint; fatal when the device refuses. */
static struct ibv_qp *new_qp(int rank, struct verbs_endpoint *mine)
{
    struct ibv_qp *qp = verbs_qp_create(cfg.pd, cfg.cq, cfg.port, cfg.depth);
    if (!qp)
        log_fatal(WHO, "creating a queue pair for rank %d on %s failed: %s", rank, cfg.desc,
                  strerror(errno));
    *mine = cfg.ep;
    mine->qpn = qp->qp_num;
    pthread_mutex_lock(&lock);
    mine->psn = (uint32_t)rand_r(&seed) & 0xffffff;
    pthread_mutex_unlock(&lock);
    return qp;
}

static void to_rts(struct ibv_qp *qp, int rank, const struct verbs_endpoint *mine,
                   const struct verbs_endpoint *theirs)
{
    if (verbs_qp_connect(qp, cfg.port, mine, theirs, cfg.gid_index, cfg.rd_atomic))
        log_fatal(WHO, "connecting the queue pair to rank %d on %s failed: %s", rank,
                  cfg.desc, strerror(errno));
}

static struct vc_card card_of(const struct verbs_endpoint *ep)
{
    return (struct vc_card){.rank = me, .meta_rkey = cfg.meta_rkey, .meta_addr = cfg.meta_addr,
                            .ep = *ep};
}

static struct rdma_conn_param conn_param(const struct vc_card *card, uint32_t qpn)
{
    return (struct rdma_conn_param){.private_data = card,
                                    .private_data_len = sizeof *card,
                                    .responder_resources = (uint8_t)cfg.rd_atomic,
                                    .initiator_depth = (uint8_t)cfg.rd_atomic,
                                    .retry_count = 7,
                                    .rnr_retry_count = 7,
                                    .qp_num = qpn};
}

/* The card in an event's private data, checked. */
static struct vc_card card_in(const struct rdma_cm_event *ev, const char *what)
{
    struct vc_card c;
    if (!ev->param.conn.private_data || ev->param.conn.private_data_len < sizeof c)
        log_fatal(WHO, "a %s without gallocy's card (%u bytes): another program on port %u?",
                  what, ev->param.conn.private_data_len, ntohs(addrs[me].port));
    memcpy(&c, ev->param.conn.private_data, sizeof c);
    if (c.rank < 0 || c.rank >= nranks)
        log_fatal(WHO, "a %s from rank %d, not a rank of this job (0..%d)", what, c.rank,
                  nranks - 1);
    return c;
}

static void mark_done(int rank, struct ibv_qp *qp, const struct vc_card *theirs)
{
    cfg.connected(rank, qp, theirs);
    pthread_mutex_lock(&lock);
    state[rank] = VC_DONE;
    pthread_cond_broadcast(&done_cond);
    pthread_mutex_unlock(&lock);
}

static void accept_request(struct rdma_cm_event *ev)
{
    struct vc_card theirs = card_in(ev, "connection request");
    struct verbs_endpoint mine;
    struct ibv_qp *qp = new_qp(theirs.rank, &mine);
    to_rts(qp, theirs.rank, &mine, &theirs.ep); /* ready before the peer hears of it */
    struct vc_card card = card_of(&mine);
    struct rdma_conn_param p = conn_param(&card, qp->qp_num);
    struct pending *acc = calloc(1, sizeof *acc);
    if (!acc)
        log_fatal(WHO, "out of memory for a connection from rank %d", theirs.rank);
    *acc = (struct pending){.rank = theirs.rank, .passive = 1, .qp = qp, .theirs = theirs};
    ev->id->context = acc;
    keep_id(ev->id);
    /* Until ESTABLISHED, this rank's own first operation on that peer waits for this queue
     * pair rather than making a second. */
    pthread_mutex_lock(&lock);
    if (state[theirs.rank] == VC_NONE)
        state[theirs.rank] = VC_CONNECTING;
    pthread_mutex_unlock(&lock);
    if (rdma_accept(ev->id, &p))
        log_fatal(WHO, "accepting the connection from rank %d failed: %s", theirs.rank,
                  strerror(errno));
}

static void handle(struct rdma_cm_event *ev)
{
    struct pending *pend = ev->id->context; /* NULL on a request: the listener's */
    char buf[64];
    switch (ev->event) {
    case RDMA_CM_EVENT_CONNECT_REQUEST:
        accept_request(ev);
        return;
    case RDMA_CM_EVENT_ADDR_RESOLVED:
        if (rdma_resolve_route(ev->id, 2000))
            log_fatal(WHO, "resolving the route to rank %d (%s) failed: %s", pend->rank,
                      addr_str(pend->rank, buf, sizeof buf), strerror(errno));
        return;
    case RDMA_CM_EVENT_ROUTE_RESOLVED: {
        pend->qp = new_qp(pend->rank, &pend->mine);
        struct vc_card card = card_of(&pend->mine);
        struct rdma_conn_param p = conn_param(&card, pend->qp->qp_num);
        if (rdma_connect(ev->id, &p))
            log_fatal(WHO, "connecting to rank %d (%s) failed: %s", pend->rank,
                      addr_str(pend->rank, buf, sizeof buf), strerror(errno));
        return;
    }
    case RDMA_CM_EVENT_CONNECT_RESPONSE: {
        struct vc_card theirs = card_in(ev, "connection response");
        to_rts(pend->qp, pend->rank, &pend->mine, &theirs.ep);
        if (rdma_establish(ev->id))
            log_fatal(WHO, "completing the connection to rank %d failed: %s", pend->rank,
                      strerror(errno));
        mark_done(pend->rank, pend->qp, &theirs);
        return;
    }
    case RDMA_CM_EVENT_ESTABLISHED:
        if (pend && pend->passive && pend->qp) {
            mark_done(pend->rank, pend->qp, &pend->theirs);
            pend->qp = NULL;
        }
        return;
    case RDMA_CM_EVENT_DISCONNECTED:
    case RDMA_CM_EVENT_TIMEWAIT_EXIT:
        return;
    default:
        if (stopping)
            return;
        log_fatal(WHO, "connecting %s rank %d (%s): %s (status %d); the peer may have died, "
                  "or its address is not reachable over %s", pend && !pend->passive ? "to" : "with",
                  pend ? pend->rank : -1, pend ? addr_str(pend->rank, buf, sizeof buf) : "?",
                  rdma_event_str(ev->event), ev->status, cfg.desc);
    }
}

static void *serve(void *arg)
{
    (void)arg;
    struct pollfd pfd = {.fd = channel->fd, .events = POLLIN};
    while (!__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) {
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        struct rdma_cm_event *ev;
        while (rdma_get_cm_event(channel, &ev) == 0) {
            handle(ev);
            rdma_ack_cm_event(ev);
        }
    }
    return NULL;
}

/* This port's IPv4 address: in the RoCE GID (::ffff:a.b.c.d), else that of the IPoIB
 * interface whose hardware address ends in the port's GID.  0, or -1. */
static int local_ipv4(uint32_t *ip)
{
    union ibv_gid gid;
    if (cfg.ep.is_roce) {
        const uint8_t *g = cfg.ep.gid;
        if (g[10] != 0xff || g[11] != 0xff)
            return -1;
        memcpy(ip, g + 12, 4);
        return 0;
    }
    if (ibv_query_gid(cfg.ctx, (uint8_t)cfg.port, 0, &gid))
        return -1;
    struct ifaddrs *all, *a;
    char name[64] = "";
    if (getifaddrs(&all))
        return -1;
    for (a = all; a && !*name; a = a->ifa_next) {
        const struct sockaddr_ll *ll = (const void *)a->ifa_addr;
        if (ll && ll->sll_family == AF_PACKET && ll->sll_halen == 20 &&
            !memcmp(ll->sll_addr + 4, gid.raw, 16))
            snprintf(name, sizeof name, "%s", a->ifa_name);
    }
    int rc = -1;
    for (a = all; a && *name; a = a->ifa_next)
        if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET && !strcmp(a->ifa_name, name)) {
            *ip = ((const struct sockaddr_in *)(const void *)a->ifa_addr)->sin_addr.s_addr;
            rc = 0;
            break;
        }
    freeifaddrs(all);
    return rc;
}

static int listen_here(struct vc_address *mine, char *why, size_t len)
{
    if (local_ipv4(&mine->ip)) {
        snprintf(why, len, "%s has no IPv4 address (RoCE: an interface address; InfiniBand: "
                 "IPoIB): ranks connect with rdma_cm, which needs one", cfg.desc);
        return -1;
    }
    channel = rdma_create_event_channel();
    if (!channel || rdma_create_id(channel, &listener, NULL, RDMA_PS_TCP)) {
        snprintf(why, len, "rdma_cm is not available (%s): is the rdma_ucm module loaded?",
                 strerror(errno));
        return -1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = mine->ip};
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &mine->ip, ip, sizeof ip);
    if (rdma_bind_addr(listener, (struct sockaddr *)&sa) || rdma_listen(listener, 1024)) {
        snprintf(why, len, "listening with rdma_cm on %s failed: %s", ip, strerror(errno));
        return -1;
    }
    mine->port = rdma_get_src_port(listener);
    snprintf(my_address, sizeof my_address, "%s:%u", ip, ntohs(mine->port));
    fcntl(channel->fd, F_SETFL, fcntl(channel->fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

int vc_start(const struct vc_config *c, char *why, size_t len)
{
    cfg = *c;
    me = rt_rank();
    nranks = rt_size();
    seed = (unsigned)me * 2654435761u ^ (unsigned)time(NULL);
    stopping = 0;
    addrs = calloc((size_t)nranks, sizeof *addrs);
    state = calloc((size_t)nranks, 1);
    struct vc_address mine = {0};
    int ok = addrs && state;
    if (!ok)
        snprintf(why, len, "out of memory for %d ranks' addresses", nranks);
    ok = ok && listen_here(&mine, why, len) == 0;
    ok = ok && pthread_create(&thread, NULL, serve, NULL) == 0;
    running = ok;
    if (!ok && !*why)
        snprintf(why, len, "cannot start the connection thread");
    int all = (int)rt_allreduce_min(ok);
    if (!all) {
        if (ok)
            snprintf(why, len, "another rank could not listen for connections");
        vc_stop();
        return -1;
    }
    rt_allgather(&mine, addrs, sizeof mine);
    state[me] = VC_DONE; /* the loopback queue pair is the caller's */
    return 0;
}

void vc_connect(int rank)
{
    char buf[64];
    pthread_mutex_lock(&lock);
    if (state[rank] == VC_NONE) {
        state[rank] = VC_CONNECTING;
        struct pending *pend = calloc(1, sizeof *pend);
        struct rdma_cm_id *id = NULL;
        if (!pend || rdma_create_id(channel, &id, pend, RDMA_PS_TCP))
            log_fatal(WHO, "cannot make a connection to rank %d: %s", rank, strerror(errno));
        pend->rank = rank;
        pthread_mutex_unlock(&lock);
        keep_id(id);
        struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = addrs[me].ip};
        struct sockaddr_in dst = {.sin_family = AF_INET, .sin_addr.s_addr = addrs[rank].ip,
                                  .sin_port = addrs[rank].port};
        if (rdma_resolve_addr(id, (struct sockaddr *)&src, (struct sockaddr *)&dst, 2000))
            log_fatal(WHO, "resolving the address of rank %d (%s) failed: %s", rank,
                      addr_str(rank, buf, sizeof buf), strerror(errno));
        pthread_mutex_lock(&lock);
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += VC_DEADLINE_S;
    while (state[rank] != VC_DONE)
        if (pthread_cond_timedwait(&done_cond, &lock, &deadline) == ETIMEDOUT &&
            state[rank] != VC_DONE)
            log_fatal(WHO, "rank %d (%s) did not answer a connection request for %d s: it "
                      "may have died, or be stuck outside gallocy", rank,
                      addr_str(rank, buf, sizeof buf), VC_DEADLINE_S);
    pthread_mutex_unlock(&lock);
}

void vc_stop(void)
{
    __atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
    if (running)
        pthread_join(thread, NULL);
    running = 0;
    for (size_t i = 0; i < nids; i++) {
        free(ids[i]->context); /* its struct pending */
        rdma_destroy_id(ids[i]);
    }
    free(ids);
    ids = NULL;
    nids = ids_cap = 0;
    if (listener)
        rdma_destroy_id(listener);
    listener = NULL;
    if (channel)
        rdma_destroy_event_channel(channel);
    channel = NULL;
    free(addrs);
    free(state);
    addrs = NULL;
    state = NULL;
}

const char *vc_address(void)
{
    return my_address;
}
