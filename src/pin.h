/* pin: global memory made ready for a party that reads or writes it behind gallocy's back:
 * MPI (its copies, its progress in any thread, other processes' single-copy transfers) and
 * the kernel (system calls).  Ready means present here, and writable when asked, and a pin
 * keeps it so across releases and acquires until dropped (cache.h).  Never from a signal
 * handler: it may call the transport. */
#ifndef GALLOCY_PIN_H
#define GALLOCY_PIN_H
#include <stddef.h>

/* Pages of the global range that a pin holds; n = 0 for none. */
struct pin_span {
    size_t page, n;
    unsigned generation; /* of the gallocy_init it was pinned under */
};

/* Makes the global part of [p, p+len) ready (readable, and writable if write), with one
 * transfer per run of pages of one home, and pins it if keep.  *out is what was pinned.
 * 0 (also when nothing of it is global, or gallocy is not initialised), or -EINVAL when
 * part of it is global memory that no allocation holds (nothing is pinned then). */
int pin_ready(const void *p, size_t len, int write, int keep, struct pin_span *out);
/* Drops a pin of pin_ready; a span from before a finalize is ignored. */
void pin_drop(struct pin_span *s);
/* At every gallocy_init: spans pinned before are void. */
void pin_new_generation(void);

#endif
