/* raw: see raw.h. */
#include "raw.h"

#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"

static MPI_Win win = MPI_WIN_NULL;
static char *base;

void raw_open(size_t size)
{
    base = calloc(1, size);
    if (!base || MPI_Win_create(base, (MPI_Aint)size, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &win)) {
        fprintf(stderr, "raw: rank %d: no window of %zu bytes\n", bench_me, size);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Win_lock_all(MPI_MODE_NOCHECK, win);
}

void raw_close(void)
{
    MPI_Win_unlock_all(win);
    MPI_Win_free(&win);
    free(base);
}

char *raw_base(void)
{
    return base;
}

void raw_get(void *dst, int rank, size_t off, size_t n)
{
    MPI_Get(dst, (int)n, MPI_BYTE, rank, (MPI_Aint)off, (int)n, MPI_BYTE, win);
    MPI_Win_flush(rank, win);
}

void raw_put(int rank, size_t off, const void *src, size_t n)
{
    MPI_Put(src, (int)n, MPI_BYTE, rank, (MPI_Aint)off, (int)n, MPI_BYTE, win);
    MPI_Win_flush(rank, win);
}

uint64_t raw_fetch_add(int rank, size_t off, uint64_t v)
{
    uint64_t old;
    MPI_Fetch_and_op(&v, &old, MPI_UINT64_T, rank, (MPI_Aint)off, MPI_SUM, win);
    MPI_Win_flush(rank, win);
    return old;
}

uint64_t raw_compare_swap(int rank, size_t off, uint64_t expected, uint64_t desired)
{
    uint64_t old;
    MPI_Compare_and_swap(&desired, &expected, &old, MPI_UINT64_T, rank, (MPI_Aint)off, win);
    MPI_Win_flush(rank, win);
    return old;
}

void raw_get_window(void *dst, int rank, size_t n, int window)
{
    for (int i = 0; i < window; i++)
        MPI_Get(dst, (int)n, MPI_BYTE, rank, 0, (int)n, MPI_BYTE, win);
    MPI_Win_flush(rank, win);
}

void raw_put_window(int rank, const void *src, size_t n, int window)
{
    for (int i = 0; i < window; i++)
        MPI_Put(src, (int)n, MPI_BYTE, rank, 0, (int)n, MPI_BYTE, win);
    MPI_Win_flush(rank, win);
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
