/* runtime: the bootstrap gallocy needs from the job launcher (rank, size, collectives, abort).
 * One implementation per launcher: runtime_mpi.c. */
#ifndef GALLOCY_RUNTIME_H
#define GALLOCY_RUNTIME_H
#include <stddef.h>

int rt_rank(void);
int rt_size(void);
void rt_barrier(void);
void rt_bcast(void *buf, size_t len, int root);
/* out receives len bytes from every rank, rank order. */
void rt_allgather(const void *in, void *out, size_t len);
/* in holds len bytes for each rank in rank order; out receives len bytes from each. */
void rt_alltoall(const void *in, void *out, size_t len);
long rt_allreduce_max(long v);
long rt_allreduce_min(long v);
/* words[i] becomes the bitwise OR of every rank's words[i] (the same result on every rank). */
void rt_allreduce_or(unsigned long *words, size_t n);
/* How many ranks share this rank's node (its shared memory), and in *leader the lowest of
 * them.  Collective the first time after set-up; later calls give the same answer, locally. */
int rt_node_ranks(int *leader);
/* This process's rank as the launcher numbers it (MPI_COMM_WORLD's), usable before set-up, so
 * that a message before gallocy_init names the rank too; -1 when the launcher has not
 * started. */
int rt_launcher_rank(void);
/* Ends the whole job (every rank) with this exit code; usable before init and from any thread. */
_Noreturn void rt_abort(int code);

#endif
