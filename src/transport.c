/* transport: choose the backend (GALLOCY_TRANSPORT) and prove at start-up, with real traffic
 * to a neighbour, that the operations gallocy relies on give the right answers. */
#include "transport.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "gallocy.h"
#include "lifecycle.h"
#include "log.h"
#include "options.h"
#include "runtime.h"

const struct tp_ops *tp;

const char *gallocy_transport(void)
{
    return __atomic_load_n(&lifecycle_up, __ATOMIC_ACQUIRE) ? tp->name : NULL;
}

/* Verbs when every rank can use a device: a job runs on one transport. */
static int choose_verbs(const char *device, int forced)
{
    char why[256] = "";
    int usable = tp_verbs_open(device, why, sizeof why);
    if (!usable && forced)
        log_error("gallocy_init", "GALLOCY_TRANSPORT=verbs, but %s; use GALLOCY_TRANSPORT=mpi "
                  "(or auto) where there is no RDMA device", why);
    int all = (int)rt_allreduce_min(usable);
    if (!all)
        tp_verbs_close();
    if (!all && !forced && rt_rank() == 0)
        log_verbose(1, "transport: not verbs: %s", usable ? "another rank has no usable RDMA "
                    "device" : why);
    return all;
}

static const char *const choices[] = {"auto", "verbs", "mpi"};

const char *tp_choice_name(int choice)
{
    return choice >= 0 && choice < (int)(sizeof choices / sizeof *choices) ? choices[choice]
                                                                             : "?";
}

int tp_choice(const char *name)
{
    for (int i = 0; i < (int)(sizeof choices / sizeof *choices); i++)
        if (!strcmp(name, choices[i]))
            return i;
    return -1;
}

int tp_init(void *base, size_t size, const struct tp_range *ranges, int nranges,
            size_t meta_off, const char *device)
{
    int rc, choice = tp_choice(opt.transport), forced = choice == TP_CHOICE_VERBS;
    if (forced || choice == TP_CHOICE_AUTO) {
        if (choose_verbs(device, forced))
            rc = tp_verbs_create(base, ranges, nranges, meta_off, &tp);
        else
            rc = forced ? -GALLOCY_ERR_TRANSPORT : tp_mpi_create(base, size, meta_off, &tp);
    } else {
        rc = tp_mpi_create(base, size, meta_off, &tp); /* core checked the name */
    }
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
