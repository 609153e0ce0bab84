/* remote_free: a ring of slots per rank.  Sender: idx = fetch_add(head, 1); wait while the ring
 * is full (idx - tail >= slots); CAS slot[idx % slots] from 0 to the address.  Owner: while
 * slot[tail % slots] != 0, take it, zero it, then publish tail + 1.  A slot is zeroed before
 * the tail passes it, so a sender never overwrites an entry not yet taken, and no entry is
 * taken twice: each index is reserved by exactly one sender and consumed in order. */
#include "remote_free.h"

#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "meta.h"
#include "options.h"
#include "space.h"
#include "stats.h"
#include "transport.h"

static uint64_t *slots, *tail_word;
static uint64_t tail; /* owner's consumed count; heap lock held */
static size_t nslots;

int remote_free_init(void)
{
    nslots = (size_t)opt.remote_free_slots;
    slots = (uint64_t *)(sp.alias + sp.meta_off + META_RFQ_SLOTS);
    tail_word = (uint64_t *)(sp.alias + sp.meta_off + META_RFQ_TAIL);
    tail = 0;
    return 0;
}

void remote_free_fini(void)
{
    slots = tail_word = NULL;
}

static void pause_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

void remote_free_send(int home, uintptr_t addr)
{
    uint64_t idx = tp->fetch_add(home, sp.meta_off + META_RFQ_HEAD, 1);
    long waited = 0;
    while (idx - tp->fetch_add(home, sp.meta_off + META_RFQ_TAIL, 0) >= nslots) {
        /* Full: the owner's service thread drains it; wait, and say so if it takes long. */
        pause_us(20);
        if (++waited == 50000)
            log_error("gallocy_free", "rank %d's queue of remote frees has been full for 1 s; "
                      "is that rank stuck? (GALLOCY_REMOTE_FREE_SLOTS raises its size)", home);
    }
    size_t slot = sp.meta_off + META_RFQ_SLOTS + (idx % nslots) * 8;
    while (tp->compare_swap(home, slot, 0, addr) != 0)
        pause_us(5); /* cannot stay: the tail passed this slot only after it was zeroed */
    stats_inc(remote_frees_sent);
}

void remote_free_drain_locked(void)
{
    if (!slots)
        return;
    uint64_t *s;
    uint64_t v;
    while ((v = __atomic_load_n(s = &slots[tail % nslots], __ATOMIC_ACQUIRE)) != 0) {
        __atomic_store_n(s, 0, __ATOMIC_RELAXED);
        tail++;
        __atomic_store_n(tail_word, tail, __ATOMIC_RELEASE);
        alloc_free_local_locked((uintptr_t)v, "gallocy_free (a free sent by another rank)");
        stats_inc(remote_frees_drained);
    }
}
