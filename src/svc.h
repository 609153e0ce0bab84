/* svc: the service thread.  It performs the transfers the fault handler may not make itself
 * (tp->signal_safe: MPI is not async-signal-safe, so a thread inside MPI may not call it
 * again from a handler), and while idle it drives transport progress (so other ranks'
 * atomics on this rank complete) and drains remote frees. */
#ifndef GALLOCY_SVC_H
#define GALLOCY_SVC_H
#include <stddef.h>

int svc_start(void);
void svc_stop(void);
/* From a fault handler: reads [off, off+len) of home's region into this rank's alias at the
 * same offset, and returns when it is there. */
void svc_fetch(int home, size_t off, size_t len);

#endif
