/* node: mapping the memory of the other ranks on this node (see node.h). */
#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "options.h"
#include "runtime.h"

char **node_heap_view, **node_coalloc_view, **node_meta_view;
int node_all_mapped, node_cpu_atomics;
unsigned char *node_same;

/* What a rank tells the others so that they can open its memfd. */
struct node_card {
    int32_t leader; /* lowest rank on its node: equal leaders, same node */
    int32_t pid, fd;
};

static char *map_part(int fd, size_t off, size_t len)
{
    if (!len)
        return NULL;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, (off_t)off);
    if (p == MAP_FAILED)
        return NULL;
    madvise(p, len, MADV_DONTFORK); /* like the rest of gallocy's memory */
    return p;
}

static void unmap_part(char *v, size_t len)
{
    if (v)
        munmap(v, len);
}

static void unmap_all(void);

static void unmap_rank(int r)
{
    unmap_part(node_heap_view[r], sp.heap_size);
    unmap_part(node_coalloc_view[r], sp.coalloc_size);
    unmap_part(node_meta_view[r], sp.meta_size);
    node_heap_view[r] = node_coalloc_view[r] = node_meta_view[r] = NULL;
}

/* Maps the parts rank r homes: its heap segment, the collective region and its metadata;
 * 0, or -1 with errno. */
static int map_rank(int r, const struct node_card *c)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)c->pid, (int)c->fd);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    node_heap_view[r] = map_part(fd, (size_t)r * sp.heap_size, sp.heap_size);
    node_coalloc_view[r] = map_part(fd, sp.coalloc_off, sp.coalloc_size);
    node_meta_view[r] = map_part(fd, sp.meta_off, sp.meta_size);
    int saved = errno;
    close(fd);
    if (!node_heap_view[r] || (sp.coalloc_size && !node_coalloc_view[r]) || !node_meta_view[r]) {
        unmap_rank(r);
        errno = saved;
        return -1;
    }
    return 0;
}

/* Maps what it can; 1 when this rank maps every other rank of the job. */
static int map_peers(const struct node_card *cards, int peers)
{
    int n = sp.nranks, mine = cards[sp.rank].leader;
    node_heap_view = calloc((size_t)n, sizeof *node_heap_view);
    node_coalloc_view = calloc((size_t)n, sizeof *node_coalloc_view);
    node_meta_view = calloc((size_t)n, sizeof *node_meta_view);
    if (!node_heap_view || !node_coalloc_view || !node_meta_view) {
        unmap_all();
        return 0;
    }
    int mapped = 0;
    for (int r = 0; r < n; r++) {
        if (r == sp.rank || cards[r].leader != mine)
            continue;
        if (map_rank(r, &cards[r]) == 0)
            mapped++;
        else
            log_verbose(1, "node: cannot map the memory of rank %d (pid %d): %s; its pages "
                        "come through the transport", r, (int)cards[r].pid, strerror(errno));
    }
    log_verbose(1, "node: reaches the memory of %d of the %d other ranks on this node directly",
                mapped, peers);
    if (!mapped)
        unmap_all();
    return mapped == n - 1;
}

void node_init(void)
{
    int n = sp.nranks;
    int leader;
    rt_node_ranks(&leader);
    struct node_card mine = {leader, (int32_t)getpid(), sp.fd};
    struct node_card *cards = malloc((size_t)n * sizeof *cards);
    if (!cards) /* ends the job: the other ranks wait in the allgather */
        log_fatal("gallocy_init", "out of memory for %d ranks' node cards", n);
    rt_allgather(&mine, cards, sizeof mine);
    node_same = malloc((size_t)n);
    if (!node_same)
        log_fatal("gallocy_init", "out of memory for %d ranks' nodes", n);
    int peers = 0;
    for (int r = 0; r < n; r++) {
        node_same[r] = cards[r].leader == mine.leader;
        peers += r != sp.rank && node_same[r];
    }
    if (opt.node_shared && peers)
        node_all_mapped = map_peers(cards, peers);
    else if (peers && sp.rank == 0)
        log_verbose(1, "node: GALLOCY_NODE_SHARED=0: pages homed on this node come "
                    "through the transport");
    free(cards);
    /* CPU atomics only when every rank reaches every word that way: a word never sees
     * both kinds (a NIC's atomics are not atomic against the CPU's). */
    node_cpu_atomics = n > 1 && (int)rt_allreduce_min(node_all_mapped);
    if (sp.rank == 0 && n > 1)
        log_verbose(1, "node: atomics and locks with %s", node_cpu_atomics ?
                    "CPU atomics on the shared memory (every rank maps every other)" :
                    "the transport's atomics");
}

/* The views alone, when none can be used; node_same stays until node_fini. */
static void unmap_all(void)
{
    if (node_heap_view && node_coalloc_view && node_meta_view)
        for (int r = 0; r < sp.nranks; r++)
            unmap_rank(r);
    free(node_heap_view);
    free(node_coalloc_view);
    free(node_meta_view);
    node_heap_view = node_coalloc_view = node_meta_view = NULL;
    node_all_mapped = node_cpu_atomics = 0;
}

void node_fini(void)
{
    unmap_all();
    free(node_same);
    node_same = NULL;
}
