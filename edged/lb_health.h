/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Health checks of the load balancer's servers, run from edged's event loop: a non-blocking
 * TCP connect, or an HTTP GET whose status line must be 2xx or 3xx, to each server of each
 * service that has a `health:` section, every interval, with a timeout. A server goes down
 * after `fall` failures in a row and up after `rise` successes; either change rebuilds the
 * service's table (lb_rebuild), so only the flows of that server move.
 *
 * Scheduling and timeouts run on the housekeeping tick (1 s): lb_health_tick(). The sockets
 * of checks under way are in the event loop's epoll; lb_health_event() advances them.
 * Servers start up (optimistic), so a restart of edged does not empty the tables while the
 * first checks run.
 */
#ifndef EDGED_LB_HEALTH_H
#define EDGED_LB_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "addr.h"

/* lb.services of one config: LB_MAX_SERVICES of bpf/lb.h. */
#define LB_HEALTH_MAX_SERVICES 1024

enum lb_check_phase {
	LB_CHECK_IDLE = 0,
	LB_CHECK_CONNECTING, /* connect() under way: waiting for writable */
	LB_CHECK_READING,    /* HTTP request sent: waiting for the status line */
};

/* One server of one service. Ids are the stable ones (lb_maps), so a reload keeps state. */
struct lb_check {
	int sid, srv_id;
	int svc, srv; /* config indexes in the applied config */
	bool up;
	uint32_t ok_streak, fail_streak;
	uint64_t checks, failures; /* since edged started */
	enum lb_check_phase phase;
	int fd;
	double started;  /* CLOCK_MONOTONIC seconds of the check under way */
	double next_due; /* when the next one starts */
	char buf[128];   /* the response so far (its first line is enough) */
	size_t len;
	char last_error[96];
};

struct lb_health {
	struct lb_check *checks; /* sorted by (sid, srv_id) */
	int n;
	unsigned long generation; /* of the config the checks were made for; 0 = none yet */
	int efd;                  /* the event loop's epoll, -1 until the loop runs */
	/* Services whose servers changed state since the last tick (config index, a bit each):
	 * their tables are rebuilt once at the tick, from every check's result so far. */
	uint64_t changed[(LB_HEALTH_MAX_SERVICES + 63) / 64];
};

void lb_health_init(struct lb_health *h);
void lb_health_close(struct lb_health *h);

/* Whether server SRV_ID is down for service SID (no check: never down). */
bool lb_health_down(const struct lb_health *h, int sid, int srv_id);
const struct lb_check *lb_health_find(const struct lb_health *h, int sid, int srv_id);

struct edged;
/* Once a second from the housekeeping timer: follows config changes, times checks out,
 * starts the ones that are due. */
void lb_health_tick(struct edged *e);
/* For the event loop: whether FD is a health check's socket, and its event. */
bool lb_health_owns_fd(struct edged *e, int fd);
void lb_health_event(struct edged *e, int fd);

#endif
