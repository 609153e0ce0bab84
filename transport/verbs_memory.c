/* verbs_memory: /proc and /sys read as the kernel's OOM killer would count. */
#include "verbs_memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

int vm_pin_verdict(size_t more, size_t pinned, unsigned long long memlock, int privileged,
                   unsigned long long available, int node_ranks)
{
    if (!privileged && memlock != (unsigned long long)RLIM_INFINITY && pinned + more > memlock)
        return VM_PIN_MEMLOCK;
    if (available &&
        (unsigned long long)more * (unsigned)(node_ranks > 0 ? node_ranks : 1) +
                VM_NODE_RESERVE > available)
        return VM_PIN_MEMORY;
    return VM_PIN_OK;
}

/* The number after key on the first line of path that starts with key ("": the first
 * line); 0 when there is none, or it is not a number ("max"). */
static unsigned long long read_number(const char *path, const char *key)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    char line[256];
    unsigned long long v = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, strlen(key))) {
            v = strtoull(line + strlen(key), NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

unsigned long long vm_memory_available_from(const char *meminfo, const char *max,
                                            const char *current)
{
    unsigned long long avail = read_number(meminfo, "MemAvailable:") << 10;
    unsigned long long limit = read_number(max, ""), used = read_number(current, "");
    if (limit) {
        unsigned long long left = limit > used ? limit - used : 1; /* 1: nothing left, known */
        if (!avail || left < avail)
            avail = left;
    }
    return avail;
}

unsigned long long vm_memory_available(void)
{
    char line[512], max[700] = "", cur[700] = "";
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f && fgets(line, sizeof line, f) && !strncmp(line, "0::", 3)) { /* cgroup v2 */
        line[strcspn(line, "\n")] = 0;
        snprintf(max, sizeof max, "/sys/fs/cgroup%s/memory.max", line + 3);
        snprintf(cur, sizeof cur, "/sys/fs/cgroup%s/memory.current", line + 3);
    }
    if (f)
        fclose(f);
    return vm_memory_available_from("/proc/meminfo", *max ? max : NULL, *cur ? cur : NULL);
}

int vm_privileged(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long caps = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "CapEff: %llx", &caps) == 1)
            break;
    fclose(f);
    return (caps >> 14) & 1; /* CAP_IPC_LOCK */
}
