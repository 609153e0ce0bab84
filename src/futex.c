/* futex: Drepper's three-state mutex ("Futexes are tricky", mutex3). */
#include "futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long sys_futex(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

/* Polls before sleeping on a held lock: a holder on another core usually lets go within a
 * few microseconds (a fault served in the faulting thread holds cache_lock about that long),
 * while a sleep costs the holder's unlock a wake-up of this core.  Bounded, so a holder that
 * shares this core (it must run to let go) loses little. */
enum { SPIN_POLLS = 200 };

void futex_lock(futex_mutex_t *m)
{
    uint32_t c = 0;
    if (__atomic_compare_exchange_n(&m->state, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
    for (int i = 0; i < SPIN_POLLS; i++) {
        futex_relax();
        if (__atomic_load_n(&m->state, __ATOMIC_RELAXED) != 0)
            continue;
        c = 0;
        if (__atomic_compare_exchange_n(&m->state, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
    }
    c = __atomic_load_n(&m->state, __ATOMIC_RELAXED);
    if (c != 2)
        c = __atomic_exchange_n(&m->state, 2, __ATOMIC_ACQUIRE);
    while (c != 0) {
        sys_futex(&m->state, FUTEX_WAIT_PRIVATE, 2, NULL);
        c = __atomic_exchange_n(&m->state, 2, __ATOMIC_ACQUIRE);
    }
}

void futex_unlock(futex_mutex_t *m)
{
    if (__atomic_fetch_sub(&m->state, 1, __ATOMIC_RELEASE) != 1) {
        __atomic_store_n(&m->state, 0, __ATOMIC_RELEASE);
        sys_futex(&m->state, FUTEX_WAKE_PRIVATE, 1, NULL);
    }
}

void futex_wait(uint32_t *word, uint32_t expected, long timeout_ns)
{
    struct timespec ts = {timeout_ns / 1000000000L, timeout_ns % 1000000000L};
    sys_futex(word, FUTEX_WAIT_PRIVATE, expected, timeout_ns ? &ts : NULL);
}

void futex_wake_all(uint32_t *word)
{
    sys_futex(word, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL);
}
