/* fault: the signal handlers that catch accesses to global pages absent or read-only here
 * (SIGSEGV, or SIGBUS under GALLOCY_FAULTS=sigbus; the uffd way's are fault_server.c's) and
 * hand them to coherence_fault. */
#ifndef GALLOCY_FAULT_H
#define GALLOCY_FAULT_H
#include <stddef.h>

/* Installs the signal handlers, remembering the program's previous ones, to which faults
 * outside the global range go. */
int fault_install(void);
void fault_uninstall(void);

/* The message for an access coherence_fault refused. */
void fault_report(const void *addr, size_t page);

#endif
