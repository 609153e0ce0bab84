/* death_cases: one bad input per run, chosen by argv[1], for test_death.  Cases that must
 * abort the job do the bad thing and should never reach "survived"; cases where gallocy must
 * answer with an error and carry on print "<case>-ok" when it did. */
#include <errno.h>
#include <gallocy.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int me;

static void start(void)
{
    int rc = gallocy_init(MPI_COMM_WORLD);
    if (rc) {
        fprintf(stderr, "gallocy_init: %s\n", gallocy_strerror(rc));
        MPI_Abort(MPI_COMM_WORLD, 3);
    }
    me = gallocy_rank();
}

static void *free_it(void *p)
{
    gallocy_free(p);
    return NULL;
}

static void *unlock_it(void *l)
{
    gallocy_unlock(l);
    return NULL;
}

static int ok_or_fail(const char *name, int ok)
{
    if (me == 0)
        printf("%s-%s\n", name, ok ? "ok" : "wrong");
    gallocy_finalize();
    MPI_Finalize();
    return ok ? 0 : 1;
}

/* gallocy_init with var=value must fail with want, and leave nothing behind: without it,
 * init works. */
static int init_refused_quietly(const char *var, const char *value)
{
    setenv(var, value, 1);
    int rc = gallocy_init(MPI_COMM_WORLD);
    unsetenv(var);
    return rc;
}

static int init_refused(const char *name, const char *var, const char *value, int want)
{
    int rc = init_refused_quietly(var, value);
    int rc2 = gallocy_init(MPI_COMM_WORLD);
    me = gallocy_rank();
    return ok_or_fail(name, rc == want && rc2 == 0);
}

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";
    int provided;
    if (!strcmp(c, "thread-level")) { /* MPI without MPI_THREAD_MULTIPLE */
        MPI_Init(&argc, &argv);
        int rc = gallocy_init(MPI_COMM_WORLD);
        printf("thread-level-%s\n", rc == -GALLOCY_ERR_THREAD_LEVEL ? "ok" : "wrong");
        MPI_Finalize();
        return 0;
    }
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    if (!strcmp(c, "before-init")) {
        if (gallocy_rank() != -1 || gallocy_nranks() != -1 || gallocy_transport() != NULL) {
            printf("before-init: gallocy_rank, gallocy_nranks or gallocy_transport answered\n");
            return 1;
        }
        gallocy_malloc(10);
    } else if (!strcmp(c, "bad-env")) {
        return init_refused("bad-env", "GALLOCY_PREFETCH", "lots", -EINVAL);
    } else if (!strcmp(c, "comm-null")) {
        int rc = gallocy_init(MPI_COMM_NULL);
        int rc2 = gallocy_init(MPI_COMM_WORLD);
        me = gallocy_rank();
        return ok_or_fail("comm-null", rc == -EINVAL && rc2 == 0);
    } else if (!strcmp(c, "transport-disagree") || !strcmp(c, "transport-foo-one-rank")) {
        /* Rank 1 alone sets it: every rank's init fails, in time, and then works without. */
        int rank;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        if (rank == 1)
            setenv("GALLOCY_TRANSPORT", strcmp(c, "transport-disagree") ? "foo" : "mpi", 1);
        else
            setenv("GALLOCY_TRANSPORT", "auto", 1);
        int rc = gallocy_init(MPI_COMM_WORLD);
        unsetenv("GALLOCY_TRANSPORT");
        int rc2 = gallocy_init(MPI_COMM_WORLD);
        me = gallocy_rank();
        return ok_or_fail(c, rc == -EINVAL && rc2 == 0);
    } else if (!strcmp(c, "range-heap")) {
        return init_refused("range-heap", "GALLOCY_HEAP_SIZE", "0", -EINVAL);
    } else if (!strcmp(c, "range-prefetch")) {
        return init_refused("range-prefetch", "GALLOCY_PREFETCH", "0", -EINVAL);
    } else if (!strcmp(c, "range-slots")) {
        return init_refused("range-slots", "GALLOCY_REMOTE_FREE_SLOTS", "1", -EINVAL);
    } else if (!strcmp(c, "range-port")) {
        return init_refused("range-port", "GALLOCY_IB_PORT", "-3", -EINVAL);
    } else if (!strcmp(c, "misspelt")) { /* init works and says what it ignored */
        setenv("GALLOCY_HEAPSIZE", "2G", 1);
        setenv("GALLOCY_NO_SUCH_THING", "1", 1);
        int rc = gallocy_init(MPI_COMM_WORLD);
        me = gallocy_rank();
        return ok_or_fail("misspelt", rc == 0);
    } else if (!strcmp(c, "numa-bind-fails")) {
        /* A topology with a NUMA node this machine lacks: binding to it fails, is reported
         * once, and the job runs on unbound. */
        char xml[1024];
        const char *dir = getenv("GALLOCY_TEST_SRCDIR") ? getenv("GALLOCY_TEST_SRCDIR") : "tests";
        snprintf(xml, sizeof xml, "%s/topo-2socket-1nic.xml", dir);
        setenv("HWLOC_XMLFILE", xml, 1);
        setenv("HWLOC_THISSYSTEM", "1", 1); /* really bind, as if the XML were this machine */
        setenv("GALLOCY_NUMA", "device", 1);
        int rc = gallocy_init(MPI_COMM_WORLD);
        me = gallocy_rank();
        char *p = rc == 0 ? gallocy_malloc(1 << 20) : NULL;
        if (p)
            memset(p, 7, 1 << 20);
        int ok = rc == 0 && p && p[12345] == 7;
        gallocy_free(p);
        return ok_or_fail("numa-bind-fails", ok);
    } else if (!strcmp(c, "bad-numa")) {
        return init_refused("bad-numa", "GALLOCY_NUMA", "socket", -EINVAL);
    } else if (!strcmp(c, "verbs-no-device")) {
        /* Forcing verbs onto a device that is not there fails init by name; the transport
         * the harness chose works afterwards. */
        const char *was = getenv("GALLOCY_TRANSPORT");
        char keep[64];
        snprintf(keep, sizeof keep, "%s", was ? was : "");
        setenv("GALLOCY_TRANSPORT", "verbs", 1);
        int rc = init_refused_quietly("GALLOCY_IB_DEVICE", "nosuchdev");
        if (was)
            setenv("GALLOCY_TRANSPORT", keep, 1);
        else
            unsetenv("GALLOCY_TRANSPORT");
        int rc2 = gallocy_init(MPI_COMM_WORLD);
        me = gallocy_rank();
        return ok_or_fail("verbs-no-device", rc == -GALLOCY_ERR_TRANSPORT && rc2 == 0);
    } else if (!strcmp(c, "settings-differ")) {
        /* Settings that may differ by rank (each governs only its own rank's faults, reads
         * and progress): rank 1 alone changes them; shared memory, atomics and a lock stay
         * right. */
        int rank;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        if (rank == 0) /* says which atomics the job took: the transport's, as rank 1 maps none */
            setenv("GALLOCY_VERBOSE", "1", 1);
        if (rank == 1) {
            setenv("GALLOCY_PREFETCH", "1", 1);
            setenv("GALLOCY_PREFETCH_MAX", "1", 1);
            setenv("GALLOCY_NODE_SHARED", "0", 1);
            setenv("GALLOCY_FAULTS", "mprotect", 1);
            setenv("GALLOCY_PROGRESS_US", "0", 1);
        }
        start();
        int n = gallocy_nranks(), ok = 1;
        enum { PER = 5000 };
        uint64_t *arr = gallocy_coalloc((size_t)n * PER * 8, GALLOCY_CYCLIC);
        uint64_t *count = gallocy_coalloc(16, 0); /* [0] under the lock, [1] atomic */
        gallocy_lock_t *l = gallocy_coalloc(sizeof *l, n - 1);
        gallocy_barrier();
        for (int i = 0; i < PER; i++)
            arr[(size_t)me * PER + i] = (uint64_t)me << 32 | (uint64_t)i;
        for (int i = 0; i < 100; i++) {
            gallocy_lock(l);
            ++*count;
            gallocy_unlock(l);
            gallocy_atomic_fetch_add(count + 1, 1);
        }
        gallocy_barrier();
        for (int r = 0; r < n; r++)
            for (int i = 0; i < PER; i++)
                ok &= arr[(size_t)r * PER + i] == ((uint64_t)r << 32 | (uint64_t)i);
        ok &= count[0] == 100 * (uint64_t)n;
        ok &= gallocy_atomic_fetch_add(count + 1, 0) == 100 * (uint64_t)n;
        gallocy_barrier();
        gallocy_cofree(l);
        gallocy_cofree(count);
        gallocy_cofree(arr);
        int all;
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        return ok_or_fail("settings-differ", all);
    } else if (!strcmp(c, "node-atomics")) {
        /* Every rank maps every other (one node, the node path on even where the harness
         * turns it off for its other runs): puts, atomics and locks are copies and CPU
         * atomics on the shared memory, and say so; the counts must hold. */
        setenv("GALLOCY_VERBOSE", "1", 1);
        setenv("GALLOCY_NODE_SHARED", "1", 1);
        start();
        int n = gallocy_nranks(), ok = 1;
        enum { ROUNDS = 20000 };
        uint64_t *count = gallocy_coalloc(16, n - 1); /* [0] under the lock, [1] atomic */
        uint64_t *slots = gallocy_coalloc((size_t)n * 8, GALLOCY_CYCLIC);
        gallocy_lock_t *l = gallocy_coalloc(sizeof *l, 0);
        uint64_t mine = 0xabc0000 + (uint64_t)me;
        gallocy_put(&slots[(me + 1) % n], &mine, 8); /* into the next rank's slot */
        gallocy_barrier(); /* then all at once: the adds race */
        for (int i = 0; i < ROUNDS; i++)
            gallocy_atomic_fetch_add(count + 1, 1);
        for (int i = 0; i < ROUNDS / 100; i++) {
            gallocy_lock(l);
            ++*count;
            gallocy_unlock(l);
        }
        gallocy_barrier();
        for (int r = 0; r < n; r++) {
            uint64_t v = 0;
            gallocy_get(&v, &slots[(r + 1) % n], 8);
            ok &= v == 0xabc0000 + (uint64_t)r;
        }
        ok &= gallocy_atomic_fetch_add(count + 1, 0) == (uint64_t)n * ROUNDS;
        ok &= count[0] == (uint64_t)n * (ROUNDS / 100);
        gallocy_barrier();
        if (me == n - 1) /* a compare-and-swap that must take, then one that must not */
            ok &= gallocy_atomic_compare_swap(count + 1, (uint64_t)n * ROUNDS, 7) ==
                      (uint64_t)n * ROUNDS &&
                  gallocy_atomic_compare_swap(count + 1, (uint64_t)n * ROUNDS, 9) == 7;
        gallocy_barrier();
        ok &= gallocy_atomic_fetch_add(count + 1, 0) == 7;
        gallocy_barrier();
        gallocy_cofree(l);
        gallocy_cofree(slots);
        gallocy_cofree(count);
        int all;
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        return ok_or_fail("node-atomics", all);
    } else if (!strcmp(c, "huge-heap")) {
        return init_refused("huge-heap", "GALLOCY_HEAP_SIZE", "64T", -ENOMEM);
    }
    if (!strcmp(c, "mpi-finalize-only") || !strcmp(c, "exit-without-finalize"))
        setenv("GALLOCY_VERBOSE", "1", 1);
    start();
    if (!strcmp(c, "mpi-finalize-only") || !strcmp(c, "exit-without-finalize")) {
        /* Pages written everywhere, so that the service threads and the fault server have
         * work and MPI traffic of their own to finish. */
        int n = gallocy_nranks();
        char *p = gallocy_coalloc((size_t)n * 64 * 4096, GALLOCY_CYCLIC);
        for (size_t i = 0; i < (size_t)n * 64; i++)
            p[i * 4096 + (size_t)me] = 1;
        MPI_Barrier(MPI_COMM_WORLD);
        if (c[0] == 'e')
            exit(0); /* neither gallocy_finalize nor MPI_Finalize */
        MPI_Finalize();
        printf("%s-ok (after MPI_Finalize)\n", c);
        return 0;
    } else if (!strcmp(c, "double-free")) {
        void *p = gallocy_malloc(40);
        gallocy_free(p);
        gallocy_free(p);
    } else if (!strcmp(c, "double-free-large")) {
        void *p = gallocy_malloc(100000);
        gallocy_free(p);
        gallocy_free(p);
    } else if (!strcmp(c, "foreign-free")) {
        gallocy_free(malloc(16));
    } else if (!strcmp(c, "interior-free")) {
        char *p = gallocy_malloc(64);
        gallocy_free(p + 16);
    } else if (!strcmp(c, "interior-free-large")) {
        char *p = gallocy_malloc(1 << 20);
        gallocy_free(p + 8192);
    } else if (!strcmp(c, "thread-double-free")) { /* another thread frees, then this one */
        pthread_t t;
        void *p = gallocy_malloc(32);
        pthread_create(&t, NULL, free_it, p);
        pthread_join(t, NULL);
        gallocy_free(p);
    } else if (!strcmp(c, "remote-double-free")) { /* rank 1 frees rank 0's block twice */
        uintptr_t p = me == 0 ? (uintptr_t)gallocy_malloc(48) : 0;
        MPI_Bcast(&p, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
        if (me == 1) {
            gallocy_free((void *)p);
            gallocy_free((void *)p);
        }
        gallocy_barrier();
        gallocy_barrier(); /* rank 0 applies the frees here at the latest, and stops */
    } else if (!strcmp(c, "free-coalloc")) {
        gallocy_free(gallocy_coalloc(4096, 0));
    } else if (!strcmp(c, "cofree-malloc")) {
        uintptr_t p = me == 0 ? (uintptr_t)gallocy_malloc(4096) : 0; /* one pointer, all ranks */
        MPI_Bcast(&p, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
        gallocy_cofree((void *)p);
    } else if (!strcmp(c, "coalloc-usable")) { /* its whole pages, on every rank */
        char *p = gallocy_coalloc(10000, GALLOCY_CYCLIC);
        int ok = p && gallocy_usable_size(p) == 3 * 4096;
        gallocy_cofree(p);
        int all;
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        return ok_or_fail("coalloc-usable", all);
    } else if (!strcmp(c, "coalloc-usable-inside")) {
        char *p = gallocy_coalloc(3 * 4096, GALLOCY_CYCLIC);
        if (me == 0)
            gallocy_usable_size(p + 4096);
        gallocy_barrier();
    } else if (!strcmp(c, "cofree-disagree")) { /* nothing freed, the pointers in hex */
        char *p = gallocy_coalloc(4096, 0), *q = gallocy_coalloc(4096, 0);
        errno = 0;
        gallocy_cofree(me == 0 ? p : q);
        int ok = errno == EINVAL;
        p[0] = 1; /* both still allocated */
        q[0] = 2;
        gallocy_cofree(p);
        gallocy_cofree(q);
        int all;
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        return ok_or_fail("cofree-disagree", all);
    } else if (!strcmp(c, "bad-atomic")) {
        uint64_t local = 0;
        gallocy_atomic_fetch_add(&local, 1);
    } else if (!strcmp(c, "bounds")) {
        /* get, put and prepare of ranges that leave their block: -EINVAL, nothing moved, the
         * neighbours intact; the same ranges cut to the block work.  Blocks homed on rank 1
         * (small, large, coalloc) and on rank 0 itself. */
        enum { SMALL = 64, LARGE = 40000, LARGE_PAGES = 10 };
        unsigned char *mine[5] = {0}; /* a, b (small), big, next (large), own small */
        if (me == 1) {
            mine[0] = gallocy_malloc(SMALL);
            mine[1] = gallocy_malloc(SMALL);
            mine[2] = gallocy_malloc(LARGE);
            mine[3] = gallocy_malloc(LARGE);
            for (int i = 0; i < 4; i++)
                memset(mine[i], 0x5a, i < 2 ? SMALL : LARGE);
        }
        MPI_Bcast(mine, 4 * sizeof mine[0], MPI_BYTE, 1, MPI_COMM_WORLD);
        unsigned char *co = gallocy_coalloc(2 * 4096, 1), *co_next = gallocy_coalloc(4096, 1);
        if (me == 1) {
            memset(co, 0x5a, 2 * 4096);
            memset(co_next, 0x5a, 4096);
        }
        gallocy_barrier();
        int ok = 1;
        if (me == 0) {
            static unsigned char src[1 << 16], dst[1 << 16];
            memset(src, 0xee, sizeof src);
            memset(dst, 0x11, sizeof dst);
            unsigned char *a = mine[0], *big = mine[2], *own = gallocy_malloc(SMALL);
            ok &= gallocy_put(a + 32, src, SMALL) == -EINVAL; /* the first, reported */
            ok &= gallocy_put(a, src, SMALL + 1) == -EINVAL;
            ok &= gallocy_put(a, src, (size_t)1 << 30) == -EINVAL;
            ok &= gallocy_get(dst, a + SMALL - 4, 8) == -EINVAL && dst[0] == 0x11;
            ok &= gallocy_put(big + LARGE_PAGES * 4096 - 8, src, 16) == -EINVAL;
            ok &= gallocy_get(dst, big + 5000, LARGE_PAGES * 4096) == -EINVAL && dst[0] == 0x11;
            ok &= gallocy_put(own + 32, src, SMALL) == -EINVAL;
            ok &= gallocy_put(co + 8000, src, 400) == -EINVAL;
            ok &= gallocy_prepare(a, 4096, GALLOCY_READ) == -EINVAL;
            ok &= gallocy_put(a, src, SMALL) == 0; /* cut to the block: fine */
            ok &= gallocy_put(big + 5000, src, 100) == 0; /* inside, from a tail page */
            ok &= gallocy_get(dst, big, LARGE_PAGES * 4096) == 0 && dst[0] == 0x5a;
            ok &= gallocy_put(own, src, SMALL) == 0 && own[SMALL - 1] == 0xee;
            ok &= gallocy_put(co + 4096, src, 4096) == 0;
            ok &= gallocy_prepare(big, LARGE_PAGES * 4096, GALLOCY_READ) == 0;
            gallocy_free(own);
            ok &= gallocy_get(dst, own, 8) == -EINVAL; /* freed */
        }
        gallocy_barrier();
        if (me == 1) { /* the good puts landed; nothing else changed */
            for (int i = 0; i < SMALL; i++)
                ok &= mine[0][i] == 0xee && mine[1][i] == 0x5a;
            for (int i = 0; i < LARGE; i++)
                ok &= mine[2][i] == (i >= 5000 && i < 5100 ? 0xee : 0x5a) && mine[3][i] == 0x5a;
            for (int i = 0; i < 2 * 4096; i++)
                ok &= co[i] == (i >= 4096 ? 0xee : 0x5a);
            for (int i = 0; i < 4096; i++)
                ok &= co_next[i] == 0x5a;
            for (int i = 0; i < 4; i++)
                gallocy_free(mine[i]);
        }
        gallocy_barrier();
        gallocy_cofree(co_next);
        gallocy_cofree(co);
        int all;
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        return ok_or_fail("bounds", all);
    } else if (!strcmp(c, "atomic-freed")) { /* on a block this rank freed */
        uint64_t *w = gallocy_malloc(8);
        gallocy_atomic_fetch_add(w, 1);
        gallocy_free(w);
        if (me == 0)
            gallocy_atomic_fetch_add(w, 1);
        gallocy_barrier();
    } else if (!strcmp(c, "atomic-freed-remote")) {
        /* On a large block its home, rank 1, freed before a barrier: rank 0 had used it, so
         * it knew the block, and must learn at the barrier that it is gone. */
        uint64_t *w = NULL;
        if (me == 1)
            w = gallocy_malloc(1 << 16);
        MPI_Bcast(&w, sizeof w, MPI_BYTE, 1, MPI_COMM_WORLD);
        gallocy_barrier();
        if (me == 0)
            gallocy_atomic_compare_swap(w, 0, 1);
        gallocy_barrier();
        if (me == 1)
            gallocy_free(w);
        gallocy_barrier();
        if (me == 0)
            gallocy_atomic_compare_swap(w, 1, 2);
        gallocy_barrier();
    } else if (!strcmp(c, "lock-freed")) { /* a lock in memory this rank freed */
        gallocy_lock_t *l = gallocy_calloc(1, sizeof *l);
        gallocy_free(l);
        if (me == 0)
            gallocy_lock(l);
        gallocy_barrier();
    } else if (!strcmp(c, "unlock-unheld")) { /* rank 1 unlocks a lock nobody holds */
        gallocy_lock_t *l = gallocy_coalloc(sizeof *l, 0);
        gallocy_barrier();
        if (me == 1)
            gallocy_unlock(l);
        gallocy_barrier();
    } else if (!strcmp(c, "unlock-twice")) { /* rank 0 locks once, unlocks twice */
        gallocy_lock_t *l = gallocy_coalloc(sizeof *l, 0);
        gallocy_barrier();
        if (me == 0) {
            gallocy_lock(l);
            gallocy_unlock(l);
            gallocy_unlock(l);
        }
        gallocy_barrier();
    } else if (!strcmp(c, "unlock-others")) { /* rank 0 holds it, the last rank unlocks it */
        gallocy_lock_t *l = gallocy_coalloc(sizeof *l, 0);
        gallocy_barrier();
        if (me == 0)
            gallocy_lock(l);
        gallocy_barrier();
        if (me == gallocy_nranks() - 1)
            gallocy_unlock(l);
        gallocy_barrier();
    } else if (!strcmp(c, "lock-twice")) { /* a thread takes a lock it holds */
        gallocy_lock_t *l = gallocy_coalloc(sizeof *l, 0);
        gallocy_barrier();
        if (me == 0) {
            gallocy_lock(l);
            if (gallocy_trylock(l)) /* must not answer 0 or 1: it would wait for itself */
                printf("lock-twice: trylock took a lock this thread holds\n");
        }
        gallocy_barrier();
    } else if (!strcmp(c, "locks-legal")) {
        /* What stays legal: a lock taken by one thread and given by another of the rank,
         * and a lock the rank holds taken meanwhile by another rank's trylock (0). */
        gallocy_lock_t *l = gallocy_coalloc(sizeof *l, 0);
        gallocy_barrier();
        int ok = 1;
        if (me == 0) {
            gallocy_lock(l);
            pthread_t t;
            pthread_create(&t, NULL, unlock_it, l);
            pthread_join(t, NULL);
        }
        gallocy_barrier();
        if (me == 0)
            gallocy_lock(l);
        gallocy_barrier();
        if (me != 0)
            ok &= gallocy_trylock(l) == 0;
        gallocy_barrier();
        if (me == 0)
            gallocy_unlock(l);
        gallocy_barrier();
        if (me != 0 && gallocy_trylock(l))
            gallocy_unlock(l);
        gallocy_barrier();
        gallocy_cofree(l);
        int all;
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        return ok_or_fail("locks-legal", all);
    } else if (!strcmp(c, "segv-outside")) {
        volatile int *volatile bad = (volatile int *)(uintptr_t)64;
        *bad = 1;
    } else if (!strcmp(c, "calloc-overflow")) {
        errno = 0;
        void *p = gallocy_calloc(SIZE_MAX / 3, 8);
        int err = errno;
        void *q = gallocy_malloc(100); /* the heap is still fine */
        int ok = !p && err == ENOMEM && q;
        gallocy_free(q);
        return ok_or_fail("calloc-overflow", ok);
    } else if (!strcmp(c, "coalloc-disagree")) {
        errno = 0;
        void *p = gallocy_coalloc(4096 * (size_t)(1 + me), 0);
        int ok = !p && errno == EINVAL;
        void *q = gallocy_coalloc(4096, 0); /* agreeing calls still work */
        ok &= q != NULL;
        gallocy_cofree(q);
        int all;
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        return ok_or_fail("coalloc-disagree", all);
    } else if (!strcmp(c, "pin-refused")) {
        /* Under verbs, with too little to pin (RLIMIT_MEMLOCK or the node's memory, set by the
         * caller): an allocation of GALLOCY_TEST_PIN_BYTES fails with ENOMEM after a message,
         * a collective one on every rank; small ones still work and hold their data. */
        const char *b = getenv("GALLOCY_TEST_PIN_BYTES");
        size_t bytes = b ? strtoull(b, NULL, 0) : (size_t)64 << 20;
        errno = 0;
        void *p = gallocy_malloc(bytes);
        int ok = !p && errno == ENOMEM;
        errno = 0;
        void *cp = gallocy_coalloc(bytes * (size_t)gallocy_nranks(), GALLOCY_BLOCKED);
        ok &= !cp && errno == ENOMEM;
        char *q = gallocy_malloc(1000);
        int *cq = gallocy_coalloc(4096 * (size_t)gallocy_nranks(), GALLOCY_CYCLIC);
        ok &= q && cq;
        if (ok) {
            memset(q, 5, 1000);
            cq[1024 * me] = me + 1;
            gallocy_barrier();
            for (int r = 0; r < gallocy_nranks(); r++)
                ok &= cq[1024 * r] == r + 1;
            ok &= q[999] == 5;
        }
        gallocy_free(q);
        gallocy_cofree(cq);
        int all;
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        return ok_or_fail("pin-refused", all);
    } else {
        fprintf(stderr, "death_cases: unknown case '%s'\n", c);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    printf("survived\n");
    gallocy_finalize();
    MPI_Finalize();
    return 0;
}
