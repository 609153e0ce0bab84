/* raw_verbs: the verbs baseline: one RC queue pair to every rank (itself included, over
 * loopback), the benchmark's memory registered once, and per call one work request posted and
 * its completion busy-polled.  No bounce buffers, no locks, no helper thread: the bare cost
 * of the operation on this device, for gallocy's verbs transport to be measured against.
 * The device, port and GID follow gallocy's rules and options (verbs_device.c, shared):
 * GALLOCY_IB_DEVICE, GALLOCY_IB_PORT, GALLOCY_IB_GID_INDEX. */
#include "raw_backend.h"

#include <infiniband/verbs.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "verbs_device.h"

enum {
    SQ_DEPTH = 128, /* more than the bandwidth window of 64 */
    MAX_LOCAL_MRS = 32, /* registrations of the caller's local buffers kept */
};

struct remote {
    uint64_t addr;
    uint32_t rkey;
};

static struct ibv_context *ctx;
static struct ibv_pd *pd;
static struct ibv_cq *cq;
static struct ibv_qp **qps;
static struct ibv_mr *base_mr, *scratch_mr;
static uint64_t *scratch; /* the landing word of atomics */
static struct remote *remotes;
static char desc[160];
static struct ibv_mr *local_mrs[MAX_LOCAL_MRS];
static int nlocal, next_evict;

static void die(const char *what)
{
    fprintf(stderr, "raw verbs: rank %d: %s\n", bench_me, what);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 0) : dflt;
}

/* The lkey of a registration holding [p, p+n): the base, a kept one, or a new one of the
 * pages around it (the oldest kept one is let go when MAX_LOCAL_MRS are held). */
static uint32_t lkey_of(const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)p;
    if (a >= (uintptr_t)base_mr->addr && a + n <= (uintptr_t)base_mr->addr + base_mr->length)
        return base_mr->lkey;
    for (int i = 0; i < nlocal; i++) {
        uintptr_t s = (uintptr_t)local_mrs[i]->addr;
        if (a >= s && a + n <= s + local_mrs[i]->length)
            return local_mrs[i]->lkey;
    }
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), lo = a & ~(pg - 1);
    size_t len = (a + n + pg - 1) / pg * pg - lo;
    struct ibv_mr *mr = ibv_reg_mr(pd, (void *)lo, len, IBV_ACCESS_LOCAL_WRITE);
    if (!mr)
        die("registering a local buffer failed");
    if (nlocal < MAX_LOCAL_MRS) {
        local_mrs[nlocal++] = mr;
    } else {
        ibv_dereg_mr(local_mrs[next_evict]);
        local_mrs[next_evict] = mr;
        next_evict = (next_evict + 1) % MAX_LOCAL_MRS;
    }
    return mr->lkey;
}

/* Busy-polls until one completion, which must be a success. */
static void wait_one(void)
{
    struct ibv_wc wc;
    int got;
    while ((got = ibv_poll_cq(cq, 1, &wc)) == 0)
        ;
    if (got < 0)
        die("ibv_poll_cq failed");
    if (wc.status != IBV_WC_SUCCESS) {
        char msg[200];
        snprintf(msg, sizeof msg, "work request failed on %s: %s", desc,
                 ibv_wc_status_str(wc.status));
        die(msg);
    }
}

/* Posts count copies of one RDMA READ or WRITE, only the last signalled (RC completes in
 * order), and waits for it. */
static void rdma(enum ibv_wr_opcode op, void *local, int rank, size_t off, size_t n, int count)
{
    struct ibv_sge sge = {.addr = (uintptr_t)local, .length = (uint32_t)n,
                          .lkey = lkey_of(local, n)};
    struct ibv_send_wr wr = {.sg_list = &sge, .num_sge = 1, .opcode = op}, *bad;
    wr.wr.rdma.remote_addr = remotes[rank].addr + off;
    wr.wr.rdma.rkey = remotes[rank].rkey;
    for (int i = 0; i < count; i++) {
        wr.send_flags = i == count - 1 ? IBV_SEND_SIGNALED : 0;
        if (ibv_post_send(qps[rank], &wr, &bad))
            die("ibv_post_send failed");
    }
    wait_one();
}

static uint64_t atomic(enum ibv_wr_opcode op, int rank, size_t off, uint64_t a, uint64_t b)
{
    struct ibv_sge sge = {.addr = (uintptr_t)scratch, .length = 8, .lkey = scratch_mr->lkey};
    struct ibv_send_wr wr = {.sg_list = &sge, .num_sge = 1, .opcode = op,
                             .send_flags = IBV_SEND_SIGNALED}, *bad;
    wr.wr.atomic.remote_addr = remotes[rank].addr + off;
    wr.wr.atomic.rkey = remotes[rank].rkey;
    wr.wr.atomic.compare_add = a;
    wr.wr.atomic.swap = b;
    if (ibv_post_send(qps[rank], &wr, &bad))
        die("ibv_post_send of an atomic failed");
    wait_one();
    return *(volatile uint64_t *)scratch;
}

static void verbs_get(void *dst, int rank, size_t off, size_t n)
{
    rdma(IBV_WR_RDMA_READ, dst, rank, off, n, 1);
}

static void verbs_put(int rank, size_t off, const void *src, size_t n)
{
    rdma(IBV_WR_RDMA_WRITE, (void *)src, rank, off, n, 1);
}

static uint64_t verbs_fetch_add(int rank, size_t off, uint64_t v)
{
    return atomic(IBV_WR_ATOMIC_FETCH_AND_ADD, rank, off, v, 0);
}

static uint64_t verbs_compare_swap(int rank, size_t off, uint64_t expected, uint64_t desired)
{
    return atomic(IBV_WR_ATOMIC_CMP_AND_SWP, rank, off, expected, desired);
}

static void verbs_get_window(void *dst, int rank, size_t n, int window)
{
    rdma(IBV_WR_RDMA_READ, dst, rank, 0, n, window);
}

static void verbs_put_window(int rank, const void *src, size_t n, int window)
{
    rdma(IBV_WR_RDMA_WRITE, (void *)src, rank, 0, n, window);
}

static void verbs_close(void)
{
    MPI_Barrier(MPI_COMM_WORLD); /* no rank still reads or writes this one's memory */
    for (int i = 0; i < bench_nranks; i++)
        if (qps && qps[i])
            ibv_destroy_qp(qps[i]);
    for (int i = 0; i < nlocal; i++)
        ibv_dereg_mr(local_mrs[i]);
    if (base_mr)
        ibv_dereg_mr(base_mr);
    if (scratch_mr)
        ibv_dereg_mr(scratch_mr);
    if (cq)
        ibv_destroy_cq(cq);
    if (pd)
        ibv_dealloc_pd(pd);
    if (ctx)
        ibv_close_device(ctx);
    free(qps);
    free(remotes);
    free(scratch);
    qps = NULL;
    remotes = NULL;
    scratch = NULL;
    base_mr = scratch_mr = NULL;
    cq = NULL;
    pd = NULL;
    ctx = NULL;
    nlocal = next_evict = 0;
}

static const struct raw_ops verbs_ops = {verbs_get, verbs_put, verbs_fetch_add,
                                         verbs_compare_swap, verbs_get_window, verbs_put_window,
                                         verbs_close};

const struct raw_ops *raw_verbs_open(char *base, size_t size)
{
    size_t n = (size_t)bench_nranks;
    int port = (int)env_long("GALLOCY_IB_PORT", 1), gid_index = 0;
    const char *dev = getenv("GALLOCY_IB_DEVICE");
    char why[300] = "", link[160];
    struct ibv_port_attr pa;
    struct ibv_device_attr da;
    struct verbs_endpoint ep, *eps = calloc(n, sizeof *eps), *all = calloc(n * n, sizeof *all);
    struct remote mine;
    qps = calloc(n, sizeof *qps);
    remotes = calloc(n, sizeof *remotes);
    if (!eps || !all || !qps || !remotes || posix_memalign((void **)&scratch, 64, 64))
        die("out of memory");
    ctx = verbs_device_open(dev, dev && *dev, port, &pa, desc, sizeof desc, why, sizeof why);
    if (!ctx)
        die(why);
    if (ibv_query_device(ctx, &da) ||
        verbs_port_endpoint(ctx, port, &pa, env_long("GALLOCY_IB_GID_INDEX", -1), desc, &ep,
                            &gid_index, link, sizeof link, why, sizeof why))
        die(why[0] ? why : "ibv_query_device failed");
    const int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
                       IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC;
    int depth = SQ_DEPTH < da.max_qp_wr ? SQ_DEPTH : da.max_qp_wr;
    if (!(pd = ibv_alloc_pd(ctx)) || !(cq = ibv_create_cq(ctx, depth, NULL, NULL, 0)) ||
        !(base_mr = ibv_reg_mr(pd, base, size, access)) ||
        !(scratch_mr = ibv_reg_mr(pd, scratch, 64, IBV_ACCESS_LOCAL_WRITE)))
        die("protection domain, completion queue or registration failed");
    mine = (struct remote){.addr = (uintptr_t)base, .rkey = base_mr->rkey};
    for (size_t i = 0; i < n; i++) {
        if (!(qps[i] = verbs_qp_create(pd, cq, port, depth)))
            die("creating a queue pair failed");
        eps[i] = ep;
        eps[i].qpn = qps[i]->qp_num;
        eps[i].psn = (uint32_t)(bench_me * 7919 + (int)i * 104729) & 0xffffff;
    }
    /* Rank i's endpoint for rank j lands at all[i*n + j]. */
    MPI_Allgather(eps, (int)(n * sizeof *eps), MPI_BYTE, all, (int)(n * sizeof *eps), MPI_BYTE,
                  MPI_COMM_WORLD);
    MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, remotes, (int)sizeof mine, MPI_BYTE,
                  MPI_COMM_WORLD);
    int rd_atomic = da.max_qp_rd_atom < 16 ? da.max_qp_rd_atom : 16;
    for (size_t i = 0; i < n; i++)
        if (verbs_qp_connect(qps[i], port, &eps[i], &all[i * n + (size_t)bench_me], gid_index,
                             rd_atomic > 0 ? rd_atomic : 1))
            die("connecting a queue pair failed");
    MPI_Barrier(MPI_COMM_WORLD); /* every queue pair is ready to receive */
    if (bench_me == 0 && !bench_csv)
        printf("# raw verbs baseline: %s, %s\n", desc, link);
    free(eps);
    free(all);
    return &verbs_ops;
}
