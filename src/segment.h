/* segment: this rank's home segment, handed out in pages: superblocks for the heaps, and
 * page runs for large blocks (above half a superblock).  Keeps the segment's page table, one
 * u32 per page in registered memory, so other ranks can size a block with one read.  Freed
 * pages stay backed up to a retained amount; past it, every free page that was ever used goes
 * back to the system (hole punched), so a long job does not keep its peak. */
#ifndef GALLOCY_SEGMENT_H
#define GALLOCY_SEGMENT_H
#include <stddef.h>
#include <stdint.h>

/* Page-table entries: kind in the top 2 bits. */
#define PI_FREE 0u
#define PI_SB (1u << 30)    /* | class << 16 | page index within the superblock */
#define PI_LARGE (2u << 30) /* | pages in the run (its first page) */
#define PI_TAIL (3u << 30)  /* | distance to the first page */
#define PI_KIND(x) ((x) & (3u << 30))
#define PI_VALUE(x) ((x) & ~(3u << 30))
#define PI_SB_CLASS(x) (((x) >> 16) & 0xff)
#define PI_SB_PAGE(x) ((x) & 0xffff)

struct segment_config {
    char *base;          /* page 0 */
    size_t npages;
    uint32_t *page_info; /* npages entries, zeroed */
    /* Gives the memory of these pages back to the system: 1, or 0 when it cannot (pinned
     * memory), and then the segment stops trimming. */
    int (*discard)(size_t page, size_t n);
    /* Makes pages [page, page+n) addressable by other ranks before they are first handed
     * out (the transport registers them): 0, or -1 (after a message unless quiet); NULL:
     * they always are. */
    int (*expose)(size_t page, size_t n, int quiet);
    size_t retain_pages; /* freed pages kept backed before a trim */
};

int segment_init(const struct segment_config *cfg);
void segment_fini(void);

extern uint32_t *segment_page_info;
extern char *segment_base;
extern size_t segment_npages;

/* A run of n pages whose address is a multiple of align pages; -1 when the segment is full
 * or the pages cannot be exposed. */
long segment_alloc(size_t n, size_t align);
void segment_free(size_t page, size_t n);

/* Large blocks. */
void *large_alloc(size_t size, size_t align_pages);
/* Frees the large block at page (its page-table entry said PI_LARGE); dies on a double free. */
void large_free(size_t page, const char *call, const void *p);
/* Resizes the large block at page to want pages where it stands; 1 when done. */
int large_resize(size_t page, size_t want);

/* Bytes in large blocks; bytes given back to the system so far. */
uint64_t segment_large_bytes(void);
uint64_t segment_trimmed_bytes(void);

#endif
