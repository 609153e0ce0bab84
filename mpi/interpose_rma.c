/* interpose_rma: one-sided calls whose origin (or result) buffers are global memory, and
 * windows over global memory (see interpose.h).  An operation's pins last until the window
 * synchronisation that completes it at the origin: a flush or unlock of its target, a
 * flush_all, unlock_all, fence, complete, or the window's free.  A window made over global
 * memory (MPI_Win_create, MPI_Win_attach) keeps that memory ready and writable while it
 * exists: other ranks' operations reach it through MPI at any time. */
#include <pthread.h>
#include <stdlib.h>

#include "interpose.h"
#include "log.h"

struct op_pin {
    int target;        /* MPI_PROC_NULL: memory of the window itself */
    const void *key;   /* the base of an attached region, for MPI_Win_detach */
    struct pin_span s;
};
struct winrec {
    MPI_Win win;
    struct op_pin *pins;
    size_t n, cap;
    struct winrec *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct winrec *wins;

/* The record of win, made if make; lock held. */
static struct winrec *rec_of(MPI_Win win, int make)
{
    struct winrec *w = wins;
    while (w && w->win != win)
        w = w->next;
    if (!w && make) {
        w = calloc(1, sizeof *w);
        if (!w)
            log_fatal("gallocy (MPI layer)", "out of memory for a window's pins");
        w->win = win;
        w->next = wins;
        wins = w;
    }
    return w;
}

static void keep(MPI_Win win, int target, const void *key, struct ip_pins *p)
{
    if (p->n == 0)
        return;
    pthread_mutex_lock(&lock);
    struct winrec *w = rec_of(win, 1);
    for (int i = 0; i < p->n; i++) {
        if (w->n == w->cap) {
            size_t ncap = w->cap ? w->cap * 2 : 16;
            struct op_pin *np = realloc(w->pins, ncap * sizeof *np);
            if (!np)
                log_fatal("gallocy (MPI layer)", "out of memory for a window's pins");
            w->pins = np;
            w->cap = ncap;
        }
        w->pins[w->n++] = (struct op_pin){target, key, p->s[i]};
    }
    pthread_mutex_unlock(&lock);
    p->n = 0;
}

void ip_win_keep(MPI_Win win, int target, struct ip_pins *p)
{
    keep(win, target, NULL, p);
}

/* Drops the pins of win that match: operations to target (-1: every operation), or (key)
 * the attached region at key; all of them with everything. */
static void drop_matching(MPI_Win win, int target, const void *key, int everything)
{
    if (!__atomic_load_n(&wins, __ATOMIC_ACQUIRE))
        return;
    struct pin_span *gone = NULL;
    size_t ngone = 0;
    pthread_mutex_lock(&lock);
    struct winrec *w = rec_of(win, 0);
    if (w && w->n) {
        gone = malloc(w->n * sizeof *gone);
        if (!gone)
            log_fatal("gallocy (MPI layer)", "out of memory for a window's pins");
        size_t kept = 0;
        for (size_t i = 0; i < w->n; i++) {
            struct op_pin *o = &w->pins[i];
            int match = everything || (key ? o->key == key
                                            : o->target != MPI_PROC_NULL &&
                                                  (target < 0 || o->target == target));
            if (match)
                gone[ngone++] = o->s;
            else
                w->pins[kept++] = *o;
        }
        w->n = kept;
    }
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; i < ngone; i++) /* unpinning may write a page back: not under lock */
        pin_drop(&gone[i]);
    free(gone);
}

void ip_win_complete(MPI_Win win, int target)
{
    drop_matching(win, target, NULL, 0);
}

/* An origin operation: buffers ready and pinned until its completion. */
#define ORIGIN_OP(pins, call, target, win)                                                    \
    do {                                                                                      \
        struct ip_pins p_ = IP_PINS_NONE;                                                     \
        if ((target) != MPI_PROC_NULL)                                                        \
            pins;                                                                             \
        int rc_ = call;                                                                       \
        if (rc_ == MPI_SUCCESS)                                                               \
            ip_win_keep(win, target, &p_);                                                    \
        ip_drop(&p_);                                                                         \
        return rc_;                                                                           \
    } while (0)
/* The request-based ones: until the request completes. */
#define ORIGIN_REQ(pins, call, target, req)                                                   \
    IP_NONBLOCKING((target) != MPI_PROC_NULL, pins, call, req)

int MPI_Put(const void *o, int ocount, MPI_Datatype otype, int target, MPI_Aint tdisp,
            int tcount, MPI_Datatype ttype, MPI_Win win)
{
    ORIGIN_OP(ip_buf(&p_, o, ocount, otype, IP_READ),
              PMPI_Put(o, ocount, otype, target, tdisp, tcount, ttype, win), target, win);
}

int MPI_Get(void *o, int ocount, MPI_Datatype otype, int target, MPI_Aint tdisp, int tcount,
            MPI_Datatype ttype, MPI_Win win)
{
    ORIGIN_OP(ip_buf(&p_, o, ocount, otype, IP_WRITE),
              PMPI_Get(o, ocount, otype, target, tdisp, tcount, ttype, win), target, win);
}

int MPI_Accumulate(const void *o, int ocount, MPI_Datatype otype, int target, MPI_Aint tdisp,
                   int tcount, MPI_Datatype ttype, MPI_Op op, MPI_Win win)
{
    ORIGIN_OP(ip_buf(&p_, o, ocount, otype, IP_READ),
              PMPI_Accumulate(o, ocount, otype, target, tdisp, tcount, ttype, op, win), target,
              win);
}

int MPI_Get_accumulate(const void *o, int ocount, MPI_Datatype otype, void *r, int rcount,
                       MPI_Datatype rtype, int target, MPI_Aint tdisp, int tcount,
                       MPI_Datatype ttype, MPI_Op op, MPI_Win win)
{
    ORIGIN_OP((ip_buf(&p_, o, ocount, otype, IP_READ), ip_buf(&p_, r, rcount, rtype, IP_WRITE)),
              PMPI_Get_accumulate(o, ocount, otype, r, rcount, rtype, target, tdisp, tcount,
                                  ttype, op, win), target, win);
}

int MPI_Fetch_and_op(const void *o, void *r, MPI_Datatype dt, int target, MPI_Aint tdisp,
                     MPI_Op op, MPI_Win win)
{
    ORIGIN_OP((ip_buf(&p_, o, 1, dt, IP_READ), ip_buf(&p_, r, 1, dt, IP_WRITE)),
              PMPI_Fetch_and_op(o, r, dt, target, tdisp, op, win), target, win);
}

int MPI_Compare_and_swap(const void *o, const void *c, void *r, MPI_Datatype dt, int target,
                         MPI_Aint tdisp, MPI_Win win)
{
    ORIGIN_OP((ip_buf(&p_, o, 1, dt, IP_READ), ip_buf(&p_, c, 1, dt, IP_READ),
               ip_buf(&p_, r, 1, dt, IP_WRITE)),
              PMPI_Compare_and_swap(o, c, r, dt, target, tdisp, win), target, win);
}

int MPI_Rput(const void *o, int ocount, MPI_Datatype otype, int target, MPI_Aint tdisp,
             int tcount, MPI_Datatype ttype, MPI_Win win, MPI_Request *req)
{
    ORIGIN_REQ(ip_buf(&p_, o, ocount, otype, IP_READ),
               PMPI_Rput(o, ocount, otype, target, tdisp, tcount, ttype, win, req), target, req);
}

int MPI_Rget(void *o, int ocount, MPI_Datatype otype, int target, MPI_Aint tdisp, int tcount,
             MPI_Datatype ttype, MPI_Win win, MPI_Request *req)
{
    ORIGIN_REQ(ip_buf(&p_, o, ocount, otype, IP_WRITE),
               PMPI_Rget(o, ocount, otype, target, tdisp, tcount, ttype, win, req), target, req);
}

int MPI_Raccumulate(const void *o, int ocount, MPI_Datatype otype, int target, MPI_Aint tdisp,
                    int tcount, MPI_Datatype ttype, MPI_Op op, MPI_Win win, MPI_Request *req)
{
    ORIGIN_REQ(ip_buf(&p_, o, ocount, otype, IP_READ),
               PMPI_Raccumulate(o, ocount, otype, target, tdisp, tcount, ttype, op, win, req),
               target, req);
}

int MPI_Rget_accumulate(const void *o, int ocount, MPI_Datatype otype, void *r, int rcount,
                        MPI_Datatype rtype, int target, MPI_Aint tdisp, int tcount,
                        MPI_Datatype ttype, MPI_Op op, MPI_Win win, MPI_Request *req)
{
    ORIGIN_REQ((ip_buf(&p_, o, ocount, otype, IP_READ), ip_buf(&p_, r, rcount, rtype, IP_WRITE)),
               PMPI_Rget_accumulate(o, ocount, otype, r, rcount, rtype, target, tdisp, tcount,
                                    ttype, op, win, req), target, req);
}

/* --- synchronisation that completes operations at the origin ----------------------------- */

#define COMPLETES(call, win, target)                                                          \
    do {                                                                                      \
        int rc_ = call;                                                                       \
        if (rc_ == MPI_SUCCESS)                                                               \
            ip_win_complete(win, target);                                                     \
        return rc_;                                                                           \
    } while (0)

int MPI_Win_flush(int rank, MPI_Win win)
{
    COMPLETES(PMPI_Win_flush(rank, win), win, rank);
}

int MPI_Win_flush_local(int rank, MPI_Win win)
{
    COMPLETES(PMPI_Win_flush_local(rank, win), win, rank);
}

int MPI_Win_flush_all(MPI_Win win)
{
    COMPLETES(PMPI_Win_flush_all(win), win, -1);
}

int MPI_Win_flush_local_all(MPI_Win win)
{
    COMPLETES(PMPI_Win_flush_local_all(win), win, -1);
}

int MPI_Win_unlock(int rank, MPI_Win win)
{
    COMPLETES(PMPI_Win_unlock(rank, win), win, rank);
}

int MPI_Win_unlock_all(MPI_Win win)
{
    COMPLETES(PMPI_Win_unlock_all(win), win, -1);
}

int MPI_Win_fence(int assert, MPI_Win win)
{
    COMPLETES(PMPI_Win_fence(assert, win), win, -1);
}

int MPI_Win_complete(MPI_Win win)
{
    COMPLETES(PMPI_Win_complete(win), win, -1);
}

/* --- windows over global memory ---------------------------------------------------------- */

int MPI_Win_create(void *base, MPI_Aint size, int disp_unit, MPI_Info info, MPI_Comm comm,
                   MPI_Win *win)
{
    struct ip_pins p = IP_PINS_NONE;
    ip_bytes(&p, base, size > 0 ? (size_t)size : 0, IP_WRITE);
    int rc = PMPI_Win_create(base, size, disp_unit, info, comm, win);
    if (rc == MPI_SUCCESS)
        keep(*win, MPI_PROC_NULL, base, &p);
    ip_drop(&p);
    return rc;
}

int MPI_Win_attach(MPI_Win win, void *base, MPI_Aint size)
{
    struct ip_pins p = IP_PINS_NONE;
    ip_bytes(&p, base, size > 0 ? (size_t)size : 0, IP_WRITE);
    int rc = PMPI_Win_attach(win, base, size);
    if (rc == MPI_SUCCESS)
        keep(win, MPI_PROC_NULL, base, &p);
    ip_drop(&p);
    return rc;
}

int MPI_Win_detach(MPI_Win win, const void *base)
{
    int rc = PMPI_Win_detach(win, base);
    if (rc == MPI_SUCCESS)
        drop_matching(win, 0, base, 0);
    return rc;
}

int MPI_Win_free(MPI_Win *win)
{
    MPI_Win w = win ? *win : MPI_WIN_NULL;
    int rc = PMPI_Win_free(win);
    if (rc == MPI_SUCCESS && w != MPI_WIN_NULL) {
        drop_matching(w, -1, NULL, 1);
        pthread_mutex_lock(&lock);
        for (struct winrec **pp = &wins; *pp; pp = &(*pp)->next)
            if ((*pp)->win == w) {
                struct winrec *dead = *pp;
                *pp = dead->next;
                free(dead->pins);
                free(dead);
                break;
            }
        pthread_mutex_unlock(&lock);
    }
    return rc;
}
