/* runtime_mpi: the MPI bootstrap behind runtime.h. */
#ifndef GALLOCY_RUNTIME_MPI_H
#define GALLOCY_RUNTIME_MPI_H
#include <mpi.h>

int rt_mpi_setup(MPI_Comm comm); /* dups comm: gallocy's traffic never meets the user's */
void rt_mpi_teardown(void);
MPI_Comm rt_mpi_comm(void);

#endif
