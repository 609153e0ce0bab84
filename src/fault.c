/* fault: serve accesses to pages not yet present or not yet writable.
 *
 * Runs in the faulting thread, in signal context: never calls MPI or malloc.  The page data
 * is copied from the home's memory when the home is on this node (node.c), else it comes from
 * the service thread (svc_fetch); everything else is the cache's bookkeeping and mprotect,
 * under cache_lock so that threads faulting on the same pages at once see one fetch.
 */
#include "fault.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

#include "cache.h"
#include "core.h"
#include "log.h"
#include "node.h"
#include "options.h"
#include "space.h"
#include "stats.h"
#include "svc.h"

static struct sigaction previous;
static int installed;

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

/* Not ours: hand the fault to whoever had SIGSEGV before, so real bugs still crash. */
static void chain(int sig, siginfo_t *si, void *uctx)
{
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
        previous.sa_sigaction(sig, si, uctx);
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
    } else {
        /* Default action: return with the default disposition restored; the instruction
         * faults again and the process dies with SIGSEGV (and a core dump if enabled). */
        signal(SIGSEGV, SIG_DFL);
    }
}

/* Read-ahead and write-ahead, as a file system's read-ahead: a fault on the page where the
 * last run of its kind ended continues a sequential stream, and the run doubles, up to
 * GALLOCY_PREFETCH_MAX pages; any other fault starts again.  A read run starts at
 * GALLOCY_PREFETCH pages and is fetched read-only; a write run starts at the faulting page
 * alone and is made writable at once (fetched where absent, each page twinned).  A code that
 * streams through an array takes a few large runs, one that jumps around small ones: a
 * memset of a remote array faults every 64 pages, not every page.  A page made writable but
 * not written costs its twin and a compare at the release, and sends nothing.
 * GALLOCY_PREFETCH=1 turns both off.  cache_lock guards the streams. */
struct stream {
    size_t end; /* page after the last run, SIZE_MAX for none */
    int run;    /* pages the last run asked for (it may have stopped short), 0 for none */
};
static struct stream reads, writes;

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

/* Pages from page on, up to n, that are clean cached copies (the write-ahead of a written
 * clean copy). */
static size_t clean_run(size_t page, size_t n)
{
    size_t k = 1, npages = sp.range / GPAGE;
    while (k < n && page + k < npages && (cache_state[page + k] & PS_KIND) == PS_READ)
        k++;
    return k;
}

/* Fetches the invalid page and the invalid pages after it with the same home, up to prefetch
 * pages in all, as clean copies or (writable) as twinned dirty ones: one transfer and one
 * protection change for the run; returns how many. */
static size_t fetch_run(size_t page, int home, size_t run_end_off, int prefetch, int writable)
{
    size_t last = run_end_off / GPAGE, n = 1;
    while (n < (size_t)prefetch && page + n < last && cache_state[page + n] == PS_INVALID)
        n++;
    const char *src = node_source(home, page * GPAGE);
    if (src) {
        memcpy(sp.alias + page * GPAGE, src, n * GPAGE);
        stats_add(pages_fetched_on_node, n);
    } else {
        svc_fetch(home, page * GPAGE, n * GPAGE);
    }
    stats_inc(read_faults);
    stats_add(pages_fetched, n);
    stats_add(bytes_fetched, n * GPAGE);
    if (writable)
        cache_add_dirty(page, n, home);
    else
        cache_add_clean(page, n, home);
    return n;
}

static void on_segv(int sig, siginfo_t *si, void *uctx)
{
    int saved_errno = errno;
    void *addr = si->si_addr;
    if (!sp.base || !space_contains(addr)) {
        chain(sig, si, uctx);
        errno = saved_errno;
        return;
    }
    size_t off = space_off(addr), page = off / GPAGE, run_end;
    int write = fault_is_write(uctx);
    if (!__atomic_load_n(&core_ready, __ATOMIC_ACQUIRE)) {
        log_error(NULL, "access to global memory at %p %s", addr, core_in_forked_child ?
                  "in a child made by fork: the child inherits none of gallocy's memory" :
                  "outside gallocy_init..gallocy_finalize");
        chain(sig, si, uctx);
        errno = saved_errno;
        return;
    }
    futex_lock(&cache_lock);
    int home = space_home_run(page * GPAGE, &run_end);
    uint8_t state = cache_state[page];
    if (home == sp.rank && (state == PS_SHARED || state == PS_HOME_DIRTY)) {
        /* An own page that other ranks cache: its writes become write notices. */
        if (state == PS_SHARED && write != 0)
            cache_make_home_dirty(page);
        futex_unlock(&cache_lock);
        errno = saved_errno;
        return;
    }
    if (home < 0 || home == sp.rank) {
        futex_unlock(&cache_lock);
        log_error(NULL, "invalid access to %p: inside gallocy's global range but %s", addr,
                  home < 0 ? "in no allocation (freed with gallocy_cofree, or never allocated)"
                           : "the page is this rank's own and mapped; not a gallocy fault");
        chain(sig, si, uctx);
        errno = saved_errno;
        return;
    }
    size_t n;
    int run;
    switch (state & PS_KIND) {
    case PS_INVALID:
        if (write == 1) { /* the pages it fetches are made writable too, not read-only */
            run = stream_run(&writes, page, 1);
            stream_took(&writes, page, fetch_run(page, home, run_end, run, 1), run);
        } else {
            run = stream_run(&reads, page, (int)opt.prefetch);
            stream_took(&reads, page, fetch_run(page, home, run_end, run, 0), run);
        }
        break;
    case PS_READ:
        if (write != 0) { /* a read fault here means another thread fetched it meanwhile */
            run = stream_run(&writes, page, 1);
            n = clean_run(page, (size_t)run);
            cache_make_dirty(page, n);
            stream_took(&writes, page, n, run);
        }
        break;
    default: /* dirty already: another thread got here first */
        break;
    }
    futex_unlock(&cache_lock);
    errno = saved_errno;
}

int fault_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    reads = writes = (struct stream){SIZE_MAX, 0}; /* a new job's first fault starts none */
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &previous) != 0)
        return -errno;
    installed = 1;
    return 0;
}

void fault_uninstall(void)
{
    if (installed)
        sigaction(SIGSEGV, &previous, NULL);
    installed = 0;
}
