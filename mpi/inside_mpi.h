/* inside_mpi: whether a thread that a fault interrupted was inside MPI, so that the fault
 * handler knows if it may call MPI itself (transport_mpi's signal_safe).
 *
 * MPI is not async-signal-safe: a handler that calls it while the interrupted code is inside
 * MPI, holding one of its locks, waits for itself.  An access to global memory is a plain
 * load or store, so it is inside MPI only when MPI itself touches global memory: a copy of a
 * buffer gallocy's layer did not make ready (a call it does not interpose, or a user
 * function MPI calls back, such as a reduction operator, that touches global memory), or
 * gallocy's own transport.  Two tests, either of which says "inside":
 *  - a depth per thread, kept around every MPI call gallocy makes (its transport) or
 *    interposes (interpose.h);
 *  - the faulting instruction lies in the code of the MPI library or one it loaded (Open
 *    MPI's libraries and components, PMIx, UCX, libfabric, MPICH), whatever called it.
 * What neither sees: a user callback that touches global memory from inside an MPI call
 * gallocy does not interpose (an attribute copy function in MPI_Comm_dup), copying with a
 * libc routine.  Open MPI holds none of its locks there; other MPIs may: the uffd way
 * (the default) never calls MPI from a handler. */
#ifndef GALLOCY_INSIDE_MPI_H
#define GALLOCY_INSIDE_MPI_H

extern __thread int inside_mpi_depth __attribute__((tls_model("initial-exec")));

#define INSIDE_MPI_ENTER() (inside_mpi_depth++)
#define INSIDE_MPI_LEAVE() (inside_mpi_depth--)

/* Records where the MPI libraries' code lies (after MPI_Init: its components are loaded). */
void inside_mpi_learn(void);
/* From a signal handler: 1 when this thread is inside MPI, or pc is in MPI's code. */
int inside_mpi(const void *pc);

#endif
