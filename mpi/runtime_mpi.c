/* runtime_mpi: rank, size and collectives on a private duplicate of the user's communicator.
 * The duplicate returns errors (MPI_ERRORS_RETURN) so that a failed collective ends the job
 * with a line naming it, rather than MPI's default handler or an answer never written. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "inside_mpi.h"
#include "runtime.h"
#include "runtime_mpi.h"

static MPI_Comm comm = MPI_COMM_NULL;
static int rank = -1, size;
static int node_size, node_leader; /* 0: not asked yet since setup */

int rt_mpi_setup(MPI_Comm user)
{
    if (PMPI_Comm_dup(user, &comm) != MPI_SUCCESS)
        return -1;
    PMPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN); /* failures get gallocy's message */
    PMPI_Comm_rank(comm, &rank);
    PMPI_Comm_size(comm, &size);
    return 0;
}

void rt_mpi_teardown(void)
{
    if (comm != MPI_COMM_NULL)
        PMPI_Comm_free(&comm);
    comm = MPI_COMM_NULL;
    rank = -1;
    size = node_size = 0;
}

MPI_Comm rt_mpi_comm(void)
{
    return comm;
}

int rt_rank(void)
{
    return rank;
}

int rt_size(void)
{
    return size;
}

/* A collective's result: MPI_SUCCESS goes on; anything else ends the job, named.  (log.c
 * calls rt_abort, so the line is written here rather than through log_fatal.) */
static void check(int rc, const char *what)
{
    if (rc == MPI_SUCCESS)
        return;
    char err[MPI_MAX_ERROR_STRING] = "", line[MPI_MAX_ERROR_STRING + 256];
    int len = 0;
    PMPI_Error_string(rc, err, &len);
    int n = snprintf(line, sizeof line, "gallocy: rank %d: gallocy (MPI bootstrap): %s on "
                     "gallocy's communicator failed: %s; a rank may have died\n", rank, what,
                     err);
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line);
        (void)w;
    }
    rt_abort(1);
}

/* A collective of gallocy's, inside MPI for the fault handler (inside_mpi.h). */
#define COLLECTIVE(what, call)                                                                \
    do {                                                                                      \
        INSIDE_MPI_ENTER();                                                                   \
        int rc_ = (call);                                                                     \
        INSIDE_MPI_LEAVE();                                                                   \
        check(rc_, what);                                                                     \
    } while (0)

void rt_barrier(void)
{
    COLLECTIVE("MPI_Barrier", PMPI_Barrier(comm));
}

void rt_bcast(void *buf, size_t len, int root)
{
    COLLECTIVE("MPI_Bcast", PMPI_Bcast(buf, (int)len, MPI_BYTE, root, comm));
}

void rt_allgather(const void *in, void *out, size_t len)
{
    COLLECTIVE("MPI_Allgather",
               PMPI_Allgather(in, (int)len, MPI_BYTE, out, (int)len, MPI_BYTE, comm));
}

void rt_alltoall(const void *in, void *out, size_t len)
{
    COLLECTIVE("MPI_Alltoall",
               PMPI_Alltoall(in, (int)len, MPI_BYTE, out, (int)len, MPI_BYTE, comm));
}

long rt_allreduce_max(long v)
{
    long r;
    COLLECTIVE("MPI_Allreduce", PMPI_Allreduce(&v, &r, 1, MPI_LONG, MPI_MAX, comm));
    return r;
}

long rt_allreduce_min(long v)
{
    long r;
    COLLECTIVE("MPI_Allreduce", PMPI_Allreduce(&v, &r, 1, MPI_LONG, MPI_MIN, comm));
    return r;
}

void rt_allreduce_or(unsigned long *words, size_t n)
{
    COLLECTIVE("MPI_Allreduce", PMPI_Allreduce(MPI_IN_PLACE, words, (int)n, MPI_UNSIGNED_LONG,
                                               MPI_BOR, comm));
}

int rt_node_ranks(int *leader)
{
    MPI_Comm node;
    if (node_size) { /* asked before: the answer does not change while comm lives */
        *leader = node_leader;
        return node_size;
    }
    node_size = 1; /* alone, as far as gallocy knows, unless MPI says otherwise */
    node_leader = rank;
    if (PMPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node) ==
        MPI_SUCCESS) {
        if (PMPI_Allreduce(&rank, &node_leader, 1, MPI_INT, MPI_MIN, node) != MPI_SUCCESS ||
            PMPI_Comm_size(node, &node_size) != MPI_SUCCESS) {
            node_leader = rank;
            node_size = 1;
        }
        PMPI_Comm_free(&node);
    }
    *leader = node_leader;
    return node_size;
}

int rt_launcher_rank(void)
{
    int init = 0, fini = 0, r = -1;
    PMPI_Initialized(&init);
    PMPI_Finalized(&fini);
    if (init && !fini)
        PMPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

_Noreturn void rt_abort(int code)
{
    int init = 0, fini = 0;
    PMPI_Initialized(&init);
    PMPI_Finalized(&fini);
    if (init && !fini)
        PMPI_Abort(comm != MPI_COMM_NULL ? comm : MPI_COMM_WORLD, code);
    abort();
}
