/* init: gallocy_init and gallocy_finalize, the MPI-facing ends of the core's bring-up. */
#include <errno.h>

#include "cache.h"
#include "core.h"
#include "gallocy.h"
#include "log.h"
#include "options.h"
#include "runtime.h"
#include "runtime_mpi.h"
#include "stats.h"

int gallocy_init(MPI_Comm comm)
{
    int init = 0, fini = 0, level = 0;
    PMPI_Initialized(&init);
    PMPI_Finalized(&fini);
    if (!init || fini) {
        log_error("gallocy_init", "MPI is not initialised: call MPI_Init_thread with "
                  "MPI_THREAD_MULTIPLE first");
        return -GALLOCY_ERR_THREAD_LEVEL;
    }
    if (__atomic_load_n(&core_ready, __ATOMIC_ACQUIRE))
        return -EBUSY;
    PMPI_Query_thread(&level);
    if (level != MPI_THREAD_MULTIPLE) {
        int r = 0;
        PMPI_Comm_rank(comm, &r);
        if (r == 0)
            log_error("gallocy_init", "MPI was initialised with thread level %d, gallocy needs "
                      "MPI_THREAD_MULTIPLE (its service thread makes one-sided calls): use "
                      "MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided)", level);
        return -GALLOCY_ERR_THREAD_LEVEL;
    }
    if (rt_mpi_setup(comm) != 0) {
        log_error("gallocy_init", "MPI_Comm_dup of the communicator failed");
        return -EINVAL;
    }
    int rc = core_init();
    if (rc)
        rt_mpi_teardown();
    return rc;
}

int gallocy_finalize(void)
{
    if (!__atomic_load_n(&core_ready, __ATOMIC_ACQUIRE))
        return -GALLOCY_ERR_NOT_INITIALIZED;
    gallocy_release();
    rt_barrier(); /* every rank's write backs are done before windows go away */
    if (opt.stats)
        stats_print();
    core_fini();
    rt_mpi_teardown();
    return 0;
}

int gallocy_rank(void)
{
    return __atomic_load_n(&core_ready, __ATOMIC_ACQUIRE) ? rt_rank() : -1;
}

int gallocy_nranks(void)
{
    return __atomic_load_n(&core_ready, __ATOMIC_ACQUIRE) ? rt_size() : -1;
}
