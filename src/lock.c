/* lock: gallocy_lock, gallocy_trylock and gallocy_unlock, a FIFO ticket lock at the lock's
 * home: word[0] is the next ticket, word[1] the ticket being served; trylock takes a ticket
 * only when it would be served at once.
 *
 * Each rank keeps the locks it holds.  A ticket lock has no owner word, so an unlock by a rank
 * that does not hold it would serve a ticket nobody was given: every later trylock fails and
 * every lock waits forever, on every rank.  The list turns that, and a thread taking a lock it
 * already holds (which would wait for itself), into a message naming the call and the lock. */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>

#include "cache.h"
#include "futex.h"
#include "gallocy_api.h"
#include "lifecycle.h"
#include "log.h"
#include "space.h"
#include "stats.h"
#include "sync.h"
#include "transport.h"
#include "vec.h"

/* A wait longer than this says so once (a rank may have died holding the lock, or never
 * unlock it); the wait goes on, as a long critical section is not an error. */
enum { LOCK_WAIT_WARN_S = 60 };

struct held {
    uint64_t off; /* the lock's offset in the global range */
    pthread_t thread;
};

static struct held *held;
static size_t nheld, held_cap;
static pthread_mutex_t held_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Under held_mutex: the index of the lock at off in held, or -1. */
static long find_held(uint64_t off)
{
    for (size_t i = 0; i < nheld; i++)
        if (held[i].off == off)
            return (long)i;
    return -1;
}

static void note_taken(uint64_t off)
{
    pthread_mutex_lock(&held_mutex);
    if (nheld == held_cap)
        held = vec_grow(held, &held_cap, sizeof *held, "the locks this rank holds");
    held[nheld++] = (struct held){.off = off, .thread = pthread_self()};
    pthread_mutex_unlock(&held_mutex);
    cache_locks_held(1);
}

/* Fatal when the calling thread already holds the lock at off: it would wait for itself. */
static void refuse_recursion(const gallocy_lock_t *l, uint64_t off, const char *call)
{
    pthread_mutex_lock(&held_mutex);
    long i = find_held(off);
    int mine = i >= 0 && pthread_equal(held[i].thread, pthread_self());
    pthread_mutex_unlock(&held_mutex);
    if (mine)
        log_fatal(call, "this thread already holds the lock at %p, and would wait for itself: "
                  "gallocy locks are not recursive; unlock it first", (const void *)l);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

/* How long a waiter polls without giving up its core: a handover between two running ranks
 * with CPU atomics takes well under a microsecond, and a yield here costs about one (the
 * contended lock of bench_sync took 3.3 us a pair when every poll yielded). */
#define SPIN_S 5e-6

/* Between two polls of a lock: first a short spin (unless spin is 0), then yields, then
 * sleeps that grow, so that a long wait leaves the core to others (the holder may share
 * it). */
static void wait_a_bit(int *round, const struct timespec *t0, int spin)
{
    if (spin && *round == 0 && seconds_since(t0) < SPIN_S) {
        for (int i = 0; i < 16; i++)
            futex_relax();
        return;
    }
    if (*round < 64) {
        sched_yield();
    } else {
        struct timespec ts = {0, (*round < 1024 ? *round : 1024) * 100L};
        nanosleep(&ts, NULL);
    }
    (*round)++;
}

void gallocy_lock(gallocy_lock_t *l)
{
    LIFECYCLE_REQUIRE("gallocy_lock");
    uint64_t off;
    int home = sync_word_home(l, sizeof *l, "gallocy_lock", &off);
    refuse_recursion(l, off, "gallocy_lock");
    uint64_t ticket = tp->fetch_add(home, off, 1);
    int round = 0, warned = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t serving;
    /* A lock homed here whose other users' atomics need this rank's progress: the service
     * thread must get the core between polls (contended through MPI, a lock and increment
     * took 32 us a pair with the spin, 25 without). */
    int spin = home != sp.rank || !tp->atomics_need_target;
    while ((serving = tp->fetch_add(home, off + 8, 0)) != ticket) {
        wait_a_bit(&round, &t0, spin);
        if (!warned && (round & 255) == 0 && seconds_since(&t0) > LOCK_WAIT_WARN_S) {
            log_error("gallocy_lock", "has waited %d s for the lock at %p (home rank %d; "
                      "%llu holder or waiter(s) ahead): a rank may hold it and never unlock, "
                      "or have died holding it; still waiting", LOCK_WAIT_WARN_S,
                      (void *)l, home, (unsigned long long)(ticket - serving));
            warned = 1;
        }
    }
    note_taken(off);
    gallocy_acquire();
    stats_inc(locks);
}

int gallocy_trylock(gallocy_lock_t *l)
{
    LIFECYCLE_REQUIRE("gallocy_trylock");
    uint64_t off;
    int home = sync_word_home(l, sizeof *l, "gallocy_trylock", &off);
    refuse_recursion(l, off, "gallocy_trylock");
    uint64_t serving = tp->fetch_add(home, off + 8, 0);
    if (tp->compare_swap(home, off, serving, serving + 1) != serving)
        return 0;
    note_taken(off);
    gallocy_acquire();
    stats_inc(locks);
    return 1;
}

void gallocy_unlock(gallocy_lock_t *l)
{
    LIFECYCLE_REQUIRE("gallocy_unlock");
    uint64_t off;
    int home = sync_word_home(l, sizeof *l, "gallocy_unlock", &off);
    pthread_mutex_lock(&held_mutex);
    long i = find_held(off);
    if (i >= 0)
        held[i] = held[--nheld];
    pthread_mutex_unlock(&held_mutex);
    if (i >= 0)
        cache_locks_held(-1);
    if (i < 0)
        log_fatal("gallocy_unlock", "the lock at %p is not held by this rank (a second unlock, "
                  "or an unlock without gallocy_lock): giving it would break it for every "
                  "rank; unlock only what this rank locked", (void *)l);
    gallocy_release();
    tp->fetch_add(home, off + 8, 1);
}
