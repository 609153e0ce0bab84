/* raw: the baselines, on the transport gallocy runs on (gallocy_transport()): plain MPI-3
 * one-sided operations on a window of the benchmark's own (raw_mpi.c), or plain verbs work
 * requests on queue pairs of the benchmark's own (raw_verbs.c); and the bare cost of a
 * protection fault. */
#ifndef GALLOCY_BENCH_RAW_H
#define GALLOCY_BENCH_RAW_H
#include <stddef.h>
#include <stdint.h>

/* Collective, after gallocy_init: size bytes on every rank that the others address. */
void raw_open(size_t size);
void raw_close(void);
/* The window's memory on this rank. */
char *raw_base(void);
/* Blocking: the operation, then its completion (MPI_Win_flush, or a poll of the CQ).  Local
 * buffers may be any memory (verbs registers them once, on first use). */
void raw_get(void *dst, int rank, size_t off, size_t n);
void raw_put(int rank, size_t off, const void *src, size_t n);
uint64_t raw_fetch_add(int rank, size_t off, uint64_t v);
uint64_t raw_compare_swap(int rank, size_t off, uint64_t expected, uint64_t desired);
/* window operations in flight, then one completion (OSU's bandwidth pattern). */
void raw_get_window(void *dst, int rank, size_t n, int window);
void raw_put_window(int rank, const void *src, size_t n, int window);

/* How the tables name the baselines, by transport ("MPI_Get+flush", "verbs READ+poll"). */
enum raw_label {
    RAW_GET, RAW_PUT, RAW_GET_X64, RAW_PUT_X64, RAW_ATOMIC, RAW_FETCH_ADD, RAW_GETS_4K,
    RAW_PUT_BARRIER, RAW_SAME_OP, RAW_NLABELS
};
const char *raw_label(enum raw_label l);

/* Seconds per fault of a bare protection fault: a read of a PROT_NONE page of private
 * memory, whose SIGSEGV handler makes the page readable (one mprotect) and returns; over
 * pages pages.  The caller's SIGSEGV handler is put back. */
double raw_bare_fault(size_t pages);

#endif
