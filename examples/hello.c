/* hello: every rank writes a greeting into one shared array; rank 0 reads them all. */
#include <gallocy.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    int rc = gallocy_init(MPI_COMM_WORLD);
    if (rc) {
        fprintf(stderr, "gallocy_init: %s\n", gallocy_strerror(rc));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    int me = gallocy_rank(), n = gallocy_nranks();
    /* One line of 64 bytes per rank, all lines homed on rank 0. */
    char (*lines)[64] = gallocy_coalloc((size_t)n * 64, 0);
    snprintf(lines[me], 64, "hello from rank %d of %d", me, n);
    gallocy_barrier(); /* every rank's line is written home, and visible after this */
    if (me == 0)
        for (int r = 0; r < n; r++)
            printf("%s\n", lines[r]);
    gallocy_cofree(lines);
    gallocy_finalize();
    MPI_Finalize();
    return 0;
}
