/* interpose: gallocy's MPI layer, through the MPI profiling interface.  libgallocy defines
 * MPI_Send and the other calls that move data; each makes the global part of its buffers
 * ready (present here, writable where MPI writes: pin.h) and pinned, calls PMPI_Send, and
 * drops the pins when the operation is complete: at return for a blocking call, at the
 * MPI_Wait or MPI_Test that completes a request, at the window synchronisation that
 * completes a one-sided operation.  So MPI's copies, in whatever thread its progress runs
 * (gallocy's service thread too) and by whatever means (the kernel's single-copy transfers
 * between processes), never meet a page that would fault.
 *
 * One file per family: interpose_p2p.c, interpose_coll.c, interpose_rma.c, interpose_io.c;
 * interpose_req.c holds the requests' pins and the completion calls.  gallocy's own MPI
 * traffic calls PMPI_ directly and never comes here. */
#ifndef GALLOCY_INTERPOSE_H
#define GALLOCY_INTERPOSE_H
#include <mpi.h>
#include <stddef.h>

#include "inside_mpi.h"
#include "pin.h"

/* The buffers of one call: send, receive, compare, result. */
enum { IP_MAX_BUFS = 4 };
struct ip_pins {
    int n;
    struct pin_span s[IP_MAX_BUFS];
};
#define IP_PINS_NONE {0, {{0, 0, 0}}}

enum { IP_READ = 0, IP_WRITE = 1 };

/* Adds count elements of dt at buf (MPI's reading of it, or writing with IP_WRITE), made
 * ready and pinned, to p.  Nothing for MPI_IN_PLACE, MPI_BOTTOM with no count, or memory that
 * is not global. */
void ip_buf(struct ip_pins *p, const void *buf, MPI_Count count, MPI_Datatype dt, int write);
/* The v collectives: counts[i] elements at displs[i] elements from buf, i < n. */
void ip_bufv(struct ip_pins *p, const void *buf, const int *counts, const int *displs, int n,
             MPI_Datatype dt, int write);
/* Alltoallw: displacements in bytes, a type each. */
void ip_bufw(struct ip_pins *p, const void *buf, const int *counts, const int *displs, int n,
             const MPI_Datatype *dts, int write);
/* A span of bytes. */
void ip_bytes(struct ip_pins *p, const void *lo, size_t len, int write);
void ip_drop(struct ip_pins *p);

/* The body of an interposed call: when `when` holds, `pins` (statements filling the pins p_)
 * makes its global buffers ready, then `call` runs, inside MPI for the fault handler
 * (inside_mpi.h: a user operator it calls back may touch other global memory).  A blocking
 * call holds the pins for its duration; a nonblocking one hands them to the request it
 * makes. */
#define IP_BLOCKING(when, pins, call)                                                         \
    do {                                                                                      \
        struct ip_pins p_ = IP_PINS_NONE;                                                     \
        if (when)                                                                             \
            pins;                                                                             \
        INSIDE_MPI_ENTER();                                                                   \
        int rc_ = call;                                                                       \
        INSIDE_MPI_LEAVE();                                                                   \
        ip_drop(&p_);                                                                         \
        return rc_;                                                                           \
    } while (0)
#define IP_NONBLOCKING(when, pins, call, req)                                                 \
    do {                                                                                      \
        struct ip_pins p_ = IP_PINS_NONE;                                                     \
        if (when)                                                                             \
            pins;                                                                             \
        INSIDE_MPI_ENTER();                                                                   \
        int rc_ = call;                                                                       \
        INSIDE_MPI_LEAVE();                                                                   \
        ip_hand_to_request(&p_, rc_, req);                                                    \
        return rc_;                                                                           \
    } while (0)
/* The same for a call with one buffer (read by MPI, or written when write). */
#define IP_BLOCKING_1(call, buf, count, dt, write)                                            \
    IP_BLOCKING(1, ip_buf(&p_, buf, count, dt, write), call)
#define IP_NONBLOCKING_1(call, buf, count, dt, write, req)                                    \
    IP_NONBLOCKING(1, ip_buf(&p_, buf, count, dt, write), call, req)

/* After a nonblocking call (rc its result): the request keeps the pins until it
 * completes; they are dropped now if the call failed. */
void ip_hand_to_request(struct ip_pins *p, int rc, const MPI_Request *req);
/* A persistent request: [lo, lo+len) is made ready and pinned at each MPI_Start. */
void ip_persistent(int rc, const MPI_Request *req, const void *buf, MPI_Count count,
                   MPI_Datatype dt, int write);
/* Before MPI_Start(all): pins what persistent requests need. */
void ip_start(int n, const MPI_Request *reqs);

/* Window registry (interpose_rma.c): pins of operations to target (MPI_PROC_NULL for the
 * window's own memory), dropped at the synchronisation that completes them. */
void ip_win_keep(MPI_Win win, int target, struct ip_pins *p);
/* Drops the pins of operations to target (-1: every target). */
void ip_win_complete(MPI_Win win, int target);

/* Communicator facts the collectives need. */
int ip_comm_peers(MPI_Comm comm); /* ranks this one exchanges with (the remote group's size) */
int ip_is_root(MPI_Comm comm, int root);
int ip_is_inter(MPI_Comm comm);

#endif
