/* remote_free: frees of blocks homed on another rank, delivered one-sided, in batches, into a
 * ring in the owner's registered memory; the owner applies them on its next allocator call,
 * at a synchronisation, or from its service thread.  No message, no handler on the owner. */
#ifndef GALLOCY_REMOTE_FREE_H
#define GALLOCY_REMOTE_FREE_H
#include <stddef.h>
#include <stdint.h>

/* Frees the block of this rank's segment at offset off that rank sender freed (the
 * allocator's, above: it hands it in here). */
typedef void (*remote_free_apply_fn)(size_t off, const char *call, const void *p, int sender);
/* 0, or -ENOMEM. */
int remote_free_init(remote_free_apply_fn apply);
void remote_free_fini(void);

/* Queues the free of addr, homed on rank home, in this rank's outbox. */
void remote_free_send(int home, uintptr_t addr);
/* Delivers the outbox.  block = 0: skip when another thread is at it. */
void remote_free_flush(int block);
/* Applies the frees other ranks delivered here.  block = 0: skip when another thread is. */
void remote_free_drain(int block);

/* The slot where the next batch for this rank will appear: non-zero when one has. */
extern uint64_t *remote_free_next;
/* Drains when a batch has come; whether one had. */
static inline int remote_free_poll(void)
{
    uint64_t *s = __atomic_load_n(&remote_free_next, __ATOMIC_RELAXED);
    if (!s || !__atomic_load_n(s, __ATOMIC_RELAXED))
        return 0;
    remote_free_drain(0);
    return 1;
}

#endif
