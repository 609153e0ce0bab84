/* remote_free: frees of blocks homed on another rank, sent one-sided into a queue in the
 * owner's registered memory: one fetch-add reserves a slot, one compare-and-swap fills it.
 * The owner applies them on its next allocator call, at synchronisation, or from its service
 * thread; no message and no handler. */
#ifndef GALLOCY_REMOTE_FREE_H
#define GALLOCY_REMOTE_FREE_H
#include <stdint.h>

int remote_free_init(void);
void remote_free_fini(void);
void remote_free_send(int home, uintptr_t addr);
/* Owner side, heap lock held. */
void remote_free_drain_locked(void);
/* Implemented by alloc.c: frees a block of this rank's heap, heap lock held. */
void alloc_free_local_locked(uintptr_t addr, const char *call);

#endif
