/* SPDX-License-Identifier: GPL-2.0 */
/* Writing whole buffers to the control socket's stream connections. */
#ifndef EDGED_SOCKIO_H
#define EDGED_SOCKIO_H

#include <stdbool.h>
#include <stddef.h>

/* Sends all LEN bytes, retrying short writes; false when the peer is gone or times out.
 * MSG_NOSIGNAL: a peer that hung up must not kill the writer with SIGPIPE. */
bool sock_send_all(int fd, const void *buf, size_t len);

#endif
