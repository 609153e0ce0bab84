/* log: messages are formatted into a stack buffer and written with one write(2), so lines from
 * different ranks and threads do not interleave and the fault handler can report too. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "options.h"
#include "runtime.h"

static int log_rank = -1;
static int forked_child;

void log_in_forked_child(void)
{
    forked_child = 1;
}

void log_set_rank(int rank)
{
    log_rank = rank;
}

static void emit(const char *call, const char *fmt, va_list ap)
{
    char buf[1024];
    int n, rank = log_rank >= 0 || forked_child ? log_rank : rt_launcher_rank();
    if (rank >= 0)
        n = snprintf(buf, sizeof buf, "gallocy: rank %d: %s%s", rank, call ? call : "",
                     call ? ": " : "");
    else
        n = snprintf(buf, sizeof buf, "gallocy: %s%s", call ? call : "", call ? ": " : "");
    if (n < 0 || n >= (int)sizeof buf)
        n = 0;
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    if (m > 0)
        n += m < (int)(sizeof buf - (size_t)n - 1) ? m : (int)(sizeof buf - (size_t)n - 2);
    buf[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, (size_t)n);
    (void)w;
}

void log_error(const char *call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(call, fmt, ap);
    va_end(ap);
}

void log_verbose(int level, const char *fmt, ...)
{
    if (opt.verbose < level)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(NULL, fmt, ap);
    va_end(ap);
}

void log_fatal(const char *call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(call, fmt, ap);
    va_end(ap);
    if (forked_child)
        abort();
    rt_abort(1);
}
