/* interpose_req: buffer spans, the pins that requests hold, and the completion calls
 * (MPI_Wait, MPI_Test and their kin, MPI_Start, MPI_Request_free). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "interpose.h"
#include "lifecycle.h"
#include "log.h"

_Static_assert(sizeof(MPI_Request) <= sizeof(uint64_t), "a request handle fits a u64");

/* --- spans of buffers -------------------------------------------------------------------- */

void ip_bytes(struct ip_pins *p, const void *lo, size_t len, int write)
{
    if (!len || p->n == IP_MAX_BUFS)
        return;
    /* Memory in no allocation is left to MPI, which faults on it as the program would
     * without gallocy: that access gets gallocy's message. */
    if (pin_ready(lo, len, write, 1, &p->s[p->n]) == 0 && p->s[p->n].n)
        p->n++;
}

/* The bytes count elements of dt at buf cover: [*lo, *lo + *len). */
static int span_of(const void *buf, MPI_Count count, MPI_Datatype dt, const char **lo,
                   size_t *len)
{
    MPI_Aint lb, extent, tlb, textent;
    if (count <= 0 || buf == MPI_IN_PLACE || dt == MPI_DATATYPE_NULL ||
        PMPI_Type_get_extent(dt, &lb, &extent) != MPI_SUCCESS ||
        PMPI_Type_get_true_extent(dt, &tlb, &textent) != MPI_SUCCESS || textent <= 0)
        return 0;
    /* Element i spans [buf + i*extent + tlb, ... + textent); a negative extent runs down. */
    MPI_Aint first = tlb, last = (MPI_Aint)(count - 1) * extent + tlb;
    MPI_Aint from = first < last ? first : last, to = (first > last ? first : last) + textent;
    *lo = (const char *)buf + from;
    *len = (size_t)(to - from);
    return 1;
}

void ip_buf(struct ip_pins *p, const void *buf, MPI_Count count, MPI_Datatype dt, int write)
{
    const char *lo;
    size_t len;
    if (lifecycle_is_up() && span_of(buf, count, dt, &lo, &len))
        ip_bytes(p, lo, len, write);
}

/* Widens [*lo, *hi) by count elements of dt at at. */
static void widen(const char **lo, const char **hi, const char *at, int count, MPI_Datatype dt)
{
    const char *l;
    size_t len;
    if (!span_of(at, count, dt, &l, &len))
        return;
    if (!*lo || l < *lo)
        *lo = l;
    if (!*hi || l + len > *hi)
        *hi = l + len;
}

void ip_bufv(struct ip_pins *p, const void *buf, const int *counts, const int *displs, int n,
             MPI_Datatype dt, int write)
{
    MPI_Aint lb, extent;
    if (!lifecycle_is_up() || buf == MPI_IN_PLACE || !counts ||
        !displs || PMPI_Type_get_extent(dt, &lb, &extent) != MPI_SUCCESS)
        return;
    const char *lo = NULL, *hi = NULL;
    for (int i = 0; i < n; i++)
        widen(&lo, &hi, (const char *)buf + (MPI_Aint)displs[i] * extent, counts[i], dt);
    if (lo)
        ip_bytes(p, lo, (size_t)(hi - lo), write);
}

void ip_bufw(struct ip_pins *p, const void *buf, const int *counts, const int *displs, int n,
             const MPI_Datatype *dts, int write)
{
    if (!lifecycle_is_up() || buf == MPI_IN_PLACE || !counts ||
        !displs || !dts)
        return;
    const char *lo = NULL, *hi = NULL;
    for (int i = 0; i < n; i++)
        widen(&lo, &hi, (const char *)buf + displs[i], counts[i], dts[i]);
    if (lo)
        ip_bytes(p, lo, (size_t)(hi - lo), write);
}

void ip_drop(struct ip_pins *p)
{
    for (int i = 0; i < p->n; i++)
        pin_drop(&p->s[i]);
    p->n = 0;
}

/* --- communicators ----------------------------------------------------------------------- */

int ip_is_inter(MPI_Comm comm)
{
    int inter = 0;
    PMPI_Comm_test_inter(comm, &inter);
    return inter;
}

int ip_comm_peers(MPI_Comm comm)
{
    int n = 0;
    if (ip_is_inter(comm))
        PMPI_Comm_remote_size(comm, &n);
    else
        PMPI_Comm_size(comm, &n);
    return n;
}

int ip_is_root(MPI_Comm comm, int root)
{
    if (ip_is_inter(comm))
        return root == MPI_ROOT;
    int r = -1;
    PMPI_Comm_rank(comm, &r);
    return r == root;
}

/* --- requests that hold pins ------------------------------------------------------------- */

/* A request's pins, and for a persistent one what each MPI_Start makes ready. */
struct tracked {
    uint64_t key; /* the handle; 0: empty slot, 1: deleted */
    struct ip_pins pins;
    int persistent, write;
    const char *lo;
    size_t len;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tracked *table;
static size_t cap, used, tombs; /* slots, live entries, deleted slots */
static size_t live;             /* atomic copy of used: completions skip the lock when 0 */

static uint64_t key_of(MPI_Request r)
{
    uint64_t k = 0;
    memcpy(&k, &r, sizeof r);
    return k < 2 ? k + 0x100000000ull : k; /* 0 and 1 mark slots */
}

static size_t slot_of(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

static struct tracked *find(uint64_t k)
{
    if (!cap)
        return NULL;
    for (size_t i = slot_of(k);; i = (i + 1) & (cap - 1)) {
        if (table[i].key == k)
            return &table[i];
        if (table[i].key == 0)
            return NULL;
    }
}

static void grow(void)
{
    size_t ncap = cap ? cap * 2 : 64;
    if (used * 4 < cap * 2) /* mostly tombstones: rehash at the same size */
        ncap = cap;
    struct tracked *old = table, *t = calloc(ncap, sizeof *t);
    if (!t)
        log_fatal("gallocy (MPI layer)", "out of memory for the requests' pins");
    size_t ocap = cap;
    table = t;
    cap = ncap;
    tombs = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].key > 1) {
            size_t j = slot_of(old[i].key);
            while (table[j].key)
                j = (j + 1) & (cap - 1);
            table[j] = old[i];
        }
    free(old);
}

static struct tracked *insert(uint64_t k)
{
    if ((used + tombs + 1) * 4 > cap * 3)
        grow();
    size_t i = slot_of(k);
    while (table[i].key > 1 && table[i].key != k)
        i = (i + 1) & (cap - 1);
    if (table[i].key != k) {
        tombs -= table[i].key == 1;
        table[i] = (struct tracked){.key = k};
        used++;
        __atomic_store_n(&live, used, __ATOMIC_RELEASE);
    }
    return &table[i];
}

static void erase(struct tracked *t)
{
    t->key = 1;
    used--;
    tombs++;
    __atomic_store_n(&live, used, __ATOMIC_RELEASE);
}

void ip_hand_to_request(struct ip_pins *p, int rc, const MPI_Request *req)
{
    if (p->n == 0)
        return;
    if (rc != MPI_SUCCESS || !req || *req == MPI_REQUEST_NULL) {
        ip_drop(p);
        return;
    }
    pthread_mutex_lock(&lock);
    struct tracked *t = insert(key_of(*req));
    t->pins = *p;
    pthread_mutex_unlock(&lock);
    p->n = 0;
}

void ip_persistent(int rc, const MPI_Request *req, const void *buf, MPI_Count count,
                   MPI_Datatype dt, int write)
{
    const char *lo;
    size_t len;
    if (rc != MPI_SUCCESS || !req || *req == MPI_REQUEST_NULL ||
        !lifecycle_is_up() || !span_of(buf, count, dt, &lo, &len))
        return;
    /* The span, not the datatype: the program may free the type before it starts. */
    pthread_mutex_lock(&lock);
    struct tracked *t = insert(key_of(*req));
    t->persistent = 1;
    t->write = write;
    t->lo = lo;
    t->len = len;
    pthread_mutex_unlock(&lock);
}

void ip_start(int n, const MPI_Request *reqs)
{
    if (!__atomic_load_n(&live, __ATOMIC_ACQUIRE))
        return;
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&lock);
        struct tracked *t = find(key_of(reqs[i]));
        const char *lo = t && t->persistent ? t->lo : NULL;
        size_t len = lo ? t->len : 0;
        int write = lo ? t->write : 0;
        pthread_mutex_unlock(&lock);
        if (!lo)
            continue;
        struct ip_pins p = IP_PINS_NONE;
        ip_bytes(&p, lo, len, write); /* the transfer happens outside the lock */
        pthread_mutex_lock(&lock);
        t = find(key_of(reqs[i]));
        if (t && t->pins.n == 0) {
            t->pins = p;
            p.n = 0;
        }
        pthread_mutex_unlock(&lock);
        ip_drop(&p); /* started twice: MPI's error; the first pins stay */
    }
}

/* The request whose handle was k completed (freed: it was not persistent, or the program
 * freed it): its pins go. */
static void completed(MPI_Request before, MPI_Request after)
{
    uint64_t k = key_of(before);
    pthread_mutex_lock(&lock);
    struct tracked *t = find(k);
    struct ip_pins p = IP_PINS_NONE;
    if (t) {
        p = t->pins;
        t->pins.n = 0;
        if (!t->persistent || after == MPI_REQUEST_NULL)
            erase(t);
    }
    pthread_mutex_unlock(&lock);
    ip_drop(&p);
}

/* The completion calls.  Each copies the handles first (MPI sets completed ones to
 * MPI_REQUEST_NULL) only when some request holds pins. */
enum { ON_STACK = 32 };

struct handles {
    MPI_Request stack[ON_STACK], *h;
};

static MPI_Request *keep_handles(struct handles *hs, int n, const MPI_Request *reqs)
{
    hs->h = NULL;
    if (n <= 0 || !reqs || !__atomic_load_n(&live, __ATOMIC_ACQUIRE))
        return NULL;
    hs->h = n <= ON_STACK ? hs->stack : malloc((size_t)n * sizeof *reqs);
    if (hs->h)
        memcpy(hs->h, reqs, (size_t)n * sizeof *reqs);
    return hs->h;
}

static void free_handles(struct handles *hs)
{
    if (hs->h && hs->h != hs->stack)
        free(hs->h);
}

int MPI_Wait(MPI_Request *req, MPI_Status *st)
{
    struct handles hs;
    MPI_Request *h = keep_handles(&hs, 1, req);
    int rc = PMPI_Wait(req, st);
    if (h && rc == MPI_SUCCESS)
        completed(h[0], *req);
    return rc;
}

int MPI_Test(MPI_Request *req, int *flag, MPI_Status *st)
{
    struct handles hs;
    MPI_Request *h = keep_handles(&hs, 1, req);
    int rc = PMPI_Test(req, flag, st);
    if (h && rc == MPI_SUCCESS && *flag)
        completed(h[0], *req);
    return rc;
}

/* After a call on n requests that completed some of them: in error, only those MPI freed
 * are known complete; persistent ones keep their pins until a later completion. */
static void completed_all(int rc, int n, const MPI_Request *h, const MPI_Request *reqs)
{
    for (int i = 0; h && i < n; i++)
        if (rc == MPI_SUCCESS || reqs[i] == MPI_REQUEST_NULL)
            completed(h[i], reqs[i]);
}

int MPI_Waitall(int n, MPI_Request reqs[], MPI_Status sts[])
{
    struct handles hs;
    MPI_Request *h = keep_handles(&hs, n, reqs);
    int rc = PMPI_Waitall(n, reqs, sts);
    completed_all(rc, n, h, reqs);
    free_handles(&hs);
    return rc;
}

int MPI_Testall(int n, MPI_Request reqs[], int *flag, MPI_Status sts[])
{
    struct handles hs;
    MPI_Request *h = keep_handles(&hs, n, reqs);
    int rc = PMPI_Testall(n, reqs, flag, sts);
    if (rc != MPI_SUCCESS || *flag)
        completed_all(rc, n, h, reqs);
    free_handles(&hs);
    return rc;
}

int MPI_Waitany(int n, MPI_Request reqs[], int *index, MPI_Status *st)
{
    struct handles hs;
    MPI_Request *h = keep_handles(&hs, n, reqs);
    int rc = PMPI_Waitany(n, reqs, index, st);
    if (h && rc == MPI_SUCCESS && *index != MPI_UNDEFINED)
        completed(h[*index], reqs[*index]);
    free_handles(&hs);
    return rc;
}

int MPI_Testany(int n, MPI_Request reqs[], int *index, int *flag, MPI_Status *st)
{
    struct handles hs;
    MPI_Request *h = keep_handles(&hs, n, reqs);
    int rc = PMPI_Testany(n, reqs, index, flag, st);
    if (h && rc == MPI_SUCCESS && *flag && *index != MPI_UNDEFINED)
        completed(h[*index], reqs[*index]);
    free_handles(&hs);
    return rc;
}

static void completed_some(int rc, int outcount, const int *idx, const MPI_Request *h,
                           const MPI_Request *reqs)
{
    for (int i = 0; h && rc == MPI_SUCCESS && outcount != MPI_UNDEFINED && i < outcount; i++)
        completed(h[idx[i]], reqs[idx[i]]);
}

int MPI_Waitsome(int n, MPI_Request reqs[], int *outcount, int idx[], MPI_Status sts[])
{
    struct handles hs;
    MPI_Request *h = keep_handles(&hs, n, reqs);
    int rc = PMPI_Waitsome(n, reqs, outcount, idx, sts);
    completed_some(rc, *outcount, idx, h, reqs);
    free_handles(&hs);
    return rc;
}

int MPI_Testsome(int n, MPI_Request reqs[], int *outcount, int idx[], MPI_Status sts[])
{
    struct handles hs;
    MPI_Request *h = keep_handles(&hs, n, reqs);
    int rc = PMPI_Testsome(n, reqs, outcount, idx, sts);
    completed_some(rc, *outcount, idx, h, reqs);
    free_handles(&hs);
    return rc;
}

int MPI_Start(MPI_Request *req)
{
    ip_start(1, req);
    return PMPI_Start(req);
}

int MPI_Startall(int n, MPI_Request reqs[])
{
    ip_start(n, reqs);
    return PMPI_Startall(n, reqs);
}

/* A freed request that is still active completes some time later, unseen: its pins stay
 * until gallocy_finalize, which is always safe (the pages merely stay as they were made
 * ready).  The handle's entry goes, since MPI may reuse the handle. */
int MPI_Request_free(MPI_Request *req)
{
    uint64_t k = req ? key_of(*req) : 0;
    int rc = PMPI_Request_free(req);
    if (rc == MPI_SUCCESS && k && __atomic_load_n(&live, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&lock);
        struct tracked *t = find(k);
        if (t)
            erase(t);
        pthread_mutex_unlock(&lock);
    }
    return rc;
}
