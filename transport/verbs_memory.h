/* verbs_memory: what this process and node let the verbs transport pin: RLIMIT_MEMLOCK (unless
 * CAP_IPC_LOCK), and the memory the node, or the job's memory cgroup, has free.  Pinned
 * memory cannot be swapped or reclaimed: past what is free, the kernel's OOM killer ends the
 * job without a word from gallocy, so gallocy looks first. */
#ifndef GALLOCY_VERBS_MEMORY_H
#define GALLOCY_VERBS_MEMORY_H
#include <stddef.h>

/* What the node keeps free of pinned memory: the kernel and the job need some too. */
#define VM_NODE_RESERVE ((unsigned long long)256 << 20)

enum { VM_PIN_OK, VM_PIN_MEMLOCK, VM_PIN_MEMORY };

/* Whether pinning more bytes is possible: pinned is what this rank holds already, memlock
 * its RLIMIT_MEMLOCK (RLIM_INFINITY: none; privileged: CAP_IPC_LOCK lifts it), available
 * what the node has free (0: unknown), node_ranks the ranks of this node pinning as much at
 * once.  VM_PIN_OK, or the limit in the way. */
int vm_pin_verdict(size_t more, size_t pinned, unsigned long long memlock, int privileged,
                   unsigned long long available, int node_ranks);
/* MemAvailable, or what the memory cgroup (v2) of this process has left below memory.max
 * when that is less; 0 when unknown.  Bytes. */
unsigned long long vm_memory_available(void);
/* The same, from these files (for tests): meminfo, and the cgroup's memory.max and
 * memory.current (NULL: none). */
unsigned long long vm_memory_available_from(const char *meminfo, const char *max,
                                            const char *current);
/* Whether this process has CAP_IPC_LOCK. */
int vm_privileged(void);

#endif
