/* backends: the transport backends the library has (the registry's entries, transport.c).
 * The loopback backend is not among them: it serves the tests that run without MPI. */
#include "transport.h"

const struct tp_backend *const tp_built_in[] = {
    &tp_mpi_backend,
#ifdef GALLOCY_HAVE_VERBS /* configure --without-verbs, or no libibverbs and librdmacm */
    &tp_verbs_backend,
#endif
};
const int tp_built_in_count = sizeof tp_built_in / sizeof *tp_built_in;
_Static_assert(sizeof tp_built_in / sizeof *tp_built_in <= TP_MAX_BACKENDS,
               "the registry holds TP_MAX_BACKENDS");
