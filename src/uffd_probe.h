/* uffd_probe: whether this kernel and process can keep gallocy's page states through
 * userfaultfd, and a userfaultfd set up for it.  Standalone (no gallocy state), so that
 * gallocy-info can say what GALLOCY_FAULTS=auto would take, by the same test prot.c uses. */
#ifndef GALLOCY_UFFD_PROBE_H
#define GALLOCY_UFFD_PROBE_H
#include <linux/userfaultfd.h>
#include <stddef.h>

/* Newer than the kernel headers of Debian 12 (6.1): a kernel that lacks it answers EINVAL,
 * which the probe checks. */
#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif

/* Opens a userfaultfd (O_NONBLOCK, close-on-exec) with the features gallocy's page states
 * need: MISSING and MINOR faults and write-protection on shared memory, and a page mapped
 * write-protected in one step (UFFDIO_CONTINUE_MODE_WP).  sigbus: faults raise SIGBUS in the
 * faulting thread instead of waiting for a server (user faults alone then suffice, so a
 * user-mode-only descriptor is accepted).  Returns the descriptor, or -1 with why (len bytes)
 * saying what is missing. */
int uffd_probe_open(int sigbus, char *why, size_t len);

#endif
