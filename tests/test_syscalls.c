/* test_syscalls: system calls on global memory.  Under GALLOCY_FAULTS=uffd the kernel waits
 * for a page it needs, as a thread does, and read(2) and the rest work on any global memory;
 * under mprotect and sigbus it cannot, EFAULT is the answer for memory not present here, and
 * gallocy_prepare makes it present.  Both are checked, by the way this rank runs. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "suites.h"

static int kernel_waits(void)
{
    return strcmp(gallocy_faults(), "uffd") == 0;
}

/* n bytes homed on the next rank (on this one when alone), untouched here: the next rank's
 * share of a blocked allocation (collective), freed with its base. */
struct remote {
    char *base, *p;
};
static struct remote remote_buffer(size_t n)
{
    struct remote r;
    r.base = gallocy_coalloc(n * (size_t)nranks, GALLOCY_BLOCKED);
    r.p = r.base + n * (size_t)((me + 1) % nranks);
    return r;
}

/* Writes n bytes of c into a pipe and reads them into dst; the result of read(2). */
static ssize_t read_from_pipe(char *dst, size_t n, char c, int *err)
{
    int p[2];
    if (pipe(p) != 0)
        return -2;
    char *src = malloc(n);
    memset(src, c, n);
    ssize_t w = 0;
    if (fcntl(p[1], F_SETPIPE_SZ, (int)n) >= 0 || n <= 65536)
        w = write(p[1], src, n);
    ssize_t r = w == (ssize_t)n ? read(p[0], dst, n) : -2;
    *err = errno;
    close(p[0]);
    close(p[1]);
    free(src);
    return r;
}

static int all_bytes(const char *p, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != c)
            return 0;
    return 1;
}

/* read(2) into untouched remote memory, into a clean (read-only) copy, and into this
 * rank's own pages that another rank caches (write-protected at the home). */
static void test_read_into_global(void)
{
    enum { N = 3 * 4096 };
    struct remote rbuf = remote_buffer(N), rclean = remote_buffer(N);
    char *buf = rbuf.p, *clean = rclean.p;
    char *own = gallocy_coalloc((size_t)N * (size_t)nranks, GALLOCY_BLOCKED);
    char *mine = own + (size_t)me * N, *peer_share = own + (size_t)((me + 1) % nranks) * N;
    gallocy_barrier();
    volatile char sum = 0;
    for (int i = 0; i < N; i += 4096) {
        sum += clean[i];      /* a clean copy: present, read-only */
        sum += peer_share[i]; /* the next rank's share: it write-protects it at the barrier */
    }
    gallocy_barrier();
    gallocy_barrier();
    char *targets[3] = {buf, clean, mine};
    int ok = 1;
    for (int t = 0; t < 3; t++) {
        int err = 0;
        ssize_t r = read_from_pipe(targets[t], N, (char)('a' + t), &err);
        if (kernel_waits()) {
            ok &= r == N && all_bytes(targets[t], N, (char)('a' + t));
        } else {
            /* Own plain pages are writable already; the others fail until prepared. */
            if (r != N)
                ok &= r == -1 && err == EFAULT;
            ok &= gallocy_prepare(targets[t], N, GALLOCY_WRITE) == 0;
            r = read_from_pipe(targets[t], N, (char)('a' + t), &err);
            ok &= r == N && all_bytes(targets[t], N, (char)('a' + t));
        }
    }
    gallocy_barrier();
    /* What read(2) wrote into the next rank's own pages, which this rank caches, is a write
     * the next rank publishes: this rank's copy goes at the barrier. */
    ok &= all_bytes(peer_share, N, 'c');
    CU_ASSERT(all_true(ok));
    gallocy_barrier();
    gallocy_cofree(own);
    gallocy_cofree(rclean.base);
    gallocy_cofree(rbuf.base);
    (void)sum;
}

/* write(2), pwrite and pread, send and recv on untouched remote memory. */
static void test_write_and_sockets(void)
{
    enum { N = 5 * 4096 };
    struct remote rin = remote_buffer(N), rsin = remote_buffer(N);
    char *data = gallocy_coalloc(N, 0), *in = rin.p, *sin = rsin.p;
    if (me == 0)
        memset(data, 'z', N);
    gallocy_barrier();
    int ok = 1, err = 0;
    if (!kernel_waits()) {
        ok &= gallocy_prepare(data, N, GALLOCY_READ) == 0;
        ok &= gallocy_prepare(in, N, GALLOCY_WRITE) == 0;
        ok &= gallocy_prepare(sin, N, GALLOCY_WRITE) == 0;
    }
    char path[] = "/tmp/gallocy-test-XXXXXX";
    int fd = mkstemp(path);
    ok &= fd >= 0;
    unlink(path);
    ok &= pwrite(fd, data, N, 4096) == N;
    ok &= pread(fd, in, N, 4096) == N && all_bytes(in, N, 'z');
    ok &= write(fd, data, 100) == 100;
    close(fd);
    int sv[2];
    ok &= socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0;
    ssize_t s = send(sv[0], data, 4096, 0), r = recv(sv[1], sin, 4096, MSG_WAITALL);
    err = errno;
    ok &= s == 4096 && r == 4096 && all_bytes(sin, 4096, 'z');
    close(sv[0]);
    close(sv[1]);
    CU_ASSERT(all_true(ok));
    (void)err;
    gallocy_barrier();
    gallocy_cofree(rsin.base);
    gallocy_cofree(rin.base);
    gallocy_cofree(data);
}

/* The misuse of gallocy_prepare gets -EINVAL, and nothing is changed. */
static void test_prepare_arguments(void)
{
    char local[64];
    char *g = gallocy_malloc(64);
    CU_ASSERT_EQUAL(gallocy_prepare(local, sizeof local, GALLOCY_READ), -EINVAL);
    CU_ASSERT_EQUAL(gallocy_prepare(NULL, 8, GALLOCY_READ), -EINVAL);
    CU_ASSERT_EQUAL(gallocy_prepare(g, 64, 0), -EINVAL);
    CU_ASSERT_EQUAL(gallocy_prepare(g, 64, 4), -EINVAL);
    CU_ASSERT_EQUAL(gallocy_prepare(g, 64, GALLOCY_READ | GALLOCY_WRITE), 0);
    CU_ASSERT_EQUAL(gallocy_prepare(g, 0, GALLOCY_READ), 0);
    gallocy_free(g);
}

/* gallocy_faults names the way GALLOCY_FAULTS asked for; for auto, the way gallocy-info says
 * auto takes on this machine (GALLOCY_TEST_AUTO_FAULTS, set by run-tests.sh from it). */
static void test_faults_way(void)
{
    const char *way = gallocy_faults(), *asked = getenv("GALLOCY_FAULTS");
    const char *expect = asked && strcmp(asked, "auto") ? asked
                                                        : getenv("GALLOCY_TEST_AUTO_FAULTS");
    CU_ASSERT_PTR_NOT_NULL_FATAL(way);
    CU_ASSERT(!strcmp(way, "uffd") || !strcmp(way, "sigbus") || !strcmp(way, "mprotect"));
    if (expect && *expect)
        CU_ASSERT_STRING_EQUAL(way, expect);
}

void register_syscall_tests(void)
{
    static const struct cm_test tests[] = {
        {"read(2) into untouched, clean and shared global pages", test_read_into_global},
        {"pwrite, pread, write, send and recv on global memory", test_write_and_sockets},
        {"gallocy_prepare refuses bad arguments", test_prepare_arguments},
        {"gallocy_faults names the way asked for, or the one gallocy-info says auto takes",
         test_faults_way},
        {NULL, NULL},
    };
    CM_ADD_SUITE("syscalls", tests);
}
