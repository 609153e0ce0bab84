/* test_death: runs each bad-input case of death_cases under mpirun (with a timeout) and
 * checks how it ended and what it said.  Needs MPIRUN and the mpirun environment from
 * run-tests.sh; DEATH_CASES is the program's path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cunit_main.h"

/* Runs the case on np ranks; returns the exit status and fills out with its output. */
static int run_case(const char *name, int np, char *out, size_t outlen)
{
    const char *mpirun = getenv("MPIRUN") ? getenv("MPIRUN") : "mpirun";
    const char *prog = getenv("DEATH_CASES") ? getenv("DEATH_CASES") : "./death_cases";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "timeout 120 %s -np %d %s %s 2>&1", mpirun, np, prog, name);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* must_die: the job must end with a failure status; either way the output must contain
 * every string in says (NULL-terminated) and, for dying cases, never "survived". */
static void expect(const char *name, int np, int must_die, const char *const *says)
{
    static char out[1 << 16];
    int st = run_case(name, np, out, sizeof out);
    int ok = must_die ? (st != 0 && st != 124 && !strstr(out, "survived")) : st == 0;
    for (int i = 0; says[i]; i++)
        ok &= strstr(out, says[i]) != NULL;
    if (!ok)
        fprintf(stderr, "case %s (np %d) ended with status %d and said:\n%s\n", name, np, st,
                out);
    CU_ASSERT(ok);
}

#define DIES(fn, name, np, ...)                                                              \
    static void fn(void)                                                                     \
    {                                                                                        \
        static const char *const s[] = {__VA_ARGS__, NULL};                                  \
        expect(name, np, 1, s);                                                              \
    }
#define ANSWERS(fn, name, np, ...)                                                           \
    static void fn(void)                                                                     \
    {                                                                                        \
        static const char *const s[] = {__VA_ARGS__, NULL};                                  \
        expect(name, np, 0, s);                                                              \
    }

DIES(t_before_init, "before-init", 1,
     "gallocy: rank 0: gallocy_malloc: called before gallocy_init")
DIES(t_double_free, "double-free", 2, "rank 0: gallocy_free: double free of 0x")
DIES(t_double_free_large, "double-free-large", 1, "gallocy_free: 0x",
     "is not an allocated block")
DIES(t_foreign_free, "foreign-free", 1, "gallocy_free: 0x", "is not memory from gallocy")
DIES(t_interior_free, "interior-free", 1, "gallocy_free: 0x", "points inside a 64-byte block")
DIES(t_interior_large, "interior-free-large", 1, "gallocy_free: 0x",
     "points inside a large block")
DIES(t_thread_double_free, "thread-double-free", 1, "rank 0: gallocy_free: double free of 0x")
DIES(t_remote_double_free, "remote-double-free", 2, "rank 0: gallocy_free: double free of 0x",
     "(freed by rank 1)")
DIES(t_free_coalloc, "free-coalloc", 2, "release it with gallocy_cofree")
DIES(t_cofree_malloc, "cofree-malloc", 2, "gallocy_cofree: 0x",
     "is not a pointer returned by gallocy_coalloc")
DIES(t_bad_atomic, "bad-atomic", 1, "gallocy_atomic_fetch_add: 0x",
     "is not an 8-byte aligned word of allocated global memory")
DIES(t_segv, "segv-outside", 2, "Segmentation fault")
DIES(t_unlock_unheld, "unlock-unheld", 2, "rank 1: gallocy_unlock: the lock at 0x",
     "is not held by this rank")
DIES(t_unlock_unheld4, "unlock-unheld", 4, "rank 1: gallocy_unlock: the lock at 0x",
     "is not held by this rank")
DIES(t_unlock_twice, "unlock-twice", 2, "rank 0: gallocy_unlock: the lock at 0x",
     "is not held by this rank (a second unlock")
DIES(t_unlock_twice4, "unlock-twice", 4, "rank 0: gallocy_unlock: the lock at 0x",
     "is not held by this rank (a second unlock")
DIES(t_unlock_others, "unlock-others", 2, "rank 1: gallocy_unlock: the lock at 0x",
     "is not held by this rank")
DIES(t_unlock_others4, "unlock-others", 4, "rank 3: gallocy_unlock: the lock at 0x",
     "is not held by this rank")
DIES(t_lock_twice, "lock-twice", 2, "rank 0: gallocy_trylock: this thread already holds the "
     "lock at 0x", "gallocy locks are not recursive")
DIES(t_lock_twice4, "lock-twice", 4, "rank 0: gallocy_trylock: this thread already holds the "
     "lock at 0x", "gallocy locks are not recursive")
ANSWERS(t_bounds, "bounds", 2, "bounds-ok", "rank 0: gallocy_put: the 64 bytes at 0x",
        "run past the end of their block [0x", "by 32 bytes: the range must lie in one allocation",
        "returns -EINVAL")
DIES(t_atomic_freed, "atomic-freed", 2, "rank 0: gallocy_atomic_fetch_add: 0x",
     "is in no allocated block")
DIES(t_atomic_freed_remote, "atomic-freed-remote", 2, "rank 0: gallocy_atomic_compare_swap: 0x",
     "is in no allocated block")
DIES(t_lock_freed, "lock-freed", 2, "rank 0: gallocy_lock: 0x", "is in no allocated block")
DIES(t_lock_freed4, "lock-freed", 4, "rank 0: gallocy_lock: 0x", "is in no allocated block")
ANSWERS(t_settings_differ, "settings-differ", 2, "settings-differ-ok",
        "node: atomics and locks with the transport's atomics")
ANSWERS(t_settings_differ4, "settings-differ", 4, "settings-differ-ok",
        "node: atomics and locks with the transport's atomics")
ANSWERS(t_node_atomics, "node-atomics", 2, "node-atomics-ok",
        "node: atomics and locks with CPU atomics on the shared memory")
ANSWERS(t_node_atomics4, "node-atomics", 4, "node-atomics-ok",
        "node: atomics and locks with CPU atomics on the shared memory")
ANSWERS(t_locks_legal, "locks-legal", 2, "locks-legal-ok")
ANSWERS(t_locks_legal4, "locks-legal", 4, "locks-legal-ok")
ANSWERS(t_calloc, "calloc-overflow", 2, "calloc-overflow-ok", "overflow size_t")
ANSWERS(t_huge, "huge-heap", 2, "huge-heap-ok", "more than this machine can back")
ANSWERS(t_env, "bad-env", 2, "bad-env-ok", "GALLOCY_PREFETCH=lots is not an integer")
ANSWERS(t_disagree, "coalloc-disagree", 2, "coalloc-disagree-ok",
        "gallocy_coalloc: ranks passed different arguments", "rank 1 passed (8192, 0)")
ANSWERS(t_range_heap, "range-heap", 2, "range-heap-ok",
        "rank 0: gallocy_init: GALLOCY_HEAP_SIZE=0 is out of range: it must be at least 1M")
ANSWERS(t_range_prefetch, "range-prefetch", 2, "range-prefetch-ok",
        "GALLOCY_PREFETCH=0 is out of range: it must be at least 1")
ANSWERS(t_range_slots, "range-slots", 2, "range-slots-ok",
        "GALLOCY_REMOTE_FREE_SLOTS=1 is out of range: it must be at least 2")
ANSWERS(t_range_port, "range-port", 2, "range-port-ok",
        "GALLOCY_IB_PORT=-3 is out of range: it must be a port number, 1 to 255")
ANSWERS(t_misspelt, "misspelt", 2, "misspelt-ok", "rank 1: gallocy_init: 2 variables",
        "GALLOCY_HEAPSIZE (did you mean GALLOCY_HEAP_SIZE?)", "GALLOCY_NO_SUCH_THING")
ANSWERS(t_comm_null, "comm-null", 2, "comm-null-ok",
        "gallocy_init: the communicator is MPI_COMM_NULL: pass MPI_COMM_WORLD")
ANSWERS(t_transport_disagree, "transport-disagree", 2, "transport-disagree-ok",
        "rank 0: gallocy_init: GALLOCY_TRANSPORT is not the same on every rank (auto on some, "
        "mpi on others)")
ANSWERS(t_transport_foo, "transport-foo-one-rank", 2, "transport-foo-one-rank-ok",
        "rank 1: gallocy_init: GALLOCY_TRANSPORT=foo is not auto, verbs or mpi")
ANSWERS(t_coalloc_usable, "coalloc-usable", 2, "coalloc-usable-ok")
DIES(t_coalloc_usable_inside, "coalloc-usable-inside", 2, "rank 0: gallocy_usable_size: 0x",
     "is in gallocy_coalloc's region but not the start of an allocation")
ANSWERS(t_cofree_disagree, "cofree-disagree", 2, "cofree-disagree-ok",
        "gallocy_cofree: ranks passed different pointers (it is collective): rank 0 passed 0x",
        "but rank 1 passed 0x")
ANSWERS(t_bad_numa, "bad-numa", 2, "bad-numa-ok",
        "GALLOCY_NUMA=socket is not auto, local, device, interleave or none")
ANSWERS(t_numa, "numa-bind-fails", 2, "numa-bind-fails-ok",
        "binding the home segment, cache and queues to its NUMA node failed")
ANSWERS(t_verbs, "verbs-no-device", 2, "verbs-no-device-ok",
        "GALLOCY_TRANSPORT=verbs, but no RDMA device")
ANSWERS(t_thread, "thread-level", 2, "thread-level-ok", "needs MPI_THREAD_MULTIPLE")

ANSWERS(t_mpi_finalize, "mpi-finalize-only", 2, "mpi-finalize-only-ok (after MPI_Finalize)",
        "MPI_Finalize before gallocy_finalize: gallocy finalizes first")

/* A rank that exits without gallocy_finalize or MPI_Finalize: Open MPI's launcher reports the
 * missing MPI_Finalize, but no rank crashes or hangs. */
static void t_exit(void)
{
    static char out[1 << 16];
    int st = run_case("exit-without-finalize", 2, out, sizeof out);
    int ok = st != 124 && !strstr(out, "Segmentation") && !strstr(out, "Signal:") &&
             !strstr(out, "Aborted") && strstr(out, "exit without gallocy_finalize");
    if (!ok)
        fprintf(stderr, "case exit-without-finalize ended with status %d and said:\n%s\n", st,
                out);
    CU_ASSERT(ok);
}

int main(void)
{
    static const struct cm_test tests[] = {
        {"call before init aborts", t_before_init},
        {"double free aborts", t_double_free},
        {"double free of a large block aborts", t_double_free_large},
        {"free of a foreign pointer aborts", t_foreign_free},
        {"free of an interior pointer aborts", t_interior_free},
        {"free inside a large block aborts", t_interior_large},
        {"double free by two threads aborts", t_thread_double_free},
        {"double free from another rank aborts", t_remote_double_free},
        {"gallocy_free of coalloc memory aborts", t_free_coalloc},
        {"gallocy_cofree of malloc memory aborts", t_cofree_malloc},
        {"atomic on local memory aborts", t_bad_atomic},
        {"SIGSEGV outside the range kills", t_segv},
        {"unlock of a lock nobody holds aborts", t_unlock_unheld},
        {"unlock of a lock nobody holds aborts, 4 ranks", t_unlock_unheld4},
        {"second unlock aborts", t_unlock_twice},
        {"second unlock aborts, 4 ranks", t_unlock_twice4},
        {"unlock of another rank's lock aborts", t_unlock_others},
        {"unlock of another rank's lock aborts, 4 ranks", t_unlock_others4},
        {"a thread taking a lock it holds aborts", t_lock_twice},
        {"the same, 4 ranks", t_lock_twice4},
        {"get/put/prepare past a block: -EINVAL, named, nothing written", t_bounds},
        {"atomic on a block this rank freed aborts, named", t_atomic_freed},
        {"atomic on a block its home freed before a barrier aborts, named", t_atomic_freed_remote},
        {"lock in freed memory aborts, named", t_lock_freed},
        {"the same, 4 ranks", t_lock_freed4},
        {"per-rank settings different on one rank: the job is right", t_settings_differ},
        {"the same, 4 ranks", t_settings_differ4},
        {"one node: puts, atomics and locks through shared memory, counts right",
         t_node_atomics},
        {"the same, 4 ranks", t_node_atomics4},
        {"a lock given by another thread, and trylock of a held lock, work", t_locks_legal},
        {"the same, 4 ranks", t_locks_legal4},
        {"calloc overflow: NULL, ENOMEM, heap usable", t_calloc},
        {"heap larger than the machine: init fails, retry works", t_huge},
        {"bad GALLOCY_* value: init fails, retry works", t_env},
        {"gallocy_init(MPI_COMM_NULL): -EINVAL, named; init works after", t_comm_null},
        {"GALLOCY_TRANSPORT different on one rank: every init fails, named", t_transport_disagree},
        {"GALLOCY_TRANSPORT=foo on one rank: every init fails, named", t_transport_foo},
        {"ranks disagree on coalloc: NULL everywhere", t_disagree},
        {"ranks disagree on cofree: nothing freed, pointers named in hex", t_cofree_disagree},
        {"gallocy_usable_size of coalloc memory: its pages", t_coalloc_usable},
        {"gallocy_usable_size inside a coalloc aborts, named", t_coalloc_usable_inside},
        {"MPI without THREAD_MULTIPLE: init refuses", t_thread},
        {"NUMA binding fails: reported, job runs on", t_numa},
        {"bad GALLOCY_NUMA: init fails, retry works", t_bad_numa},
        {"GALLOCY_HEAP_SIZE=0: init fails naming it, retry works", t_range_heap},
        {"GALLOCY_PREFETCH=0: init fails naming it, retry works", t_range_prefetch},
        {"GALLOCY_REMOTE_FREE_SLOTS=1: init fails naming it, retry works", t_range_slots},
        {"GALLOCY_IB_PORT=-3: init fails naming it, retry works", t_range_port},
        {"misspelt GALLOCY_ variables are named, with the nearest setting", t_misspelt},
        {"GALLOCY_TRANSPORT=verbs without the device: init fails, retry works", t_verbs},
        {"MPI_Finalize without gallocy_finalize finalizes gallocy first", t_mpi_finalize},
        {"exit without either finalize: no crash, no hang", t_exit},
        {NULL, NULL}};
    return cm_main("bad input", tests);
}
