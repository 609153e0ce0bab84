/* fault_server: the threads that serve the faults of the userfaultfd way (prot.h).  The
 * kernel holds each faulting access, whoever made it (a thread of the program, a system call,
 * another process's copy), until a server has made the page present, so nothing that
 * touches global memory ever sees EFAULT.  They never touch the application view itself. */
#ifndef GALLOCY_FAULT_SERVER_H
#define GALLOCY_FAULT_SERVER_H

/* After the transport is up (remote pages come through it).  0 or -errno. */
int fault_server_start(void);
void fault_server_stop(void);

#endif
