/* lifecycle: whether gallocy is up (from a successful gallocy_init to gallocy_finalize), which
 * every public call and the fault handler check.  The lowest layer, so that any module may ask
 * without depending on core, which brings everything up and down and sets it. */
#ifndef GALLOCY_LIFECYCLE_H
#define GALLOCY_LIFECYCLE_H

/* 1 while gallocy is up; read with __atomic_load_n(..., __ATOMIC_ACQUIRE). */
extern int lifecycle_up;
/* 1 in a child made by fork of a gallocy process: it inherits no global memory and may not
 * call gallocy (it may exec, or use its own memory). */
extern int lifecycle_in_forked_child;

/* Once per process: a child made by fork from now on finds gallocy down. */
void lifecycle_watch_fork(void);
/* The one-line report of a call made before gallocy_init (or in a forked child), then abort. */
_Noreturn void lifecycle_not_up(const char *call);
#define LIFECYCLE_REQUIRE(call)                                                              \
    do {                                                                                     \
        if (!__atomic_load_n(&lifecycle_up, __ATOMIC_ACQUIRE))                               \
            lifecycle_not_up(call);                                                          \
    } while (0)

#endif
