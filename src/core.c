/* core: options, machine checks, then space, cache, allocators, fault handler, transport and
 * service thread, in that order; teardown in reverse. */
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "alloc.h"
#include "cache.h"
#include "coalloc.h"
#include "coherence.h"
#include "fault.h"
#include "fault_server.h"
#include "gallocy_api.h"
#include "lifecycle.h"
#include "log.h"
#include "meta.h"
#include "node.h"
#include "notice.h"
#include "numa.h"
#include "options.h"
#include "pagetable.h"
#include "pin.h"
#include "prot.h"
#include "runtime.h"
#include "space.h"
#include "stats.h"
#include "svc.h"
#include "transport.h"

/* One verdict for all ranks: a rank that fails alone must not leave the others waiting in
 * the next collective. */
static int agree(int rc)
{
    long worst = rt_allreduce_min(rc);
    return (int)worst;
}

static int check_options(void)
{
    char err[256];
    int rc = opt_load(err, sizeof err);
    if (rc) {
        log_error("gallocy_init", "%s", err);
        return rc;
    }
    char unknown[512];
    size_t nunknown = opt_unknown(unknown, sizeof unknown);
    if (nunknown) /* as UCX does: a misspelt setting must not pass unnoticed */
        log_error("gallocy_init", "%zu variable%s of the environment named GALLOCY_ %s not "
                  "a gallocy setting, and %s ignored: %s (gallocy-info lists the settings)",
                  nunknown, nunknown > 1 ? "s" : "", nunknown > 1 ? "are" : "is",
                  nunknown > 1 ? "are" : "is", unknown);
    if (tp_choice(opt.transport) < 0) {
        log_error("gallocy_init", "GALLOCY_TRANSPORT=%s is not %s (the transports this build "
                  "has; gallocy-info lists them)", opt.transport, tp_choices());
        return -EINVAL;
    }
    enum numa_policy policy;
    if (numa_parse_policy(opt.numa, &policy) != 0) {
        log_error("gallocy_init", "GALLOCY_NUMA=%s is not auto, local, device, interleave or "
                  "none", opt.numa);
        return -EINVAL;
    }
    if (sysconf(_SC_PAGESIZE) != (long)GPAGE) {
        log_error("gallocy_init", "this build supports %zu-byte pages only", GPAGE);
        return -EINVAL;
    }
    struct sysinfo si;
    if (sysinfo(&si) == 0) {
        unsigned long long backable =
            ((unsigned long long)si.totalram + si.totalswap) * si.mem_unit;
        if (opt.heap_size > backable || opt.coalloc_size > backable) {
            log_error("gallocy_init", "GALLOCY_HEAP_SIZE=%zu or GALLOCY_COALLOC_SIZE=%zu is more "
                      "than this machine can back (%llu MiB of memory and swap); lower it",
                      opt.heap_size, opt.coalloc_size, backable >> 20);
            return -ENOMEM;
        }
    }
    return 0;
}

/* What must be the same everywhere, checked before any rank waits on another: the layout of
 * the range depends on the sizes, and the transports' set-ups are different collectives. */
static int check_options_agree(void)
{
    const struct {
        const char *name;
        long value;
    } must[] = {
        {"GALLOCY_HEAP_SIZE", (long)opt.heap_size},
        {"GALLOCY_COALLOC_SIZE", (long)opt.coalloc_size},
        {"GALLOCY_REMOTE_FREE_SLOTS", opt.remote_free_slots},
        {"GALLOCY_TRANSPORT", tp_choice(opt.transport)},
    };
    int same = 1;
    for (size_t i = 0; i < sizeof must / sizeof *must; i++) {
        long lo = rt_allreduce_min(must[i].value), hi = rt_allreduce_max(must[i].value);
        if (lo == hi)
            continue;
        same = 0;
        if (rt_rank() != 0)
            continue;
        if (!strcmp(must[i].name, "GALLOCY_TRANSPORT"))
            log_error("gallocy_init", "%s is not the same on every rank (%s on some, %s on "
                      "others): set it once for the whole job (mpirun -x %s)", must[i].name,
                      tp_choice_name((int)lo), tp_choice_name((int)hi), must[i].name);
        else
            log_error("gallocy_init", "%s is not the same on every rank (%ld on some, %ld on "
                      "others): set it once for the whole job (mpirun -x %s)", must[i].name,
                      lo, hi, must[i].name);
    }
    return same ? 0 : -EINVAL;
}

void core_fini(void)
{
    lifecycle_set_up(0);
    fault_server_stop();
    svc_stop();
    tp_fini();
    fault_uninstall();
    prot_fini();
    node_fini();
    alloc_fini();
    coalloc_fini();
    notice_fini();
    cache_fini();
    pagetable_fini();
    space_fini();
    numa_fini();
}

void core_abandon(void)
{
    lifecycle_set_up(0);
    fault_server_stop();
    svc_stop();
}

int core_init(void)
{
    lifecycle_watch_fork();
    log_set_rank(rt_rank());
    stats_reset();
    pin_new_generation();
    int rc = agree(check_options());
    if (rc == 0)
        rc = check_options_agree();
    if (rc)
        return rc;
    size_t n = (size_t)rt_size();
    if (opt.heap_size > (1ull << 45) / n) {
        if (rt_rank() == 0)
            log_error("gallocy_init", "%zu ranks x GALLOCY_HEAP_SIZE=%zu do not fit in the "
                      "address space; lower GALLOCY_HEAP_SIZE", n, opt.heap_size);
        return -ENOMEM;
    }
    if ((rc = agree(prot_choose())) != 0) {
        prot_fini(); /* a rank that opened a userfaultfd while another failed */
        return rc;
    }
    if (rt_rank() == 0)
        log_verbose(1, "faults: %s", prot_way_name(prot_way));
    rc = space_init(opt.heap_size, opt.coalloc_size,
                    meta_size(opt.heap_size, (size_t)opt.remote_free_slots));
    /* The page tables' way needs the view mapped and registered.  space_init's verdict is the
     * same on every rank, so all or none take part in this one. */
    if (!rc)
        rc = agree(prot_setup());
    if (rc) { /* prot_choose's userfaultfd too: a later gallocy_init opens its own */
        space_fini();
        prot_fini();
        return rc;
    }
    space_set_pinned_test(tp_is_pinned);
    /* Before anything touches the memfd: its pages land where the placement says. */
    numa_init();
    numa_bind(sp.alias, sp.total, "home segment, cache and queues");
    node_init();
    rc = pagetable_init(sp.range / GPAGE);
    if (!rc)
        rc = cache_init();
    if (!rc)
        rc = notice_init();
    if (!rc)
        rc = coalloc_init();
    if (!rc)
        rc = alloc_init();
    if (!rc) {
        coherence_init();
        rc = fault_install();
    }
    if ((rc = agree(rc)) != 0) {
        if (rt_rank() == 0)
            log_error("gallocy_init", "out of memory for gallocy's bookkeeping");
        core_fini();
        return rc;
    }
    /* What other ranks address: the metadata from the start; this rank's home segment and
     * the collective region (each rank homes part of it) as the allocators hand them out.
     * Cached copies of other ranks' pages are private. */
    struct tp_range exposed[3] = {{sp.meta_off, sp.meta_size, 0},
                                  {space_my_heap_off(), sp.heap_size, 1}};
    int nexposed = 2;
    if (sp.coalloc_size)
        exposed[nexposed++] = (struct tp_range){sp.coalloc_off, sp.coalloc_size, 1};
    /* Collective, agreed inside; the device placement found nearest is a preference. */
    struct tp_config cfg = {
        .base = sp.alias,
        .size = sp.total,
        .ranges = exposed,
        .nranges = nexposed,
        .meta_off = sp.meta_off + meta_transport_off((size_t)opt.remote_free_slots),
    };
    rc = tp_init(&cfg, numa_chosen.device);
    if (!rc)
        rc = agree(svc_start());
    if (!rc)
        rc = agree(fault_server_start());
    if (!rc)
        rc = tp_selftest((volatile uint64_t *)(sp.alias + sp.meta_off + META_SCRATCH),
                         sp.meta_off + META_SCRATCH);
    if (rc) {
        core_fini();
        return rc;
    }
    rt_barrier();
    lifecycle_set_up(1);
    return 0;
}
