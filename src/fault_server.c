/* fault_server: threads that read userfaultfd messages and resolve each (fault.c).
 *
 * One server per processor the rank may run on (its binding at init), at most MAX_SERVERS,
 * so that threads faulting on different pages at once are served at once: a fetch lets
 * cache_lock go while its data comes (cache.h's flights).  Each server waits in an epoll set
 * of its own, holding the userfaultfd with EPOLLEXCLUSIVE: a fault wakes one idle server, not
 * all of them (when every server was woken by every fault, one thread's faults got slower:
 * 3.2 -> 5.1 us), and the first server, while idle, takes every fault of a lone thread. */
#include "fault_server.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cache.h"
#include "fault.h"
#include "log.h"
#include "prot.h"
#include "space.h"

enum { MAX_SERVERS = 4 };

static pthread_t threads[MAX_SERVERS];
static int epfd[MAX_SERVERS];
static int nservers, stop_fd = -1;

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
    int rc = fault_resolve(page, write, FAULT_VIA_SERVER);
    futex_unlock(&cache_lock);
    if (rc < 0) { /* the faulting access cannot go on, and must not wait for ever */
        fault_report(addr, page);
        log_fatal("gallocy (page fault)", "an access to %p that gallocy cannot serve", addr);
    }
}

static void *fault_server_main(void *arg)
{
    int ep = *(int *)arg;
    struct epoll_event ev;
    struct uffd_msg msg;
    for (;;) {
        int n = epoll_wait(ep, &ev, 1, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_fatal("gallocy (page fault)", "waiting on the userfaultfd failed: %s",
                      strerror(errno));
        }
        if (ev.data.fd == stop_fd)
            break;
        /* One message at a time: a thread has one fault outstanding, so several messages
         * are several threads', which the other servers take meanwhile. */
        ssize_t got = read(prot_uffd, &msg, sizeof msg);
        if (got < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue; /* another server took it */
            log_fatal("gallocy (page fault)", "reading the userfaultfd failed: %s",
                      strerror(errno));
        }
        if (got == (ssize_t)sizeof msg)
            serve(&msg);
    }
    return NULL;
}

/* Processors this thread may run on (the rank's binding), at least 1. */
static int processors(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 1;
    int n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

static int add(int ep, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int fault_server_start(void)
{
    if (prot_way != PROT_WAY_UFFD)
        return 0;
    stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd < 0)
        return -errno;
    int want = processors();
    want = want < MAX_SERVERS ? want : MAX_SERVERS;
    sigset_t all, old;
    sigfillset(&all);
    /* The application's signals go to its own threads, never to these.  Their CPU binding is
     * the initialising thread's: a rank bound to one core serves faults there, where the
     * faulting thread's sleep hands the core straight over. */
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = 0;
    for (nservers = 0; nservers < want; nservers++) {
        int i = nservers;
        epfd[i] = epoll_create1(EPOLL_CLOEXEC);
        if (epfd[i] < 0 || add(epfd[i], stop_fd, EPOLLIN) != 0 ||
            add(epfd[i], prot_uffd, EPOLLIN | EPOLLEXCLUSIVE) != 0) {
            rc = -errno;
        } else {
            rc = -pthread_create(&threads[i], NULL, fault_server_main, &epfd[i]);
        }
        if (rc) {
            if (epfd[i] >= 0)
                close(epfd[i]);
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (nservers == 0) {
        close(stop_fd);
        stop_fd = -1;
        return rc ? rc : -EAGAIN;
    }
    return 0; /* fewer servers than wanted serve all the same */
}

void fault_server_stop(void)
{
    if (nservers == 0)
        return;
    uint64_t one = 1; /* the eventfd stays readable: every server sees it */
    if (write(stop_fd, &one, sizeof one) != sizeof one)
        log_error(NULL, "cannot stop the fault servers: %s", strerror(errno));
    for (int i = 0; i < nservers; i++) {
        pthread_join(threads[i], NULL);
        close(epfd[i]);
    }
    close(stop_fd);
    stop_fd = -1;
    nservers = 0;
}
