/* lifecycle: see lifecycle.h. */
#include "lifecycle.h"

#include <pthread.h>

#include "log.h"

int lifecycle_up;
int lifecycle_in_forked_child;

static void in_child(void)
{
    if (!__atomic_load_n(&lifecycle_up, __ATOMIC_RELAXED))
        return;
    lifecycle_in_forked_child = 1;
    __atomic_store_n(&lifecycle_up, 0, __ATOMIC_RELAXED);
    log_in_forked_child();
}

static void watch_fork(void)
{
    pthread_atfork(NULL, NULL, in_child);
}

void lifecycle_watch_fork(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, watch_fork);
}

_Noreturn void lifecycle_not_up(const char *call)
{
    if (lifecycle_in_forked_child)
        log_fatal(call, "called in a child made by fork: gallocy's heap and service belong to "
                  "the parent; a child may exec, or work on its own memory");
    log_fatal(call, "called before gallocy_init (or after gallocy_finalize): call "
              "MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided) and then "
              "gallocy_init(MPI_COMM_WORLD) first");
}
