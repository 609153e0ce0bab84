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

const char **node_heap_view, **node_coalloc_view;

/* What a rank tells the others so that they can open its memfd. */
struct node_card {
    int32_t leader; /* lowest rank on its node: equal leaders, same node */
    int32_t pid, fd;
};

static const char *map_part(int fd, size_t off, size_t len)
{
    if (!len)
        return NULL;
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, (off_t)off);
    if (p == MAP_FAILED)
        return NULL;
    madvise(p, len, MADV_DONTFORK); /* like the rest of gallocy's memory */
    return p;
}

static void unmap_part(const char *v, size_t len)
{
    if (v)
        munmap((void *)v, len);
}

/* Maps rank r's heap segment and collective region; 0, or -1 with errno. */
static int map_rank(int r, const struct node_card *c)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)c->pid, (int)c->fd);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    node_heap_view[r] = map_part(fd, (size_t)r * sp.heap_size, sp.heap_size);
    node_coalloc_view[r] = map_part(fd, sp.coalloc_off, sp.coalloc_size);
    int saved = errno;
    close(fd);
    if (!node_heap_view[r] || (sp.coalloc_size && !node_coalloc_view[r])) {
        unmap_part(node_heap_view[r], sp.heap_size);
        unmap_part(node_coalloc_view[r], sp.coalloc_size);
        node_heap_view[r] = node_coalloc_view[r] = NULL;
        errno = saved;
        return -1;
    }
    return 0;
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
    int peers = 0;
    for (int r = 0; r < n; r++)
        peers += r != sp.rank && cards[r].leader == mine.leader;
    if (!opt.node_shared || peers == 0) {
        if (peers && sp.rank == 0)
            log_verbose(1, "node: GALLOCY_NODE_SHARED=0: pages homed on this node come "
                        "through the transport");
        free(cards);
        return;
    }
    node_heap_view = calloc((size_t)n, sizeof *node_heap_view);
    node_coalloc_view = calloc((size_t)n, sizeof *node_coalloc_view);
    if (!node_heap_view || !node_coalloc_view) {
        node_fini();
        free(cards);
        return;
    }
    int mapped = 0;
    for (int r = 0; r < n; r++) {
        if (r == sp.rank || cards[r].leader != mine.leader)
            continue;
        if (map_rank(r, &cards[r]) == 0)
            mapped++;
        else
            log_verbose(1, "node: cannot map the memory of rank %d (pid %d): %s; its pages "
                        "come through the transport", r, (int)cards[r].pid, strerror(errno));
    }
    free(cards);
    log_verbose(1, "node: reads the memory of %d of the %d other ranks on this node directly",
                mapped, peers);
    if (!mapped)
        node_fini();
}

void node_fini(void)
{
    if (node_heap_view)
        for (int r = 0; r < sp.nranks; r++) {
            unmap_part(node_heap_view[r], sp.heap_size);
            unmap_part(node_coalloc_view[r], sp.coalloc_size);
        }
    free(node_heap_view);
    free(node_coalloc_view);
    node_heap_view = node_coalloc_view = NULL;
}
