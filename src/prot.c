/* prot: page states of the application view through mprotect or userfaultfd (see prot.h). */
#include "prot.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gallocy_api.h"
#include "lifecycle.h"
#include "log.h"
#include "options.h"
#include "space.h"
#include "stats.h"
#include "uffd_probe.h"
#include "vg.h"

int prot_way = PROT_WAY_MPROTECT;
int prot_uffd = -1;
static char uffd_why[160];

const char *prot_way_name(int way)
{
    return way == PROT_WAY_UFFD ? "uffd" : way == PROT_WAY_SIGBUS ? "sigbus" : "mprotect";
}

const char *gallocy_faults(void)
{
    return lifecycle_is_up() ? prot_way_name(prot_way) : NULL;
}

int prot_choose(void)
{
    const char *f = opt.faults;
    int want = !strcmp(f, "uffd") ? PROT_WAY_UFFD : !strcmp(f, "sigbus") ? PROT_WAY_SIGBUS
                                                  : !strcmp(f, "mprotect") ? PROT_WAY_MPROTECT
                                                                           : -1;
    if (want < 0 && strcmp(f, "auto")) {
        log_error("gallocy_init", "GALLOCY_FAULTS=%s is not auto, uffd, sigbus or mprotect", f);
        return -EINVAL;
    }
    prot_way = PROT_WAY_MPROTECT;
    prot_uffd = -1;
    if (want == PROT_WAY_MPROTECT)
        return 0;
    if (vg_running()) { /* valgrind knows no userfaultfd, and runs one thread at a time */
        snprintf(uffd_why, sizeof uffd_why, "running under valgrind");
        if (want < 0)
            return 0;
        log_error("gallocy_init", "GALLOCY_FAULTS=%s, but %s; use GALLOCY_FAULTS=mprotect (or "
                  "auto)", f, uffd_why);
        return -EINVAL;
    }
    prot_uffd = uffd_probe_open(want == PROT_WAY_SIGBUS, uffd_why, sizeof uffd_why);
    if (prot_uffd >= 0) {
        prot_way = want < 0 ? PROT_WAY_UFFD : want;
        return 0;
    }
    if (want < 0) {
        log_verbose(1, "faults: mprotect (%s)", uffd_why);
        return 0;
    }
    log_error("gallocy_init", "GALLOCY_FAULTS=%s, but %s; use GALLOCY_FAULTS=mprotect (or auto)",
              f, uffd_why);
    return -EINVAL;
}

static int uffd_register(size_t off, size_t len, __u64 mode)
{
    struct uffdio_register reg = {{(uintptr_t)(sp.base + off), len}, mode, 0};
    if (len == 0 || ioctl(prot_uffd, UFFDIO_REGISTER, &reg) == 0)
        return 0;
    int e = errno;
    log_error("gallocy_init", "userfaultfd registration of %zu bytes at %p failed: %s", len,
              (void *)(sp.base + off), strerror(e));
    return -e;
}

int prot_setup(void)
{
    if (prot_way == PROT_WAY_MPROTECT)
        return 0;
    /* Every heap segment is accessible: absent pages fault to gallocy.  The collective area
     * opens allocation by allocation (prot_region_open). */
    size_t heaps = sp.coalloc_off, mine = space_my_heap_off();
    if (mprotect(sp.base, heaps, PROT_READ | PROT_WRITE) != 0)
        return -errno;
    const __u64 all = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR |
                      UFFDIO_REGISTER_MODE_WP;
    /* This rank's own segment is plain memory: its first touches are ordinary faults, and
     * only write-protection (pages other ranks cache) reaches gallocy. */
    int rc = uffd_register(0, mine, all);
    if (!rc)
        rc = uffd_register(mine, sp.heap_size, UFFDIO_REGISTER_MODE_WP);
    if (!rc)
        rc = uffd_register(mine + sp.heap_size, heaps - mine - sp.heap_size, all);
    if (!rc)
        rc = uffd_register(sp.coalloc_off, sp.coalloc_size, all);
    return rc;
}

void prot_fini(void)
{
    if (prot_uffd >= 0)
        close(prot_uffd); /* waiters, if any, retry their faults on what the view is then */
    prot_uffd = -1;
    prot_way = PROT_WAY_MPROTECT;
}

static int protect(size_t off, size_t len, int prot)
{
    stats_inc(protection_changes);
    if (mprotect(sp.base + off, len, prot) == 0) {
        vg_accessible(sp.base + off, len); /* gallocy serves the faults (vg.h) */
        return 0;
    }
    if (errno == ENOMEM)
        return -ENOMEM;
    log_fatal("gallocy (page protection)", "mprotect(%p, %zu) failed: %s",
              (void *)(sp.base + off), len, strerror(errno));
}

/* An ioctl on a range of the view; EAGAIN (the address space is changing: fork) is retried,
 * except for CONTINUE, which may have done part of the range (its caller goes on). */
static int uffd_call(unsigned long req, void *arg)
{
    stats_inc(protection_changes);
    for (;;) {
        if (ioctl(prot_uffd, req, arg) == 0)
            return 0;
        if (errno != EAGAIN || req == UFFDIO_CONTINUE)
            return -errno;
    }
}

static _Noreturn void uffd_failed(const char *what, size_t off, size_t len, int err)
{
    log_fatal("gallocy (page protection)", "userfaultfd %s of %zu bytes at %p failed: %s", what,
              len, (void *)(sp.base + off), strerror(-err));
}

int prot_map(size_t off, size_t len, int writable)
{
    if (len == 0)
        return 0;
    if (prot_way == PROT_WAY_MPROTECT)
        return protect(off, len, writable ? PROT_READ | PROT_WRITE : PROT_READ);
    /* This rank's segment is registered for write-protection only: its pages are mapped by
     * ordinary faults, and only their protection is gallocy's. */
    if (off >= space_my_heap_off() && off + len <= space_my_heap_off() + sp.heap_size)
        return prot_set_writable(off, len, writable);
    while (len) {
        struct uffdio_continue c = {{(uintptr_t)(sp.base + off), len},
                                    writable ? 0 : UFFDIO_CONTINUE_MODE_WP, 0};
        int rc = uffd_call(UFFDIO_CONTINUE, &c);
        size_t done;
        if (rc == 0)
            return 0;
        if (rc == -EAGAIN) { /* part mapped (and its waiters woken), or nothing yet: go on */
            done = c.mapped > 0 ? (size_t)c.mapped : 0;
        } else if (rc == -EEXIST) {
            /* The first page has an entry (the kernel kept one, or a racing fault's): give
             * it the protection asked for, which also wakes its waiters. */
            prot_set_writable(off, GPAGE, writable);
            done = GPAGE;
        } else {
            uffd_failed("map (CONTINUE)", off, len, rc);
        }
        off += done;
        len -= done;
    }
    return 0;
}

int prot_unmap(size_t off, size_t len)
{
    if (len == 0)
        return 0;
    if (prot_way == PROT_WAY_MPROTECT)
        return protect(off, len, PROT_NONE);
    stats_inc(protection_changes);
    /* Drops the page-table entries; the memfd keeps the data, and the next access is a
     * MINOR fault. */
    if (madvise(sp.base + off, len, MADV_DONTNEED) != 0)
        uffd_failed("unmap (MADV_DONTNEED)", off, len, -errno);
    return 0;
}

int prot_set_writable(size_t off, size_t len, int writable)
{
    if (len == 0)
        return 0;
    if (prot_way == PROT_WAY_MPROTECT)
        return protect(off, len, writable ? PROT_READ | PROT_WRITE : PROT_READ);
    struct uffdio_writeprotect wp = {{(uintptr_t)(sp.base + off), len},
                                     writable ? 0 : UFFDIO_WRITEPROTECT_MODE_WP};
    int rc = uffd_call(UFFDIO_WRITEPROTECT, &wp);
    if (rc)
        uffd_failed(writable ? "write-unprotect" : "write-protect", off, len, rc);
    return 0;
}

void prot_wake(size_t off, size_t len)
{
    if (prot_uffd < 0 || prot_way != PROT_WAY_UFFD)
        return;
    struct uffdio_range r = {(uintptr_t)(sp.base + off), len};
    if (ioctl(prot_uffd, UFFDIO_WAKE, &r) != 0)
        uffd_failed("wake", off, len, -errno);
}

int prot_region_open(size_t off, size_t len)
{
    return prot_way != PROT_WAY_MPROTECT ? protect(off, len, PROT_READ | PROT_WRITE) : 0;
}

void prot_region_close(size_t off, size_t len)
{
    /* Any access faults as an error from now on; and no page-table entry survives to a
     * later allocation of the same pages, which must find them absent. */
    if (protect(off, len, PROT_NONE) != 0)
        log_fatal("gallocy_cofree", "mprotect failed with ENOMEM: this process hit "
                  "vm.max_map_count; raise it (sysctl -w vm.max_map_count=1048576)");
    if (prot_way != PROT_WAY_MPROTECT && madvise(sp.base + off, len, MADV_DONTNEED) != 0)
        uffd_failed("unmap (MADV_DONTNEED)", off, len, -errno);
}
