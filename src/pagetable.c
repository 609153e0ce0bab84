/* pagetable: see pagetable.h. */
#include "pagetable.h"

#include <errno.h>
#include <sys/mman.h>

#include "numa.h"

struct page_entry *pagetable;
static size_t table_pages;

int pagetable_init(size_t npages)
{
    void *t = mmap(NULL, npages * sizeof *pagetable, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (t == MAP_FAILED)
        return -ENOMEM;
    numa_bind(t, npages * sizeof *pagetable, "page-state table");
    pagetable = t;
    table_pages = npages;
    return 0;
}

void pagetable_fini(void)
{
    if (pagetable)
        munmap(pagetable, table_pages * sizeof *pagetable);
    pagetable = NULL;
    table_pages = 0;
}
