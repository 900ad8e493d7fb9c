/* SPDX-License-Identifier: GPL-2.0 */
/* The daemon's one context: everything edged holds while it runs. */
#ifndef EDGED_EDGED_H
#define EDGED_EDGED_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "capture.h"
#include "config.h"
#include "datapath.h"
#include "dispatch_maps.h"
#include "dos_maps.h"
#include "egress.h"
#include "egress_share.h"
#include "lb_maps.h"
#include "strbuf.h"
#include "synproxy.h"
#include "transit_customers.h"
#include "transit_dp.h"

#define EDGED_VERSION "0.1.0"

struct MHD_Daemon;

struct edged {
	/* Guards everything below against the metrics thread; the main loop is the only
	 * writer and takes it around each change. */
	pthread_mutex_t lock;
	struct edged_config cfg; /* the config that is applied */
	struct datapath dp;
	struct dos_state dos;
	struct synproxy_state synproxy; /* nftables synproxy behind the XDP SYN cookies */
	struct dispatch_state dispatch;
	struct lb_state lb;
	struct egress_state egress;         /* VPN egress: tunnel, NAT, marks, policy routing */
	struct egress_share_state share;    /* IP sharing: the XDP stage's tables */
	struct transit_state transit;       /* customer namespaces, firewalls, tunnel health */
	struct transit_dp_state transit_dp; /* GRE decap/encap maps and TC links */
	unsigned long generation;           /* applied configs since start: 1 after start */
	time_t started;
	time_t last_reload;
	bool last_reload_ok;
	char last_reload_error[512];

	int ctl_fd;
	int efd; /* the event loop's epoll fd: a capture adds its fds while it runs */
	struct capture capture;
	struct MHD_Daemon *metrics;
	bool stopping;
	bool teardown; /* detach the data path on exit, not just stop */
};

/* Loads and validates the config at PATH (with the interface check). Errors go one per
 * line to ERRS, or to stderr when ERRS is NULL; returns 0 or -1. */
int edged_load_config(const char *path, struct edged_config *cfg, struct strbuf *errs);

/* Loads the config at PATH, applies the data path, opens the control socket and metrics.
 * Returns 0 or -1 (errors logged; config errors printed as FILE:LINE:COL). */
int edged_start(struct edged *e, const char *path);
/* The event loop: until SIGTERM/SIGINT or a teardown request. READY=1 once it runs. */
int edged_serve(struct edged *e);
/* Closes everything; the data path stays attached unless a teardown was requested. */
void edged_stop(struct edged *e);

/* Reads the config file again and applies it if valid: the reload of SIGHUP and `edgectl
 * reload`. Errors (config or kernel) go to ERRS as text; returns 0 or -1. */
int edged_reload(struct edged *e, struct strbuf *errs);

/* Applies the running config's transit section again, with the runtime changes of `edgectl
 * transit add|remove` (e->transit); the other functions are left alone. Errors go to ERRS;
 * returns 0 or -1 and then nothing changed. */
int edged_apply_transit(struct edged *e, struct strbuf *errs);

#endif
