/* lifecycle: whether gallocy is up (from a successful gallocy_init to gallocy_finalize), which
 * every public call and the fault handler check.  The lowest layer, so that any module may ask
 * without depending on core, which brings everything up and down and sets it. */
#ifndef GALLOCY_LIFECYCLE_H
#define GALLOCY_LIFECYCLE_H

/* 1 while gallocy is up: read it with lifecycle_is_up, set it with lifecycle_set_up. */
extern int lifecycle_up;
/* 1 in a child made by fork of a gallocy process: it inherits no global memory and may not
 * call gallocy (it may exec, or use its own memory). */
extern int lifecycle_in_forked_child;

/* Whether gallocy is up; what core set up before it said so is visible (acquire). */
static inline int lifecycle_is_up(void)
{
    return __atomic_load_n(&lifecycle_up, __ATOMIC_ACQUIRE);
}
/* Says gallocy is up (1, after everything is set up) or down (0, before teardown begins). */
static inline void lifecycle_set_up(int up)
{
    __atomic_store_n(&lifecycle_up, up, __ATOMIC_RELEASE);
}

/* Once per process: a child made by fork from now on finds gallocy down. */
void lifecycle_watch_fork(void);
/* The one-line report of a call made before gallocy_init (or in a forked child), then abort. */
_Noreturn void lifecycle_not_up(const char *call);
#define LIFECYCLE_REQUIRE(call)                                                              \
    do {                                                                                     \
        if (!lifecycle_is_up())                                                              \
            lifecycle_not_up(call);                                                          \
    } while (0)

#endif
