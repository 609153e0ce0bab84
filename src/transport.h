/* transport: one-sided access to every rank's registered region, addressed as
 * (rank, byte offset in that rank's region).  One backend per file, all in transport/:
 * transport_verbs.c (libibverbs RC queue pairs) and transport_mpi.c (MPI-3 passive-target
 * RMA), under the node layer (transport_node.c) for ranks whose memory this rank maps.  get and put
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
 * word), at the same offset on every rank: tp_config's meta_off. */
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
     * thread (fault.c, coherence_lrc.c).  NULL, or 0: the handler hands the transfer to the
     * service thread. */
    int (*signal_safe)(const void *pc);
    void (*fini)(void); /* collective */
};

extern const struct tp_ops *tp;

/* What a backend is given when it is created: the same on every rank. */
struct tp_config {
    void *base; /* the region of [base, base+size) that other ranks address, in ranges */
    size_t size;
    const struct tp_range *ranges; /* the ranges not on demand are addressable at once */
    int nranges;
    uint64_t meta_off; /* the backend's TP_META_BYTES, in a range not on demand */
};

/* A backend, as the registry (transport.c) knows it: one per transport_*.c. */
struct tp_backend {
    const char *name;    /* its GALLOCY_TRANSPORT value */
    const char *summary; /* what it is built on, in a line (gallocy-info) */
    int priority;        /* auto takes, of those every rank can use, the highest */
    /* Local, no communication: 1 when this process can use it (and why, what it found, or
     * nothing), else 0 and why not.  It may keep what it opened for create.  device: the
     * RDMA device preferred ("" for none). */
    int (*probe)(const char *device, char *why, size_t len);
    /* Lets go what probe kept, when the job takes another backend.  NULL: nothing kept. */
    void (*unprobe)(void);
    /* Collective, after a probe that every rank passed: 0 and *out, or a negative code after
     * a message. */
    int (*create)(const struct tp_config *c, const struct tp_ops **out);
};

/* The backends this build has, the highest priority first: *n of them. */
const struct tp_backend *const *tp_backends(int *n);
/* GALLOCY_TRANSPORT's value as a number the ranks can compare: 0 for auto, 1 + the backend's
 * place in tp_backends, -1 when it names none of this build's. */
int tp_choice(const char *name);
const char *tp_choice_name(int choice);
/* "auto, verbs or mpi": the values GALLOCY_TRANSPORT may take in this build. */
const char *tp_choices(void);
/* Collective: the backend GALLOCY_TRANSPORT names, or (auto) the highest-priority one that
 * every rank can use, created over cfg (device: the RDMA device preferred, "" for none;
 * GALLOCY_IB_DEVICE, when set, is used instead, and must exist), under the node layer.
 * Returns 0 or a negative code after a message. */
int tp_init(const struct tp_config *cfg, const char *device);
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

/* The backends of this build, in any order: the registry's entries (transport/backends.c
 * lists the library's; a program linked with the core but not the library, such as the
 * tests without MPI, lists its own). */
extern const struct tp_backend *const tp_built_in[];
extern const int tp_built_in_count;
enum { TP_MAX_BACKENDS = 8 }; /* a list's length, checked where it is written */
/* Backends. */
extern const struct tp_backend tp_verbs_backend, tp_mpi_backend, tp_loopback_backend;
/* The verbs backend's parts, for its tests: probe (opens the device and keeps it: 1 when it
 * is present with an active port, else 0 and why), unprobe, create. */
int tp_verbs_open(const char *device, char *why, size_t len);
void tp_verbs_close(void);
int tp_verbs_create(const struct tp_config *c, const struct tp_ops **out);
/* The node layer (transport_node.c) over backend b, when this rank maps the memory of other
 * ranks (node.h); else b itself. */
const struct tp_ops *tp_node_layer(const struct tp_ops *b);
/* Tests only: later operations to rank use a wrong remote key. */
void tp_verbs_corrupt_rkey(int rank);

#endif
