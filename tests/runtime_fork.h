/* runtime_fork: the runtime (src/runtime.h) for tests without MPI: the ranks are processes
 * forked by the test itself, on this node, and their collectives go through memory they
 * share. */
#ifndef GALLOCY_TESTS_RUNTIME_FORK_H
#define GALLOCY_TESTS_RUNTIME_FORK_H

/* Forks n ranks and returns, in each, its rank.  The calling process stays the driver and
 * never returns: it waits for the ranks and exits 0 when every one exited 0; when one fails
 * (exit status, signal, rt_abort) or deadline_s seconds pass, it kills the others and exits 1
 * with a line saying which.  A collective that waits longer than deadline_s for a rank ends
 * the job the same way. */
int rt_fork_ranks(int n, int deadline_s);

#endif
