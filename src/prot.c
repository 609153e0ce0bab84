/* prot: page states of the application view through mprotect or userfaultfd (see prot.h). */
#include "prot.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core.h"
#include "gallocy.h"
#include "log.h"
#include "options.h"
#include "space.h"
#include "stats.h"
#include "vg.h"

/* Newer than the kernel headers of Debian 12 (6.1): the kernel answers EINVAL where it lacks
 * them, which prot_choose checks. */
#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

int prot_way = PROT_WAY_MPROTECT;
int prot_uffd = -1;
static char uffd_why[160];

const char *prot_way_name(int way)
{
    return way == PROT_WAY_UFFD ? "uffd" : way == PROT_WAY_SIGBUS ? "sigbus" : "mprotect";
}

const char *gallocy_faults(void)
{
    return __atomic_load_n(&core_ready, __ATOMIC_ACQUIRE) ? prot_way_name(prot_way) : NULL;
}

const char *prot_uffd_unavailable(void)
{
    return uffd_why;
}

/* A userfaultfd whose faults the kernel also waits on when it makes them itself (system
 * calls, other processes' copies), unless user_only: through the system call (root, or
 * vm.unprivileged_userfaultfd=1), else /dev/userfaultfd (its group). */
static int open_uffd(int user_only)
{
    int flags = O_CLOEXEC | O_NONBLOCK | (user_only ? UFFD_USER_MODE_ONLY : 0);
    int fd = (int)syscall(SYS_userfaultfd, flags);
    if (fd >= 0 || errno == ENOSYS)
        return fd;
    int saved = errno, dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev < 0) {
        errno = saved;
        return -1;
    }
    fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
    close(dev);
    if (fd < 0)
        errno = saved;
    return fd;
}

/* CONTINUE with write-protection (Linux 6.5 and later) on a scratch page: the whole uffd way
 * rests on it (a fetched page becomes present and read-only in one step, so no other thread
 * can write it unseen in between). */
static int continue_wp_works(int fd)
{
    int ok = 0, mfd = memfd_create("gallocy-probe", MFD_CLOEXEC);
    if (mfd < 0 || ftruncate(mfd, (off_t)GPAGE) != 0) {
        if (mfd >= 0)
            close(mfd);
        return 0;
    }
    char *view = mmap(NULL, GPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    char *data = mmap(NULL, GPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    if (view != MAP_FAILED && data != MAP_FAILED) {
        data[0] = 1;
        struct uffdio_register reg = {{(uintptr_t)view, GPAGE},
                                      UFFDIO_REGISTER_MODE_MINOR | UFFDIO_REGISTER_MODE_WP, 0};
        struct uffdio_continue c = {{(uintptr_t)view, GPAGE}, UFFDIO_CONTINUE_MODE_WP, 0};
        ok = ioctl(fd, UFFDIO_REGISTER, &reg) == 0 && ioctl(fd, UFFDIO_CONTINUE, &c) == 0;
        struct uffdio_range r = {(uintptr_t)view, GPAGE};
        ioctl(fd, UFFDIO_UNREGISTER, &r);
    }
    if (view != MAP_FAILED)
        munmap(view, GPAGE);
    if (data != MAP_FAILED)
        munmap(data, GPAGE);
    close(mfd);
    return ok;
}

/* Opens a userfaultfd fit for way, or returns -1 with uffd_why set. */
static int uffd_for(int way)
{
    int fd = open_uffd(0);
    if (fd < 0 && way == PROT_WAY_SIGBUS)
        fd = open_uffd(1); /* SIGBUS mode never waits in the kernel: user faults suffice */
    if (fd < 0) {
        snprintf(uffd_why, sizeof uffd_why, "userfaultfd: %s%s", strerror(errno),
                 errno == EPERM ? " (not root, vm.unprivileged_userfaultfd=0 and no access to "
                                  "/dev/userfaultfd)" : "");
        return -1;
    }
    struct uffdio_api api = {.api = UFFD_API,
                             .features = UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MINOR_SHMEM |
                                         UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
                                         UFFD_FEATURE_PAGEFAULT_FLAG_WP |
                                         (way == PROT_WAY_SIGBUS ? UFFD_FEATURE_SIGBUS : 0)};
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        snprintf(uffd_why, sizeof uffd_why, "this kernel's userfaultfd lacks minor faults or "
                 "write-protection on shared memory (Linux 5.19 or later)");
        close(fd);
        return -1;
    }
    if (!continue_wp_works(fd)) {
        snprintf(uffd_why, sizeof uffd_why, "this kernel's userfaultfd cannot map a page "
                 "write-protected (UFFDIO_CONTINUE_MODE_WP, Linux 6.5 or later)");
        close(fd);
        return -1;
    }
    uffd_why[0] = 0;
    return fd;
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
    prot_uffd = uffd_for(want < 0 ? PROT_WAY_UFFD : want);
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
