/* fault: the SIGSEGV handler that makes global memory appear on access. */
#ifndef GALLOCY_FAULT_H
#define GALLOCY_FAULT_H

/* Installs the handler, remembering the program's previous one, to which faults outside the
 * global range go. */
int fault_install(void);
void fault_uninstall(void);

#endif
