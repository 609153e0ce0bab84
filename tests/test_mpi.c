/* test_mpi: MPI calls on global memory, homed anywhere, touched or not (the MPI layer of
 * mpi/interpose_*.c): point-to-point blocking and not, eager and rendezvous sizes, persistent
 * requests, collectives with MPI_IN_PLACE, one-sided origin buffers and a window over global
 * memory.  Data received into global memory is this rank's write: its home sees it after the
 * next release. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"

static unsigned char pat(int r, size_t i, int salt)
{
    return (unsigned char)(r * 31 + (int)(i % 251) * 7 + salt * 13 + 1);
}

static int has_pat(const unsigned char *p, size_t n, int r, int salt)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(r, i, salt))
            return 0;
    return 1;
}

static void fill(unsigned char *p, size_t n, int r, int salt)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pat(r, i, salt);
}

/* One allocation homed on each rank (collective): a[r] on rank r, zeroed, untouched. */
static void per_home(unsigned char **a, size_t n)
{
    for (int r = 0; r < nranks; r++)
        a[r] = gallocy_coalloc(n, r);
}

static void free_per_home(unsigned char **a)
{
    for (int r = 0; r < nranks; r++)
        gallocy_cofree(a[r]);
}

/* Ring: each rank sends from a buffer homed on its successor that it never touched, into a
 * buffer homed on its successor too (untouched), with the receive posted first or not. */
static int ring(size_t n, int salt, int nonblocking)
{
    unsigned char *a[64], *b[64];
    int next = (me + 1) % nranks, prev = (me + nranks - 1) % nranks;
    per_home(a, n);
    per_home(b, n);
    fill(a[me], n, me, salt); /* each home fills its own: the sender reads it remotely */
    gallocy_barrier();
    int ok = 1;
    if (nonblocking) {
        MPI_Request rq[2];
        MPI_Irecv(b[next], (int)n, MPI_BYTE, prev, 7, test_comm, &rq[0]);
        MPI_Isend(a[next], (int)n, MPI_BYTE, next, 7, test_comm, &rq[1]);
        MPI_Waitall(2, rq, MPI_STATUSES_IGNORE);
    } else if (nranks == 1 || (nranks % 2 && me == nranks - 1)) {
        MPI_Sendrecv(a[next], (int)n, MPI_BYTE, next, 7, b[next], (int)n, MPI_BYTE, prev, 7,
                     test_comm, MPI_STATUS_IGNORE);
    } else if (me % 2 == 0) {
        MPI_Send(a[next], (int)n, MPI_BYTE, next, 7, test_comm);
        MPI_Recv(b[next], (int)n, MPI_BYTE, prev, 7, test_comm, MPI_STATUS_IGNORE);
    } else {
        MPI_Recv(b[next], (int)n, MPI_BYTE, prev, 7, test_comm, MPI_STATUS_IGNORE);
        MPI_Send(a[next], (int)n, MPI_BYTE, next, 7, test_comm);
    }
    /* prev sent a[me]: this rank's pattern, now in b[next] here. */
    ok &= has_pat(b[next], n, me, salt);
    gallocy_barrier();
    /* The home of b[me] is this rank: prev's receive wrote it, and released at the barrier. */
    ok &= has_pat(b[me], n, prev, salt);
    gallocy_barrier();
    free_per_home(a);
    free_per_home(b);
    return ok;
}

static void test_send_recv_sizes(void)
{
    CM_SKIP_UNLESS(nranks <= 64, "at most 64 ranks");
    const size_t sizes[] = {8, 4096, 65536, 1 << 20, 4 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        CU_ASSERT(all_true(ring(sizes[i], (int)i, 0)));
        CU_ASSERT(all_true(ring(sizes[i], (int)i + 10, 1)));
    }
}

static void test_small_sends_repeated(void)
{
    CM_SKIP_UNLESS(nranks <= 64, "at most 64 ranks");
    int ok = 1;
    for (int k = 0; k < 20; k++)
        ok &= ring(4096, k, k % 2);
    CU_ASSERT(all_true(ok));
}

/* A receive posted before, and completed after, a release and an acquire of this rank:
 * the pages it fills stay writable (pinned) across them, and what it received is written
 * home at the next release. */
static void test_nonblocking_across_sync(void)
{
    CM_SKIP_UNLESS(nranks >= 2 && nranks <= 64, "needs 2 to 64 ranks");
    enum { N = 256 * 1024 };
    unsigned char *a[64], *b[64];
    per_home(a, N);
    per_home(b, N);
    int next = (me + 1) % nranks, prev = (me + nranks - 1) % nranks;
    fill(a[me], N, me, 3);
    gallocy_barrier();
    MPI_Request rq;
    MPI_Irecv(b[next], N, MPI_BYTE, prev, 9, test_comm, &rq);
    gallocy_release();
    gallocy_acquire();
    MPI_Barrier(test_comm); /* every receive is posted */
    MPI_Send(a[next], N, MPI_BYTE, next, 9, test_comm);
    MPI_Wait(&rq, MPI_STATUS_IGNORE);
    int ok = has_pat(b[next], N, me, 3);
    gallocy_barrier();
    ok &= has_pat(b[me], N, prev, 3);
    CU_ASSERT(all_true(ok));
    gallocy_barrier();
    free_per_home(a);
    free_per_home(b);
}

/* Receive into this rank's own pages while another rank caches them (its home keeps them
 * write-protected, and its writes become write notices). */
static void test_recv_into_shared_own_pages(void)
{
    CM_SKIP_UNLESS(nranks >= 2, "needs 2 ranks");
    enum { N = 64 * 1024 };
    unsigned char *own = me == 0 ? gallocy_malloc(N) : NULL;
    if (me == 0)
        memset(own, 0, N);
    own = bcast_ptr(own, 0);
    gallocy_barrier();
    volatile unsigned char sum = 0;
    if (me == 1)
        for (size_t i = 0; i < N; i += 4096)
            sum += own[i]; /* rank 1 caches rank 0's pages */
    gallocy_barrier();     /* rank 0 write-protects them */
    gallocy_barrier();     /* rank 1's copies are now kept across barriers */
    unsigned char *src = malloc(N);
    fill(src, N, 1, 5);
    if (me == 1)
        MPI_Send(src, N, MPI_BYTE, 0, 11, test_comm);
    else if (me == 0)
        MPI_Recv(own, N, MPI_BYTE, 1, 11, test_comm, MPI_STATUS_IGNORE);
    int ok = me != 0 || has_pat(own, N, 1, 5);
    gallocy_barrier();
    if (me == 1)
        ok &= has_pat(own, N, 1, 5); /* its copies were dropped: the receive was noticed */
    CU_ASSERT(all_true(ok));
    free(src);
    gallocy_barrier();
    if (me == 0)
        gallocy_free(own);
    (void)sum;
}

static void test_persistent_requests(void)
{
    CM_SKIP_UNLESS(nranks <= 64, "at most 64 ranks");
    enum { N = 32 * 1024 };
    unsigned char *a[64], *b[64];
    per_home(a, N);
    per_home(b, N);
    int next = (me + 1) % nranks, prev = (me + nranks - 1) % nranks, ok = 1;
    MPI_Request rq[2];
    MPI_Recv_init(b[next], N, MPI_BYTE, prev, 13, test_comm, &rq[0]);
    MPI_Send_init(a[next], N, MPI_BYTE, next, 13, test_comm, &rq[1]);
    for (int k = 0; k < 4; k++) {
        fill(a[me], N, me, 20 + k);
        gallocy_barrier();
        MPI_Startall(2, rq);
        MPI_Waitall(2, rq, MPI_STATUSES_IGNORE);
        ok &= has_pat(b[next], N, me, 20 + k);
        gallocy_barrier();
        ok &= has_pat(b[me], N, prev, 20 + k);
    }
    MPI_Request_free(&rq[0]);
    MPI_Request_free(&rq[1]);
    CU_ASSERT(all_true(ok));
    gallocy_barrier();
    free_per_home(a);
    free_per_home(b);
}

/* Collectives whose buffers are global memory homed on some other rank, untouched. */
static void test_collectives(void)
{
    CM_SKIP_UNLESS(nranks <= 64, "at most 64 ranks");
    enum { N = 8192 }; /* ints per rank */
    size_t bytes = (size_t)N * sizeof(int) * (size_t)nranks;
    int *a = gallocy_coalloc(bytes, GALLOCY_CYCLIC), *b = gallocy_coalloc(bytes, GALLOCY_CYCLIC);
    int *c = gallocy_coalloc(bytes, GALLOCY_BLOCKED);
    int ok = 1;
    /* Bcast from the last rank into memory homed everywhere. */
    if (me == nranks - 1)
        for (int i = 0; i < N; i++)
            a[i] = i * 3;
    MPI_Bcast(a, N, MPI_INT, nranks - 1, test_comm);
    for (int i = 0; i < N; i++)
        ok &= a[i] == i * 3;
    /* Allreduce in place. */
    gallocy_barrier();
    int *row = b + (size_t)me * N;
    for (int i = 0; i < N; i++)
        row[i] = me + i;
    MPI_Allreduce(MPI_IN_PLACE, row, N, MPI_INT, MPI_SUM, test_comm);
    int base = nranks * (nranks - 1) / 2;
    for (int i = 0; i < N; i++)
        ok &= row[i] == base + nranks * i;
    /* Alltoall: block j of rank r's send goes to rank j; received into the share of c that
     * the next rank homes. */
    gallocy_barrier();
    int *s = gallocy_malloc(bytes), *r = c + (size_t)((me + 1) % nranks) * N - (size_t)me * N;
    for (int j = 0; j < nranks; j++)
        for (int i = 0; i < N / nranks; i++)
            s[j * (N / nranks) + i] = me * 1000 + j;
    MPI_Alltoall(s, N / nranks, MPI_INT, r + (size_t)me * N, N / nranks, MPI_INT, test_comm);
    for (int j = 0; j < nranks; j++)
        for (int i = 0; i < N / nranks; i++)
            ok &= r[(size_t)me * N + j * (N / nranks) + i] == j * 1000 + me;
    /* Gather at rank 0 into global memory, Scatter back. */
    gallocy_barrier();
    int *g = gallocy_coalloc((size_t)nranks * sizeof(int), GALLOCY_CYCLIC), mine = me * 7, back;
    MPI_Gather(&mine, 1, MPI_INT, g, 1, MPI_INT, 0, test_comm);
    if (me == 0)
        for (int j = 0; j < nranks; j++)
            ok &= g[j] == j * 7;
    MPI_Scatter(g, 1, MPI_INT, &back, 1, MPI_INT, 0, test_comm);
    ok &= back == me * 7;
    /* Allgatherv in place into global memory. */
    gallocy_barrier();
    int counts[64], displs[64];
    for (int j = 0; j < nranks; j++) {
        counts[j] = 1;
        displs[j] = j;
    }
    g[me] = me + 100;
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, g, counts, displs, MPI_INT, test_comm);
    for (int j = 0; j < nranks; j++)
        ok &= g[j] == j + 100;
    /* Nonblocking: an Iallreduce completed after a release. */
    gallocy_barrier();
    MPI_Request rq;
    int *x = b + (size_t)((me + 1) % nranks) * N; /* homed by the next rank's share */
    for (int i = 0; i < 16; i++)
        x[i] = 1;
    MPI_Iallreduce(MPI_IN_PLACE, x, 16, MPI_INT, MPI_SUM, test_comm, &rq);
    gallocy_release();
    MPI_Wait(&rq, MPI_STATUS_IGNORE);
    for (int i = 0; i < 16; i++)
        ok &= x[i] == nranks;
    CU_ASSERT(all_true(ok));
    gallocy_barrier();
    gallocy_free(s);
    gallocy_cofree(g);
    gallocy_cofree(c);
    gallocy_cofree(b);
    gallocy_cofree(a);
}

/* One-sided: origin buffers in global memory (untouched, homed elsewhere) on a window of
 * MPI's own memory; and a window made over global memory. */
static void test_one_sided(void)
{
    CM_SKIP_UNLESS(nranks <= 64, "at most 64 ranks");
    enum { N = 16 * 1024 };
    unsigned char *a[64], *b[64];
    per_home(a, N);
    per_home(b, N);
    int next = (me + 1) % nranks, ok = 1;
    fill(a[me], N, me, 40);
    gallocy_barrier();
    unsigned char *wmem;
    MPI_Win win;
    MPI_Win_allocate(N, 1, MPI_INFO_NULL, test_comm, &wmem, &win);
    memset(wmem, 0, N);
    MPI_Win_fence(0, win);
    MPI_Put(a[next], N, MPI_BYTE, next, 0, N, MPI_BYTE, win); /* next's pattern, to next */
    MPI_Win_fence(0, win);
    ok &= has_pat(wmem, N, me, 40);
    MPI_Win_lock_all(0, win);
    MPI_Get(b[next], N, MPI_BYTE, next, 0, N, MPI_BYTE, win);
    MPI_Win_flush(next, win);
    MPI_Win_unlock_all(win);
    ok &= has_pat(b[next], N, next, 40);
    MPI_Win_free(&win);
    gallocy_barrier();
    ok &= has_pat(b[me], N, me, 40); /* the previous rank got it for this home */
    /* A window over global memory homed on this rank: others put into it.  (Open MPI's
     * default one-sided component refuses MPI_Win_create in a job of one rank.) */
    fill(a[me], N, me, 41);
    gallocy_barrier();
    if (nranks > 1) {
        MPI_Win_create(b[me], N, 1, MPI_INFO_NULL, test_comm, &win);
        MPI_Win_fence(0, win);
        MPI_Put(a[next], 64, MPI_BYTE, next, 0, 64, MPI_BYTE, win);
        MPI_Win_fence(0, win);
        ok &= has_pat(b[me], 64, me, 41);
        MPI_Win_free(&win);
    }
    CU_ASSERT(all_true(ok));
    gallocy_barrier();
    free_per_home(a);
    free_per_home(b);
}

/* A fault taken in a signal handler (GALLOCY_FAULTS=sigbus or mprotect) on a page from
 * another node: the handler makes the get itself, unless its thread is inside MPI (MPI is not
 * async-signal-safe), where it hands the get to the service thread (fetches_handed_off).  A
 * user operator run by MPI_Reduce_local reads untouched global memory: inside MPI.  The same
 * loads outside MPI take no hand-off (under the mpi transport; verbs hands every one off). */
enum { OP_PAGES = 6 };
static const volatile unsigned char *op_pages;
static long op_sum;

static void touching_op(void *in, void *inout, int *len, MPI_Datatype *dt)
{
    (void)dt;
    for (int i = 0; i < *len; i++)
        ((long *)inout)[i] += ((const long *)in)[i];
    for (int p = 0; p < OP_PAGES; p++)
        op_sum += op_pages[(size_t)p * 4096 + 8];
}

static void test_fault_inside_mpi(void)
{
    enum { N = OP_PAGES * 4096 };
    unsigned char **a = malloc((size_t)nranks * sizeof *a);
    per_home(a, 2 * N);
    int next = (me + 1) % nranks;
    memset(a[me], (unsigned char)(me + 1), 2 * N);
    gallocy_barrier();
    const char *way = gallocy_faults(), *transport = gallocy_transport();
    int in_handler = strcmp(way, "uffd") != 0;
    int direct = strcmp(transport, "mpi") == 0;
    gallocy_stats_t s0, s1, s2;
    gallocy_stats(&s0);
    /* Outside MPI: plain loads of the first half, one a page. */
    long sum = 0;
    for (int p = 0; p < OP_PAGES; p++)
        sum += ((const volatile unsigned char *)a[next])[(size_t)p * 4096 + 8];
    gallocy_stats(&s1);
    /* Inside MPI: the operator reads the second half. */
    MPI_Op op;
    MPI_Op_create(touching_op, 1, &op);
    long in = 1, inout = 2;
    op_pages = a[next] + N;
    op_sum = 0;
    MPI_Reduce_local(&in, &inout, 1, MPI_LONG, op);
    MPI_Op_free(&op);
    gallocy_stats(&s2);
    int ok = inout == 3 && sum == (long)OP_PAGES * (next + 1) &&
             op_sum == (long)OP_PAGES * (next + 1);
    /* Through the transport: a remote home, not copied on this node. */
    int via_tp1 = nranks > 1 && s1.pages_fetched > s0.pages_fetched &&
                  s1.pages_fetched_on_node == s0.pages_fetched_on_node;
    int via_tp2 = nranks > 1 && s2.pages_fetched > s1.pages_fetched &&
                  s2.pages_fetched_on_node == s1.pages_fetched_on_node;
    uint64_t off1 = s1.fetches_handed_off - s0.fetches_handed_off;
    uint64_t off2 = s2.fetches_handed_off - s1.fetches_handed_off;
    if (in_handler && via_tp1 && !direct)
        ok &= off1 > 0;
    else
        ok &= off1 == 0;
    if (in_handler && via_tp2)
        ok &= off2 > 0;
    else
        ok &= off2 == 0;
    if (!ok)
        fprintf(stderr, "rank %d: faults %s, transport %s: outside MPI %lu hand-offs (through "
                "the transport: %d), inside %lu (%d); sums %ld %ld, reduced %ld\n", me, way,
                transport, (unsigned long)off1, via_tp1, (unsigned long)off2, via_tp2, sum,
                op_sum, inout);
    CU_ASSERT(all_true(ok));
    gallocy_barrier();
    free_per_home(a);
    free(a);
}

void register_mpi_tests(void)
{
    static const struct cm_test tests[] = {
        {"send/recv on untouched remote memory, 8 B to 4 MiB", test_send_recv_sizes},
        {"4 KiB sends repeated", test_small_sends_repeated},
        {"a nonblocking receive across a release and an acquire", test_nonblocking_across_sync},
        {"receive into own pages that another rank caches", test_recv_into_shared_own_pages},
        {"persistent requests", test_persistent_requests},
        {"collectives, MPI_IN_PLACE and nonblocking", test_collectives},
        {"one-sided origin buffers and a window over global memory", test_one_sided},
        {"a fault inside MPI is served by the service thread, outside by the handler",
         test_fault_inside_mpi},
        {NULL, NULL},
    };
    CM_ADD_SUITE("mpi", tests);
}
