/* verbs_device: opening the RDMA device gallocy would use, for the verbs transport and for
 * gallocy-info alike. */
#ifndef GALLOCY_VERBS_DEVICE_H
#define GALLOCY_VERBS_DEVICE_H
#include <infiniband/verbs.h>
#include <stddef.h>

/* Opens the device named and checks that port is active.  With exact 0 the name is a
 * preference: when no device has it, or for NULL or "", the first device is taken.
 * Returns the context, with the port's attributes in *pa and "device port N" in desc; or
 * NULL with the reason in why (no device at all is one: without kernel RDMA support,
 * ibv_get_device_list gives NULL with ENOSYS rather than an empty list). */
struct ibv_context *verbs_device_open(const char *name, int exact, int port,
                                      struct ibv_port_attr *pa, char *desc, size_t desclen,
                                      char *why, size_t len);

#endif
