/* test_signals: faults that are not gallocy's still reach the program's previous handler, and
 * kill the process when that is what they would have done; a child made by fork inherits no
 * global memory and may not call gallocy. */
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "suites.h"

static char *trap_page;
static volatile sig_atomic_t trapped;
static struct sigaction before_tests;
static char *volatile escape_addr; /* a fault here jumps back to escape */
static sigjmp_buf escape;

/* The handler the program had before gallocy_init: it owns faults on trap_page, and jumps
 * out of a fault on escape_addr. */
static void test_segv(int sig, siginfo_t *si, void *uc)
{
    if ((char *)si->si_addr >= trap_page && (char *)si->si_addr < trap_page + 4096) {
        trapped = 1;
        mprotect(trap_page, 4096, PROT_READ | PROT_WRITE);
        return;
    }
    if (escape_addr && (char *)si->si_addr == escape_addr) {
        escape_addr = NULL;
        siglongjmp(escape, 1);
    }
    if ((before_tests.sa_flags & SA_SIGINFO) && before_tests.sa_sigaction)
        before_tests.sa_sigaction(sig, si, uc);
    else
        signal(SIGSEGV, SIG_DFL);
}

void signals_install_before_init(void)
{
    trap_page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = test_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, &before_tests);
}

static void test_chains_to_previous_handler(void)
{
    trapped = 0;
    mprotect(trap_page, 4096, PROT_NONE);
    trap_page[10] = 1; /* faults; gallocy passes it on; test_segv fixes it */
    CU_ASSERT_EQUAL(trapped, 1);
    CU_ASSERT_EQUAL(trap_page[10], 1);
}

/* Runs touch(addr) (or, with addr NULL, gallocy_barrier) in a child made by fork, and
 * returns the signal that ended it (0: none). */
static int child_dies_of(volatile char *addr)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        if (addr)
            addr[0] = 1;
        else
            gallocy_barrier();
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

static void test_segv_outside_range_kills(void)
{
    CU_ASSERT_EQUAL(child_dies_of((volatile char *)16), SIGSEGV);
}

/* In this process: gallocy refuses the access and passes it on to the previous handler. */
static void test_freed_global_memory_faults(void)
{
    char *p = gallocy_coalloc(4096, 0);
    gallocy_cofree(p);
    volatile int faulted = 0;
    escape_addr = p;
    if (sigsetjmp(escape, 1) == 0) {
        ((volatile char *)p)[0] = 1;
    } else {
        faulted = 1;
    }
    escape_addr = NULL;
    CU_ASSERT_EQUAL(faulted, 1);
}

static volatile sig_atomic_t late_handler_ran;

static void late_segv(int sig, siginfo_t *si, void *uc)
{
    late_handler_ran = 1;
    test_segv(sig, si, uc); /* which owns trap_page */
}

/* A handler the program installs after gallocy_init (as a library may, or a debugger's
 * helper) does not take faults on global memory from gallocy: it becomes the handler
 * gallocy passes other faults to, and sigaction reports it as the one installed. */
static void test_handler_installed_after_init(void)
{
    int n = gallocy_nranks(), r = gallocy_rank();
    int *shared = gallocy_coalloc(4096 * (size_t)n, GALLOCY_BLOCKED);
    shared[1024 * r] = r + 7;
    gallocy_barrier();
    struct sigaction sa, was, now;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = late_segv;
    sa.sa_flags = SA_SIGINFO;
    CU_ASSERT_EQUAL(sigaction(SIGSEGV, &sa, &was), 0);
    sigaction(SIGSEGV, NULL, &now);
    CU_ASSERT((now.sa_flags & SA_SIGINFO) && now.sa_sigaction == late_segv);
    gallocy_acquire();
    int right = (r + 1) % n; /* a page homed by another rank: a fault gallocy serves */
    CU_ASSERT_EQUAL(((volatile int *)shared)[1024 * right], right + 7);
    late_handler_ran = trapped = 0;
    mprotect(trap_page, 4096, PROT_NONE);
    ((volatile char *)trap_page)[11] = 1; /* not gallocy's: reaches late_segv */
    CU_ASSERT_EQUAL(late_handler_ran, 1);
    CU_ASSERT_EQUAL(trapped, 1);
    CU_ASSERT_EQUAL(sigaction(SIGSEGV, &was, NULL), 0); /* the earlier handler again */
    gallocy_barrier();
    gallocy_cofree(shared);
}

/* The child's writes must not reach the parent's heap, and its gallocy calls are refused
 * without touching the parent's job. */
static void test_fork_child_has_no_global_memory(void)
{
    char *mine = gallocy_malloc(64);
    char *shared = gallocy_coalloc(4096 * (size_t)gallocy_nranks(), GALLOCY_BLOCKED);
    mine[0] = 42;
    shared[gallocy_rank() * 4096] = 43;
    CU_ASSERT_EQUAL(child_dies_of(mine), SIGSEGV);
    CU_ASSERT_EQUAL(child_dies_of(shared + gallocy_rank() * 4096), SIGSEGV);
    CU_ASSERT_EQUAL(child_dies_of(NULL), SIGABRT);
    CU_ASSERT_EQUAL(mine[0], 42);
    CU_ASSERT_EQUAL(shared[gallocy_rank() * 4096], 43);
    gallocy_barrier();
    gallocy_free(mine);
    gallocy_cofree(shared);
}

void register_signal_tests(void)
{
    static const struct cm_test tests[] = {
        {"fault outside the range reaches the previous handler", test_chains_to_previous_handler},
        {"SIGSEGV outside the range still kills", test_segv_outside_range_kills},
        {"access to cofree'd memory reaches the previous handler", test_freed_global_memory_faults},
        {"a handler installed after init keeps gallocy's faults", test_handler_installed_after_init},
        {"a forked child has no global memory and no gallocy", test_fork_child_has_no_global_memory},
        {NULL, NULL}};
    CM_ADD_SUITE("signals", tests);
}
