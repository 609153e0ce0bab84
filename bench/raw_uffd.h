/* raw_uffd: the bare cost of a userfaultfd fault, the floor under gallocy's default fault
 * way (GALLOCY_FAULTS=uffd). */
#ifndef GALLOCY_BENCH_RAW_UFFD_H
#define GALLOCY_BENCH_RAW_UFFD_H
#include <stddef.h>

/* Seconds per fault of a bare userfaultfd fault: a read of a page of a memfd mapping
 * registered for minor faults, whose data is already in the file, served by a thread of this
 * process that reads the fault's message (a blocking read, the cheapest way to wait) and maps
 * the page (UFFDIO_CONTINUE), which wakes the reader; over pages pages.  The serving thread
 * has the caller's CPU binding, as gallocy's fault servers do.  A negative errno where this
 * kernel or its settings do not allow it. */
double raw_bare_uffd_fault(size_t pages);

#endif
