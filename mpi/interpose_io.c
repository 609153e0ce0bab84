/* interpose_io: MPI-IO reads into and writes from global memory (see interpose.h).  The
 * data moves through system calls, which under GALLOCY_FAULTS=mprotect or sigbus cannot
 * wait for a fault: the buffer is made ready first.  Split collectives (_begin/_end) are
 * not covered; under the uffd way they work all the same. */
#include "interpose.h"

int MPI_File_read(MPI_File fh, void *buf, int count, MPI_Datatype dt, MPI_Status *st)
{
    IP_BLOCKING_1(PMPI_File_read(fh, buf, count, dt, st), buf, count, dt, IP_WRITE);
}

int MPI_File_read_all(MPI_File fh, void *buf, int count, MPI_Datatype dt, MPI_Status *st)
{
    IP_BLOCKING_1(PMPI_File_read_all(fh, buf, count, dt, st), buf, count, dt, IP_WRITE);
}

int MPI_File_read_at(MPI_File fh, MPI_Offset at, void *buf, int count, MPI_Datatype dt,
                     MPI_Status *st)
{
    IP_BLOCKING_1(PMPI_File_read_at(fh, at, buf, count, dt, st), buf, count, dt, IP_WRITE);
}

int MPI_File_read_at_all(MPI_File fh, MPI_Offset at, void *buf, int count, MPI_Datatype dt,
                         MPI_Status *st)
{
    IP_BLOCKING_1(PMPI_File_read_at_all(fh, at, buf, count, dt, st), buf, count, dt, IP_WRITE);
}

int MPI_File_read_shared(MPI_File fh, void *buf, int count, MPI_Datatype dt, MPI_Status *st)
{
    IP_BLOCKING_1(PMPI_File_read_shared(fh, buf, count, dt, st), buf, count, dt, IP_WRITE);
}

int MPI_File_read_ordered(MPI_File fh, void *buf, int count, MPI_Datatype dt, MPI_Status *st)
{
    IP_BLOCKING_1(PMPI_File_read_ordered(fh, buf, count, dt, st), buf, count, dt, IP_WRITE);
}

int MPI_File_write(MPI_File fh, const void *buf, int count, MPI_Datatype dt, MPI_Status *st)
{
    IP_BLOCKING_1(PMPI_File_write(fh, buf, count, dt, st), buf, count, dt, IP_READ);
}

int MPI_File_write_all(MPI_File fh, const void *buf, int count, MPI_Datatype dt,
                       MPI_Status *st)
{
    IP_BLOCKING_1(PMPI_File_write_all(fh, buf, count, dt, st), buf, count, dt, IP_READ);
}

int MPI_File_write_at(MPI_File fh, MPI_Offset at, const void *buf, int count, MPI_Datatype dt,
                      MPI_Status *st)
{
    IP_BLOCKING_1(PMPI_File_write_at(fh, at, buf, count, dt, st), buf, count, dt, IP_READ);
}

int MPI_File_write_at_all(MPI_File fh, MPI_Offset at, const void *buf, int count,
                          MPI_Datatype dt, MPI_Status *st)
{
    IP_BLOCKING_1(PMPI_File_write_at_all(fh, at, buf, count, dt, st), buf, count, dt, IP_READ);
}

int MPI_File_write_shared(MPI_File fh, const void *buf, int count, MPI_Datatype dt,
                          MPI_Status *st)
{
    IP_BLOCKING_1(PMPI_File_write_shared(fh, buf, count, dt, st), buf, count, dt, IP_READ);
}

int MPI_File_write_ordered(MPI_File fh, const void *buf, int count, MPI_Datatype dt,
                           MPI_Status *st)
{
    IP_BLOCKING_1(PMPI_File_write_ordered(fh, buf, count, dt, st), buf, count, dt, IP_READ);
}

int MPI_File_iread(MPI_File fh, void *buf, int count, MPI_Datatype dt, MPI_Request *req)
{
    IP_NONBLOCKING_1(PMPI_File_iread(fh, buf, count, dt, req), buf, count, dt, IP_WRITE, req);
}

int MPI_File_iread_at(MPI_File fh, MPI_Offset at, void *buf, int count, MPI_Datatype dt,
                      MPI_Request *req)
{
    IP_NONBLOCKING_1(PMPI_File_iread_at(fh, at, buf, count, dt, req), buf, count, dt, IP_WRITE,
                     req);
}

int MPI_File_iwrite(MPI_File fh, const void *buf, int count, MPI_Datatype dt, MPI_Request *req)
{
    IP_NONBLOCKING_1(PMPI_File_iwrite(fh, buf, count, dt, req), buf, count, dt, IP_READ, req);
}

int MPI_File_iwrite_at(MPI_File fh, MPI_Offset at, const void *buf, int count, MPI_Datatype dt,
                       MPI_Request *req)
{
    IP_NONBLOCKING_1(PMPI_File_iwrite_at(fh, at, buf, count, dt, req), buf, count, dt, IP_READ,
                     req);
}
