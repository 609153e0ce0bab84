/* svc: one request slot (handlers take turns at it: faults of several threads may fetch at
 * once, cache.h's flights) and a loop that serves it, or progresses the transport while
 * idle. */
#include "svc.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include "alloc.h"
#include "futex.h"
#include "space.h"
#include "transport.h"

static pthread_t thread;
static int running;
static uint32_t req_seq, done_seq;
/* Set by each side just before it sleeps on the other's word, so that the other makes the
 * wake system call only when someone sleeps (a fault made two of them, each about 0.5 us
 * here, though the other side was usually awake).  Each side stores its word, then a seq_cst
 * fence, then reads the other's flag; the sleeper stores its flag, a fence, and futex_wait
 * compares the word: one of the two always sees the other, so no wake is lost. */
static int svc_sleeping, fetcher_sleeping;
static struct {
    int home;
    size_t off, len;
} req;
static futex_mutex_t slot; /* one request at a time */

/* Polls before sleeping, after a request: faults come in bursts.  Each poll yields the core:
 * the faulting thread often shares it with this one (2 ranks on 2 cores), and a spin that
 * held the core made each fault of a burst wait out its time slice (bench_fault: 50 us a
 * fault with the plain spin, 29 us with the yield). */
enum { SPIN_POLLS = 200 };
/* The faulting thread yields this many times before sleeping on the answer: the service
 * thread often runs on its core, and a fetch takes a few microseconds (bench_fault, transport
 * path: 13.2 us a fault without, 12.4 with). */
enum { WAIT_YIELDS = 64 };

static void wake_if(int *sleeping, uint32_t *word)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(sleeping, __ATOMIC_RELAXED))
        futex_wake_all(word);
}

/* Sleeps on word while it holds seen (or until timeout_ns, 0 = none); see svc_sleeping. */
static void sleep_on(int *sleeping, uint32_t *word, uint32_t seen, long timeout_ns)
{
    __atomic_store_n(sleeping, 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    futex_wait(word, seen, timeout_ns);
    __atomic_store_n(sleeping, 0, __ATOMIC_RELAXED);
}

void svc_fetch(int home, size_t off, size_t len)
{
    futex_lock(&slot);
    req.home = home;
    req.off = off;
    req.len = len;
    uint32_t s = __atomic_load_n(&req_seq, __ATOMIC_RELAXED) + 1;
    __atomic_store_n(&req_seq, s, __ATOMIC_RELEASE);
    wake_if(&svc_sleeping, &req_seq);
    for (int i = 0; i < WAIT_YIELDS && __atomic_load_n(&done_seq, __ATOMIC_ACQUIRE) != s; i++)
        sched_yield();
    uint32_t d;
    while ((d = __atomic_load_n(&done_seq, __ATOMIC_ACQUIRE)) != s)
        sleep_on(&fetcher_sleeping, &done_seq, d, 0);
    futex_unlock(&slot);
}

static void *svc_main(void *arg)
{
    (void)arg;
    uint32_t served = 0;
    int spins = 0, sleep_us = 0;
    while (__atomic_load_n(&running, __ATOMIC_ACQUIRE)) {
        uint32_t r = __atomic_load_n(&req_seq, __ATOMIC_ACQUIRE);
        if (r != served) {
            tp->get(sp.alias + req.off, req.home, req.off, req.len);
            tp->flush(req.home);
            served = r;
            __atomic_store_n(&done_seq, r, __ATOMIC_RELEASE);
            wake_if(&fetcher_sleeping, &done_seq);
            spins = SPIN_POLLS;
            continue;
        }
        /* A transport whose progress is a system call is looked at once per idle tick, not on
         * every spin after a fetch. */
        if (tp->poll_while_spinning || !spins)
            sleep_us = tp->progress();
        /* Frees from other ranks come in streams, and a sender whose batches fill this
         * rank's ring waits for it to drain (while this rank's own threads may be blocked
         * in a barrier): poll again soon, as after a fetch. */
        if (alloc_sync(0))
            spins = SPIN_POLLS;
        if (spins > 0) {
            spins--;
            sched_yield();
        } else if (sleep_us > 0) {
            sleep_on(&svc_sleeping, &req_seq, r, sleep_us * 1000L);
        } else {
            sched_yield(); /* a timeout of 0 would wait for a request alone */
        }
    }
    return NULL;
}

int svc_start(void)
{
    sigset_t all, old;
    sigfillset(&all);
    /* The application's signals go to its own threads, never to this one. */
    pthread_sigmask(SIG_BLOCK, &all, &old);
    running = 1;
    req_seq = done_seq = 0;
    int rc = pthread_create(&thread, NULL, svc_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        running = 0;
        return -rc;
    }
    return 0;
}

void svc_stop(void)
{
    if (!running)
        return;
    __atomic_store_n(&running, 0, __ATOMIC_RELEASE);
    __atomic_fetch_add(&req_seq, 0, __ATOMIC_RELEASE);
    futex_wake_all(&req_seq);
    pthread_join(thread, NULL);
}
