/* core: bring-up and teardown of everything below the MPI layer (the flag that says gallocy
 * is up: lifecycle.h). */
#ifndef GALLOCY_CORE_H
#define GALLOCY_CORE_H

/* Collective; the runtime is set up.  0 or a negative code, after a message; on failure
 * everything is torn down again. */
int core_init(void);
void core_fini(void);
/* The process exits with gallocy still up: stop its threads (no MPI, nothing collective). */
void core_abandon(void);

#endif
