/* coherence: sends each event to the protocols (coherence_protocol.h): a fault to its page's,
 * a release, an acquire or a barrier to every one. */
#include "coherence.h"

#include <errno.h>

#include "space.h"

static const struct coherence_protocol *const protocols[] = {&coherence_lrc};
enum { NPROTOCOLS = sizeof protocols / sizeof *protocols };

/* The protocol that serves page: every page is lazy release consistent until allocations
 * can choose. */
static const struct coherence_protocol *protocol_of(size_t page)
{
    (void)page;
    return &coherence_lrc;
}

void coherence_init(void)
{
    for (int i = 0; i < NPROTOCOLS; i++)
        if (protocols[i]->init)
            protocols[i]->init();
}

int coherence_fault(size_t page, int write, enum coherence_via via)
{
    for (;;) {
        size_t run_end;
        int home = space_home_run(page * GPAGE, &run_end);
        if (home < 0)
            return -1;
        int rc = protocol_of(page)->fault(page, run_end / GPAGE, home, write, via);
        /* A fault server looks again at once; a handler's access is simply tried again. */
        if (rc != COHERENCE_AGAIN)
            return rc;
        if (via != COHERENCE_VIA_SERVER)
            return 0;
    }
}

int coherence_prepare(size_t page, size_t n, int write)
{
    size_t end = page + n;
    for (size_t p = page; p < end;) {
        size_t run_end;
        int home = space_home_run(p * GPAGE, &run_end);
        if (home < 0)
            return -EINVAL;
        size_t stop = run_end / GPAGE < end ? run_end / GPAGE : end;
        protocol_of(p)->prepare(p, stop - p, home, write);
        p = stop;
    }
    return 0;
}

void coherence_release(void)
{
    for (int i = 0; i < NPROTOCOLS; i++)
        if (protocols[i]->release)
            protocols[i]->release();
}

void coherence_acquire(void)
{
    for (int i = 0; i < NPROTOCOLS; i++)
        if (protocols[i]->acquire)
            protocols[i]->acquire();
}

void coherence_barrier(void)
{
    for (int i = 0; i < NPROTOCOLS; i++)
        if (protocols[i]->barrier)
            protocols[i]->barrier();
}
