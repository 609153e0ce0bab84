/* uffd_probe: can page states be kept through userfaultfd here (see uffd_probe.h). */
#include "uffd_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Newer than the kernel headers of Debian 12 (6.1). */
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

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
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    int ok = 0, mfd = memfd_create("gallocy-probe", MFD_CLOEXEC);
    if (mfd < 0 || ftruncate(mfd, (off_t)page) != 0) {
        if (mfd >= 0)
            close(mfd);
        return 0;
    }
    char *view = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    char *data = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    if (view != MAP_FAILED && data != MAP_FAILED) {
        data[0] = 1;
        struct uffdio_register reg = {{(uintptr_t)view, page},
                                      UFFDIO_REGISTER_MODE_MINOR | UFFDIO_REGISTER_MODE_WP, 0};
        struct uffdio_continue c = {{(uintptr_t)view, page}, UFFDIO_CONTINUE_MODE_WP, 0};
        ok = ioctl(fd, UFFDIO_REGISTER, &reg) == 0 && ioctl(fd, UFFDIO_CONTINUE, &c) == 0;
        struct uffdio_range r = {(uintptr_t)view, page};
        ioctl(fd, UFFDIO_UNREGISTER, &r);
    }
    if (view != MAP_FAILED)
        munmap(view, page);
    if (data != MAP_FAILED)
        munmap(data, page);
    close(mfd);
    return ok;
}

int uffd_probe_open(int sigbus, char *why, size_t len)
{
    int fd = open_uffd(0);
    if (fd < 0 && sigbus)
        fd = open_uffd(1); /* SIGBUS mode never waits in the kernel: user faults suffice */
    if (fd < 0) {
        snprintf(why, len, "userfaultfd: %s%s", strerror(errno),
                 errno == EPERM ? " (not root, vm.unprivileged_userfaultfd=0 and no access to "
                                  "/dev/userfaultfd)" : "");
        return -1;
    }
    struct uffdio_api api = {.api = UFFD_API,
                             .features = UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MINOR_SHMEM |
                                         UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
                                         UFFD_FEATURE_PAGEFAULT_FLAG_WP |
                                         (sigbus ? UFFD_FEATURE_SIGBUS : 0)};
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        snprintf(why, len, "this kernel's userfaultfd lacks minor faults or write-protection "
                 "on shared memory (Linux 5.19 or later)");
        close(fd);
        return -1;
    }
    if (!continue_wp_works(fd)) {
        snprintf(why, len, "this kernel's userfaultfd cannot map a page write-protected "
                 "(UFFDIO_CONTINUE_MODE_WP, Linux 6.5 or later)");
        close(fd);
        return -1;
    }
    if (len)
        why[0] = 0;
    return fd;
}
