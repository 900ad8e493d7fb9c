/* SPDX-License-Identifier: GPL-2.0 */
/* The client side of the control socket (see control.h for the protocol). */
#ifndef EDGED_CTL_CLIENT_H
#define EDGED_CTL_CLIENT_H

#include "strbuf.h"

/* Sends REQUEST ("<json|text> <command> [args]") to the edged listening at PATH and leaves
 * the reply's body in OUT. Returns 0 (ok), 1 (edged answered error) or -errno (no edged). */
int control_request(const char *path, const char *request, struct strbuf *out);

/* Sends REQUEST and copies the stream that follows an "ok" status line to OUT_FD until edged
 * closes it (edgectl capture). Returns 0, 1 with edged's error in ERR, or -errno. */
int control_stream(const char *path, const char *request, int out_fd, struct strbuf *err);

#endif
