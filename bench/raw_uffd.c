/* raw_uffd: see raw_uffd.h. */
#include "raw_uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

static void *serve(void *arg)
{
    int uffd = *(int *)arg;
    struct uffd_msg m;
    for (;;) { /* ends by pthread_cancel: read is a cancellation point */
        if (read(uffd, &m, sizeof m) != (ssize_t)sizeof m || m.event != UFFD_EVENT_PAGEFAULT)
            continue;
        struct uffdio_continue c = {
            .range = {.start = m.arg.pagefault.address & ~(uint64_t)4095, .len = 4096}};
        ioctl(uffd, UFFDIO_CONTINUE, &c);
    }
    return NULL;
}

double raw_bare_uffd_fault(size_t pages)
{
    size_t len = pages * 4096;
    double result = -ENOSYS;
    char *alias = MAP_FAILED, *view = MAP_FAILED;
    int uffd = -1, fd = memfd_create("raw_uffd", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)len) != 0)
        goto out;
    alias = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    view = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (alias == MAP_FAILED || view == MAP_FAILED)
        goto out;
    memset(alias, 1, len); /* in the page cache: each fault is a minor one, no data moves */
    uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
    struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_MINOR_SHMEM};
    struct uffdio_register reg = {.range = {.start = (uintptr_t)view, .len = len},
                                  .mode = UFFDIO_REGISTER_MODE_MINOR};
    if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) != 0 || ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) {
        result = -errno;
        goto out;
    }
    pthread_t server;
    int rc = pthread_create(&server, NULL, serve, &uffd);
    if (rc != 0) {
        result = -rc;
        goto out;
    }
    volatile char sink = 0;
    double t0 = bench_now();
    for (size_t i = 0; i < pages; i++)
        sink += ((volatile char *)view)[i * 4096];
    result = (bench_now() - t0) / (double)pages;
    (void)sink;
    pthread_cancel(server);
    pthread_join(server, NULL);
out:
    if (uffd >= 0)
        close(uffd);
    if (view != MAP_FAILED)
        munmap(view, len);
    if (alias != MAP_FAILED)
        munmap(alias, len);
    if (fd >= 0)
        close(fd);
    return result;
}
