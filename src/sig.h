/* sig: the program's sigaction and signal calls, seen before the C library's, so that a
 * handler the program installs for a signal gallocy handles (SIGSEGV, SIGBUS) while it does is
 * kept as the one gallocy chains to, instead of silently replacing gallocy's. */
#ifndef GALLOCY_SIG_H
#define GALLOCY_SIG_H
#include <signal.h>

/* A keeper answers for the signals it handles: it records act (when not NULL) as the
 * program's handler, fills old (when not NULL) with the previous one, and returns 1; for
 * any other signal it returns 0 and the call goes to the C library. */
typedef int (*sig_keeper_fn)(int sig, const struct sigaction *act, struct sigaction *old);
void sig_set_keeper(sig_keeper_fn keeper); /* NULL: none */

/* The C library's sigaction, for gallocy's own handlers. */
int sig_real_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

#endif
