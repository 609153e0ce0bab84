/* api: the public allocation calls: argument checks and the "initialised?" check, then the
 * allocator (alloc.c) or the collective allocator (coalloc.c). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "coalloc.h"
#include "extent.h"
#include "gallocy_api.h"
#include "lifecycle.h"
#include "log.h"
#include "space.h"

void *gallocy_malloc(size_t size)
{
    return alloc_malloc(size); /* its slow path checks that gallocy is initialised */
}

void *gallocy_calloc(size_t n, size_t size)
{
    LIFECYCLE_REQUIRE("gallocy_calloc");
    if (size && n > SIZE_MAX / size) {
        log_error("gallocy_calloc", "%zu elements of %zu bytes overflow size_t; returning NULL",
                  n, size);
        errno = ENOMEM;
        return NULL;
    }
    void *p = alloc_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *gallocy_realloc(void *p, size_t size)
{
    LIFECYCLE_REQUIRE("gallocy_realloc");
    if (!p)
        return alloc_malloc(size);
    if (size == 0) {
        alloc_free(p, "gallocy_realloc");
        return NULL;
    }
    return alloc_realloc(p, size);
}

void *gallocy_aligned_alloc(size_t alignment, size_t size)
{
    LIFECYCLE_REQUIRE("gallocy_aligned_alloc");
    return alloc_aligned(alignment, size);
}

void gallocy_free(void *p)
{
    if (p)
        alloc_free(p, "gallocy_free"); /* its slow path checks that gallocy is initialised */
}

size_t gallocy_usable_size(const void *p)
{
    LIFECYCLE_REQUIRE("gallocy_usable_size");
    if (!p)
        return 0;
    if (space_contains(p) && space_off(p) >= sp.coalloc_off)
        return coalloc_usable_size(p, "gallocy_usable_size");
    return alloc_usable_size(p, "gallocy_usable_size");
}

void *gallocy_coalloc(size_t size, int place)
{
    LIFECYCLE_REQUIRE("gallocy_coalloc");
    return coalloc_alloc(size, place);
}

void gallocy_cofree(void *p)
{
    LIFECYCLE_REQUIRE("gallocy_cofree");
    coalloc_free(p);
    extent_forget(); /* memos of its bounds */
}

int gallocy_home(const void *p)
{
    if (!lifecycle_is_up() || !space_contains(p))
        return -1;
    return space_home(space_off(p));
}

const char *gallocy_strerror(int err)
{
    if (err < 0)
        err = -err;
    switch (err) {
    case 0: return "success";
    case GALLOCY_ERR_NOT_INITIALIZED: return "gallocy is not initialised (call gallocy_init)";
    case GALLOCY_ERR_THREAD_LEVEL:
        return "MPI was not initialised with MPI_THREAD_MULTIPLE (use MPI_Init_thread)";
    case GALLOCY_ERR_ADDRESS_SPACE:
        return "the ranks found no common free address range for the global heap";
    case GALLOCY_ERR_TRANSPORT: return "the one-sided transport failed its start-up checks";
    default: return strerror(err);
    }
}
