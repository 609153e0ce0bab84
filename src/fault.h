/* fault: what an access to a global page that is absent or read-only here does, wherever the
 * access is caught (prot.h): in the faulting thread from a signal (SIGSEGV, or SIGBUS under
 * GALLOCY_FAULTS=sigbus), by the fault server thread (userfaultfd), or ahead of any access
 * (gallocy_prepare and the MPI layer). */
#ifndef GALLOCY_FAULT_H
#define GALLOCY_FAULT_H
#include <stddef.h>

/* Installs the signal handlers, remembering the program's previous ones, to which faults
 * outside the global range go. */
int fault_install(void);
void fault_uninstall(void);

/* Who serves a fault and how its transfers are made: a signal handler, through the service
 * thread or (where tp->signal_safe allows it) by the transport itself; a fault server thread
 * (uffd way), by the transport; any other thread (gallocy_prepare, under cache_lock_all), by
 * the transport.  All but the last fetch absent pages in flights (cache.h). */
enum fault_via {
    FAULT_VIA_SERVICE_THREAD,
    FAULT_VIA_HANDLER,
    FAULT_VIA_SERVER,
    FAULT_VIA_TRANSPORT,
};

/* With cache_lock held: serves an access (write: 1, read: 0, -1 unknown, taken as a write
 * where it matters) to page.  0 when the page is now accessible for it (from a signal handler:
 * or it is worth trying the access again: a fetch of absent pages lets cache_lock go while
 * the data comes, cache.h's flights, and a fault on a page in flight waits for it); -1 when
 * it is not a page gallocy serves (no allocation there, or own plain memory that faulted
 * anyway). */
int fault_resolve(size_t page, int write, enum fault_via via);
/* With cache_lock held, from a thread that may call the transport: makes [page, page+n)
 * readable, or writable, now, with one transfer per run of pages of one home.  0, or
 * -EINVAL when part of the range is in no allocation. */
int fault_prepare(size_t page, size_t n, int write);
/* The message for an access fault_resolve refused. */
void fault_report(const void *addr, size_t page);

#endif
