/* interpose_p2p: point-to-point calls on global memory (see interpose.h).  Send buffers are
 * made readable, receive buffers writable (fetched first where absent: MPI may fill only
 * part of a page). */
#include "interpose.h"

/* A persistent request: made ready at each MPI_Start. */
#define PERSISTENT_1(call, buf, count, dt, write, req)                                        \
    do {                                                                                      \
        int rc_ = call;                                                                       \
        ip_persistent(rc_, req, buf, count, dt, write);                                       \
        return rc_;                                                                           \
    } while (0)

int MPI_Send(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm)
{
    IP_BLOCKING_1(PMPI_Send(buf, count, dt, dest, tag, comm), buf, count, dt, IP_READ);
}

int MPI_Ssend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm)
{
    IP_BLOCKING_1(PMPI_Ssend(buf, count, dt, dest, tag, comm), buf, count, dt, IP_READ);
}

int MPI_Bsend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm)
{
    IP_BLOCKING_1(PMPI_Bsend(buf, count, dt, dest, tag, comm), buf, count, dt, IP_READ);
}

int MPI_Rsend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm)
{
    IP_BLOCKING_1(PMPI_Rsend(buf, count, dt, dest, tag, comm), buf, count, dt, IP_READ);
}

int MPI_Recv(void *buf, int count, MPI_Datatype dt, int src, int tag, MPI_Comm comm,
             MPI_Status *st)
{
    IP_BLOCKING_1(PMPI_Recv(buf, count, dt, src, tag, comm, st), buf, count, dt, IP_WRITE);
}

int MPI_Mrecv(void *buf, int count, MPI_Datatype dt, MPI_Message *msg, MPI_Status *st)
{
    IP_BLOCKING_1(PMPI_Mrecv(buf, count, dt, msg, st), buf, count, dt, IP_WRITE);
}

int MPI_Isend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm,
              MPI_Request *req)
{
    IP_NONBLOCKING_1(PMPI_Isend(buf, count, dt, dest, tag, comm, req), buf, count, dt, IP_READ,
                     req);
}

int MPI_Issend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm,
               MPI_Request *req)
{
    IP_NONBLOCKING_1(PMPI_Issend(buf, count, dt, dest, tag, comm, req), buf, count, dt, IP_READ,
                     req);
}

int MPI_Ibsend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm,
               MPI_Request *req)
{
    IP_NONBLOCKING_1(PMPI_Ibsend(buf, count, dt, dest, tag, comm, req), buf, count, dt, IP_READ,
                     req);
}

int MPI_Irsend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm,
               MPI_Request *req)
{
    IP_NONBLOCKING_1(PMPI_Irsend(buf, count, dt, dest, tag, comm, req), buf, count, dt, IP_READ,
                     req);
}

int MPI_Irecv(void *buf, int count, MPI_Datatype dt, int src, int tag, MPI_Comm comm,
              MPI_Request *req)
{
    IP_NONBLOCKING_1(PMPI_Irecv(buf, count, dt, src, tag, comm, req), buf, count, dt, IP_WRITE,
                     req);
}

int MPI_Imrecv(void *buf, int count, MPI_Datatype dt, MPI_Message *msg, MPI_Request *req)
{
    IP_NONBLOCKING_1(PMPI_Imrecv(buf, count, dt, msg, req), buf, count, dt, IP_WRITE, req);
}

int MPI_Sendrecv(const void *sbuf, int scount, MPI_Datatype stype, int dest, int stag,
                 void *rbuf, int rcount, MPI_Datatype rtype, int src, int rtag, MPI_Comm comm,
                 MPI_Status *st)
{
    struct ip_pins p = IP_PINS_NONE;
    ip_buf(&p, sbuf, scount, stype, IP_READ);
    ip_buf(&p, rbuf, rcount, rtype, IP_WRITE);
    int rc = PMPI_Sendrecv(sbuf, scount, stype, dest, stag, rbuf, rcount, rtype, src, rtag,
                           comm, st);
    ip_drop(&p);
    return rc;
}

int MPI_Sendrecv_replace(void *buf, int count, MPI_Datatype dt, int dest, int stag, int src,
                         int rtag, MPI_Comm comm, MPI_Status *st)
{
    IP_BLOCKING_1(PMPI_Sendrecv_replace(buf, count, dt, dest, stag, src, rtag, comm, st), buf,
               count, dt, IP_WRITE);
}

int MPI_Send_init(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
                  MPI_Comm comm, MPI_Request *req)
{
    PERSISTENT_1(PMPI_Send_init(buf, count, dt, dest, tag, comm, req), buf, count, dt, IP_READ,
                 req);
}

int MPI_Ssend_init(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
                   MPI_Comm comm, MPI_Request *req)
{
    PERSISTENT_1(PMPI_Ssend_init(buf, count, dt, dest, tag, comm, req), buf, count, dt,
                 IP_READ, req);
}

int MPI_Bsend_init(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
                   MPI_Comm comm, MPI_Request *req)
{
    PERSISTENT_1(PMPI_Bsend_init(buf, count, dt, dest, tag, comm, req), buf, count, dt,
                 IP_READ, req);
}

int MPI_Rsend_init(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
                   MPI_Comm comm, MPI_Request *req)
{
    PERSISTENT_1(PMPI_Rsend_init(buf, count, dt, dest, tag, comm, req), buf, count, dt,
                 IP_READ, req);
}

int MPI_Recv_init(void *buf, int count, MPI_Datatype dt, int src, int tag, MPI_Comm comm,
                  MPI_Request *req)
{
    PERSISTENT_1(PMPI_Recv_init(buf, count, dt, src, tag, comm, req), buf, count, dt, IP_WRITE,
                 req);
}

/* The attached buffer: MPI copies into it during buffered sends, in any thread. */
static struct ip_pins attached = IP_PINS_NONE;

int MPI_Buffer_attach(void *buf, int size)
{
    struct ip_pins p = IP_PINS_NONE;
    ip_bytes(&p, buf, size > 0 ? (size_t)size : 0, IP_WRITE);
    int rc = PMPI_Buffer_attach(buf, size);
    if (rc == MPI_SUCCESS && attached.n == 0)
        attached = p;
    else
        ip_drop(&p);
    return rc;
}

int MPI_Buffer_detach(void *buf, int *size)
{
    int rc = PMPI_Buffer_detach(buf, size);
    if (rc == MPI_SUCCESS)
        ip_drop(&attached);
    return rc;
}
