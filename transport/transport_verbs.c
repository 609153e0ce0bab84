/* transport_verbs: libibverbs RC queue pairs to every rank (this one included), one-sided
 * RDMA READ, WRITE, CMP_AND_SWP and FETCH_AND_ADD against registered memory.
 *
 * What is registered: the ranges not on demand (the metadata) at init, plus one private
 * block of operation records and bounce slots; an on-demand range (the home segment, the
 * collective region) as its owner exposes it, rounded out to EXPOSE_GRANULE, so a rank pins
 * what it hands out, not its whole share of the address space.  Each registration is
 * published in the owner's part of the metadata (verbs_keys.h: a count, then entries
 * written once); a peer that meets an offset it has no key for reads the entries
 * it has not seen, once, and keeps them.  A READ of memory its home has not exposed reads
 * zeroes (the home never handed it out, so it holds zeroes there too): read-ahead may reach
 * past the end of a heap; a WRITE or an atomic there is a gallocy bug and fatal.  Before
 * each registration the memory is checked against RLIMIT_MEMLOCK and what the node has
 * free, so that a heap too large fails an allocation with the numbers instead of the
 * kernel's OOM killer ending the job.
 *
 * A local buffer inside a registered range is used as it is; any other (cached copies of
 * other ranks' pages, the caller's stack) goes through a bounce slot: a copy of at most
 * 64 KiB, cheap beside the fault that asked for it.
 *
 * Operations are posted under one lock and complete in any order; whichever thread polls
 * the shared completion queue finishes them (copies a bounced READ out, frees its slot) and
 * counts them done for the thread that posted them.  flush waits until every operation the
 * calling thread posted has completed, so a page-block prefetch is one batch of READs and a
 * release one batch of WRITEs.  Atomics to this rank go through the loopback queue pair
 * too: an RDMA atomic is atomic only against other RDMA atomics (IBV_ATOMIC_HCA), not
 * against the CPU's.  A failed completion or a fatal asynchronous event ends the job with
 * the operation, the peer and the verbs status. */
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "gallocy_api.h"
#include "log.h"
#include "options.h"
#include "runtime.h"
#include "stats.h"
#include "transport.h"
#include "verbs_connect.h"
#include "verbs_device.h"
#include "verbs_keys.h"
#include "verbs_memory.h"

#define WHO "gallocy (transport verbs)"

enum {
    SQ_DEPTH = 128,         /* send work requests in flight per peer */
    NOPS = 1024,            /* operation records (in flight at once, all peers) */
    SLOT_BYTES = 64 << 10,  /* one bounce slot */
    NSLOTS = 64,            /* 4 MiB of bounce memory */
    POLL_BATCH = 16,
    STALL_SECONDS = 120,    /* no completion for this long: the peer or the fabric is gone */
};
/* Registrations of on-demand ranges are rounded out to this (within their range): a run of
 * small collective allocations shares one. */
#define EXPOSE_GRANULE ((uint64_t)2 << 20)

struct waiter { /* one per thread that posts */
    uint64_t posted;
    uint64_t completed; /* atomic: completions are counted by whichever thread polls */
};

struct vop {
    uint64_t result; /* first: the 8-byte, registered landing place of an atomic */
    struct waiter *owner;
    void *copy_to; /* a bounced READ: where its bytes go */
    uint32_t len;
    int peer, slot, next_free;
    enum ibv_wr_opcode opcode;
};

struct peer {
    struct ibv_qp *qp;    /* this rank's operations go here; NULL until connected */
    struct ibv_qp *spare; /* a second queue pair, when both ranks connected at once */
    int ready;            /* atomic: qp is set */
    int inflight;
    struct vkeys keys; /* its registrations known here (under lock) */
};

static struct ibv_context *ctx;
static struct ibv_pd *pd;
static struct ibv_cq *cq;
static struct ibv_mr **mrs, *priv_mr; /* this rank's registrations of its ranges */
static size_t nmrs, mrs_cap;
static size_t pinned_bytes;           /* in mrs */
static struct peer *peers;
static int me, nranks;
static struct vop *ops; /* NOPS records, key landing, NSLOTS bounce slots: one registered block */
static struct vkey *key_landing; /* VKEYS_MAX entries and a count, read from a peer */
static char *slots;
static size_t priv_bytes;
static int free_op = -1;
static uint64_t free_slots; /* bit i: slot i free */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;   /* one peer table read at once */
static pthread_mutex_t expose_lock = PTHREAD_MUTEX_INITIALIZER; /* one registration at once */
static pthread_key_t waiter_key;
static pthread_once_t waiter_once = PTHREAD_ONCE_INIT;
static __thread struct waiter *my_waiter; /* kept across re-initialisations: its counts stay even */
static char *region_base;
static uint64_t meta_off; /* the backend's metadata: the published table (verbs_keys.h) */
static struct tp_range on_demand[TP_MAX_RANGES];
static struct tp_range eager_range; /* the one registered at init: the metadata */
static struct vc_config connect_config;
static struct ibv_port_attr port_attr; /* of the port opened */
static char dev_desc[160], link_desc[160];

static const char *opname(enum ibv_wr_opcode op)
{
    switch (op) {
    case IBV_WR_RDMA_READ: return "RDMA READ";
    case IBV_WR_RDMA_WRITE: return "RDMA WRITE";
    case IBV_WR_ATOMIC_CMP_AND_SWP: return "ATOMIC CMP_AND_SWP";
    case IBV_WR_ATOMIC_FETCH_AND_ADD: return "ATOMIC FETCH_AND_ADD";
    default: return "operation";
    }
}

/* --- completions ------------------------------------------------------------------------- */

static void finish(const struct ibv_wc *wc)
{
    struct vop *o = &ops[wc->wr_id];
    if (wc->status != IBV_WC_SUCCESS)
        log_fatal(WHO, "%s of %u bytes with rank %d failed: %s (verbs status %d, vendor error "
                  "0x%x); the peer may have died, or the address or key is wrong",
                  opname(o->opcode), o->len, o->peer, ibv_wc_status_str(wc->status),
                  (int)wc->status, wc->vendor_err);
    if (o->copy_to)
        memcpy(o->copy_to, slots + (size_t)o->slot * SLOT_BYTES, o->len);
    if (o->slot >= 0)
        free_slots |= 1ull << o->slot;
    peers[o->peer].inflight--;
    struct waiter *w = o->owner;
    if (o->opcode != IBV_WR_ATOMIC_CMP_AND_SWP && o->opcode != IBV_WR_ATOMIC_FETCH_AND_ADD) {
        o->next_free = free_op; /* atomics are freed by their poster, after reading result */
        free_op = (int)wc->wr_id;
    }
    __atomic_fetch_add(&w->completed, 1, __ATOMIC_RELEASE);
}

/* Under the lock.  Returns how many completions it handled. */
static int poll_locked(void)
{
    struct ibv_wc wc[POLL_BATCH];
    int n = ibv_poll_cq(cq, POLL_BATCH, wc);
    if (n < 0)
        log_fatal(WHO, "ibv_poll_cq on %s failed (%d)", dev_desc, n);
    for (int i = 0; i < n; i++)
        finish(&wc[i]);
    return n;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* Rounds of polling that completed nothing.  The clock is read once per 1000 of them. */
struct stall {
    long idle;
    double since;
};

/* 1 once polling has completed nothing for STALL_SECONDS: a peer or the fabric is gone. */
static int stalled(struct stall *st, int completed)
{
    if (completed) {
        st->idle = 0;
        return 0;
    }
    if (++st->idle == 1000)
        st->since = now_s();
    return st->idle > 1000 && st->idle % 1000 == 0 && now_s() - st->since > STALL_SECONDS;
}

/* Polls (taking the lock each round, so other threads post meanwhile) until done() holds.
 * Bounded: a long silence is fatal. */
static void wait_until(int (*done)(const void *), const void *arg, const char *what)
{
    struct stall st = {0};
    while (!done(arg)) {
        pthread_mutex_lock(&lock);
        int n = poll_locked();
        pthread_mutex_unlock(&lock);
        if (stalled(&st, n))
            log_fatal(WHO, "no completion for %d s while waiting for %s on %s: a peer or the "
                      "fabric is gone", STALL_SECONDS, what, dev_desc);
        if (!n && st.idle > 64)
            sched_yield();
    }
}

static void waiter_release(void *p);
static void waiter_key_create(void)
{
    pthread_key_create(&waiter_key, waiter_release);
}

static struct waiter *waiter_self(void)
{
    if (!my_waiter) {
        my_waiter = calloc(1, sizeof *my_waiter);
        if (!my_waiter)
            log_fatal(WHO, "out of memory for a thread's completion counter");
        pthread_setspecific(waiter_key, my_waiter);
    }
    return my_waiter;
}

static int all_mine_done(const void *arg)
{
    const struct waiter *w = arg;
    return __atomic_load_n(&w->completed, __ATOMIC_ACQUIRE) == w->posted;
}

/* A thread that exits with operations in flight would leave their counter dangling. */
static void waiter_release(void *p)
{
    struct waiter *w = p;
    if (ops)
        wait_until(all_mine_done, w, "a finishing thread's operations");
    free(w);
}

/* --- posting ----------------------------------------------------------------------------- */

static int may_post(int peer, int want_slot)
{
    return free_op >= 0 && peers[peer].inflight < SQ_DEPTH && (!want_slot || free_slots);
}

/* Under the lock: an operation record (and a bounce slot when want_slot), polling for one. */
static struct vop *op_take(int peer, int want_slot, enum ibv_wr_opcode opcode)
{
    struct stall st = {0};
    while (!may_post(peer, want_slot)) {
        int n = poll_locked();
        if (stalled(&st, n))
            log_fatal(WHO, "no room to post %s to rank %d for %d s on %s: a peer or the "
                      "fabric is gone", opname(opcode), peer, STALL_SECONDS, dev_desc);
        if (!n) {
            pthread_mutex_unlock(&lock);
            sched_yield();
            pthread_mutex_lock(&lock);
        }
    }
    struct vop *o = &ops[free_op];
    free_op = o->next_free;
    o->slot = -1;
    if (want_slot) {
        o->slot = __builtin_ctzll(free_slots);
        free_slots &= ~(1ull << o->slot);
    }
    o->peer = peer;
    o->opcode = opcode;
    o->copy_to = NULL;
    o->owner = waiter_self();
    return o;
}

/* Under the lock. */
static void post(struct vop *o, struct ibv_send_wr *wr, struct ibv_sge *sge)
{
    struct ibv_send_wr *bad = NULL;
    wr->wr_id = (uint64_t)(o - ops);
    wr->sg_list = sge;
    wr->num_sge = 1;
    wr->opcode = o->opcode;
    wr->send_flags = IBV_SEND_SIGNALED;
    wr->next = NULL;
    o->len = sge->length;
    int rc = ibv_post_send(peers[o->peer].qp, wr, &bad);
    if (rc)
        log_fatal(WHO, "posting %s of %u bytes to rank %d failed: %s", opname(o->opcode),
                  sge->length, o->peer, strerror(rc));
    peers[o->peer].inflight++;
    o->owner->posted++;
}

/* The first operation to a peer connects to it (verbs_connect.h).  Not under the lock: the
 * rendezvous waits on the peer. */
static void connect_once(int rank)
{
    if (!__atomic_load_n(&peers[rank].ready, __ATOMIC_ACQUIRE))
        vc_connect(rank);
}

/* Under the lock, the peer connected: one READ or WRITE between local, with its lkey
 * (registered) or through a bounce slot (lkey 0, len at most a slot), and raddr under rkey
 * at rank. */
static void post_rdma_locked(enum ibv_wr_opcode opcode, char *local, uint32_t lkey, int rank,
                             uint64_t raddr, uint32_t rkey, size_t len)
{
    struct vop *o = op_take(rank, !lkey, opcode);
    struct ibv_sge sge = {.addr = (uintptr_t)local, .length = (uint32_t)len, .lkey = lkey};
    if (!lkey) {
        char *slot = slots + (size_t)o->slot * SLOT_BYTES;
        sge.addr = (uintptr_t)slot;
        sge.lkey = priv_mr->lkey;
        if (opcode == IBV_WR_RDMA_WRITE)
            memcpy(slot, local, len);
        else
            o->copy_to = local;
    }
    struct ibv_send_wr wr = {0};
    wr.wr.rdma.remote_addr = raddr;
    wr.wr.rdma.rkey = rkey;
    post(o, &wr, &sge);
}

static void post_rdma(enum ibv_wr_opcode opcode, char *local, uint32_t lkey, int rank,
                      uint64_t raddr, uint32_t rkey, size_t len)
{
    connect_once(rank);
    pthread_mutex_lock(&lock);
    post_rdma_locked(opcode, local, lkey, rank, raddr, rkey, len);
    pthread_mutex_unlock(&lock);
}

/* --- registrations: this rank's, and what it knows of its peers' -------------------------- */

/* The published table of rank r, as an address and key there (its metadata is registered
 * from the start, and every rank knows that registration). */
static void table_of(int r, uint64_t *addr, uint32_t *rkey)
{
    connect_once(r); /* the connection brings it */
    pthread_mutex_lock(&lock);
    const struct vkey *e = vkeys_find(&peers[r].keys, meta_off);
    if (e) {
        *addr = e->addr + (meta_off - e->off);
        *rkey = e->rkey;
    }
    pthread_mutex_unlock(&lock);
    if (!e)
        log_fatal(WHO, "rank %d's registration table is not known here (a gallocy bug)", r);
}

/* Reads the registrations rank r has published since this rank last looked, and keeps
 * them.  Two round trips; once per registration of the peer's that this rank needs. */
static void learn_keys(int r)
{
    uint64_t addr;
    uint32_t rkey;
    table_of(r, &addr, &rkey);
    pthread_mutex_lock(&keys_lock);
    uint64_t *count = (uint64_t *)(key_landing + VKEYS_MAX);
    post_rdma(IBV_WR_RDMA_READ, (char *)count, priv_mr->lkey, r, addr + VKEYS_COUNT_OFF, rkey,
              8);
    wait_until(all_mine_done, waiter_self(), "a peer's registration table");
    uint64_t n = __atomic_load_n(count, __ATOMIC_ACQUIRE), seen = peers[r].keys.seen;
    if (n > VKEYS_MAX)
        log_fatal(WHO, "rank %d's registration table says %llu entries, more than it holds "
                  "(%zu): its metadata is damaged", r, (unsigned long long)n, VKEYS_MAX);
    if (n > seen) {
        post_rdma(IBV_WR_RDMA_READ, (char *)key_landing, priv_mr->lkey, r,
                  addr + VKEYS_ENTRY_OFF + seen * sizeof(struct vkey), rkey,
                  (n - seen) * sizeof(struct vkey));
        wait_until(all_mine_done, waiter_self(), "a peer's registration table");
        pthread_mutex_lock(&lock);
        for (uint64_t i = 0; i < n - seen; i++)
            if (!vkeys_find(&peers[r].keys, key_landing[i].off) &&
                vkeys_insert(&peers[r].keys, &key_landing[i]))
                log_fatal(WHO, "out of memory for rank %d's registrations", r);
        peers[r].keys.seen = n;
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_unlock(&keys_lock);
}

/* Under the lock: the registration of rank's memory holding off, known here, copied to *k
 * (posting may let the lock go, and the list move): 1.  Else 0, with in *next where the
 * next registration known starts. */
static int key_locked(int rank, uint64_t off, struct vkey *k, uint64_t *next)
{
    const struct vkey *e = vkeys_find(&peers[rank].keys, off);
    if (e)
        *k = *e;
    else
        *next = vkeys_next(&peers[rank].keys, off);
    return e != NULL;
}

/* key_locked, learning the rank's newer registrations on a miss: 0 when it has not exposed
 * [off, *next). */
static int remote_key(int rank, uint64_t off, struct vkey *k, uint64_t *next)
{
    connect_once(rank);
    for (int tries = 0;; tries++) {
        pthread_mutex_lock(&lock);
        int found = key_locked(rank, off, k, next);
        pthread_mutex_unlock(&lock);
        if (found)
            return 1;
        if (tries || rank == me)
            return 0;
        learn_keys(rank);
    }
}

_Noreturn static void unexposed(enum ibv_wr_opcode op, int rank, uint64_t off, size_t len)
{
    log_fatal(WHO, "%s of %zu bytes at offset 0x%llx of rank %d's memory, which that rank has "
              "not handed out (no gallocy_malloc or gallocy_coalloc of its covers it)",
              opname(op), len, (unsigned long long)off, rank);
}

/* Under the lock: the lkey of [p, p+len) when it lies in one registration of this rank's,
 * else 0 (bounce it). */
static uint32_t local_key_locked(const void *p, size_t len)
{
    uintptr_t off = (uintptr_t)p - (uintptr_t)region_base;
    const struct vkey *e = vkeys_find(&peers[me].keys, off);
    if (e && (uintptr_t)p >= (uintptr_t)region_base && off - e->off + len <= e->len)
        return e->lkey;
    return 0;
}

/* --- data path ----------------------------------------------------------------------------- */

/* Each chunk's keys are looked up and the chunk posted under one taking of the lock. */
static void transfer(enum ibv_wr_opcode opcode, char *local, int rank, uint64_t off,
                     size_t len)
{
    uint32_t lkey = 0;
    int first = 1, learned = 0;
    connect_once(rank);
    while (len) {
        struct vkey k;
        uint64_t next = 0;
        size_t chunk = 0;
        pthread_mutex_lock(&lock);
        if (first)
            lkey = local_key_locked(local, len);
        first = 0;
        int found = key_locked(rank, off, &k, &next);
        if (found) {
            size_t max = lkey ? (size_t)1 << 30 : SLOT_BYTES;
            chunk = k.off + k.len - off;
            chunk = chunk < len ? chunk : len;
            chunk = chunk < max ? chunk : max;
            post_rdma_locked(opcode, local, lkey, rank, k.addr + (off - k.off), k.rkey, chunk);
        }
        pthread_mutex_unlock(&lock);
        if (!found && !learned && rank != me) { /* a registration not known here yet? */
            learn_keys(rank);
            learned = 1;
            continue;
        }
        if (!found && opcode != IBV_WR_RDMA_READ)
            unexposed(opcode, rank, off, len);
        if (!found) { /* never handed out: zeroes there too */
            chunk = next - off < len ? (size_t)(next - off) : len;
            memset(local, 0, chunk);
        }
        learned = 0;
        local += chunk;
        off += chunk;
        len -= chunk;
    }
}

static void verbs_get(void *dst, int rank, uint64_t off, size_t len)
{
    if (rank == me) {
        memcpy(dst, region_base + off, len);
        return;
    }
    transfer(IBV_WR_RDMA_READ, dst, rank, off, len);
}

static void verbs_put(int rank, uint64_t off, const void *src, size_t len)
{
    if (rank == me) {
        memcpy(region_base + off, src, len);
        return;
    }
    transfer(IBV_WR_RDMA_WRITE, (char *)src, rank, off, len);
}

static void verbs_flush(int rank)
{
    (void)rank; /* every operation of this thread: a superset, and one counter to wait on */
    if (my_waiter)
        wait_until(all_mine_done, my_waiter, "outstanding reads and writes");
}

static uint64_t atomic_op(enum ibv_wr_opcode opcode, int rank, uint64_t off, uint64_t a,
                          uint64_t b)
{
    struct vkey k;
    uint64_t next;
    if (!remote_key(rank, off, &k, &next) || off - k.off + 8 > k.len)
        unexposed(opcode, rank, off, 8);
    pthread_mutex_lock(&lock);
    struct vop *o = op_take(rank, 0, opcode);
    struct ibv_sge sge = {.addr = (uintptr_t)&o->result, .length = 8, .lkey = priv_mr->lkey};
    struct ibv_send_wr wr = {0};
    wr.wr.atomic.remote_addr = k.addr + (off - k.off);
    wr.wr.atomic.rkey = k.rkey;
    wr.wr.atomic.compare_add = a;
    wr.wr.atomic.swap = b;
    post(o, &wr, &sge);
    pthread_mutex_unlock(&lock);
    wait_until(all_mine_done, o->owner, opname(opcode)); /* with the thread's earlier ones */
    uint64_t v = __atomic_load_n(&o->result, __ATOMIC_ACQUIRE);
    pthread_mutex_lock(&lock);
    o->next_free = free_op;
    free_op = (int)(o - ops);
    pthread_mutex_unlock(&lock);
    return v;
}

static uint64_t verbs_fetch_add(int rank, uint64_t off, uint64_t v)
{
    return atomic_op(IBV_WR_ATOMIC_FETCH_AND_ADD, rank, off, v, 0);
}

static uint64_t verbs_compare_swap(int rank, uint64_t off, uint64_t expected, uint64_t desired)
{
    return atomic_op(IBV_WR_ATOMIC_CMP_AND_SWP, rank, off, expected, desired);
}

/* --- asynchronous events: the service thread looks while idle ---------------------------- */

static int peer_of_qp(const struct ibv_qp *qp)
{
    for (int i = 0; i < nranks; i++)
        if (qp && (peers[i].qp == qp || peers[i].spare == qp))
            return i;
    return -1;
}

/* Only asynchronous events to look at: no operation needs the target's help. */
enum { VERBS_IDLE_US = 20000 };

static int verbs_progress(void)
{
    struct ibv_async_event ev;
    if (ibv_get_async_event(ctx, &ev)) /* the fd is non-blocking: EAGAIN when none */
        return VERBS_IDLE_US;
    const char *name = ibv_event_type_str(ev.event_type);
    switch (ev.event_type) {
    case IBV_EVENT_QP_FATAL:
    case IBV_EVENT_QP_REQ_ERR:
    case IBV_EVENT_QP_ACCESS_ERR:
        log_fatal(WHO, "asynchronous event on the queue pair to rank %d: %s",
                  peer_of_qp(ev.element.qp), name);
    case IBV_EVENT_CQ_ERR:
    case IBV_EVENT_DEVICE_FATAL:
    case IBV_EVENT_PORT_ERR:
        log_fatal(WHO, "asynchronous event on %s: %s", dev_desc, name);
    default:
        log_verbose(1, "%s: %s", dev_desc, name);
    }
    ibv_ack_async_event(&ev);
    return VERBS_IDLE_US;
}

/* --- registering: what other ranks may address ------------------------------------------- */

static int privileged; /* CAP_IPC_LOCK: RLIMIT_MEMLOCK does not apply */
/* The ranks of this node, which may all pin at once: each may take its share of what is
 * free (an over-cautious refusal beats the OOM killer, which ends the job unannounced). */
static int node_ranks = 1;

/* Whether more bytes may be pinned, every rank of this node pinning as much at once: 0, or
 * -1 with the numbers and the fix in why. */
static int pin_check(size_t more, char *why, size_t len)
{
    struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
    getrlimit(RLIMIT_MEMLOCK, &rl);
    unsigned long long avail = vm_memory_available();
    switch (vm_pin_verdict(more, pinned_bytes, rl.rlim_cur, privileged, avail, node_ranks)) {
    case VM_PIN_MEMLOCK:
        snprintf(why, len, "registering %zu MiB more for RDMA (%zu MiB in all on rank %d) "
                 "needs locked memory, but RLIMIT_MEMLOCK is %llu KiB: raise it (`ulimit -l "
                 "unlimited`, or a memlock line in /etc/security/limits.conf)",
                 (more + (1 << 20) - 1) >> 20, (pinned_bytes + more + (1 << 20) - 1) >> 20, me,
                 (unsigned long long)rl.rlim_cur >> 10);
        return -1;
    case VM_PIN_MEMORY:
        snprintf(why, len, "registering %zu MiB more for RDMA on each of this node's %d ranks "
                 "would pin more memory than the node has free (%llu MiB available, %llu MiB "
                 "kept for the system); pinned memory cannot be reclaimed: allocate less, or "
                 "run fewer ranks per node", (more + (1 << 20) - 1) >> 20, node_ranks,
                 avail >> 20, VM_NODE_RESERVE >> 20);
        return -1;
    default:
        return 0;
    }
}

/* Under expose_lock (or alone, at init): registers [off, off+len) of the region and keeps it
 * in this rank's own list; published in the table when publish.  0, or -1 with why. */
static int register_range(uint64_t off, size_t len, int publish, char *why, size_t whylen)
{
    uint64_t *count = (uint64_t *)(region_base + meta_off + VKEYS_COUNT_OFF);
    struct vkey *table = (struct vkey *)(region_base + meta_off + VKEYS_ENTRY_OFF);
    uint64_t c = publish ? *count : 0;
    if (c >= VKEYS_MAX) {
        snprintf(why, whylen, "rank %d has registered %llu stretches of its memory for RDMA, "
                 "the most its table holds: make fewer, larger gallocy_coalloc calls", me,
                 (unsigned long long)c);
        return -1;
    }
    if (pin_check(len, why, whylen))
        return -1;
    if (nmrs == mrs_cap) {
        size_t cap = mrs_cap ? 2 * mrs_cap : 16;
        struct ibv_mr **n = realloc(mrs, cap * sizeof *n);
        if (!n) {
            snprintf(why, whylen, "out of memory for rank %d's registrations", me);
            return -1;
        }
        mrs = n;
        mrs_cap = cap;
    }
    const int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
                       IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC;
    struct ibv_mr *mr = ibv_reg_mr(pd, region_base + off, len, access);
    if (!mr) {
        snprintf(why, whylen, "registering %zu MiB of rank %d's memory with %s failed: %s "
                 "(%zu MiB registered already)", len >> 20, me, dev_desc, strerror(errno),
                 pinned_bytes >> 20);
        return -1;
    }
    struct vkey e = {.off = off, .len = len, .addr = (uintptr_t)mr->addr, .rkey = mr->rkey,
                     .lkey = mr->lkey};
    pthread_mutex_lock(&lock);
    int rc = vkeys_insert(&peers[me].keys, &e);
    pthread_mutex_unlock(&lock);
    if (rc) {
        ibv_dereg_mr(mr);
        snprintf(why, whylen, "out of memory for rank %d's registrations", me);
        return -1;
    }
    mrs[nmrs++] = mr;
    pinned_bytes += len;
    stats_add(bytes_registered, len);
    if (publish) { /* the entry, then the count that covers it: readers read the count first */
        table[c] = e;
        __atomic_store_n(count, c + 1, __ATOMIC_RELEASE);
    }
    return 0;
}

static int verbs_expose(uint64_t off, size_t len, char *why, size_t whylen)
{
    const struct tp_range *r = NULL;
    for (int i = 0; i < TP_MAX_RANGES && !r; i++)
        if (on_demand[i].len && off >= on_demand[i].off &&
            off - on_demand[i].off + len <= on_demand[i].len)
            r = &on_demand[i];
    if (!r)
        log_fatal(WHO, "exposing %zu bytes at offset 0x%llx: not in an on-demand range (a "
                  "gallocy bug)", len, (unsigned long long)off);
    uint64_t a = off / EXPOSE_GRANULE * EXPOSE_GRANULE;
    uint64_t b = (off + len + EXPOSE_GRANULE - 1) / EXPOSE_GRANULE * EXPOSE_GRANULE;
    a = a > r->off ? a : r->off;
    b = b < r->off + r->len ? b : r->off + r->len;
    int rc = 0;
    uint64_t g0, g1;
    pthread_mutex_lock(&expose_lock); /* this rank's list changes only under it */
    while (rc == 0 && vkeys_gap(&peers[me].keys, a, b, &g0, &g1)) {
        rc = register_range(g0, g1 - g0, 1, why, whylen);
        a = g1;
    }
    pthread_mutex_unlock(&expose_lock);
    return rc;
}

static int verbs_pinned(uint64_t off, size_t len)
{
    pthread_mutex_lock(&lock);
    int pinned = vkeys_find(&peers[me].keys, off) || vkeys_next(&peers[me].keys, off) < off + len;
    pthread_mutex_unlock(&lock);
    return pinned;
}

/* --- set-up and teardown ----------------------------------------------------------------- */

static void verbs_fini(void)
{
    vc_stop(); /* no queue pair arrives from here on */
    if (peers)
        for (int i = 0; i < nranks; i++) {
            if (peers[i].qp)
                ibv_destroy_qp(peers[i].qp);
            if (peers[i].spare)
                ibv_destroy_qp(peers[i].spare);
            vkeys_free(&peers[i].keys);
        }
    free(peers);
    peers = NULL;
    for (size_t i = 0; i < nmrs; i++)
        ibv_dereg_mr(mrs[i]);
    free(mrs);
    mrs = NULL;
    nmrs = mrs_cap = 0;
    stats_sub(bytes_registered, pinned_bytes);
    pinned_bytes = 0;
    if (priv_mr)
        ibv_dereg_mr(priv_mr);
    priv_mr = NULL;
    if (ops)
        munmap(ops, priv_bytes);
    ops = NULL;
    if (cq)
        ibv_destroy_cq(cq);
    cq = NULL;
    if (pd)
        ibv_dealloc_pd(pd);
    pd = NULL;
    if (ctx)
        ibv_close_device(ctx);
    ctx = NULL;
}

static const struct tp_ops verbs_ops = {
    .name = "verbs",
    .get = verbs_get,
    .put = verbs_put,
    .flush = verbs_flush,
    .fetch_add = verbs_fetch_add,
    .compare_swap = verbs_compare_swap,
    .progress = verbs_progress,
    .expose = verbs_expose,
    .pinned = verbs_pinned,
    .fini = verbs_fini,
};

/* From the connection thread: a queue pair to rank is ready; what it told includes where
 * its metadata is registered. */
static void peer_connected(int rank, struct ibv_qp *qp, const struct vc_card *theirs)
{
    struct vkey meta = {.off = eager_range.off, .len = eager_range.len,
                        .addr = theirs->meta_addr, .rkey = theirs->meta_rkey};
    pthread_mutex_lock(&lock);
    struct peer *p = &peers[rank];
    if (!vkeys_find(&p->keys, meta.off) && vkeys_insert(&p->keys, &meta))
        log_fatal(WHO, "out of memory for rank %d's registrations", rank);
    if (!p->qp) {
        p->qp = qp;
        __atomic_store_n(&p->ready, 1, __ATOMIC_RELEASE);
        stats_inc(connections);
    } else {
        p->spare = qp;
    }
    pthread_mutex_unlock(&lock);
}

/* The local half, on the device tp_verbs_open opened: the registrations made at once (the
 * range not on demand, and the private block), the completion queue and the loopback queue
 * pair; then the listener for connections (collective).  0, or -1 with why. */
static int setup_local(const struct tp_range *ranges, int nranges, char *why, size_t len)
{
    const struct ibv_port_attr pa = port_attr;
    struct ibv_device_attr da;
    if (ibv_query_device(ctx, &da)) {
        snprintf(why, len, "ibv_query_device(%s): %s", dev_desc, strerror(errno));
        return -1;
    }
    if (da.atomic_cap == IBV_ATOMIC_NONE) {
        snprintf(why, len, "%s has no RDMA atomics", dev_desc);
        return -1;
    }
    struct verbs_endpoint ep;
    int gid_index = 0;
    if (verbs_port_endpoint(ctx, (int)opt.ib_port, &pa, opt.ib_gid_index, dev_desc, &ep,
                            &gid_index, link_desc, sizeof link_desc, why, len))
        return -1;
    int rd_atomic = da.max_qp_rd_atom < 16 ? da.max_qp_rd_atom : 16;
    rd_atomic = rd_atomic < 1 ? 1 : rd_atomic;
    int depth = SQ_DEPTH < da.max_qp_wr ? SQ_DEPTH : da.max_qp_wr;

    size_t records = (sizeof(struct vop) * NOPS + 4095) / 4096 * 4096;
    size_t landing = ((VKEYS_MAX + 1) * sizeof(struct vkey) + 4095) / 4096 * 4096;
    priv_bytes = records + landing + (size_t)NSLOTS * SLOT_BYTES;
    if (pin_check(priv_bytes + eager_range.len, why, len))
        return -1;
    pd = ibv_alloc_pd(ctx);
    void *blk = mmap(NULL, priv_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!pd || blk == MAP_FAILED) {
        snprintf(why, len, "out of memory for %s's protection domain or bounce buffers", dev_desc);
        return -1;
    }
    madvise(blk, priv_bytes, MADV_DONTFORK);
    ops = blk;
    key_landing = (struct vkey *)((char *)blk + records);
    slots = (char *)blk + records + landing;
    priv_mr = ibv_reg_mr(pd, blk, priv_bytes, IBV_ACCESS_LOCAL_WRITE);
    if (!priv_mr) {
        snprintf(why, len, "registering bounce buffers with %s failed: %s", dev_desc,
                 strerror(errno));
        return -1;
    }
    pinned_bytes += priv_bytes;
    stats_add(bytes_registered, priv_bytes);
    if (register_range(eager_range.off, eager_range.len, 0, why, len))
        return -1;
    for (int i = 0; i < NOPS; i++)
        ops[i].next_free = i + 1 < NOPS ? i + 1 : -1;
    free_op = 0;
    free_slots = NSLOTS == 64 ? ~0ull : (1ull << NSLOTS) - 1;
    /* Every operation is signalled and holds a record: NOPS completions at most. */
    cq = ibv_create_cq(ctx, NOPS < da.max_cqe ? NOPS : da.max_cqe, NULL, NULL, 0);
    struct verbs_endpoint self = ep;
    struct ibv_qp *loop = cq ? verbs_qp_create(pd, cq, (int)opt.ib_port, depth) : NULL;
    if (loop) {
        self.qpn = loop->qp_num;
        self.psn = (uint32_t)me * 7919u & 0xffffff;
    }
    if (!loop || verbs_qp_connect(loop, (int)opt.ib_port, &self, &self, gid_index, rd_atomic)) {
        snprintf(why, len, "creating the loopback queue pair on %s failed: %s", dev_desc,
                 strerror(errno));
        return -1;
    }
    peers[me].qp = loop;
    peers[me].ready = 1;
    (void)nranges;
    (void)ranges;
    const struct vkey *m = vkeys_find(&peers[me].keys, eager_range.off);
    struct vc_config vc = {.ctx = ctx, .pd = pd, .cq = cq, .port = (int)opt.ib_port,
                           .depth = depth, .gid_index = gid_index, .rd_atomic = rd_atomic,
                           .ep = ep, .meta_rkey = m->rkey, .meta_addr = m->addr,
                           .desc = dev_desc, .connected = peer_connected};
    connect_config = vc;
    return 0;
}

int tp_verbs_open(const char *device, char *why, size_t len)
{
    if (!ctx)
        ctx = verbs_device_open(*opt.ib_device ? opt.ib_device : device, *opt.ib_device != 0,
                                (int)opt.ib_port, &port_attr, dev_desc, sizeof dev_desc, why,
                                len);
    if (ctx)
        snprintf(why, len, "%s is active", dev_desc);
    return ctx != NULL;
}

void tp_verbs_close(void)
{
    verbs_fini();
}

int tp_verbs_create(const struct tp_config *c, const struct tp_ops **out)
{
    void *base = c->base;
    const struct tp_range *ranges = c->ranges;
    int nranges = c->nranges;
    uint64_t meta = c->meta_off;
    me = rt_rank();
    nranks = rt_size();
    region_base = base;
    meta_off = meta;
    privileged = vm_privileged();
    if (nranges > TP_MAX_RANGES)
        log_fatal(WHO, "%d ranges to register, at most %d", nranges, TP_MAX_RANGES);
    int neager = 0;
    memset(on_demand, 0, sizeof on_demand);
    for (int i = 0; i < nranges; i++) {
        if (ranges[i].on_demand) {
            on_demand[i] = ranges[i];
        } else {
            eager_range = ranges[i];
            neager++;
        }
    }
    /* The peers learn of the one range registered at once when they connect. */
    if (neager != 1 || meta < eager_range.off ||
        meta + TP_META_BYTES > eager_range.off + eager_range.len)
        log_fatal(WHO, "one range not on demand, holding the transport's metadata, is needed "
                  "(%d given; a gallocy bug)", neager);
    pthread_once(&waiter_once, waiter_key_create);
    int leader;
    node_ranks = rt_node_ranks(&leader); /* collective */
    char why[400] = "";
    peers = calloc((size_t)nranks, sizeof *peers);
    int ok = peers != NULL;
    if (!ctx)
        snprintf(why, sizeof why, "no device was opened (tp_verbs_open)");
    else if (!ok)
        snprintf(why, sizeof why, "out of memory for %d peers", nranks);
    ok = ok && ctx && setup_local(ranges, nranges, why, sizeof why) == 0;
    if (!ok)
        log_error("gallocy_init", "the verbs transport cannot start: %s", why);
    ok = (int)rt_allreduce_min(ok);
    if (ok && vc_start(&connect_config, why, sizeof why) != 0) { /* collective */
        if (me == 0)
            log_error("gallocy_init", "the verbs transport cannot start: %s", why);
        ok = 0;
    }
    if (!ok) {
        verbs_fini();
        return -GALLOCY_ERR_TRANSPORT;
    }
    fcntl(ctx->async_fd, F_SETFL, fcntl(ctx->async_fd, F_GETFL) | O_NONBLOCK);
    if (me == 0)
        log_verbose(1, "verbs: %s, %s, queue pairs made when first needed (rdma_cm at %s); "
                    "%zu KiB registered at init", dev_desc, link_desc, vc_address(),
                    pinned_bytes >> 10);
    *out = &verbs_ops;
    return 0;
}

const struct tp_backend tp_verbs_backend = {
    .name = "verbs",
    .summary = "libibverbs RC queue pairs, RDMA READ/WRITE and atomics",
    .priority = 20, /* the network's own one-sided operations, no target help */
    .probe = tp_verbs_open,
    .unprobe = tp_verbs_close,
    .create = tp_verbs_create,
};

/* For tests: makes every later operation to rank use a wrong remote key. */
void tp_verbs_corrupt_rkey(int rank)
{
    connect_once(rank);
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < peers[rank].keys.n; i++)
        peers[rank].keys.e[i].rkey ^= 0x5a5a5a;
    pthread_mutex_unlock(&lock);
}
