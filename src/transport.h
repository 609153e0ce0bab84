/* transport: one-sided access to every rank's registered region, addressed as
 * (rank, byte offset in that rank's region).  One backend per file: transport_verbs.c
 * (libibverbs RC queue pairs) and transport_mpi.c (MPI-3 passive-target RMA).  get and put
 * are non-blocking: buffers may be reused, and data is in place at the target or origin,
 * only after flush.  Atomics are blocking.  Every call may be
 * made from any thread except the fault handler.  Failures are fatal and named (log_fatal). */
#ifndef GALLOCY_TRANSPORT_H
#define GALLOCY_TRANSPORT_H
#include <stddef.h>
#include <stdint.h>

#define TP_ALL_RANKS (-1)
#define TP_MAX_RANGES 4

/* A stretch of the region that other ranks address: [off, off+len) from its base. */
struct tp_range {
    size_t off, len;
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
    void (*fini)(void); /* collective */
};

extern const struct tp_ops *tp;

/* Collective: exposes the ranges of [base, base+size) that other ranks address (a backend
 * that registers memory registers those, once); chooses the backend named by
 * GALLOCY_TRANSPORT (auto: verbs when every rank has a usable RDMA device, else MPI), and
 * checks at start-up that the operations gallocy relies on work.  device: the RDMA device
 * preferred ("" for none): GALLOCY_IB_DEVICE, when set, is used instead, and must exist.
 * Returns 0 or a negative code after a message. */
int tp_init(void *base, size_t size, const struct tp_range *ranges, int nranges,
            const char *device);
/* Whether memory in the exposed ranges is pinned (registered): it cannot be given back to
 * the system while the transport runs. */
extern int tp_pinned;
void tp_fini(void);
/* Collective: checks every operation against a neighbour; 0 or -GALLOCY_ERR_TRANSPORT. */
int tp_selftest(void);

/* Backends. */
/* wake_off: a u64 in every rank's region that other ranks write to wake its progress. */
int tp_mpi_create(void *base, size_t size, uint64_t wake_off, const struct tp_ops **out);
/* Opens the device (GALLOCY_IB_DEVICE, else device, else the first) and keeps it for
 * tp_verbs_create: 1 when it is present with an active port; else 0 and why.  tp_verbs_close
 * lets it go when the job takes another transport. */
int tp_verbs_open(const char *device, char *why, size_t len);
void tp_verbs_close(void);
/* Collective, after tp_verbs_open: registers the ranges (the caller keeps them out of forked
 * children, MADV_DONTFORK) and connects every rank. */
int tp_verbs_create(void *base, const struct tp_range *ranges, int nranges,
                    const struct tp_ops **out);
/* The RLIMIT_MEMLOCK verdict: registering need bytes under limit, with CAP_IPC_LOCK or not. */
int tp_verbs_memlock_ok(size_t need, unsigned long long limit, int privileged);
/* Tests only: later operations to rank use a wrong remote key. */
void tp_verbs_corrupt_rkey(int rank);

#endif
