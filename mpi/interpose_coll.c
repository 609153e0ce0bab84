/* interpose_coll: collectives on global memory (see interpose.h).  One function per
 * collective says which buffers this rank's MPI reads and writes (by root, MPI_IN_PLACE and
 * intercommunicator roles); the blocking call and its nonblocking twin both use it. */
#include "interpose.h"
#include "lifecycle.h"

/* This rank in a rooted collective: the root, another member, or (intercommunicator, root
 * MPI_PROC_NULL) not taking part. */
enum role { ROLE_NONE, ROLE_ROOT, ROLE_OTHER };

static enum role role_of(MPI_Comm comm, int root)
{
    if (ip_is_inter(comm))
        return root == MPI_ROOT ? ROLE_ROOT : root == MPI_PROC_NULL ? ROLE_NONE : ROLE_OTHER;
    return ip_is_root(comm, root) ? ROLE_ROOT : ROLE_OTHER;
}

static int on(void)
{
    return lifecycle_is_up();
}

static int my_rank(MPI_Comm comm)
{
    int r = 0;
    PMPI_Comm_rank(comm, &r);
    return r;
}

/* The blocking call holds the pins for its duration, the nonblocking one hands them to its
 * request. */
#define BLOCKING(pins, call) IP_BLOCKING(on(), pins, call)
#define NONBLOCKING(pins, call, req) IP_NONBLOCKING(on(), pins, call, req)

/* --- which buffers each collective touches ----------------------------------------------- */

static void bcast_pins(struct ip_pins *p, void *buf, int count, MPI_Datatype dt, int root,
                       MPI_Comm comm)
{
    enum role r = role_of(comm, root);
    if (r != ROLE_NONE)
        ip_buf(p, buf, count, dt, r == ROLE_ROOT ? IP_READ : IP_WRITE);
}

/* Reduce, and (root_is_all) the rootless reductions where every rank receives. */
static void reduce_pins(struct ip_pins *p, const void *sbuf, void *rbuf, int count,
                        MPI_Datatype dt, enum role r, int inter)
{
    if (r == ROLE_NONE)
        return;
    if (sbuf == MPI_IN_PLACE) { /* the result overwrites the contribution */
        ip_buf(p, rbuf, count, dt, IP_WRITE);
        return;
    }
    if (r == ROLE_OTHER || !inter)
        ip_buf(p, sbuf, count, dt, IP_READ);
    if (r == ROLE_ROOT)
        ip_buf(p, rbuf, count, dt, IP_WRITE);
}

static void gather_pins(struct ip_pins *p, const void *sbuf, int scount, MPI_Datatype stype,
                        void *rbuf, const int *rcounts, const int *displs, int rcount,
                        MPI_Datatype rtype, int root, MPI_Comm comm)
{
    enum role r = role_of(comm, root);
    int inter = ip_is_inter(comm);
    if (r == ROLE_OTHER || (r == ROLE_ROOT && !inter && sbuf != MPI_IN_PLACE))
        ip_buf(p, sbuf, scount, stype, IP_READ);
    if (r != ROLE_ROOT)
        return;
    int n = ip_comm_peers(comm);
    if (rcounts)
        ip_bufv(p, rbuf, rcounts, displs, n, rtype, IP_WRITE);
    else
        ip_buf(p, rbuf, (MPI_Count)rcount * n, rtype, IP_WRITE);
}

static void scatter_pins(struct ip_pins *p, const void *sbuf, const int *scounts,
                         const int *displs, int scount, MPI_Datatype stype, void *rbuf,
                         int rcount, MPI_Datatype rtype, int root, MPI_Comm comm)
{
    enum role r = role_of(comm, root);
    int inter = ip_is_inter(comm);
    if (r == ROLE_ROOT) {
        int n = ip_comm_peers(comm);
        if (scounts)
            ip_bufv(p, sbuf, scounts, displs, n, stype, IP_READ);
        else
            ip_buf(p, sbuf, (MPI_Count)scount * n, stype, IP_READ);
    }
    if (r == ROLE_OTHER || (r == ROLE_ROOT && !inter && rbuf != MPI_IN_PLACE))
        ip_buf(p, rbuf, rcount, rtype, IP_WRITE);
}

/* Allgather(v) and Alltoall(v): every rank sends and receives; MPI_IN_PLACE makes the
 * receive buffer the source too. */
static void all_pins(struct ip_pins *p, const void *sbuf, const int *scounts, const int *sdispls,
                     MPI_Count scount, MPI_Datatype stype, void *rbuf, const int *rcounts,
                     const int *rdispls, MPI_Count rcount, MPI_Datatype rtype, MPI_Comm comm)
{
    int n = ip_comm_peers(comm);
    if (sbuf != MPI_IN_PLACE) {
        if (scounts)
            ip_bufv(p, sbuf, scounts, sdispls, n, stype, IP_READ);
        else
            ip_buf(p, sbuf, scount, stype, IP_READ);
    }
    if (rcounts)
        ip_bufv(p, rbuf, rcounts, rdispls, n, rtype, IP_WRITE);
    else
        ip_buf(p, rbuf, rcount * n, rtype, IP_WRITE);
}

static void alltoallw_pins(struct ip_pins *p, const void *sbuf, const int *scounts,
                           const int *sdispls, const MPI_Datatype *stypes, void *rbuf,
                           const int *rcounts, const int *rdispls, const MPI_Datatype *rtypes,
                           MPI_Comm comm)
{
    int n = ip_comm_peers(comm);
    if (sbuf != MPI_IN_PLACE)
        ip_bufw(p, sbuf, scounts, sdispls, n, stypes, IP_READ);
    ip_bufw(p, rbuf, rcounts, rdispls, n, rtypes, IP_WRITE);
}

/* rcounts: the share of each rank of the (local) group, or rcount each. */
static void reduce_scatter_pins(struct ip_pins *p, const void *sbuf, void *rbuf,
                                const int *rcounts, int rcount, MPI_Datatype dt, MPI_Comm comm)
{
    int n = 0;
    PMPI_Comm_size(comm, &n);
    MPI_Count total = (MPI_Count)rcount * n, mine = rcount;
    if (rcounts) {
        total = 0;
        for (int i = 0; i < n; i++)
            total += rcounts[i];
        mine = rcounts[my_rank(comm)];
    }
    if (sbuf == MPI_IN_PLACE) {
        ip_buf(p, rbuf, total, dt, IP_WRITE);
        return;
    }
    ip_buf(p, sbuf, total, dt, IP_READ);
    ip_buf(p, rbuf, mine, dt, IP_WRITE);
}

/* --- the calls --------------------------------------------------------------------------- */

int MPI_Bcast(void *buf, int count, MPI_Datatype dt, int root, MPI_Comm comm)
{
    BLOCKING(bcast_pins(&p_, buf, count, dt, root, comm),
             PMPI_Bcast(buf, count, dt, root, comm));
}

int MPI_Ibcast(void *buf, int count, MPI_Datatype dt, int root, MPI_Comm comm, MPI_Request *req)
{
    NONBLOCKING(bcast_pins(&p_, buf, count, dt, root, comm),
                PMPI_Ibcast(buf, count, dt, root, comm, req), req);
}

int MPI_Reduce(const void *sbuf, void *rbuf, int count, MPI_Datatype dt, MPI_Op op, int root,
               MPI_Comm comm)
{
    BLOCKING(reduce_pins(&p_, sbuf, rbuf, count, dt, role_of(comm, root), ip_is_inter(comm)),
             PMPI_Reduce(sbuf, rbuf, count, dt, op, root, comm));
}

int MPI_Ireduce(const void *sbuf, void *rbuf, int count, MPI_Datatype dt, MPI_Op op, int root,
                MPI_Comm comm, MPI_Request *req)
{
    NONBLOCKING(reduce_pins(&p_, sbuf, rbuf, count, dt, role_of(comm, root), ip_is_inter(comm)),
                PMPI_Ireduce(sbuf, rbuf, count, dt, op, root, comm, req), req);
}

/* Every rank contributes and receives: the root's part of reduce_pins, on all ranks. */
#define EVERYONE(sbuf, rbuf, count, dt) reduce_pins(&p_, sbuf, rbuf, count, dt, ROLE_ROOT, 0)

int MPI_Allreduce(const void *sbuf, void *rbuf, int count, MPI_Datatype dt, MPI_Op op,
                  MPI_Comm comm)
{
    BLOCKING(EVERYONE(sbuf, rbuf, count, dt), PMPI_Allreduce(sbuf, rbuf, count, dt, op, comm));
}

int MPI_Iallreduce(const void *sbuf, void *rbuf, int count, MPI_Datatype dt, MPI_Op op,
                   MPI_Comm comm, MPI_Request *req)
{
    NONBLOCKING(EVERYONE(sbuf, rbuf, count, dt),
                PMPI_Iallreduce(sbuf, rbuf, count, dt, op, comm, req), req);
}

int MPI_Scan(const void *sbuf, void *rbuf, int count, MPI_Datatype dt, MPI_Op op, MPI_Comm comm)
{
    BLOCKING(EVERYONE(sbuf, rbuf, count, dt), PMPI_Scan(sbuf, rbuf, count, dt, op, comm));
}

int MPI_Iscan(const void *sbuf, void *rbuf, int count, MPI_Datatype dt, MPI_Op op,
              MPI_Comm comm, MPI_Request *req)
{
    NONBLOCKING(EVERYONE(sbuf, rbuf, count, dt),
                PMPI_Iscan(sbuf, rbuf, count, dt, op, comm, req), req);
}

int MPI_Exscan(const void *sbuf, void *rbuf, int count, MPI_Datatype dt, MPI_Op op,
               MPI_Comm comm)
{
    BLOCKING(EVERYONE(sbuf, rbuf, count, dt), PMPI_Exscan(sbuf, rbuf, count, dt, op, comm));
}

int MPI_Iexscan(const void *sbuf, void *rbuf, int count, MPI_Datatype dt, MPI_Op op,
                MPI_Comm comm, MPI_Request *req)
{
    NONBLOCKING(EVERYONE(sbuf, rbuf, count, dt),
                PMPI_Iexscan(sbuf, rbuf, count, dt, op, comm, req), req);
}

int MPI_Reduce_local(const void *in, void *inout, int count, MPI_Datatype dt, MPI_Op op)
{
    BLOCKING(EVERYONE(in, inout, count, dt), PMPI_Reduce_local(in, inout, count, dt, op));
}

int MPI_Gather(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount,
               MPI_Datatype rtype, int root, MPI_Comm comm)
{
    BLOCKING(gather_pins(&p_, sbuf, scount, stype, rbuf, NULL, NULL, rcount, rtype, root, comm),
             PMPI_Gather(sbuf, scount, stype, rbuf, rcount, rtype, root, comm));
}

int MPI_Igather(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount,
                MPI_Datatype rtype, int root, MPI_Comm comm, MPI_Request *req)
{
    NONBLOCKING(gather_pins(&p_, sbuf, scount, stype, rbuf, NULL, NULL, rcount, rtype, root,
                            comm),
                PMPI_Igather(sbuf, scount, stype, rbuf, rcount, rtype, root, comm, req), req);
}

int MPI_Gatherv(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf,
                const int rcounts[], const int displs[], MPI_Datatype rtype, int root,
                MPI_Comm comm)
{
    BLOCKING(gather_pins(&p_, sbuf, scount, stype, rbuf, rcounts, displs, 0, rtype, root, comm),
             PMPI_Gatherv(sbuf, scount, stype, rbuf, rcounts, displs, rtype, root, comm));
}

int MPI_Igatherv(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf,
                 const int rcounts[], const int displs[], MPI_Datatype rtype, int root,
                 MPI_Comm comm, MPI_Request *req)
{
    NONBLOCKING(gather_pins(&p_, sbuf, scount, stype, rbuf, rcounts, displs, 0, rtype, root,
                            comm),
                PMPI_Igatherv(sbuf, scount, stype, rbuf, rcounts, displs, rtype, root, comm,
                              req), req);
}

int MPI_Scatter(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount,
                MPI_Datatype rtype, int root, MPI_Comm comm)
{
    BLOCKING(scatter_pins(&p_, sbuf, NULL, NULL, scount, stype, rbuf, rcount, rtype, root,
                          comm),
             PMPI_Scatter(sbuf, scount, stype, rbuf, rcount, rtype, root, comm));
}

int MPI_Iscatter(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount,
                 MPI_Datatype rtype, int root, MPI_Comm comm, MPI_Request *req)
{
    NONBLOCKING(scatter_pins(&p_, sbuf, NULL, NULL, scount, stype, rbuf, rcount, rtype, root,
                             comm),
                PMPI_Iscatter(sbuf, scount, stype, rbuf, rcount, rtype, root, comm, req), req);
}

int MPI_Scatterv(const void *sbuf, const int scounts[], const int displs[], MPI_Datatype stype,
                 void *rbuf, int rcount, MPI_Datatype rtype, int root, MPI_Comm comm)
{
    BLOCKING(scatter_pins(&p_, sbuf, scounts, displs, 0, stype, rbuf, rcount, rtype, root,
                          comm),
             PMPI_Scatterv(sbuf, scounts, displs, stype, rbuf, rcount, rtype, root, comm));
}

int MPI_Iscatterv(const void *sbuf, const int scounts[], const int displs[],
                  MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype, int root,
                  MPI_Comm comm, MPI_Request *req)
{
    NONBLOCKING(scatter_pins(&p_, sbuf, scounts, displs, 0, stype, rbuf, rcount, rtype, root,
                             comm),
                PMPI_Iscatterv(sbuf, scounts, displs, stype, rbuf, rcount, rtype, root, comm,
                               req), req);
}

int MPI_Allgather(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount,
                  MPI_Datatype rtype, MPI_Comm comm)
{
    BLOCKING(all_pins(&p_, sbuf, NULL, NULL, scount, stype, rbuf, NULL, NULL, rcount, rtype,
                      comm),
             PMPI_Allgather(sbuf, scount, stype, rbuf, rcount, rtype, comm));
}

int MPI_Iallgather(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount,
                   MPI_Datatype rtype, MPI_Comm comm, MPI_Request *req)
{
    NONBLOCKING(all_pins(&p_, sbuf, NULL, NULL, scount, stype, rbuf, NULL, NULL, rcount, rtype,
                         comm),
                PMPI_Iallgather(sbuf, scount, stype, rbuf, rcount, rtype, comm, req), req);
}

int MPI_Allgatherv(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf,
                   const int rcounts[], const int displs[], MPI_Datatype rtype, MPI_Comm comm)
{
    BLOCKING(all_pins(&p_, sbuf, NULL, NULL, scount, stype, rbuf, rcounts, displs, 0, rtype,
                      comm),
             PMPI_Allgatherv(sbuf, scount, stype, rbuf, rcounts, displs, rtype, comm));
}

int MPI_Iallgatherv(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf,
                    const int rcounts[], const int displs[], MPI_Datatype rtype, MPI_Comm comm,
                    MPI_Request *req)
{
    NONBLOCKING(all_pins(&p_, sbuf, NULL, NULL, scount, stype, rbuf, rcounts, displs, 0, rtype,
                         comm),
                PMPI_Iallgatherv(sbuf, scount, stype, rbuf, rcounts, displs, rtype, comm, req),
                req);
}

int MPI_Alltoall(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount,
                 MPI_Datatype rtype, MPI_Comm comm)
{
    BLOCKING(all_pins(&p_, sbuf, NULL, NULL, (MPI_Count)scount * ip_comm_peers(comm), stype,
                      rbuf, NULL, NULL, rcount, rtype, comm),
             PMPI_Alltoall(sbuf, scount, stype, rbuf, rcount, rtype, comm));
}

int MPI_Ialltoall(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount,
                  MPI_Datatype rtype, MPI_Comm comm, MPI_Request *req)
{
    NONBLOCKING(all_pins(&p_, sbuf, NULL, NULL, (MPI_Count)scount * ip_comm_peers(comm), stype,
                         rbuf, NULL, NULL, rcount, rtype, comm),
                PMPI_Ialltoall(sbuf, scount, stype, rbuf, rcount, rtype, comm, req), req);
}

int MPI_Alltoallv(const void *sbuf, const int scounts[], const int sdispls[],
                  MPI_Datatype stype, void *rbuf, const int rcounts[], const int rdispls[],
                  MPI_Datatype rtype, MPI_Comm comm)
{
    BLOCKING(all_pins(&p_, sbuf, scounts, sdispls, 0, stype, rbuf, rcounts, rdispls, 0, rtype,
                      comm),
             PMPI_Alltoallv(sbuf, scounts, sdispls, stype, rbuf, rcounts, rdispls, rtype, comm));
}

int MPI_Ialltoallv(const void *sbuf, const int scounts[], const int sdispls[],
                   MPI_Datatype stype, void *rbuf, const int rcounts[], const int rdispls[],
                   MPI_Datatype rtype, MPI_Comm comm, MPI_Request *req)
{
    NONBLOCKING(all_pins(&p_, sbuf, scounts, sdispls, 0, stype, rbuf, rcounts, rdispls, 0,
                         rtype, comm),
                PMPI_Ialltoallv(sbuf, scounts, sdispls, stype, rbuf, rcounts, rdispls, rtype,
                                comm, req), req);
}

int MPI_Alltoallw(const void *sbuf, const int scounts[], const int sdispls[],
                  const MPI_Datatype stypes[], void *rbuf, const int rcounts[],
                  const int rdispls[], const MPI_Datatype rtypes[], MPI_Comm comm)
{
    BLOCKING(alltoallw_pins(&p_, sbuf, scounts, sdispls, stypes, rbuf, rcounts, rdispls, rtypes,
                            comm),
             PMPI_Alltoallw(sbuf, scounts, sdispls, stypes, rbuf, rcounts, rdispls, rtypes,
                            comm));
}

int MPI_Ialltoallw(const void *sbuf, const int scounts[], const int sdispls[],
                   const MPI_Datatype stypes[], void *rbuf, const int rcounts[],
                   const int rdispls[], const MPI_Datatype rtypes[], MPI_Comm comm,
                   MPI_Request *req)
{
    NONBLOCKING(alltoallw_pins(&p_, sbuf, scounts, sdispls, stypes, rbuf, rcounts, rdispls,
                               rtypes, comm),
                PMPI_Ialltoallw(sbuf, scounts, sdispls, stypes, rbuf, rcounts, rdispls, rtypes,
                                comm, req), req);
}

int MPI_Reduce_scatter(const void *sbuf, void *rbuf, const int rcounts[], MPI_Datatype dt,
                       MPI_Op op, MPI_Comm comm)
{
    BLOCKING(reduce_scatter_pins(&p_, sbuf, rbuf, rcounts, 0, dt, comm),
             PMPI_Reduce_scatter(sbuf, rbuf, rcounts, dt, op, comm));
}

int MPI_Ireduce_scatter(const void *sbuf, void *rbuf, const int rcounts[], MPI_Datatype dt,
                        MPI_Op op, MPI_Comm comm, MPI_Request *req)
{
    NONBLOCKING(reduce_scatter_pins(&p_, sbuf, rbuf, rcounts, 0, dt, comm),
                PMPI_Ireduce_scatter(sbuf, rbuf, rcounts, dt, op, comm, req), req);
}

int MPI_Reduce_scatter_block(const void *sbuf, void *rbuf, int rcount, MPI_Datatype dt,
                             MPI_Op op, MPI_Comm comm)
{
    BLOCKING(reduce_scatter_pins(&p_, sbuf, rbuf, NULL, rcount, dt, comm),
             PMPI_Reduce_scatter_block(sbuf, rbuf, rcount, dt, op, comm));
}

int MPI_Ireduce_scatter_block(const void *sbuf, void *rbuf, int rcount, MPI_Datatype dt,
                              MPI_Op op, MPI_Comm comm, MPI_Request *req)
{
    NONBLOCKING(reduce_scatter_pins(&p_, sbuf, rbuf, NULL, rcount, dt, comm),
                PMPI_Ireduce_scatter_block(sbuf, rbuf, rcount, dt, op, comm, req), req);
}
