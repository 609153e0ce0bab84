/* fault: the signal plumbing of the mprotect and sigbus ways.  The handler runs in the
 * faulting thread, in signal context (it never calls malloc): it tells gallocy's faults from
 * the program's, takes cache_lock and hands the access to coherence_fault, which chooses what
 * the page becomes; a fault that is not gallocy's goes on to the program's handler.
 */
#include "fault.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>

#include "cache.h"
#include "coherence.h"
#include "lifecycle.h"
#include "log.h"
#include "prot.h"
#include "sig.h"
#include "space.h"
#include "transport.h"

static struct sigaction previous_segv, previous_bus;
static int installed_segv, installed_bus;

/* 1 write, 0 read, -1 unknown (then a fault on a readable page is taken as a write). */
static int fault_is_write(void *uctx)
{
#if defined(__x86_64__)
    return (((ucontext_t *)uctx)->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#else
    (void)uctx;
    return -1;
#endif
}

/* The faulting instruction's address, or NULL where this build does not know the layout. */
static const void *fault_pc(void *uctx)
{
#if defined(__x86_64__)
    return (const void *)((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (const void *)((ucontext_t *)uctx)->uc_mcontext.pc;
#else
    (void)uctx;
    return NULL;
#endif
}

/* How the handler makes a transfer for an access at pc: itself, when the transport allows it
 * there, else by the service thread. */
static enum coherence_via handler_via(const void *pc)
{
    return pc && tp->signal_safe && tp->signal_safe(pc) ? COHERENCE_VIA_HANDLER
                                                        : COHERENCE_VIA_SERVICE_THREAD;
}

/* Not ours: hand the fault to whoever had the signal before, so real bugs still crash. */
static void chain(const struct sigaction *previous, int sig, siginfo_t *si, void *uctx)
{
    if ((previous->sa_flags & SA_SIGINFO) && previous->sa_sigaction) {
        previous->sa_sigaction(sig, si, uctx);
    } else if (previous->sa_handler != SIG_DFL && previous->sa_handler != SIG_IGN) {
        previous->sa_handler(sig);
    } else {
        /* Default action: return with the default disposition restored; the instruction
         * faults again and the process dies of the signal (and a core dump if enabled). */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sig_real_sigaction(sig, &dfl, NULL);
    }
}

void fault_report(const void *addr, size_t page)
{
    int home = space_home(page * GPAGE);
    log_error(NULL, "invalid access to %p: inside gallocy's global range but %s", addr,
              home < 0 ? "in no allocation (freed with gallocy_cofree, or never allocated)"
                       : "the page is this rank's own and mapped; not a gallocy fault");
}

static void on_fault(int sig, siginfo_t *si, void *uctx)
{
    int saved_errno = errno;
    const struct sigaction *previous = sig == SIGBUS ? &previous_bus : &previous_segv;
    void *addr = si->si_addr;
    if (!sp.base || !space_contains(addr) || (sig == SIGBUS && prot_way != PROT_WAY_SIGBUS)) {
        chain(previous, sig, si, uctx);
        errno = saved_errno;
        return;
    }
    if (!lifecycle_is_up()) {
        log_error(NULL, "access to global memory at %p %s", addr, lifecycle_in_forked_child ?
                  "in a child made by fork: the child inherits none of gallocy's memory" :
                  "outside gallocy_init..gallocy_finalize");
        chain(previous, sig, si, uctx);
        errno = saved_errno;
        return;
    }
    size_t page = space_off(addr) / GPAGE;
    uint64_t unshares = __atomic_load_n(&cache_unshares, __ATOMIC_ACQUIRE);
    futex_lock(&cache_lock);
    int rc = coherence_fault(page, fault_is_write(uctx), handler_via(fault_pc(uctx)));
    if (rc < 0 && cache_unshares != unshares)
        rc = 0; /* a release unshared pages while this waited: retry the access */
    futex_unlock(&cache_lock);
    if (rc < 0) {
        fault_report(addr, page);
        chain(previous, sig, si, uctx);
    }
    errno = saved_errno;
}

/* The program's sigaction for a signal gallocy handles: its handler becomes the one gallocy
 * chains to (sig.h). */
static int keep(int sig, const struct sigaction *act, struct sigaction *old)
{
    struct sigaction *previous = sig == SIGSEGV && installed_segv ? &previous_segv
                                 : sig == SIGBUS && installed_bus ? &previous_bus
                                                                  : NULL;
    if (!previous)
        return 0;
    struct sigaction was = *previous;
    if (act)
        *previous = *act;
    if (old)
        *old = was;
    return 1;
}

static int install(int sig, struct sigaction *previous, int *installed)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sig_real_sigaction(sig, &sa, previous) != 0)
        return -errno;
    *installed = 1;
    sig_set_keeper(keep);
    return 0;
}

int fault_install(void)
{
    /* SIGSEGV in every way: the mprotect way's faults, and everywhere the accesses that are
     * errors (memory no allocation holds), which get a message and go on to the program's
     * handler. */
    int rc = install(SIGSEGV, &previous_segv, &installed_segv);
    if (!rc && prot_way == PROT_WAY_SIGBUS)
        rc = install(SIGBUS, &previous_bus, &installed_bus);
    return rc;
}

void fault_uninstall(void)
{
    sig_set_keeper(NULL);
    if (installed_segv)
        sig_real_sigaction(SIGSEGV, &previous_segv, NULL);
    if (installed_bus)
        sig_real_sigaction(SIGBUS, &previous_bus, NULL);
    installed_segv = installed_bus = 0;
}
