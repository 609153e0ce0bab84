/* test_signals: faults that are not gallocy's still reach the program's previous handler, and
 * kill the process when that is what they would have done. */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "suites.h"

static char *trap_page;
static volatile sig_atomic_t trapped;
static struct sigaction before_tests;

/* The handler the program had before gallocy_init: it owns faults on trap_page. */
static void test_segv(int sig, siginfo_t *si, void *uc)
{
    if ((char *)si->si_addr >= trap_page && (char *)si->si_addr < trap_page + 4096) {
        trapped = 1;
        mprotect(trap_page, 4096, PROT_READ | PROT_WRITE);
        return;
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

/* Runs touch(addr) in a child process and returns the signal that ended it (0: none). */
static int child_dies_of(volatile char *addr)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        addr[0] = 1;
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

static void test_freed_global_memory_kills(void)
{
    char *p = gallocy_coalloc(4096, 0);
    gallocy_cofree(p);
    CU_ASSERT_EQUAL(child_dies_of(p), SIGSEGV);
}

void register_signal_tests(void)
{
    static const struct cm_test tests[] = {
        {"fault outside the range reaches the previous handler", test_chains_to_previous_handler},
        {"SIGSEGV outside the range still kills", test_segv_outside_range_kills},
        {"access to cofree'd memory kills", test_freed_global_memory_kills},
        {NULL, NULL}};
    CM_ADD_SUITE("signals", tests);
}
