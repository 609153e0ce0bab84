/* sig: sigaction and signal, interposed (as libjsig does for the JVM, and for the same
 * reason): a program or library that sets a SIGSEGV handler after gallocy_init would take
 * every fault on global memory away from gallocy.  No lock: sigaction may be called from a
 * signal handler, and the keeper is set only at init and finalize. */
#include "sig.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

static sig_keeper_fn keeper;

void sig_set_keeper(sig_keeper_fn k)
{
    __atomic_store_n(&keeper, k, __ATOMIC_RELEASE);
}

int sig_real_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    static sigaction_fn real;
    sigaction_fn f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (!f) {
        f = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
        if (!f) {
            errno = ENOSYS;
            return -1;
        }
        __atomic_store_n(&real, f, __ATOMIC_RELEASE);
    }
    return f(sig, act, old);
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    sig_keeper_fn k = __atomic_load_n(&keeper, __ATOMIC_ACQUIRE);
    if (k && k(sig, act, old))
        return 0;
    return sig_real_sigaction(sig, act, old);
}

/* glibc's signal() calls its internal sigaction, which the one above does not see. */
EXPORT __sighandler_t signal(int sig, __sighandler_t handler)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, &old) != 0)
        return SIG_ERR;
    return old.sa_handler; /* as glibc's: the union's other view when it was SA_SIGINFO */
}
