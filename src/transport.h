/* transport: one-sided access to every rank's registered region, addressed as
 * (rank, byte offset in that rank's region).  One backend per file: transport_mpi.c (MPI-3
 * passive-target RMA).  get and put are non-blocking: buffers may be reused, and data is in
 * place at the target or origin, only after flush.  Atomics are blocking.  Every call may be
 * made from any thread except the fault handler.  Failures are fatal and named (log_fatal). */
#ifndef GALLOCY_TRANSPORT_H
#define GALLOCY_TRANSPORT_H
#include <stddef.h>
#include <stdint.h>

#define TP_ALL_RANKS (-1)

struct tp_ops {
    const char *name;
    void (*get)(void *dst, int rank, uint64_t off, size_t len);
    void (*put)(int rank, uint64_t off, const void *src, size_t len);
    void (*flush)(int rank); /* a rank, or TP_ALL_RANKS */
    uint64_t (*fetch_add)(int rank, uint64_t off, uint64_t v);
    uint64_t (*compare_swap)(int rank, uint64_t off, uint64_t expected, uint64_t desired);
    /* Lets the backend serve operations that need the target's help; called when idle. */
    void (*progress)(void);
    void (*fini)(void); /* collective */
};

extern const struct tp_ops *tp;

/* Collective: exposes [base, base+size) of every rank; chooses the backend named by
 * GALLOCY_TRANSPORT and checks at start-up that the operations gallocy relies on work.
 * Returns 0 or a negative code after a message. */
int tp_init(void *base, size_t size);
void tp_fini(void);
/* Collective: checks every operation against a neighbour; 0 or -GALLOCY_ERR_TRANSPORT. */
int tp_selftest(void);

/* Backends. */
int tp_mpi_create(void *base, size_t size, const struct tp_ops **out);

#endif
