/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * libedged_dispatch: how a service hands its sockets to edged's socket dispatch.
 *
 * A service makes its sockets (edged_dispatch_socket() sets the options dispatch needs),
 * registers each one under its service name (edged_dispatch_register() passes the socket
 * itself to edged over the control socket, SCM_RIGHTS), and then accepts or receives as
 * usual: connections and datagrams for every (prefix, port) the config binds to the
 * service arrive on it, and getsockname() of an accepted socket, or the original
 * destination of a datagram (edged_dispatch_recv()), tells which address and port the
 * client used.
 *
 * Registering again replaces the socket (a restarted service just registers its new one).
 * edged keeps no copy: when the service's socket closes, its bindings refuse new
 * connections (counted as misses) until a socket is registered again.
 *
 * No dependency beyond libc; link with -ledged_dispatch (build/lib/libedged_dispatch.a).
 */
#ifndef EDGED_DISPATCH_LIB_H
#define EDGED_DISPATCH_LIB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where edged's control socket is when no path is given: $EDGED_SOCKET, else the only
 * *.sock in this directory. */
#define EDGED_DISPATCH_RUN_DIR "/run/edged"

/*
 * A socket for dispatch: TYPE is SOCK_STREAM (bound and listening with BACKLOG) or
 * SOCK_DGRAM (bound, with the original destination of each datagram reported). ADDR is a
 * numeric address of FAMILY to bind, NULL for loopback; PORT 0 lets the kernel choose
 * (dispatch does not care where the socket is bound). Sets IP_FREEBIND / IPV6_FREEBIND
 * first: an IPv6 AnyIP address is not local to bind(2) without it. Returns the descriptor
 * or -errno.
 */
int edged_dispatch_socket(int family, int type, const char *addr, uint16_t port, int backlog);

/*
 * Registers FD as SERVICE's socket for its family and protocol with the edged listening on
 * CONTROL_SOCKET (NULL: see EDGED_DISPATCH_RUN_DIR). Returns 0, or -1 with the reason (edged's
 * own words when it refused) in ERR.
 */
int edged_dispatch_register(const char *control_socket, const char *service, int fd, char *err,
                            size_t errlen);

/*
 * recvfrom(2) for a dispatch UDP socket: also stores where the datagram was sent (the
 * address and port the client used) in ORIG_DST. Returns the length or -1 (errno).
 */
ssize_t edged_dispatch_recv(int fd, void *buf, size_t len, struct sockaddr_storage *from,
                            struct sockaddr_storage *orig_dst);

/*
 * Sends a UDP reply to TO from FROM (a datagram's original destination), so that the client
 * sees the answer come from the address and port it sent to. Uses a transparent socket
 * bound to FROM for the one datagram (needs CAP_NET_ADMIN). Returns the length or -1.
 */
ssize_t edged_dispatch_reply(const struct sockaddr_storage *from, const struct sockaddr_storage *to,
                             const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
