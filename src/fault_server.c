/* fault_server: threads that read userfaultfd messages and resolve each (coherence_fault).
 *
 * One server per processor the rank may run on (its binding at init), at most MAX_SERVERS,
 * so that threads faulting on different pages at once are served at once: a fetch lets
 * cache_lock go while its data comes (cache.h's flights).  Each server waits in an epoll set
 * of its own, holding the userfaultfd with EPOLLEXCLUSIVE: a fault wakes one idle server, not
 * all of them (when every server was woken by every fault, one thread's faults got slower:
 * 3.2 -> 5.1 us), and the first server, while idle, takes every fault of a lone thread.
 * A lone server (a rank bound to one core, as mpirun binds small jobs) needs no choosing: it
 * waits in a blocking read of the userfaultfd itself, a fault's cheapest wake (a bare fault
 * served so took 10.7 us, against 12.3 us by epoll_wait and then read: median of 8 runs,
 * same core), and is stopped by pthread_cancel, which acts only inside that read. */
#include "fault_server.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cache.h"
#include "coherence.h"
#include "fault.h"
#include "log.h"
#include "prot.h"
#include "space.h"

enum { MAX_SERVERS = 4 };

static pthread_t threads[MAX_SERVERS];
static int epfd[MAX_SERVERS];
static int nservers, stop_fd = -1;
static int lone; /* one server, in blocking reads */

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
    int rc = coherence_fault(page, write, COHERENCE_VIA_SERVER);
    futex_unlock(&cache_lock);
    if (rc < 0) { /* the faulting access cannot go on, and must not wait for ever */
        fault_report(addr, page);
        log_fatal("gallocy (page fault)", "an access to %p that gallocy cannot serve", addr);
    }
}

/* A message read (got bytes of it, or -1 and errno): served, or an error that ends the job. */
static void handle(ssize_t got, const struct uffd_msg *msg)
{
    if (got == (ssize_t)sizeof *msg) {
        serve(msg);
    } else if (got < 0 && errno != EAGAIN && errno != EINTR) { /* EAGAIN: another took it */
        log_fatal("gallocy (page fault)", "reading the userfaultfd failed: %s",
                  strerror(errno));
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
        handle(read(prot_uffd, &msg, sizeof msg), &msg);
    }
    return NULL;
}

static void *lone_server_main(void *arg)
{
    (void)arg;
    struct uffd_msg msg;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    for (;;) {
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL); /* fault_server_stop, only here */
        ssize_t got = read(prot_uffd, &msg, sizeof msg);
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
        handle(got, &msg);
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

/* Reads of the userfaultfd block (1) or return EAGAIN when no message waits (0, as opened). */
static int set_blocking(int on)
{
    int fl = fcntl(prot_uffd, F_GETFL);
    if (fl < 0)
        return -errno;
    return fcntl(prot_uffd, F_SETFL, on ? fl & ~O_NONBLOCK : fl | O_NONBLOCK) == 0 ? 0 : -errno;
}

/* The lone server: 0, or a negative code with the userfaultfd as it was. */
static int start_lone(void)
{
    int rc = set_blocking(1);
    if (rc == 0 && (rc = -pthread_create(&threads[0], NULL, lone_server_main, NULL)) != 0)
        set_blocking(0);
    nservers = lone = rc == 0;
    return rc;
}

/* want servers in epoll sets, stopped through stop_fd: 0 when at least one runs (fewer than
 * wanted serve all the same), else a negative code. */
static int start_epoll(int want)
{
    stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd < 0)
        return -errno;
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
    if (nservers > 0)
        return 0;
    close(stop_fd);
    stop_fd = -1;
    return rc ? rc : -EAGAIN;
}

int fault_server_start(void)
{
    if (prot_way != PROT_WAY_UFFD)
        return 0;
    int want = processors();
    want = want < MAX_SERVERS ? want : MAX_SERVERS;
    sigset_t all, old;
    sigfillset(&all);
    /* The application's signals go to its own threads, never to these.  Their CPU binding is
     * the initialising thread's: a rank bound to one core serves faults there, where the
     * faulting thread's sleep hands the core straight over. */
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = want == 1 ? start_lone() : -1;
    if (rc != 0) /* several cores, or the lone server could not start: epoll's */
        rc = start_epoll(want);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

void fault_server_stop(void)
{
    if (nservers == 0)
        return;
    if (lone) {
        pthread_cancel(threads[0]);
        pthread_join(threads[0], NULL);
        lone = 0; /* its userfaultfd, left blocking, is closed next (prot_fini) */
    } else {
        uint64_t one = 1; /* the eventfd stays readable: every server sees it */
        if (write(stop_fd, &one, sizeof one) != sizeof one)
            log_error(NULL, "cannot stop the fault servers: %s", strerror(errno));
        for (int i = 0; i < nservers; i++) {
            pthread_join(threads[i], NULL);
            close(epfd[i]);
        }
        close(stop_fd);
        stop_fd = -1;
    }
    nservers = 0;
}
