/*
 * gallocy.h - one heap shared by all ranks of an MPI job.
 *
 * Memory allocated by any rank is reachable from every rank through the same plain pointer.
 * Pages homed on other ranks are fetched on first access and written back (as byte-exact
 * diffs) at release points.  Coherence is lazy release consistency: a program whose conflicting
 * accesses are ordered by gallocy_barrier, gallocy_lock/unlock or gallocy_release/acquire pairs
 * (a data-race-free program) sees sequential consistency.
 *
 * Conventions
 *  - MPI must be initialised with MPI_Init_thread(..., MPI_THREAD_MULTIPLE, ...) before
 *    gallocy_init: gallocy runs a service thread that performs MPI one-sided operations.
 *  - Calls returning int give 0 (or a documented value) on success and a negative errno-style
 *    code on failure; gallocy_strerror() names it.  Allocation failure returns NULL with
 *    errno = ENOMEM.
 *  - Misuse the library can detect (a call before gallocy_init, a double free, freeing a pointer
 *    gallocy did not allocate) prints one line naming the call and the rank and aborts the job.
 *  - "Collective" means every rank of the communicator given to gallocy_init calls it, in the
 *    same order, with the same arguments.
 */
#ifndef GALLOCY_H
#define GALLOCY_H

#include <mpi.h>

#include "gallocy_api.h" /* every other call, the types and the error codes */

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/*
 * gallocy_init - collective over comm.  MPI must already be initialised with
 * MPI_THREAD_MULTIPLE.  Reserves the global range at the same address on every rank, creates
 * this rank's home segment and the transport, and starts the service thread.
 * Returns 0; -GALLOCY_ERR_THREAD_LEVEL, -EBUSY (already initialised), -ENOMEM (heap larger than
 * this machine can back, see GALLOCY_HEAP_SIZE), -GALLOCY_ERR_ADDRESS_SPACE,
 * -GALLOCY_ERR_TRANSPORT, -EINVAL (a bad GALLOCY_* variable; comm MPI_COMM_NULL or an
 * inter-communicator).  On failure nothing is left allocated and gallocy_init may be called
 * again.  Call from one thread.
 */
int gallocy_init(MPI_Comm comm);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* GALLOCY_H */
