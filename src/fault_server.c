/* fault_server: read userfaultfd messages, resolve each under cache_lock (fault.c). */
#include "fault_server.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cache.h"
#include "fault.h"
#include "log.h"
#include "prot.h"
#include "space.h"

static pthread_t thread;
static int running, stop_fd = -1;

/* One message a read takes; a burst of faults (threads, a system call's pages) comes in
 * several at once. */
enum { BATCH = 16 };

static void serve(const struct uffd_msg *m)
{
    if (m->event != UFFD_EVENT_PAGEFAULT)
        return;
    void *addr = (void *)(uintptr_t)m->arg.pagefault.address;
    __u64 flags = m->arg.pagefault.flags;
    if (!space_contains(addr))
        return;
    size_t page = space_off(addr) / GPAGE;
    /* A write-protection fault is a write, whatever the flags say. */
    int write = (flags & (UFFD_PAGEFAULT_FLAG_WRITE | UFFD_PAGEFAULT_FLAG_WP)) != 0;
    futex_lock(&cache_lock);
    int rc = fault_resolve(page, write, FAULT_VIA_TRANSPORT);
    futex_unlock(&cache_lock);
    if (rc < 0) { /* the faulting access cannot go on, and must not wait for ever */
        fault_report(addr, page);
        log_fatal("gallocy (page fault)", "an access to %p that gallocy cannot serve", addr);
    }
}

static void *fault_server_main(void *arg)
{
    (void)arg;
    struct pollfd fds[2] = {{prot_uffd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    struct uffd_msg msgs[BATCH];
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_fatal("gallocy (page fault)", "poll on the userfaultfd failed: %s",
                      strerror(errno));
        }
        if (fds[1].revents)
            break;
        ssize_t got = read(prot_uffd, msgs, sizeof msgs);
        if (got < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            log_fatal("gallocy (page fault)", "reading the userfaultfd failed: %s",
                      strerror(errno));
        }
        for (size_t i = 0; i < (size_t)got / sizeof msgs[0]; i++)
            serve(&msgs[i]);
    }
    return NULL;
}

int fault_server_start(void)
{
    if (prot_way != PROT_WAY_UFFD)
        return 0;
    stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd < 0)
        return -errno;
    sigset_t all, old;
    sigfillset(&all);
    /* The application's signals go to its own threads, never to this one.  Its CPU binding
     * is the initialising thread's: a rank bound to one core serves faults there, where the
     * faulting thread's sleep hands the core straight over. */
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&thread, NULL, fault_server_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        close(stop_fd);
        stop_fd = -1;
        return -rc;
    }
    running = 1;
    return 0;
}

void fault_server_stop(void)
{
    if (!running)
        return;
    uint64_t one = 1;
    if (write(stop_fd, &one, sizeof one) != sizeof one)
        log_error(NULL, "cannot stop the fault server: %s", strerror(errno));
    pthread_join(thread, NULL);
    close(stop_fd);
    stop_fd = -1;
    running = 0;
}
