/* runtime_fork: see runtime_fork.h.  Collectives: each rank writes its part into its slot of
 * a shared mapping, all meet at a barrier, each reads what it needs, all meet again (so the
 * slots are free for the next one).  The barrier counts arrivals and moves a generation; its
 * waiters poll, and give up after the deadline. */
#include "runtime_fork.h"

#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

enum { SLOT = 256 << 10, MAX_RANKS = 16 };

struct shared {
    uint32_t arrived, generation;
    int aborted; /* a rank ended the job: the others leave their waits */
    char slot[MAX_RANKS][SLOT];
};

static struct shared *sh;
static int me = -1, nranks, deadline;

int rt_rank(void)
{
    return me;
}

int rt_size(void)
{
    return nranks;
}

int rt_launcher_rank(void)
{
    return me;
}

_Noreturn void rt_abort(int code)
{
    if (sh)
        __atomic_store_n(&sh->aborted, 1, __ATOMIC_SEQ_CST);
    _exit(code ? code : 1);
}

void rt_barrier(void)
{
    uint32_t gen = __atomic_load_n(&sh->generation, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&sh->arrived, 1, __ATOMIC_ACQ_REL) == (uint32_t)nranks) {
        __atomic_store_n(&sh->arrived, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&sh->generation, gen + 1, __ATOMIC_RELEASE);
        return;
    }
    struct timespec t0, t, nap = {0, 20000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned spins = 0; __atomic_load_n(&sh->generation, __ATOMIC_ACQUIRE) == gen;
         spins++) {
        if (__atomic_load_n(&sh->aborted, __ATOMIC_ACQUIRE))
            _exit(1);
        if (spins < 100) {
            sched_yield();
            continue;
        }
        nanosleep(&nap, NULL); /* ranks and their threads share the cores */
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > deadline) {
            fprintf(stderr, "runtime_fork: rank %d waited %d s in a collective for the other "
                    "ranks: ending the job\n", me, deadline);
            rt_abort(1);
        }
    }
}

/* The collective's part of len bytes must fit a slot. */
static void fits(size_t len, const char *what)
{
    if (len > SLOT) {
        fprintf(stderr, "runtime_fork: %s of %zu bytes, more than the %d a slot holds\n",
                what, len, SLOT);
        rt_abort(1);
    }
}

void rt_bcast(void *buf, size_t len, int root)
{
    fits(len, "rt_bcast");
    if (me == root)
        memcpy(sh->slot[root], buf, len);
    rt_barrier();
    if (me != root)
        memcpy(buf, sh->slot[root], len);
    rt_barrier();
}

void rt_allgather(const void *in, void *out, size_t len)
{
    fits(len, "rt_allgather");
    memcpy(sh->slot[me], in, len);
    rt_barrier();
    for (int r = 0; r < nranks; r++)
        memcpy((char *)out + (size_t)r * len, sh->slot[r], len);
    rt_barrier();
}

void rt_alltoall(const void *in, void *out, size_t len)
{
    fits(len * (size_t)nranks, "rt_alltoall");
    memcpy(sh->slot[me], in, len * (size_t)nranks);
    rt_barrier();
    for (int r = 0; r < nranks; r++)
        memcpy((char *)out + (size_t)r * len, sh->slot[r] + (size_t)me * len, len);
    rt_barrier();
}

static long reduce(long v, int max)
{
    long all[MAX_RANKS], r = v;
    rt_allgather(&v, all, sizeof v);
    for (int i = 0; i < nranks; i++)
        r = max ? (all[i] > r ? all[i] : r) : (all[i] < r ? all[i] : r);
    return r;
}

long rt_allreduce_max(long v)
{
    return reduce(v, 1);
}

long rt_allreduce_min(long v)
{
    return reduce(v, 0);
}

void rt_allreduce_or(unsigned long *words, size_t n)
{
    fits(n * sizeof *words, "rt_allreduce_or");
    memcpy(sh->slot[me], words, n * sizeof *words);
    rt_barrier();
    for (int r = 0; r < nranks; r++)
        for (size_t i = 0; i < n; i++)
            words[i] |= ((const unsigned long *)sh->slot[r])[i];
    rt_barrier();
}

int rt_node_ranks(int *leader)
{
    *leader = 0;
    return nranks;
}

static pid_t children[MAX_RANKS];

static void kill_all(void)
{
    for (int r = 0; r < nranks; r++)
        if (children[r] > 0)
            kill(children[r], SIGKILL);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "runtime_fork: the ranks ran past the deadline: killed\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    kill_all();
    _exit(1);
}

int rt_fork_ranks(int n, int deadline_s)
{
    if (n < 1 || n > MAX_RANKS) {
        fprintf(stderr, "runtime_fork: %d ranks: 1 to %d\n", n, MAX_RANKS);
        exit(1);
    }
    nranks = n;
    deadline = deadline_s;
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("runtime_fork: mmap");
        exit(1);
    }
    fflush(NULL);
    for (int r = 0; r < n; r++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("runtime_fork: fork");
            kill_all();
            exit(1);
        }
        if (pid == 0) {
            me = r;
            return r;
        }
        children[r] = pid;
    }
    signal(SIGALRM, on_alarm);
    alarm((unsigned)deadline_s + 30);
    int failed = 0;
    for (int left = n; left > 0; left--) {
        int status;
        pid_t pid = wait(&status);
        int r = 0;
        while (r < n && children[r] != pid)
            r++;
        if (r == n)
            continue;
        children[r] = 0;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            continue;
        if (!failed) {
            if (WIFSIGNALED(status))
                fprintf(stderr, "runtime_fork: rank %d died of signal %d: ending the job\n", r,
                        WTERMSIG(status));
            else
                fprintf(stderr, "runtime_fork: rank %d exited with status %d: ending the job\n",
                        r, WEXITSTATUS(status));
        }
        failed = 1;
        __atomic_store_n(&sh->aborted, 1, __ATOMIC_SEQ_CST);
        kill_all();
    }
    exit(failed);
}
