/* SPDX-License-Identifier: GPL-2.0 */
/* Packet capture from the XDP program's ring buffer to a pcap stream (see capture.c). */
#ifndef EDGED_CAPTURE_H
#define EDGED_CAPTURE_H

#include <stdbool.h>
#include <time.h>
#include <linux/types.h>

#include "strbuf.h"

struct edged;
struct request;
struct ring_buffer;

struct capture {
	int conn; /* edgectl's connection while a capture runs, else -1 */
	struct ring_buffer *rb;
	long remaining; /* packets still wanted */
	long timeout_s;
	time_t deadline; /* 0: none */
	long written;
	bool failed; /* a write to edgectl failed */
	__u64 boot_to_real_ns;
};

void capture_init(struct capture *c);
/* Takes over CONN when it returns true (the stream runs from the event loop); on false, ERR
 * says why and the caller replies and closes CONN. */
bool capture_start(struct edged *e, int conn, const struct request *rq, struct strbuf *err);
void capture_stop(struct edged *e, const char *why);
/* The event loop: fds a capture watches, what to do when one is ready, the 1 s tick. */
bool capture_owns_fd(const struct edged *e, int fd);
void capture_event(struct edged *e, int fd);
void capture_tick(struct edged *e);

#endif
