/* inside_mpi: the depth of MPI calls per thread, and the code of the MPI libraries. */
#include "inside_mpi.h"

#include <link.h>
#include <stdint.h>
#include <string.h>

__thread int inside_mpi_depth;

/* Executable segments of the MPI libraries; read without a lock by handlers, written at
 * init (before any global memory exists to fault on). */
enum { MAX_RANGES = 128 };
static struct {
    uintptr_t lo, hi;
} ranges[MAX_RANGES];
static int nranges;

/* Objects whose code is MPI's or runs under it. */
static int is_mpi_object(const char *name)
{
    static const char *const parts[] = {"libmpi",  "libopen-pal", "libopen-rte", "/openmpi/",
                                        "mca_",    "libmca_",     "libpmix",     "libucp",
                                        "libucs",  "libuct",      "libfabric",   "libpsm",
                                        "libhcoll", "libmpich",   "libprrte"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (strstr(name, parts[i]))
            return 1;
    return 0;
}

static int add_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    if (!info->dlpi_name || !is_mpi_object(info->dlpi_name))
        return 0;
    for (int i = 0; i < info->dlpi_phnum && nranges < MAX_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        ranges[nranges].lo = lo;
        ranges[nranges].hi = lo + ph->p_memsz;
        nranges++;
    }
    return 0;
}

void inside_mpi_learn(void)
{
    nranges = 0;
    dl_iterate_phdr(add_object, NULL);
}

int inside_mpi(const void *pc)
{
    if (inside_mpi_depth > 0)
        return 1;
    uintptr_t a = (uintptr_t)pc;
    for (int i = 0; i < nranges; i++)
        if (a >= ranges[i].lo && a < ranges[i].hi)
            return 1;
    return 0;
}
