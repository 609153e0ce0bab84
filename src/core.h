/* core: bring-up and teardown of everything below the MPI layer, and the "ready" flag every
 * public call checks. */
#ifndef GALLOCY_CORE_H
#define GALLOCY_CORE_H

extern int core_ready;
/* 1 in a child made by fork of a gallocy process: it inherits no global memory and may not
 * call gallocy (it may exec, or use its own memory). */
extern int core_in_forked_child;

/* Collective; the runtime is set up.  0 or a negative code, after a message; on failure
 * everything is torn down again. */
int core_init(void);
void core_fini(void);
/* The process exits with gallocy still up: stop its threads (no MPI, nothing collective). */
void core_abandon(void);
/* The one-line report of a call made before gallocy_init, then abort. */
_Noreturn void core_not_ready(const char *call);
#define CORE_REQUIRE(call)                                                                   \
    do {                                                                                     \
        if (!__atomic_load_n(&core_ready, __ATOMIC_ACQUIRE))                                 \
            core_not_ready(call);                                                            \
    } while (0)

#endif
