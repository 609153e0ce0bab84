/* futex: a mutex and a wait/wake word that are safe to use from the fault handler (no
 * allocation, no pthread calls, only atomics and the futex system call). */
#ifndef GALLOCY_FUTEX_H
#define GALLOCY_FUTEX_H
#include <stdint.h>

typedef struct {
    uint32_t state; /* 0 free, 1 held, 2 held with waiters */
} futex_mutex_t;

/* A pause in a spin: lets the core's other hardware thread run, and saves power. */
static inline void futex_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#else
    __asm__ volatile("" ::: "memory");
#endif
}

void futex_lock(futex_mutex_t *m);
void futex_unlock(futex_mutex_t *m);
/* Sleeps while *word == expected, at most timeout_ns (0: no limit). */
void futex_wait(uint32_t *word, uint32_t expected, long timeout_ns);
void futex_wake_all(uint32_t *word);

#endif
