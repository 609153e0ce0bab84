/* prot: how the page states of the application view are kept by the kernel, and how an access
 * to a page that is absent or read-only here reaches gallocy.
 *
 * Two ways (GALLOCY_FAULTS):
 *  - userfaultfd ("uffd", the default where the kernel allows it).  The whole view is mapped
 *    read-write once; a page's state lives in the page tables: absent (no entry: the access
 *    is a MISSING or MINOR fault), read-only (userfaultfd write-protection), writable.  States
 *    cost no memory map each, so any pattern of cached pages fits in vm.max_map_count.
 *    Faults are served by a thread of gallocy's (fault_server.c) while the kernel holds the
 *    faulting access, so a system call or another process's copy (CMA) on global memory waits
 *    for the page instead of failing with EFAULT.  "sigbus" keeps the page tables but serves
 *    faults in the faulting thread from SIGBUS: no thread hand-off, but the kernel does not
 *    wait (system calls need gallocy_prepare).
 *  - mprotect ("mprotect"): PROT_NONE / PROT_READ / PROT_READ|PROT_WRITE per run of pages and
 *    a SIGSEGV handler.  Works everywhere; each separately protected run is one memory map,
 *    so scattered states can reach vm.max_map_count (the callers then shed clean copies).
 *
 * The calls below change the state of runs of pages [off, off+len) of the view (offsets from
 * sp.base) that are all in the same state.  map: absent -> present (the data is already in
 * the memfd); unmap: present -> absent; set_writable: present (or, for own pages, possibly
 * absent) read-only <-> writable.  They return 0, or -ENOMEM when the mprotect way is out of
 * memory maps; anything else is fatal, with a message.  Counted as protection_changes. */
#ifndef GALLOCY_PROT_H
#define GALLOCY_PROT_H
#include <stddef.h>

enum prot_way {
    PROT_WAY_MPROTECT = 0,
    PROT_WAY_UFFD = 1,   /* userfaultfd, served by the fault server thread (the kernel waits) */
    PROT_WAY_SIGBUS = 2, /* userfaultfd page states, served in the faulting thread (SIGBUS) */
};

extern int prot_way;
/* The userfaultfd of the view (-1 with the mprotect way). */
extern int prot_uffd;

/* Chooses the way (GALLOCY_FAULTS) and, for userfaultfd, opens it; before the view is
 * mapped.  0, or -EINVAL after a message when the way asked for is not available here. */
int prot_choose(void);
/* After the view is mapped: maps it as the way needs and registers it.  0 or -errno. */
int prot_setup(void);
void prot_fini(void);
const char *prot_way_name(int way);

int prot_map(size_t off, size_t len, int writable);
int prot_unmap(size_t off, size_t len);
int prot_set_writable(size_t off, size_t len, int writable);
/* Wakes threads waiting on the faults of [off, off+len) (userfaultfd; no-op otherwise). */
void prot_wake(size_t off, size_t len);
/* A region of the collective area is allocated (accessible: 0, or -ENOMEM when the process
 * is out of memory maps) or freed (any access faults as an error).  Whole allocations: few
 * memory maps. */
int prot_region_open(size_t off, size_t len);
void prot_region_close(size_t off, size_t len);

#endif
