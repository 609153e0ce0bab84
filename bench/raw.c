/* raw: see raw.h. */
#include "raw.h"

#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"
#include "gallocy.h"
#include "raw_backend.h"

static const struct raw_ops *ops;
static char *base;
static int verbs;

void raw_open(size_t size)
{
    base = calloc(1, size);
    if (!base) {
        fprintf(stderr, "raw: rank %d: out of memory for %zu bytes\n", bench_me, size);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    const char *t = gallocy_transport();
    verbs = t && !strcmp(t, "verbs");
#ifdef GALLOCY_HAVE_VERBS
    ops = verbs ? raw_verbs_open(base, size) : raw_mpi_open(base, size);
#else
    ops = raw_mpi_open(base, size); /* a build without verbs runs on mpi alone */
#endif
}

void raw_close(void)
{
    ops->close();
    free(base);
}

char *raw_base(void)
{
    return base;
}

void raw_get(void *dst, int rank, size_t off, size_t n)
{
    ops->get(dst, rank, off, n);
}

void raw_put(int rank, size_t off, const void *src, size_t n)
{
    ops->put(rank, off, src, n);
}

uint64_t raw_fetch_add(int rank, size_t off, uint64_t v)
{
    return ops->fetch_add(rank, off, v);
}

uint64_t raw_compare_swap(int rank, size_t off, uint64_t expected, uint64_t desired)
{
    return ops->compare_swap(rank, off, expected, desired);
}

void raw_get_window(void *dst, int rank, size_t n, int window)
{
    ops->get_window(dst, rank, n, window);
}

void raw_put_window(int rank, const void *src, size_t n, int window)
{
    ops->put_window(rank, src, n, window);
}

const char *raw_label(enum raw_label l)
{
    static const char *const names[2][RAW_NLABELS] = {
        {"MPI_Get+flush", "MPI_Put+flush", "MPI_Get x64+flush", "MPI_Put x64+flush",
         "MPI atomic+flush", "MPI_Fetch_and_op+flush", "4K MPI_Gets", "MPI_Put+flush+barrier", "MPI same op+flush"},
        {"verbs READ+poll", "verbs WRITE+poll", "verbs READ x64+poll", "verbs WRITE x64+poll",
         "verbs atomic+poll", "verbs FETCH_ADD+poll", "4K verbs READs",
         "verbs WRITE+poll+barrier", "verbs same op+poll"},
    };
    return names[verbs][l];
}

static void bare_handler(int sig, siginfo_t *si, void *uctx)
{
    (void)sig;
    (void)uctx;
    char *page = (char *)((uintptr_t)si->si_addr & ~(uintptr_t)4095);
    mprotect(page, 4096, PROT_READ);
}

double raw_bare_fault(size_t pages)
{
    size_t len = pages * 4096;
    char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        perror("raw_bare_fault: mmap");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    memset(mem, 1, len); /* present: the fault measured is the protection one */
    mprotect(mem, len, PROT_NONE);
    struct sigaction sa, saved;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = bare_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &saved);
    volatile char sink = 0;
    double t0 = bench_now();
    for (size_t i = 0; i < pages; i++)
        sink += ((volatile char *)mem)[i * 4096];
    double t = bench_now() - t0;
    sigaction(SIGSEGV, &saved, NULL);
    munmap(mem, len);
    (void)sink;
    return t / (double)pages;
}
