/* remote_free: the batched ring.
 *
 * Sender: frees wait in this rank's outbox until it fills, the rank releases (release,
 * barrier, unlock, finalize) or its service thread is idle.  Then, per owner and per batch of
 * k addresses: idx = fetch_add(head, k + 1) reserves k + 1 slots; once the owner's tail shows
 * room, one put writes the addresses into slots idx+1 .. idx+k and a flush completes it;
 * last, a compare-and-swap of slot idx from 0 to the header (bit 63 | sender << 32 | k)
 * publishes the batch.  Three atomics and one put per batch, instead of per free.
 * Owner: while slot[tail] holds a header, copy out its k entries, zero the k + 1 slots, then
 * advance tail and store it where senders read it.
 * Why it is safe: each slot index is reserved by exactly one sender; a slot is zeroed before
 * the tail passes it, so a sender never writes over an entry not yet taken; the header is
 * written only after its entries are complete, so the owner never reads half a batch.
 */
#include "remote_free.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "meta.h"
#include "options.h"
#include "space.h"
#include "stats.h"
#include "transport.h"

enum { OUTBOX = 512, BATCH_MAX = 255 };
#define HEADER_BIT (1ull << 63)

uint64_t *remote_free_next;

/* Owner side. */
static uint64_t *slots, *tail_word;
static uint64_t tail; /* batches' slots consumed; drain_lock */
static size_t nslots;
static pthread_mutex_t drain_lock = PTHREAD_MUTEX_INITIALIZER;

/* Sender side. */
struct pending {
    int home;
    uint64_t addr;
};
static struct pending outbox[OUTBOX];
static size_t nout; /* out_lock */
static uint64_t *tail_seen; /* by home: the last tail read there */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static remote_free_apply_fn apply_free; /* the allocator's free of an own block */

int remote_free_init(remote_free_apply_fn apply)
{
    apply_free = apply;
    nslots = (size_t)opt.remote_free_slots;
    tail_seen = calloc((size_t)sp.nranks, sizeof *tail_seen);
    if (!tail_seen)
        return -ENOMEM;
    slots = (uint64_t *)(sp.alias + sp.meta_off + META_RFQ_SLOTS);
    tail_word = (uint64_t *)(sp.alias + sp.meta_off + META_RFQ_TAIL);
    tail = 0;
    nout = 0;
    __atomic_store_n(&remote_free_next, slots, __ATOMIC_RELEASE);
    return 0;
}

void remote_free_fini(void)
{
    __atomic_store_n(&remote_free_next, NULL, __ATOMIC_RELEASE);
    slots = tail_word = NULL;
    free(tail_seen);
    tail_seen = NULL;
}

static void pause_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Polls that yield the core before the waits sleep: two ranks that free each other's blocks
 * wait on each other, each draining its own ring between polls, and a 20 us sleep a poll
 * (60-80 us as these VMs keep time) slowed that exchange (bench_alloc remote-free: 7.5
 * against 10 M frees a second). */
enum { YIELD_POLLS = 2000 };

/* Waits until home's ring has consumed everything below end - nslots. */
static void wait_for_room(int home, uint64_t end)
{
    long polls = 0;
    double t0 = 0;
    int warned = 0;
    while (end - tail_seen[home] > nslots) {
        tail_seen[home] = tp->fetch_add(home, sp.meta_off + META_RFQ_TAIL, 0);
        if (end - tail_seen[home] <= nslots)
            return;
        /* Full: its owner drains it.  Drain ours meanwhile: it may be waiting on us. */
        remote_free_drain(0);
        if (polls++ < YIELD_POLLS) {
            sched_yield();
            continue;
        }
        pause_us(20);
        if (t0 == 0)
            t0 = seconds_now();
        else if (!warned && seconds_now() - t0 > 1) {
            log_error("gallocy_free", "rank %d's queue of remote frees has been full for 1 s; "
                      "is that rank stuck? (GALLOCY_REMOTE_FREE_SLOTS raises its size)", home);
            warned = 1;
        }
    }
}

static void send_batch(int home, const uint64_t *addr, size_t k)
{
    uint64_t idx = tp->fetch_add(home, sp.meta_off + META_RFQ_HEAD, k + 1);
    wait_for_room(home, idx + k + 1);
    size_t first = (size_t)((idx + 1) % nslots), n1 = nslots - first < k ? nslots - first : k;
    tp->put(home, sp.meta_off + META_RFQ_SLOTS + first * 8, addr, n1 * 8);
    if (n1 < k)
        tp->put(home, sp.meta_off + META_RFQ_SLOTS, addr + n1, (k - n1) * 8);
    tp->flush(home);
    uint64_t header = HEADER_BIT | (uint64_t)sp.rank << 32 | k;
    size_t hslot = sp.meta_off + META_RFQ_SLOTS + (size_t)(idx % nslots) * 8;
    if (tp->compare_swap(home, hslot, 0, header) != 0)
        log_fatal("gallocy_free", "rank %d's queue of remote frees is corrupted (slot %lu "
                  "was not empty)", home, (unsigned long)(idx % nslots));
    stats_add(remote_frees_sent, k);
    stats_inc(remote_free_batches);
}

static int by_home(const void *a, const void *b)
{
    const struct pending *x = a, *y = b;
    return x->home != y->home ? (x->home > y->home) - (x->home < y->home)
                              : (x->addr > y->addr) - (x->addr < y->addr);
}

static void flush_locked(void)
{
    size_t max = nslots - 1 < BATCH_MAX ? nslots - 1 : BATCH_MAX;
    uint64_t addr[BATCH_MAX];
    qsort(outbox, nout, sizeof *outbox, by_home);
    for (size_t i = 0; i < nout;) {
        size_t k = 0;
        int home = outbox[i].home;
        while (i < nout && outbox[i].home == home && k < max)
            addr[k++] = outbox[i++].addr;
        send_batch(home, addr, k);
    }
    __atomic_store_n(&nout, 0, __ATOMIC_RELAXED);
}

void remote_free_send(int home, uintptr_t addr)
{
    pthread_mutex_lock(&out_lock);
    outbox[nout] = (struct pending){home, addr};
    __atomic_store_n(&nout, nout + 1, __ATOMIC_RELAXED); /* read unlocked by the service thread */
    if (nout == OUTBOX)
        flush_locked();
    pthread_mutex_unlock(&out_lock);
}

void remote_free_flush(int block)
{
    if (!__atomic_load_n(&nout, __ATOMIC_RELAXED) && !block)
        return;
    if (block)
        pthread_mutex_lock(&out_lock);
    else if (pthread_mutex_trylock(&out_lock) != 0)
        return;
    if (nout)
        flush_locked();
    pthread_mutex_unlock(&out_lock);
}

void remote_free_drain(int block)
{
    if (!slots)
        return;
    if (block)
        pthread_mutex_lock(&drain_lock);
    else if (pthread_mutex_trylock(&drain_lock) != 0)
        return;
    uint64_t h, addr[BATCH_MAX];
    while ((h = __atomic_load_n(&slots[tail % nslots], __ATOMIC_ACQUIRE)) != 0) {
        size_t k = (uint32_t)h;
        int sender = (int)((h >> 32) & 0x7fffffff);
        if (!(h & HEADER_BIT) || k == 0 || k > BATCH_MAX || sender >= sp.nranks)
            log_fatal("gallocy_free", "this rank's queue of remote frees is corrupted (slot %lu "
                      "holds %#lx): was registered memory overwritten?",
                      (unsigned long)(tail % nslots), (unsigned long)h);
        for (size_t j = 0; j < k; j++) {
            uint64_t *s = &slots[(tail + 1 + j) % nslots];
            addr[j] = __atomic_load_n(s, __ATOMIC_RELAXED);
            __atomic_store_n(s, 0, __ATOMIC_RELAXED);
        }
        __atomic_store_n(&slots[tail % nslots], 0, __ATOMIC_RELAXED);
        tail += k + 1;
        __atomic_store_n(tail_word, tail, __ATOMIC_RELEASE);
        __atomic_store_n(&remote_free_next, &slots[tail % nslots], __ATOMIC_RELAXED);
        for (size_t j = 0; j < k; j++) {
            size_t off = space_off((void *)addr[j]) - space_my_heap_off();
            if (!space_contains((void *)addr[j]) || off >= sp.heap_size)
                log_fatal("gallocy_free", "rank %d sent a free of %p, which this rank does not "
                          "home", sender, (void *)addr[j]);
            apply_free(off, "gallocy_free", (void *)addr[j], sender);
        }
        stats_add(remote_frees_drained, k);
    }
    pthread_mutex_unlock(&drain_lock);
}
