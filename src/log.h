/* log: one-line messages that name gallocy, the rank and the call; fatal errors abort the job. */
#ifndef GALLOCY_LOG_H
#define GALLOCY_LOG_H

void log_set_rank(int rank);
/* "gallocy: rank R: CALL: message" on stderr, in one write.  It allocates nothing, but it
 * formats with vsnprintf, which POSIX does not list as async-signal-safe: the fault path uses
 * it only for messages that end the job or happen once. */
void log_error(const char *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like log_error for GALLOCY_VERBOSE >= level. */
void log_verbose(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* In a child made by fork: fatal errors end this process only, never the parent's job. */
void log_in_forked_child(void);
/* Reports misuse or an unrecoverable failure, then aborts the whole job. */
_Noreturn void log_fatal(const char *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
