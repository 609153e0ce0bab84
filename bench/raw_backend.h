/* raw_backend: the two baselines behind raw.h, one file each: raw_mpi.c (an MPI-3 window, as
 * gallocy's mpi transport makes it) and raw_verbs.c (libibverbs RC queue pairs, one work
 * request and a busy poll of its completion per call). */
#ifndef GALLOCY_BENCH_RAW_BACKEND_H
#define GALLOCY_BENCH_RAW_BACKEND_H
#include <stddef.h>
#include <stdint.h>

struct raw_ops {
    void (*get)(void *dst, int rank, size_t off, size_t n);
    void (*put)(int rank, size_t off, const void *src, size_t n);
    uint64_t (*fetch_add)(int rank, size_t off, uint64_t v);
    uint64_t (*compare_swap)(int rank, size_t off, uint64_t expected, uint64_t desired);
    void (*get_window)(void *dst, int rank, size_t n, int window);
    void (*put_window)(int rank, const void *src, size_t n, int window);
    void (*close)(void);
};

/* Collective: exposes [base, base+size) of every rank; the baseline's operations. */
const struct raw_ops *raw_mpi_open(char *base, size_t size);
const struct raw_ops *raw_verbs_open(char *base, size_t size);

#endif
