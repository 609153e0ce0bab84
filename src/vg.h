/* vg: what gallocy tells valgrind (memcheck), when built with its headers; nothing otherwise.
 * Memcheck takes a page made PROT_NONE for memory no access may touch and reports every
 * access to it, though gallocy's fault handler serves those accesses: the mprotect way marks
 * the pages it protects as addressable again (defined: the memfd's data is). */
#ifndef GALLOCY_VG_H
#define GALLOCY_VG_H
#include "config.h"

#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#define vg_running() (RUNNING_ON_VALGRIND != 0)
#define vg_accessible(p, len) ((void)VALGRIND_MAKE_MEM_DEFINED(p, len))
#else
#define vg_running() 0
#define vg_accessible(p, len) ((void)(p), (void)(len))
#endif

#endif
