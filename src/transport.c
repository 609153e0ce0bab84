/* transport: the registry of backends, the choice among them (GALLOCY_TRANSPORT), and the
 * proof at start-up, with real traffic to a neighbour, that the operations gallocy relies on
 * give the right answers. */
#include "transport.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gallocy_api.h"
#include "lifecycle.h"
#include "log.h"
#include "options.h"
#include "runtime.h"

const struct tp_ops *tp;

const char *gallocy_transport(void)
{
    return lifecycle_is_up() ? tp->name : NULL;
}

/* The registry: the backends this build has (tp_built_in), sorted once (registry()) by
 * priority, the highest first, and the list of GALLOCY_TRANSPORT's values made from it. */
static const struct tp_backend *backends[TP_MAX_BACKENDS];
static int nbackends;
static char choices[160]; /* "auto, verbs or mpi" */

static int by_priority(const void *a, const void *b)
{
    int x = (*(const struct tp_backend *const *)a)->priority;
    int y = (*(const struct tp_backend *const *)b)->priority;
    return (x < y) - (x > y);
}

static void build_registry(void)
{
    for (nbackends = 0; nbackends < tp_built_in_count; nbackends++)
        backends[nbackends] = tp_built_in[nbackends];
    qsort(backends, (size_t)nbackends, sizeof *backends, by_priority);
    size_t n = (size_t)snprintf(choices, sizeof choices, "auto");
    for (int i = 0; i < nbackends && n < sizeof choices; i++)
        n += (size_t)snprintf(choices + n, sizeof choices - n, "%s%s",
                              i == nbackends - 1 ? " or " : ", ", backends[i]->name);
}

static const struct tp_backend *const *registry(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, build_registry);
    return backends;
}

const struct tp_backend *const *tp_backends(int *n)
{
    const struct tp_backend *const *b = registry();
    *n = nbackends;
    return b;
}

int tp_choice(const char *name)
{
    const struct tp_backend *const *b = registry();
    if (!strcmp(name, "auto"))
        return 0;
    for (int i = 0; i < nbackends; i++)
        if (!strcmp(name, b[i]->name))
            return i + 1;
    return -1;
}

const char *tp_choice_name(int choice)
{
    const struct tp_backend *const *b = registry();
    return choice == 0 ? "auto" : choice > 0 && choice <= nbackends ? b[choice - 1]->name : "?";
}

const char *tp_choices(void)
{
    registry();
    return choices;
}

/* Whether every rank can use b (each probes it; one reduction): a job runs on one transport.
 * forced: GALLOCY_TRANSPORT names it, and a rank that cannot use it says why. */
static int usable_everywhere(const struct tp_backend *b, const char *device, int forced)
{
    char why[256] = "";
    int usable = b->probe(device, why, sizeof why);
    if (!usable && forced)
        log_error("gallocy_init", "GALLOCY_TRANSPORT=%s, but %s; use GALLOCY_TRANSPORT=auto, "
                  "which takes the best transport every rank can use", b->name, why);
    int all = (int)rt_allreduce_min(usable);
    if (!all && b->unprobe)
        b->unprobe();
    if (!all && !forced && rt_rank() == 0)
        log_verbose(1, "transport: not %s: %s", b->name, usable ? "another rank cannot use it"
                                                               : why);
    return all;
}

int tp_init(const struct tp_config *cfg, const char *device)
{
    int choice = tp_choice(opt.transport), rc = -GALLOCY_ERR_TRANSPORT; /* core checked it */
    const struct tp_backend *const *b = registry(), *chosen = NULL;
    if (choice > 0) {
        if (usable_everywhere(b[choice - 1], device, 1))
            chosen = b[choice - 1];
    } else {
        for (int i = 0; i < nbackends && !chosen; i++)
            if (usable_everywhere(b[i], device, 0))
                chosen = b[i];
    }
    if (chosen)
        rc = chosen->create(cfg, &tp);
    if (rc == 0) /* ranks whose memory this rank maps: reached directly */
        tp = tp_node_layer(tp);
    if (rc == 0 && rt_rank() == 0)
        log_verbose(1, "transport: %s", tp->name);
    return rc;
}

void tp_fini(void)
{
    if (tp)
        tp->fini();
    tp = NULL;
}

int tp_expose(size_t off, size_t len, const char *call)
{
    char why[400] = "";
    if (!tp)
        log_fatal("gallocy (exposing memory)", "memory handed out before the transport "
                  "started (a gallocy bug)");
    if (!tp->expose || !len || tp->expose(off, len, why, sizeof why) == 0)
        return 0;
    /* An allocation retries once, and programs retry smaller: the same refusal once. */
    static pthread_mutex_t said_lock = PTHREAD_MUTEX_INITIALIZER;
    static char said[sizeof why];
    pthread_mutex_lock(&said_lock);
    char key[sizeof said];
    snprintf(key, sizeof key, "%s: %s", call ? call : "", why);
    if (call && strcmp(said, key)) {
        log_error(call, "%s", why);
        snprintf(said, sizeof said, "%s", key);
    }
    pthread_mutex_unlock(&said_lock);
    return -ENOMEM;
}

int tp_is_pinned(size_t off, size_t len)
{
    return tp && tp->pinned && tp->pinned(off, len);
}

int tp_selftest(volatile uint64_t *scratch, uint64_t off)
{
    int me = rt_rank(), n = rt_size(), right = (me + 1) % n, left = (me + n - 1) % n;
    int ok = 1;
    ok &= tp->fetch_add(right, off, (uint64_t)me + 1) == 0;
    ok &= tp->compare_swap(right, off + 8, 0, 42) == 0;
    ok &= tp->compare_swap(right, off + 8, 1, 99) == 42; /* fails: expected value differs */
    ok &= tp->compare_swap(right, off + 8, 42, 7) == 42;
    uint64_t mark = 0x6a11c0ull << 20 | (uint64_t)me, got = 0;
    tp->put(right, off + 16, &mark, sizeof mark);
    tp->flush(right);
    rt_barrier();
    ok &= scratch[0] == (uint64_t)left + 1 && scratch[1] == 7;
    ok &= scratch[2] == (0x6a11c0ull << 20 | (uint64_t)left);
    tp->get(&got, right, off + 16, sizeof got);
    tp->flush(right);
    ok &= got == (0x6a11c0ull << 20 | (uint64_t)me);
    rt_barrier();
    scratch[0] = scratch[1] = scratch[2] = 0;
    if (!ok)
        log_error("gallocy_init", "the %s transport failed its start-up check (fetch-add, "
                  "compare-and-swap, put and get to rank %d gave wrong results)", tp->name, right);
    return rt_allreduce_min(ok) ? 0 : -GALLOCY_ERR_TRANSPORT;
}
