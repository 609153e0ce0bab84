/* sync: what the lock calls share with the other calls that go straight to a home. */
#ifndef GALLOCY_SYNC_H
#define GALLOCY_SYNC_H
#include <stddef.h>
#include <stdint.h>

/* The home of the len bytes at p, which must be 8-byte aligned, inside one allocated block
 * (extent.h) and on one home, and their offset; misuse is fatal, naming call (there is no
 * error return to use). */
int sync_word_home(const void *p, size_t len, const char *call, uint64_t *off);

#endif
