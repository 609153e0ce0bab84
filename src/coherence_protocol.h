/* coherence_protocol: what a coherence protocol gives coherence.c, which sends each fault to
 * the protocol of its page and runs every protocol's part of a release, an acquire and a
 * barrier (coherence.h).  Lazy release consistency is coherence_lrc.c; a protocol that needs
 * nothing at one of these events leaves it NULL. */
#ifndef GALLOCY_COHERENCE_PROTOCOL_H
#define GALLOCY_COHERENCE_PROTOCOL_H
#include <stddef.h>

/* Who serves a fault and how its transfers are made: a signal handler, through the service
 * thread or (where tp->signal_safe allows it) by the transport itself; a fault server thread
 * (uffd way), by the transport; any other thread (gallocy_prepare, under cache_lock_all), by
 * the transport.  All but the last fetch absent pages in flights (cache.h). */
enum coherence_via {
    COHERENCE_VIA_SERVICE_THREAD,
    COHERENCE_VIA_HANDLER,
    COHERENCE_VIA_SERVER,
    COHERENCE_VIA_TRANSPORT,
};

/* coherence_fault's answers beyond 0 and -1: the protocol waited for something (a fetch in
 * flight) with cache_lock let go, and the page must be looked at anew. */
enum { COHERENCE_AGAIN = 1 };

struct coherence_protocol {
    const char *name;
    void (*init)(void); /* before the job's first fault */
    /* With cache_lock held: an access to page (write as coherence_fault's), homed by home,
     * whose stretch of pages of that home ends at stretch_end.  0, -1 or COHERENCE_AGAIN. */
    int (*fault)(size_t page, size_t stretch_end, int home, int write, enum coherence_via via);
    /* With cache_lock held, from a thread that may call the transport: [page, page+n), all
     * homed by home, made readable or writable now. */
    void (*prepare)(size_t page, size_t n, int home, int write);
    void (*release)(void); /* without cache_lock */
    void (*acquire)(void); /* with cache_lock_all held */
    void (*barrier)(void); /* collective, without cache_lock, after a release */
};

extern const struct coherence_protocol coherence_lrc;

#endif
