/* raw: the baselines: plain MPI-3 one-sided operations on a window of the benchmark's own
 * (MPI_Win_create over malloc'd memory, passive target, lock_all: what gallocy's mpi
 * transport does, with the same component), and the bare cost of a protection fault. */
#ifndef GALLOCY_BENCH_RAW_H
#define GALLOCY_BENCH_RAW_H
#include <stddef.h>
#include <stdint.h>

/* Collective: a window of size bytes on every rank. */
void raw_open(size_t size);
void raw_close(void);
/* The window's memory on this rank. */
char *raw_base(void);
/* Blocking: the operation, then MPI_Win_flush. */
void raw_get(void *dst, int rank, size_t off, size_t n);
void raw_put(int rank, size_t off, const void *src, size_t n);
uint64_t raw_fetch_add(int rank, size_t off, uint64_t v);
uint64_t raw_compare_swap(int rank, size_t off, uint64_t expected, uint64_t desired);
/* window operations in flight, then one flush (OSU's bandwidth pattern). */
void raw_get_window(void *dst, int rank, size_t n, int window);
void raw_put_window(int rank, const void *src, size_t n, int window);

/* Seconds per fault of a bare protection fault: a read of a PROT_NONE page of private
 * memory, whose SIGSEGV handler makes the page readable (one mprotect) and returns; over
 * pages pages.  The caller's SIGSEGV handler is put back. */
double raw_bare_fault(size_t pages);

#endif
