/* abort_stub: rt_abort for the test programs that link core files without a runtime (no MPI):
 * a fatal message from gallocy then fails the whole program, visibly. */
#include <stdlib.h>

#include "runtime.h"

int rt_launcher_rank(void)
{
    return -1;
}

_Noreturn void rt_abort(int code)
{
    (void)code;
    abort();
}
