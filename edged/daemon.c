// SPDX-License-Identifier: GPL-2.0
/*
 * edged's lifecycle: start (config -> data path -> control socket and metrics), the event
 * loop (signals, control requests), reload, stop.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "control.h"
#include "edged.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "synproxy.h"
#include "transit_dp.h"
#include "transit_health.h"

/* Loads PATH; on errors writes them, one per line, to ERRS (or stderr) and returns -1. */
int edged_load_config(const char *path, struct edged_config *cfg, struct strbuf *errs)
{
	struct config_errors ce = {};
	int err = config_load(path, CONFIG_CHECK_INTERFACES, cfg, &ce);

	for (int i = 0; i < ce.n; i++) {
		if (errs)
			sb_printf(errs, "%s\n", ce.msgs[i]);
		else
			fprintf(stderr, "%s\n", ce.msgs[i]);
	}
	config_errors_free(&ce);
	return err;
}

static void record_reload(struct edged *e, bool ok, const char *why)
{
	e->last_reload = time(NULL);
	e->last_reload_ok = ok;
	snprintf(e->last_reload_error, sizeof(e->last_reload_error), "%s", ok ? "" : why);
}

/* Settings that need a restart rather than a reload: they name the instance's identity or
 * the sockets edgectl and the scraper already use. */
static const char *needs_restart(const struct edged_config *old, const struct edged_config *new)
{
	if (strcmp(old->instance, new->instance))
		return "instance";
	if (strcmp(old->control_socket, new->control_socket))
		return "control_socket";
	return NULL;
}

static bool metrics_changed(const struct edged_config *old, const struct edged_config *new)
{
	return old->metrics.enabled != new->metrics.enabled ||
	       strcmp(old->metrics.listen, new->metrics.listen);
}

/* Makes the kernel match NEXT: every function prepares its maps beside the running ones,
 * then the data path and the maps are committed; a failure before the commit changes
 * nothing that runs. */
static int apply(struct edged *e, const struct edged_config *next, struct strbuf *errs)
{
	const struct transit_config *transit = next->fn[FN_TRANSIT].enabled ? &next->transit : NULL;
	const struct dos_config *dos = next->fn[FN_DOS].enabled ? &next->dos : NULL;
	/* First: its check loads nf_conntrack, whose kfuncs the program then finds. */
	int err = synproxy_prepare(&e->synproxy, next->instance, dos);

	if (!err)
		err = datapath_prepare(&e->dp, next);
	if (!err)
		err = dos_prepare(&e->dos, &e->dp, next->fn[FN_DOS].enabled ? &next->dos : NULL);
	if (!err)
		err = lb_prepare(&e->lb, &e->dp, next->fn[FN_LB].enabled ? &next->lb : NULL);
	if (!err)
		err = dispatch_prepare(&e->dispatch, &e->dp, next);
	if (!err)
		err = egress_prepare(&e->egress, next);
	if (!err)
		err = egress_share_prepare(&e->share, &e->dp, next);
	if (!err)
		err = transit_prepare(&e->transit, next->instance, transit, errs);
	/* After transit_prepare: the data path needs the veths' ifindexes it made. */
	if (!err)
		err = transit_dp_prepare(&e->transit_dp, &e->dp, transit_next_config(&e->transit),
		                         e->transit.next_rt);
	/* synproxy before the XDP side passes cookie ACKs to it; undone by abort. */
	if (!err)
		err = synproxy_commit(&e->synproxy);
	if (!err)
		err = datapath_commit(&e->dp, next);
	if (err) {
		synproxy_abort(&e->synproxy);
		dos_abort(&e->dos);
		dispatch_abort(&e->dispatch);
		lb_abort(&e->lb);
		egress_abort(&e->egress);
		egress_share_abort(&e->share);
		transit_dp_abort(&e->transit_dp); /* before the namespaces of its veths go */
		transit_abort(&e->transit);
		datapath_abort(&e->dp);
		return err;
	}
	/* The data path's maps before the steering table sends customers' traffic to it. */
	transit_dp_commit(&e->transit_dp, &e->dp);
	transit_commit(&e->transit);
	transit_health_push(&e->transit);
	dos_commit(&e->dos, &e->dp);
	dispatch_commit(&e->dispatch, &e->dp, next);
	lb_commit(&e->lb, &e->dp);
	egress_commit(&e->egress, next);
	egress_share_commit(&e->share, &e->dp);
	return 0;
}

int edged_reload(struct edged *e, struct strbuf *errs)
{
	struct edged_config *next = calloc(1, sizeof(*next));
	const char *key;
	int err = -1;

	notify_systemd("RELOADING=1");
	if (!next || edged_load_config(e->cfg.path, next, errs))
		goto out;
	key = needs_restart(&e->cfg, next);
	if (key) {
		sb_printf(errs, "%s: changing '%s' needs a restart of edged, not a reload\n",
		          e->cfg.path, key);
		goto out;
	}
	pthread_mutex_lock(&e->lock);
	err = apply(e, next, errs);
	if (!err) {
		bool restart_metrics = metrics_changed(&e->cfg, next);

		if (restart_metrics) {
			pthread_mutex_unlock(&e->lock); /* the metrics thread may wait for it */
			metrics_stop(e);
			pthread_mutex_lock(&e->lock);
		}
		config_release(&e->cfg);
		e->cfg = *next; /* NEXT's allocations move with it */
		next->dos = (struct dos_config){};
		next->lb = (struct lb_config){};
		next->dispatch = (struct dispatch_config){};
		next->egress = (struct egress_config){};
		next->transit = (struct transit_config){};
		e->generation++;
		log_set_level(e->cfg.log_level);
		if (restart_metrics)
			metrics_start(e);
	} else {
		sb_printf(errs, "%s: the kernel refused the new data path (see edged's log)\n",
		          e->cfg.path);
	}
	pthread_mutex_unlock(&e->lock);
out:
	record_reload(e, err == 0, errs->buf ? errs->buf : "out of memory");
	if (err)
		pr_err("reload of %s rejected; still running generation %lu:\n%s", e->cfg.path,
		       e->generation, errs->buf ? errs->buf : "");
	else
		pr_info("reloaded %s: generation %lu", e->cfg.path, e->generation);
	notify_systemd("READY=1");
	if (next)
		config_release(next);
	free(next);
	return err ? -1 : 0;
}

int edged_apply_transit(struct edged *e, struct strbuf *errs)
{
	const struct transit_config *tc = e->cfg.fn[FN_TRANSIT].enabled ? &e->cfg.transit : NULL;
	int err = transit_prepare(&e->transit, e->cfg.instance, tc, errs);

	if (err)
		return -1;
	err = transit_dp_prepare(&e->transit_dp, &e->dp, transit_next_config(&e->transit),
	                         e->transit.next_rt);
	if (err) {
		sb_printf(errs,
		          "transit: the data path refused the customers: %s (see edged's log)\n",
		          strerror(-err));
		transit_abort(&e->transit);
		return -1;
	}
	transit_dp_commit(&e->transit_dp, &e->dp);
	transit_commit(&e->transit);
	transit_health_push(&e->transit);
	return 0;
}

static void handled_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGHUP);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
}

/* Blocked before any thread starts (the metrics server has one): threads inherit the mask,
 * so the signals wait for the signalfd instead of killing edged from another thread. */
static void block_signals(void)
{
	sigset_t mask;

	handled_signals(&mask);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int make_signalfd(void)
{
	sigset_t mask;

	handled_signals(&mask);
	return signalfd(-1, &mask, SFD_CLOEXEC);
}

static void handle_signal(struct edged *e, int sfd)
{
	struct signalfd_siginfo si;
	struct strbuf errs = {};

	if (read(sfd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		edged_reload(e, &errs);
		sb_free(&errs);
		return;
	}
	pr_info("%s: stopping; the data path stays attached", strsignal(si.ssi_signo));
	e->stopping = true;
}

/* Housekeeping once a second: expired DoS list entries go. The data path already ignores
 * them (it checks the expiry itself); this only frees their memory. */
#define HOUSEKEEPING_INTERVAL_S 1

static int make_timerfd(void)
{
	struct itimerspec its = {.it_interval = {.tv_sec = HOUSEKEEPING_INTERVAL_S},
	                         .it_value = {.tv_sec = HOUSEKEEPING_INTERVAL_S}};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	if (fd >= 0)
		timerfd_settime(fd, 0, &its, NULL);
	return fd;
}

static void housekeeping(struct edged *e, int tfd)
{
	uint64_t expirations;

	if (read(tfd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;
	capture_tick(e);
	lb_health_tick(e);
	pthread_mutex_lock(&e->lock);
	egress_tick(&e->egress);
	pthread_mutex_unlock(&e->lock);
	if (e->cfg.fn[FN_DOS].enabled) {
		pthread_mutex_lock(&e->lock);
		dos_sweep(&e->dos, &e->dp);
		pthread_mutex_unlock(&e->lock);
	}
}

static void watch(int efd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	epoll_ctl(efd, EPOLL_CTL_ADD, fd, &ev);
}

int edged_serve(struct edged *e)
{
	int efd, sfd, tfd, err = -1;

	sfd = make_signalfd();
	tfd = make_timerfd();
	efd = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || tfd < 0 || efd < 0)
		goto out;
	e->efd = efd;
	watch(efd, sfd);
	watch(efd, tfd);
	watch(efd, e->ctl_fd);
	transit_health_attach(&e->transit, efd);

	notify_systemd("READY=1");
	pr_info("ready: instance '%s', %d uplink(s), control socket %s", e->cfg.instance,
	        e->dp.n_uplinks, e->cfg.control_socket);
	while (!e->stopping) {
		struct epoll_event got;
		int n = epoll_wait(efd, &got, 1, -1);

		if (n < 0 && errno != EINTR)
			goto out;
		if (n <= 0)
			continue;
		if (got.data.fd == sfd)
			handle_signal(e, sfd);
		else if (got.data.fd == tfd)
			housekeeping(e, tfd);
		else if (capture_owns_fd(e, got.data.fd))
			capture_event(e, got.data.fd);
		else if (transit_health_owns_fd(&e->transit, got.data.fd))
			transit_health_event(e, got.data.fd);
		else if (lb_health_owns_fd(e, got.data.fd))
			lb_health_event(e, got.data.fd);
		else
			control_serve(e);
	}
	err = 0;
out:
	if (err)
		pr_err("event loop failed: %s", strerror(errno));
	capture_stop(e, "edged is stopping");
	e->efd = -1;
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	if (efd >= 0)
		close(efd);
	return err;
}

/* Tunnel health changes go to the data path's tunnel choice. */
static void tunnel_health_changed(void *ctx, const char *tunnel, bool up)
{
	struct edged *e = ctx;
	int err = transit_dp_set_tunnel_health(&e->transit_dp, &e->dp, tunnel, up);

	if (err)
		pr_warn("transit: tunnel '%s': telling the data path it is %s: %s", tunnel,
		        up ? "up" : "down", strerror(-err));
}

int edged_start(struct edged *e, const char *path)
{
	transit_init(&e->transit);
	transit_dp_init(&e->transit_dp);
	e->transit.health_changed = tunnel_health_changed;
	e->transit.health_ctx = e;
	block_signals();
	if (edged_load_config(path, &e->cfg, NULL))
		return -1;
	log_set_level(e->cfg.log_level);
	e->started = time(NULL);
	struct strbuf errs = {};
	int err;

	err = apply(e, &e->cfg, &errs);
	if (err && errs.buf)
		pr_err("%s", errs.buf);
	sb_free(&errs);
	if (err)
		return -1;
	e->generation = 1;
	record_reload(e, true, NULL);
	if (control_listen(e) < 0 || metrics_start(e))
		return -1;
	return 0;
}

void edged_stop(struct edged *e)
{
	notify_systemd("STOPPING=1");
	metrics_stop(e);
	dispatch_state_close(&e->dispatch, e->teardown); /* before the pins go with the teardown */
	transit_dp_close(&e->transit_dp); /* its links are pinned: teardown unpins them */
	if (e->teardown)
		transit_teardown(&e->transit);
	transit_close(&e->transit);
	if (e->teardown) {
		egress_teardown(&e->egress);
		synproxy_teardown(&e->synproxy, e->cfg.instance);
		datapath_teardown(&e->dp, e->cfg.instance);
	} else {
		datapath_close(&e->dp);
	}
	synproxy_close(&e->synproxy);
	dos_state_close(&e->dos);
	lb_state_close(&e->lb);
	egress_close(&e->egress);
	egress_share_abort(&e->share);
	/* Last: `edged --teardown` waits for the socket to go as the sign that all is done. */
	control_close(e);
	config_release(&e->cfg);
}
