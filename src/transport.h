/* transport: one-sided access to every rank's registered region, addressed as
 * (rank, byte offset in that rank's region).  One backend per file: transport_verbs.c
 * (libibverbs RC queue pairs) and transport_mpi.c (MPI-3 passive-target RMA), under the node
 * layer (transport_node.c) for ranks whose memory this rank maps.  get and put
 * are non-blocking: buffers may be reused, and data is in place at the target or origin,
 * only after flush.  Atomics are blocking.  Every call may be made from any thread; from the
 * fault handler (a signal handler) only get and flush, and only when signal_safe says so.
 * Failures are fatal and named (log_fatal). */
#ifndef GALLOCY_TRANSPORT_H
#define GALLOCY_TRANSPORT_H
#include <stddef.h>
#include <stdint.h>

#define TP_ALL_RANKS (-1)
#define TP_MAX_RANGES 4
/* Bytes of every rank's registered metadata that belong to the backend (its keys, its wake
 * word), at the same offset on every rank: the meta_off given to tp_init. */
#define TP_META_BYTES ((size_t)64 << 10)

/* A stretch of the region that other ranks address: [off, off+len) from its base.  An
 * on-demand range is addressable only in the parts exposed (tp_expose), as its memory is
 * handed out, so that a backend that registers memory pins only what is used. */
struct tp_range {
    size_t off, len;
    int on_demand;
};

struct tp_ops {
    const char *name;
    void (*get)(void *dst, int rank, uint64_t off, size_t len);
    void (*put)(int rank, uint64_t off, const void *src, size_t len);
    void (*flush)(int rank); /* a rank, or TP_ALL_RANKS */
    uint64_t (*fetch_add)(int rank, uint64_t off, uint64_t v);
    uint64_t (*compare_swap)(int rank, uint64_t off, uint64_t expected, uint64_t desired);
    /* Serves what needs this rank's help (other ranks' atomics; on some networks their gets
     * and puts too).  Called by the idle service thread, it returns how long, in us, that
     * thread may sleep before calling it again (0: do not sleep, only yield). */
    int (*progress)(void);
    /* 1: progress is a cheap poll, worth calling on each spin after a fetch as well (mpi);
     * 0: once per idle tick (verbs: it is a system call). */
    int poll_while_spinning;
    /* 1: other ranks' atomics on this rank's words complete only when this rank drives
     * progress (its service thread, mpi): a thread waiting on one of its own words (a lock
     * homed here) yields at once, so that the waiters' polls and the holder's unlock get
     * through, rather than spin. */
    int atomics_need_target;
    /* Makes [off, off+len) of an on-demand range addressable by the other ranks; what is
     * exposed stays so.  0, or -1 with why (the numbers and the fix).  NULL: everything is
     * addressable from the start. */
    int (*expose)(uint64_t off, size_t len, char *why, size_t whylen);
    /* Whether any of [off, off+len) is pinned: its memory cannot go back to the system.
     * NULL: nothing is. */
    int (*pinned)(uint64_t off, size_t len);
    /* From a signal handler that interrupted this thread at pc, on an access to global
     * memory: 1 when get and flush may be called there and then, because the thread is inside
     * neither this backend nor the runtime under it (so it holds none of their locks), and the
     * backend's data path needs no allocation.  Then a fault costs no hand-off to the service
     * thread (fault.c).  NULL, or 0: the handler hands the transfer to the service thread. */
    int (*signal_safe)(const void *pc);
    void (*fini)(void); /* collective */
};

extern const struct tp_ops *tp;

/* GALLOCY_TRANSPORT's values, in the order tp_choice numbers them. */
enum { TP_CHOICE_AUTO, TP_CHOICE_VERBS, TP_CHOICE_MPI };
/* The number of a GALLOCY_TRANSPORT value (the same on every rank that agrees), or -1 when it
 * is not one of auto, verbs, mpi. */
int tp_choice(const char *name);
const char *tp_choice_name(int choice);
/* Collective: chooses the backend named by GALLOCY_TRANSPORT (auto: verbs when every rank
 * has a usable RDMA device, else MPI) over the ranges of [base, base+size) that other ranks
 * address (the same on every rank; the ranges not on demand are addressable at once);
 * meta_off: the backend's TP_META_BYTES, in a range not on demand.  device: the RDMA device
 * preferred ("" for none): GALLOCY_IB_DEVICE, when set, is used instead, and must exist.
 * Returns 0 or a negative code after a message. */
int tp_init(void *base, size_t size, const struct tp_range *ranges, int nranges,
            size_t meta_off, const char *device);
/* tp->expose for the call named: 0, or -ENOMEM after a message naming call (none when call
 * is NULL). */
int tp_expose(size_t off, size_t len, const char *call);
/* tp->pinned, or 0 before init. */
int tp_is_pinned(size_t off, size_t len);
void tp_fini(void);
/* Collective: checks every operation against a neighbour; 0 or -GALLOCY_ERR_TRANSPORT.
 * off: 3 zeroed u64 at that offset of every rank's region, which it zeroes again after;
 * scratch: this rank's own, as it reads them. */
int tp_selftest(volatile uint64_t *scratch, uint64_t off);

/* Backends. */
/* meta_off: the backend's metadata (its wake word, which other ranks write to wake its
 * progress). */
int tp_mpi_create(void *base, size_t size, uint64_t meta_off, const struct tp_ops **out);
/* Opens the device (GALLOCY_IB_DEVICE, else device, else the first) and keeps it for
 * tp_verbs_create: 1 when it is present with an active port; else 0 and why.  tp_verbs_close
 * lets it go when the job takes another transport. */
int tp_verbs_open(const char *device, char *why, size_t len);
void tp_verbs_close(void);
/* Collective, after tp_verbs_open: registers the range not on demand (one, holding meta_off;
 * the caller keeps the ranges out of forked children, MADV_DONTFORK) and listens for
 * connections; a peer is connected when first addressed. */
int tp_verbs_create(void *base, const struct tp_range *ranges, int nranges, uint64_t meta_off,
                    const struct tp_ops **out);
/* The node layer (transport_node.c) over backend b, when this rank maps the memory of other
 * ranks (node.h); else b itself. */
const struct tp_ops *tp_node_layer(const struct tp_ops *b);
/* Tests only: later operations to rank use a wrong remote key. */
void tp_verbs_corrupt_rkey(int rank);

#endif
