/* bench_rma: explicit one-sided access, OSU-style: gallocy_get / gallocy_put latency and
 * bandwidth from 1 B to 4 MiB, and the atomics, against the raw transport in the same run
 * (raw.h: MPI_Get / MPI_Put / MPI_Fetch_and_op / MPI_Compare_and_swap with MPI_Win_flush on
 * a window of the benchmark's own, same MPI component; under verbs, one work request and a
 * poll of its completion on queue pairs of the benchmark's own).
 *
 *   mpirun -np 2 bench/bench_rma [--csv] [--reps N] [--scale X] [--only TABLE]
 *
 * Rank 0 measures, on memory homed on rank 1, into private memory; rank 1 waits in
 * MPI_Barrier (driving progress, as OSU's target does).  Tables: get_lat, put_lat, get_bw,
 * put_bw, atomic_lat, heap_lat (8 B on a gallocy_malloc block, not coalloc memory), gups
 * (both ranks: random fetch-adds into a table split between them).  Bandwidth: gallocy's calls complete one by one (gallocy_get returns
 * with the data); the baseline keeps 64 operations in flight before one flush, as OSU does,
 * so it bounds what any blocking call can reach.
 *
 * When the ranks share a node, gallocy reaches rank 1's memory directly (node.h): gets and
 * puts are copies and atomics CPU atomics, the tables above measure that, node_lat sets them
 * beside MPI on an MPI_Win_allocate window (shared memory between the ranks of a node, what an
 * MPI user on one node would take), and the *_transport tables the transport's path
 * (GALLOCY_NODE_SHARED=0, gallocy re-initialised in the same process). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "raw.h"

enum { MAX_SIZE = 4 << 20, BW_WINDOW = 64 };

static char *remote; /* MAX_SIZE bytes homed on rank 1 */
static uint64_t *word;  /* an atomic word homed on rank 1 */
static char *local;  /* private */
static char *heap_block; /* 64 bytes from gallocy_malloc on rank 1 */

static long iters_for(size_t size, double small)
{
    return bench_iters(size <= 8192 ? small : size <= 262144 ? small / 10 : small / 100);
}

static double time_gallocy(int put, size_t size, long n)
{
    double t0 = bench_now();
    for (long i = 0; i < n; i++)
        put ? gallocy_put(remote, local, size) : gallocy_get(local, remote, size);
    return bench_now() - t0;
}

/* n operations, window of them in flight before each flush (1: each flushed). */
static double time_raw(int put, size_t size, long n, int window)
{
    double t0 = bench_now();
    if (window == 1)
        for (long i = 0; i < n; i++)
            put ? raw_put(1, 0, local, size) : raw_get(local, 1, 0, size);
    else
        for (long w = 0; w < n / window; w++)
            put ? raw_put_window(1, local, size, window)
                : raw_get_window(local, 1, size, window);
    return bench_now() - t0;
}

/* Latency (us per call) or bandwidth (MB/s) of get or put, 1 B to MAX_SIZE; suffix names
 * the path when it is not the default one ("" or "_transport"). */
static void sweep(int put, int bw, const char *suffix)
{
    const char *op = put ? "put" : "get";
    char name[32], title[128], base[32];
    snprintf(name, sizeof name, "%s_%s%s", op, bw ? "bw" : "lat", suffix);
    snprintf(title, sizeof title, "gallocy_%s %s, rank 0 %s memory homed on rank 1%s", op,
             bw ? "bandwidth" : "latency", put ? "to" : "from",
             *suffix ? ", through the transport (GALLOCY_NODE_SHARED=0)" : "");
    snprintf(base, sizeof base, "%s",
             raw_label(put ? (bw ? RAW_PUT_X64 : RAW_PUT) : (bw ? RAW_GET_X64 : RAW_GET)));
    if (!bench_wanted(name))
        return;
    bench_table(name, title, "Size", bw ? "MB/s" : "us", base, bw);
    int window = bw ? BW_WINDOW : 1;
    for (size_t size = 1; size <= MAX_SIZE; size *= 2) {
        long n = bw ? iters_for(size, 100) * BW_WINDOW : iters_for(size, 2000);
        double g[32], r[32];
        time_gallocy(put, size, n / 10 + 1); /* warm up */
        time_raw(put, size, n / 10 + window, window);
        for (int k = 0; k < bench_reps; k++) {
            double tg = time_gallocy(put, size, n), tr = time_raw(put, size, n, window);
            g[k] = bw ? (double)size * (double)n / tg / 1e6 : tg / (double)n * 1e6;
            r[k] = bw ? (double)size * (double)n / tr / 1e6 : tr / (double)n * 1e6;
        }
        bench_row_size(size, bench_median(g, bench_reps), bench_median(r, bench_reps));
    }
}

static void atomics(const char *suffix)
{
    char name[32];
    snprintf(name, sizeof name, "atomic_lat%s", suffix);
    if (!bench_wanted(name))
        return;
    bench_table(name, *suffix ? "atomics on a word homed on rank 1, from rank 0, through the "
                "transport (GALLOCY_NODE_SHARED=0)" : "atomics on a word homed on rank 1, "
                "from rank 0", "Operation", "us", raw_label(RAW_ATOMIC), 0);
    long n = bench_iters(2000);
    double g[2][32], r[2][32];
    for (int k = 0; k < bench_reps; k++) {
        double t0 = bench_now();
        for (long i = 0; i < n; i++)
            gallocy_atomic_fetch_add(word, 1);
        double t1 = bench_now();
        for (long i = 0; i < n; i++)
            raw_fetch_add(1, 0, 1);
        double t2 = bench_now();
        for (long i = 0; i < n; i++)
            gallocy_atomic_compare_swap(word, (uint64_t)i, (uint64_t)i + 1);
        double t3 = bench_now();
        for (long i = 0; i < n; i++)
            raw_compare_swap(1, 0, (uint64_t)i, (uint64_t)i + 1);
        double t4 = bench_now();
        g[0][k] = (t1 - t0) / (double)n * 1e6;
        r[0][k] = (t2 - t1) / (double)n * 1e6;
        g[1][k] = (t3 - t2) / (double)n * 1e6;
        r[1][k] = (t4 - t3) / (double)n * 1e6;
    }
    bench_row("fetch_add", bench_median(g[0], bench_reps), bench_median(r[0], bench_reps));
    bench_row("compare_swap", bench_median(g[1], bench_reps), bench_median(r[1], bench_reps));
}

/* 8 B get, put and fetch-add on a small gallocy_malloc block homed on rank 1 rather than on
 * coalloc memory: the bounds check reads the block from the home's page table, once, then
 * from this rank's cache of it. */
static void heap_ops(void)
{
    bench_table("heap_lat", "8 B on a gallocy_malloc block homed on rank 1, from rank 0",
                "Operation", "us", raw_label(RAW_SAME_OP), 0);
    long n = bench_iters(2000);
    double g[3][32], r[3][32];
    uint64_t v = 1;
    for (int k = 0; k < bench_reps; k++) {
        double t[7];
        t[0] = bench_now();
        for (long i = 0; i < n; i++)
            gallocy_get(&v, heap_block, 8);
        t[1] = bench_now();
        for (long i = 0; i < n; i++)
            raw_get(local, 1, 0, 8);
        t[2] = bench_now();
        for (long i = 0; i < n; i++)
            gallocy_put(heap_block, &v, 8);
        t[3] = bench_now();
        for (long i = 0; i < n; i++)
            raw_put(1, 0, local, 8);
        t[4] = bench_now();
        for (long i = 0; i < n; i++)
            gallocy_atomic_fetch_add((uint64_t *)heap_block, 1);
        t[5] = bench_now();
        for (long i = 0; i < n; i++)
            raw_fetch_add(1, 0, 1);
        t[6] = bench_now();
        for (int j = 0; j < 3; j++) {
            g[j][k] = (t[2 * j + 1] - t[2 * j]) / (double)n * 1e6;
            r[j][k] = (t[2 * j + 2] - t[2 * j + 1]) / (double)n * 1e6;
        }
    }
    static const char *const names[] = {"get", "put", "fetch_add"};
    for (int j = 0; j < 3; j++)
        bench_row(names[j], bench_median(g[j], bench_reps), bench_median(r[j], bench_reps));
}

/* 8 B get, put, fetch-add and compare-and-swap from rank 0 on rank 1's memory, with the ranks
 * on one node, beside the same on an MPI_Win_allocate window (op, then MPI_Win_flush). */
static void node_ops(void)
{
    char *shared;
    MPI_Win win;
    if (MPI_Win_allocate(4096, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &shared, &win)) {
        fprintf(stderr, "bench_rma: rank %d: MPI_Win_allocate failed\n", bench_me);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    memset(shared, 0, 4096);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, win);
    MPI_Barrier(MPI_COMM_WORLD);
    if (bench_me == 0) {
        bench_table("node_lat", "8 B from rank 0 on memory homed on rank 1, both on one node",
                    "Operation", "us", "MPI on MPI_Win_allocate op+flush", 0);
        long n = bench_iters(20000);
        double g[4][32], r[3][32];
        uint64_t v = 1, old = 0, cmp = 0;
        for (int k = 0; k < bench_reps; k++) {
            double t[8];
            t[0] = bench_now();
            for (long i = 0; i < n; i++)
                gallocy_get(local, remote, 8);
            t[1] = bench_now();
            for (long i = 0; i < n; i++) {
                MPI_Get(local, 8, MPI_BYTE, 1, 0, 8, MPI_BYTE, win);
                MPI_Win_flush(1, win);
            }
            t[2] = bench_now();
            for (long i = 0; i < n; i++)
                gallocy_put(remote, local, 8);
            t[3] = bench_now();
            for (long i = 0; i < n; i++) {
                MPI_Put(local, 8, MPI_BYTE, 1, 0, 8, MPI_BYTE, win);
                MPI_Win_flush(1, win);
            }
            t[4] = bench_now();
            for (long i = 0; i < n; i++)
                gallocy_atomic_fetch_add(word, 1);
            t[5] = bench_now();
            for (long i = 0; i < n; i++) {
                MPI_Fetch_and_op(&v, &old, MPI_UINT64_T, 1, 8, MPI_SUM, win);
                MPI_Win_flush(1, win);
            }
            t[6] = bench_now();
            for (long i = 0; i < n; i++)
                cmp += gallocy_atomic_compare_swap(word + 1, (uint64_t)i, (uint64_t)i + 1);
            t[7] = bench_now();
            for (int j = 0; j < 3; j++) {
                g[j][k] = (t[2 * j + 1] - t[2 * j]) / (double)n * 1e6;
                r[j][k] = (t[2 * j + 2] - t[2 * j + 1]) / (double)n * 1e6;
            }
            g[3][k] = (t[7] - t[6]) / (double)n * 1e6;
        }
        static const char *const names[] = {"get", "put", "fetch_add"};
        for (int j = 0; j < 3; j++)
            bench_row(names[j], bench_median(g[j], bench_reps), bench_median(r[j], bench_reps));
        bench_note("compare_swap: gallocy %.4f us; no MPI figure: MPI_Compare_and_swap on an "
                   "MPI_Win_allocate window crashes Open MPI 4.1's default one-sided component",
                   bench_median(g[3], bench_reps));
        (void)cmp;
    }
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Win_unlock_all(win);
    MPI_Win_free(&win);
}

/* 128 KiB copies on the node path between rank 1's memory and a buffer of rank 0 that starts
 * 0, 16 or 4080 bytes past a page boundary: a copy whose destination sits just past its
 * source's offset in a page can meet the CPU's 4 KiB aliasing stall (seen at 10-30x on some
 * machines).  Baseline: MPI_Get / MPI_Put + flush between the same buffer and an
 * MPI_Win_allocate window (Open MPI copies through shared memory too). */
enum { OFFSET_COPY = 128 << 10 };

static void node_offsets(void)
{
    char *shared;
    MPI_Win win;
    if (MPI_Win_allocate(OFFSET_COPY, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &shared, &win)) {
        fprintf(stderr, "bench_rma: rank %d: MPI_Win_allocate failed\n", bench_me);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    memset(shared, 1, OFFSET_COPY);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, win);
    MPI_Barrier(MPI_COMM_WORLD);
    if (bench_me == 0) {
        bench_table("node_offset", "128 KiB between memory homed on rank 1 and a buffer of rank "
                    "0 that starts the given bytes past a page (both ranks on one node)",
                    "Copy", "us", "MPI on MPI_Win_allocate op+flush", 0);
        char *page = (char *)(((uintptr_t)local + 4095) & ~(uintptr_t)4095);
        static const size_t offsets[] = {0, 16, 4080};
        long n = bench_iters(2000);
        for (int put = 0; put < 2; put++)
            for (int o = 0; o < 3; o++) {
                char *buf = page + offsets[o];
                double g[32], r[32];
                for (int k = 0; k < bench_reps; k++) {
                    double t0 = bench_now();
                    for (long i = 0; i < n; i++)
                        if (put)
                            gallocy_put(remote, buf, OFFSET_COPY);
                        else
                            gallocy_get(buf, remote, OFFSET_COPY);
                    double t1 = bench_now();
                    for (long i = 0; i < n; i++) {
                        if (put)
                            MPI_Put(buf, OFFSET_COPY, MPI_BYTE, 1, 0, OFFSET_COPY, MPI_BYTE, win);
                        else
                            MPI_Get(buf, OFFSET_COPY, MPI_BYTE, 1, 0, OFFSET_COPY, MPI_BYTE, win);
                        MPI_Win_flush(1, win);
                    }
                    double t2 = bench_now();
                    g[k] = (t1 - t0) / (double)n * 1e6;
                    r[k] = (t2 - t1) / (double)n * 1e6;
                }
                char label[32];
                snprintf(label, sizeof label, "%s+%zu", put ? "put" : "get", offsets[o]);
                bench_row(label, bench_median(g, bench_reps), bench_median(r, bench_reps));
            }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Win_unlock_all(win);
    MPI_Win_free(&win);
}

/* GUPS (HPCC RandomAccess, the update made a fetch-add): both ranks add to random words of a
 * table of GUPS_WORDS 64-bit words split between them, each update a blocking fetch-add;
 * million updates per second, both ranks together.  Baseline: MPI_Fetch_and_op + flush on an
 * MPI_Win_allocate window holding each rank's half.  The same random sequence for both. */
enum { GUPS_LOG2 = 20, GUPS_WORDS = 1 << GUPS_LOG2 };

static uint64_t gups_next(uint64_t x) /* HPCC's generator: x^1 + x^63 + x^2 + x over GF(2) */
{
    return x << 1 ^ ((int64_t)x < 0 ? 7 : 0);
}

static void gups(void)
{
    uint64_t *table = gallocy_coalloc(GUPS_WORDS * 8, GALLOCY_BLOCKED);
    uint64_t *half;
    MPI_Win win;
    size_t half_words = GUPS_WORDS / (size_t)bench_nranks;
    if (!table || MPI_Win_allocate((MPI_Aint)(half_words * 8), 8, MPI_INFO_NULL, MPI_COMM_WORLD,
                                   &half, &win)) {
        fprintf(stderr, "bench_rma: rank %d: no memory for the GUPS table\n", bench_me);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    memset(half, 0, half_words * 8);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, win);
    long n = bench_iters(100000);
    double g[32], r[32];
    uint64_t x = 1 + (uint64_t)bench_me, old;
    for (int k = 0; k < bench_reps; k++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = bench_now();
        for (long i = 0; i < n; i++) {
            x = gups_next(x);
            gallocy_atomic_fetch_add(&table[x & (GUPS_WORDS - 1)], x);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        double t1 = bench_now();
        for (long i = 0; i < n; i++) {
            x = gups_next(x);
            size_t w = x & (GUPS_WORDS - 1);
            MPI_Fetch_and_op(&x, &old, MPI_UINT64_T, (int)(w / half_words),
                             (MPI_Aint)(w % half_words), MPI_SUM, win);
            MPI_Win_flush((int)(w / half_words), win);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        double t2 = bench_now();
        g[k] = (double)n * bench_nranks / (t1 - t0) / 1e6;
        r[k] = (double)n * bench_nranks / (t2 - t1) / 1e6;
    }
    bench_table("gups", "GUPS: random fetch-adds into a 2^20-word table split between the "
                "ranks, all ranks at once", "Updates", "M/s", "MPI_Fetch_and_op+flush on "
                "MPI_Win_allocate", 1);
    bench_row("fetch_add", bench_median(g, bench_reps), bench_median(r, bench_reps));
    MPI_Win_unlock_all(win);
    MPI_Win_free(&win);
    gallocy_cofree(table);
}

static void open_memory(void)
{
    remote = gallocy_coalloc(MAX_SIZE, 1);
    word = gallocy_coalloc(4096, 1);
    heap_block = bench_me == 1 ? gallocy_calloc(1, 64) : NULL;
    MPI_Bcast(&heap_block, sizeof heap_block, MPI_BYTE, 1, MPI_COMM_WORLD);
    local = malloc(MAX_SIZE);
    if (!remote || !word || !local || !heap_block) {
        fprintf(stderr, "bench_rma: rank %d: out of memory\n", bench_me);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    memset(local, 7, MAX_SIZE);
    if (bench_me == 1)
        memset(remote, 1, MAX_SIZE); /* its home pages exist before anyone reads them */
    gallocy_barrier();
}

static void close_memory(void)
{
    if (bench_me == 1)
        gallocy_free(heap_block);
    gallocy_cofree(word);
    gallocy_cofree(remote);
    free(local);
}

int main(int argc, char **argv)
{
    bench_start(&argc, &argv, "bench_rma",
                "  tables: get_lat put_lat get_bw put_bw atomic_lat heap_lat gups, and when the ranks share a"
                "\n  node node_lat node_offset get_lat_transport get_bw_transport put_lat_transport"
                "\n  atomic_lat_transport\n");
    raw_open(MAX_SIZE);
    open_memory();
    if (bench_me == 0) {
        for (int bw = 0; bw < 2; bw++)
            for (int put = 0; put < 2; put++)
                sweep(put, bw, ""); /* get_lat put_lat get_bw put_bw */
        atomics("");
        if (bench_wanted("heap_lat"))
            heap_ops();
    }
    MPI_Barrier(MPI_COMM_WORLD);
    int node = bench_node_copies();
    if (node && bench_wanted("node_lat"))
        node_ops(); /* collective */
    if (node && bench_wanted("node_offset"))
        node_offsets(); /* collective */
    if (bench_wanted("gups"))
        gups(); /* collective */
    close_memory();
    if (node) {
        bench_restart("GALLOCY_NODE_SHARED", "0", NULL, NULL);
        open_memory();
        if (bench_me == 0) {
            for (int bw = 0; bw < 2; bw++)
                sweep(0, bw, "_transport");
            sweep(1, 0, "_transport");
            atomics("_transport");
        }
        MPI_Barrier(MPI_COMM_WORLD);
        close_memory();
    }
    raw_close();
    bench_stop();
    return 0;
}
