/* fault: serve accesses to pages not yet present or not yet writable.
 *
 * From a signal handler (the mprotect and sigbus ways) this runs in the faulting thread, in
 * signal context: it never calls malloc.  The page data is copied from the home's memory when
 * the home is on this node (node.c); else the handler makes the transfer itself when the
 * transport says it may (tp->signal_safe: under MPI, when the thread was not inside MPI), and
 * otherwise hands it to the service thread (svc_fetch), at the cost of two thread switches.
 * The fault servers (uffd way) and gallocy_prepare run in ordinary threads and call the
 * transport themselves.  Everything else is the cache's bookkeeping and protection changes,
 * under cache_lock so that threads faulting on the same pages at once see one fetch; but the
 * fetch of a run of absent pages lets the lock go while its data comes (cache.h's flights),
 * so that faults on other pages go on meanwhile.
 */
#include "fault.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

#include "cache.h"
#include "lifecycle.h"
#include "log.h"
#include "node.h"
#include "options.h"
#include "prot.h"
#include "sig.h"
#include "space.h"
#include "stats.h"
#include "svc.h"
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
static enum fault_via handler_via(const void *pc)
{
    return pc && tp->signal_safe && tp->signal_safe(pc) ? FAULT_VIA_HANDLER
                                                        : FAULT_VIA_SERVICE_THREAD;
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

/* Read-ahead and write-ahead, as a file system's read-ahead: a fault on the page where the
 * last run of its kind ended continues a sequential stream, and the run doubles, up to
 * GALLOCY_PREFETCH_MAX pages; any other fault starts again.  A read run starts at
 * GALLOCY_PREFETCH pages and is fetched read-only; a write run starts at the faulting page
 * alone and is made writable at once (fetched where absent, each page twinned).  A code that
 * streams through an array takes a few large runs, one that jumps around small ones: a
 * memset of a remote array faults every 64 pages, not every page.  A page made writable but
 * not written costs its twin and a compare at the release, and sends nothing.  Writes to
 * own pages that other ranks cache (write-protected so that their changes become notices)
 * stream the same way (home_write_run).  GALLOCY_PREFETCH=1 turns all three off.  cache_lock
 * guards the streams. */
struct stream {
    size_t end; /* page after the last run, SIZE_MAX for none */
    int run;    /* pages the last run asked for (it may have stopped short), 0 for none */
};
static struct stream reads, writes, home_writes;

/* Pages the fault at page takes: first when it starts a stream, else twice the last run. */
static int stream_run(const struct stream *s, size_t page, int first)
{
    int most = opt.prefetch_max > first ? opt.prefetch_max : first;
    if (opt.prefetch <= 1)
        return 1;
    return page == s->end && s->run ? (s->run > most / 2 ? most : s->run * 2) : first;
}

/* The fault at page asked for run pages and took n (a run stops at a page already held, or
 * at the end of the home's stretch: the next one still doubles what was asked). */
static void stream_took(struct stream *s, size_t page, size_t n, int run)
{
    s->end = page + n;
    s->run = run;
}

/* Pages from page on, before end and at most n, whose state is kind. */
static size_t run_of(size_t page, size_t end, size_t n, uint8_t kind)
{
    size_t k = 1;
    while (k < n && page + k < end && (cache_state[page + k] & PS_KIND) == kind &&
           (kind != PS_INVALID || cache_state[page + k] == PS_INVALID))
        k++;
    return k;
}

/* Copies [off, off+len) of home's memory into this rank's memfd. */
static void fetch(int home, size_t off, size_t len, enum fault_via via)
{
    const char *src = node_view(home, off);
    if (src) {
        memcpy(sp.alias + off, src, len);
        stats_add(pages_fetched_on_node, len / GPAGE);
    } else if (via == FAULT_VIA_SERVICE_THREAD) {
        stats_inc(fetches_handed_off);
        svc_fetch(home, off, len);
    } else {
        tp->get(sp.alias + off, home, off, len);
        tp->flush(home);
    }
    stats_add(pages_fetched, len / GPAGE);
    stats_add(bytes_fetched, len);
}

/* Fetches the invalid run of n pages from page, homed by home, as clean copies or (writable)
 * as twinned dirty ones: one transfer and one protection change.  In a signal handler or a
 * fault server the transfer and the mapping run without cache_lock where cache_flight_begin
 * allows (a flight, cache.h), so that threads faulting on other pages go on meanwhile. */
static void fetch_run(size_t page, size_t n, int home, int writable, enum fault_via via)
{
    struct cache_flight f;
    if (via != FAULT_VIA_TRANSPORT && cache_flight_begin(&f, page, n, home, writable)) {
        futex_unlock(&cache_lock);
        fetch(home, page * GPAGE, n * GPAGE, via);
        cache_flight_map(&f);
        futex_lock(&cache_lock);
        cache_flight_end(&f);
        return;
    }
    fetch(home, page * GPAGE, n * GPAGE, via);
    if (writable)
        cache_add_dirty(page, n, home);
    else
        cache_add_clean(page, n, home);
}

/* Own pages of the collective area are mapped on first touch, this many at a time (an
 * allocation maps nothing itself: a page-cyclic one would cost a protection change, and on
 * the mprotect way a memory map, per page). */
static size_t own_run(size_t page, size_t stretch_end)
{
    return run_of(page, stretch_end, (size_t)(opt.prefetch_max > 1 ? opt.prefetch_max : 1),
                  PS_INVALID);
}

/* A write to an own shared page: it, and the shared pages after it that the write stream
 * reaches or that were written in their last epoch (a sweep writes the same rows each time:
 * from the second, one fault takes them all), up to GALLOCY_PREFETCH_MAX pages. */
static size_t home_write_run(size_t page, size_t stretch_end)
{
    size_t run = (size_t)stream_run(&home_writes, page, 1), n = 1;
    size_t most = opt.prefetch > 1 && opt.prefetch_max > 1 ? (size_t)opt.prefetch_max : 1;
    while (n < most && page + n < stretch_end &&
           (cache_state[page + n] & PS_KIND) == PS_SHARED &&
           (n < run || (cache_state[page + n] & PS_WRITTEN)))
        n++;
    return n;
}

static int resolve_own(size_t page, size_t stretch_end, int write)
{
    switch (cache_state[page] & PS_KIND) {
    case PS_INVALID:
        cache_map_own(page, own_run(page, stretch_end));
        return 0;
    case PS_SHARED:
        if (write != 0) {
            stats_inc(home_write_faults);
            size_t n = home_write_run(page, stretch_end);
            cache_write_shared(page, n);
            stream_took(&home_writes, page, n, stream_run(&home_writes, page, 1));
            return 0;
        }
        cache_touch_shared(page, 1, 0);
        return 0;
    case PS_HOME_DIRTY:
        cache_touch_shared(page, 1, write != 0);
        return 0;
    default: /* plain memory: mapped for good on the mprotect way, so not a gallocy fault */
        if (prot_way == PROT_WAY_MPROTECT)
            return -1;
        cache_enforce(page);
        return 0;
    }
}

int fault_resolve(size_t page, int write, enum fault_via via)
{
    size_t run_end;
    int home = space_home_run(page * GPAGE, &run_end);
    if (home < 0)
        return -1;
    size_t stretch_end = run_end / GPAGE;
    if (home == sp.rank)
        return resolve_own(page, stretch_end, write);
    int run;
    size_t n;
    switch (cache_state[page] & PS_KIND) {
    case PS_INVALID:
        stats_inc(read_faults);
        if (write == 1) { /* the pages it fetches are made writable too, not read-only */
            stats_inc(write_faults);
            run = stream_run(&writes, page, 1);
            n = run_of(page, stretch_end, (size_t)run, PS_INVALID);
            /* The stream first: the next fault of the stream may come while this one's
             * flight maps the run, before it is recorded */
            stream_took(&writes, page, n, run);
            fetch_run(page, n, home, 1, via);
        } else {
            run = stream_run(&reads, page, (int)opt.prefetch);
            n = run_of(page, stretch_end, (size_t)run, PS_INVALID);
            stream_took(&reads, page, n, run);
            fetch_run(page, n, home, 0, via);
        }
        return 0;
    case PS_READ:
        if (write != 0) { /* a read fault here means another thread fetched it meanwhile */
            stats_inc(write_faults);
            run = stream_run(&writes, page, 1);
            n = run_of(page, sp.range / GPAGE, (size_t)run, PS_READ);
            cache_make_dirty(page, n);
            stream_took(&writes, page, n, run);
            return 0;
        }
        break;
    case PS_BUSY: /* another fault is fetching it: wait for that, then look again (a
                   * handler's access is simply tried again) */
        cache_flight_wait();
        return via == FAULT_VIA_SERVER ? fault_resolve(page, write, via) : 0;
    default: /* dirty already: another thread got here first */
        break;
    }
    /* Accessible by its state: another thread served it first, or (in the page-table ways)
     * the kernel dropped the entry; give it the protection its state says.  A fault server
     * also wakes the faulting thread: making a page read-only again wakes nobody. */
    if (prot_way != PROT_WAY_MPROTECT)
        cache_enforce(page);
    if (via == FAULT_VIA_SERVER)
        prot_wake(page * GPAGE, GPAGE);
    return 0;
}

int fault_prepare(size_t page, size_t n, int write)
{
    size_t end = page + n;
    for (size_t p = page; p < end;) {
        size_t run_end;
        int home = space_home_run(p * GPAGE, &run_end);
        if (home < 0)
            return -EINVAL;
        size_t stop = run_end / GPAGE < end ? run_end / GPAGE : end;
        uint8_t k = cache_state[p] & PS_KIND;
        size_t len = run_of(p, stop, stop - p, k);
        if (home == sp.rank) {
            if (k == PS_INVALID)
                cache_map_own(p, len);
            else if (k == PS_SHARED || (k == PS_HOME_DIRTY && write))
                cache_touch_shared(p, len, write);
        } else if (k == PS_INVALID) {
            fetch_run(p, len, home, write, FAULT_VIA_TRANSPORT);
        } else if (k == PS_READ && write) {
            cache_make_dirty(p, len);
        }
        p += len;
    }
    return 0;
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
    int rc = fault_resolve(page, fault_is_write(uctx), handler_via(fault_pc(uctx)));
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
    /* a new job's first fault starts none */
    reads = writes = home_writes = (struct stream){SIZE_MAX, 0};
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
