/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control socket between edged and edgectl: a unix stream socket, mode 0600, root only.
 *
 * One request per connection, one line: "<json|text> <command> [args...]\n".
 * The reply: a status line "ok\n" or "error\n", then the body (table or JSON), then EOF.
 */
#ifndef EDGED_CONTROL_H
#define EDGED_CONTROL_H

#include <sys/types.h>

#include "edged.h"

#define CONTROL_MAX_REQUEST 4096
#define CONTROL_MAX_ARGS    16

/* One request, split into words: argv[0] is the command ("dos"), then its arguments. */
struct request {
	bool json;
	int argc;
	char *argv[CONTROL_MAX_ARGS];
	/* A descriptor that came with the request (SCM_RIGHTS), for `dispatch register`. The
	 * handler borrows it; control_serve() closes it after the reply. */
	bool has_fd;
	int fd;
	pid_t peer_pid; /* who sent it (SO_PEERCRED); 0 when unknown */
};

/* Creates the listening socket at e->cfg.control_socket. Returns the fd or -1. */
int control_listen(struct edged *e);
/* Accepts and serves one connection (the main loop calls it when the socket is readable). */
void control_serve(struct edged *e);
void control_close(struct edged *e);

/* Runs one request line and renders the reply; returns true for "ok". Exposed for tests. */
bool control_dispatch(struct edged *e, const char *line, struct strbuf *out);

#endif
