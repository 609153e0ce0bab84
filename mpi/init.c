/* init: gallocy_init and gallocy_finalize, the MPI-facing ends of the core's bring-up.
 *
 * MPI_Finalize alone also finalizes gallocy, first: gallocy_init sets an attribute on
 * MPI_COMM_SELF, whose delete callback MPI_Finalize runs before anything else of MPI goes
 * (the MPI standard's hook for libraries), while every rank is in MPI_Finalize, so the
 * collective teardown can run there.  A rank that exits without either stops gallocy's
 * threads at exit, so that none of them calls into an MPI that is being torn down. */
#include <errno.h>
#include <stdlib.h>

#include "cache.h"
#include "core.h"
#include "gallocy.h"
#include "lifecycle.h"
#include "log.h"
#include "options.h"
#include "runtime.h"
#include "runtime_mpi.h"
#include "stats.h"

static int self_keyval = MPI_KEYVAL_INVALID;
static int finalize(void);

/* MPI_Finalize is under way on every rank (or the program deleted the attribute). */
static int on_mpi_finalize(MPI_Comm comm, int keyval, void *value, void *extra)
{
    (void)comm;
    (void)keyval;
    (void)value;
    (void)extra;
    if (lifecycle_is_up()) {
        log_verbose(1, "MPI_Finalize before gallocy_finalize: gallocy finalizes first");
        finalize();
    }
    return MPI_SUCCESS;
}

static void at_exit(void)
{
    if (lifecycle_is_up()) {
        log_verbose(1, "exit without gallocy_finalize or MPI_Finalize: gallocy stops its "
                    "threads; writes not yet released are lost");
        core_abandon();
    }
}

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
    if (lifecycle_is_up())
        return -EBUSY;
    int inter = 0;
    if (comm == MPI_COMM_NULL || PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter) {
        log_error("gallocy_init", "the communicator is %s: pass MPI_COMM_WORLD, or an "
                  "intra-communicator of the ranks that share the heap",
                  comm == MPI_COMM_NULL ? "MPI_COMM_NULL" : inter ? "an inter-communicator"
                                                                  : "not valid");
        return -EINVAL;
    }
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
    if (rc) {
        rt_mpi_teardown();
        return rc;
    }
    static int exit_hook;
    if (!exit_hook)
        exit_hook = atexit(at_exit) == 0;
    if (PMPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, on_mpi_finalize, &self_keyval, NULL) !=
            MPI_SUCCESS ||
        PMPI_Comm_set_attr(MPI_COMM_SELF, self_keyval, NULL) != MPI_SUCCESS)
        log_verbose(1, "gallocy_init: cannot hook MPI_Finalize (an attribute on MPI_COMM_SELF): "
                    "call gallocy_finalize before MPI_Finalize");
    return 0;
}

static int finalize(void)
{
    if (!lifecycle_is_up())
        return -GALLOCY_ERR_NOT_INITIALIZED;
    gallocy_release();
    rt_barrier(); /* every rank's write backs are done before windows go away */
    if (opt.stats)
        stats_print(rt_rank());
    core_fini();
    rt_mpi_teardown();
    return 0;
}

int gallocy_finalize(void)
{
    int rc = finalize();
    if (rc == 0 && self_keyval != MPI_KEYVAL_INVALID) {
        /* Its callback finds gallocy gone and does nothing. */
        PMPI_Comm_delete_attr(MPI_COMM_SELF, self_keyval);
        PMPI_Comm_free_keyval(&self_keyval);
    }
    return rc;
}

int gallocy_rank(void)
{
    return lifecycle_is_up() ? rt_rank() : -1;
}

int gallocy_nranks(void)
{
    return lifecycle_is_up() ? rt_size() : -1;
}
