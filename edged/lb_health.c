// SPDX-License-Identifier: GPL-2.0
/*
 * Health checks of the load balancer's servers; see lb_health.h. Everything here runs on
 * edged's event loop and never blocks: sockets are non-blocking, a check advances when its
 * socket is ready (lb_health_event) and times out on the tick (lb_health_tick).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edged.h"
#include "lb_health.h"
#include "log.h"

#define TICK_SLACK 0.1 /* seconds */

void lb_health_init(struct lb_health *h)
{
	memset(h, 0, sizeof(*h));
	h->efd = -1;
}

static void check_stop(struct lb_health *h, struct lb_check *c)
{
	if (c->fd >= 0) {
		if (h->efd >= 0)
			epoll_ctl(h->efd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->phase = LB_CHECK_IDLE;
	c->len = 0;
}

void lb_health_close(struct lb_health *h)
{
	for (int i = 0; i < h->n; i++)
		check_stop(h, &h->checks[i]);
	free(h->checks);
	h->checks = NULL;
	h->n = 0;
	h->generation = 0;
}

static int check_cmp(const void *a, const void *b)
{
	const struct lb_check *x = a, *y = b;

	if (x->sid != y->sid)
		return x->sid < y->sid ? -1 : 1;
	return (x->srv_id > y->srv_id) - (x->srv_id < y->srv_id);
}

const struct lb_check *lb_health_find(const struct lb_health *h, int sid, int srv_id)
{
	struct lb_check key = {.sid = sid, .srv_id = srv_id};

	if (!h->n)
		return NULL;
	return bsearch(&key, h->checks, h->n, sizeof(key), check_cmp);
}

bool lb_health_down(const struct lb_health *h, int sid, int srv_id)
{
	const struct lb_check *c = lb_health_find(h, sid, srv_id);

	return c && !c->up;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- following the config ---- */

/* The checks the applied config asks for; state carried over from OLD by (sid, srv_id).
 * Sets *REBUILD for services that lost a check that had its server down. */
static int sync_checks(struct edged *e, bool *rebuild)
{
	const struct lb_config *lc = &e->cfg.lb;
	struct lb_health *h = &e->lb.health;
	struct lb_check *next = NULL;
	double now = now_s();
	int n = 0;

	for (int i = 0; e->cfg.fn[FN_LB].enabled && i < lc->n_services; i++) {
		const struct lb_service_config *svc = &lc->services[i];
		struct lb_check *grown;

		if (svc->health.type == LB_HEALTH_NONE)
			continue;
		grown = realloc(next, (n + svc->n_members) * sizeof(*next));
		if (!grown) {
			free(next);
			return -1;
		}
		next = grown;
		for (int j = 0; j < svc->n_members; j++) {
			struct lb_check *c = &next[n++];
			int srv = svc->members[j].server;

			*c = (struct lb_check){.sid = lb_service_id(&e->lb, i),
			                       .srv_id = lb_server_id(&e->lb, srv),
			                       .svc = i,
			                       .srv = srv,
			                       .up = true,
			                       .fd = -1};
			/* Spread the first checks over the interval: a thousand servers are not
			 * checked in the same second. */
			c->next_due = now + (c->srv_id % svc->health.interval_s);
		}
	}
	if (n)
		qsort(next, n, sizeof(*next), check_cmp);
	for (int i = 0; i < h->n; i++) {
		struct lb_check *old = &h->checks[i];
		struct lb_check *c = n ? bsearch(old, next, n, sizeof(*old), check_cmp) : NULL;

		check_stop(h, old);
		if (c) {
			c->up = old->up;
			c->ok_streak = old->ok_streak;
			c->fail_streak = old->fail_streak;
			c->checks = old->checks;
			c->failures = old->failures;
			c->next_due = old->next_due;
			memcpy(c->last_error, old->last_error, sizeof(c->last_error));
		} else if (!old->up) {
			*rebuild = true; /* its server was out of a table for no remaining reason */
		}
	}
	free(h->checks);
	h->checks = next;
	h->n = n;
	h->generation = e->generation;
	return 0;
}

/* ---- one check ---- */

static const struct lb_health_config *check_config(struct edged *e, const struct lb_check *c)
{
	return &e->cfg.lb.services[c->svc].health;
}

static void check_done(struct edged *e, struct lb_check *c, bool ok, const char *why)
{
	const struct lb_health_config *hc = check_config(e, c);
	const struct lb_config *lc = &e->cfg.lb;
	bool changed = false;

	check_stop(&e->lb.health, c);
	c->checks++;
	c->next_due = c->started + hc->interval_s;
	if (ok) {
		c->fail_streak = 0;
		if (!c->up && ++c->ok_streak >= hc->rise)
			changed = c->up = true;
	} else {
		c->failures++;
		c->ok_streak = 0;
		snprintf(c->last_error, sizeof(c->last_error), "%s", why);
		if (c->up && ++c->fail_streak >= hc->fall) {
			c->up = false;
			changed = true;
		}
	}
	if (!changed)
		return;
	if (c->up)
		pr_info("lb: server %s is up for service %s (%u good checks)",
		        lc->servers[c->srv].name, lc->services[c->svc].name, c->ok_streak);
	else
		pr_warn("lb: server %s is down for service %s (%u failed checks, last: %s)",
		        lc->servers[c->srv].name, lc->services[c->svc].name, c->fail_streak, why);
	c->ok_streak = c->fail_streak = 0;
	/* Not rebuilt here: the checks of one round answer within milliseconds of each other,
	 * and a table built from half of them (one server back, its peer not yet) would give
	 * buckets a second server that never had their flows. */
	if (c->svc >= 0 && c->svc < LB_HEALTH_MAX_SERVICES)
		e->lb.health.changed[c->svc / 64] |= 1ULL << (c->svc % 64);
}

/* One rebuild per service whose servers changed since the last tick. */
static void rebuild_changed(struct edged *e)
{
	struct lb_health *h = &e->lb.health;

	for (int i = 0; i < e->cfg.lb.n_services && i < LB_HEALTH_MAX_SERVICES; i++)
		if (h->changed[i / 64] & (1ULL << (i % 64)))
			lb_rebuild(&e->lb, &e->dp, &e->cfg.lb, i, -1);
	memset(h->changed, 0, sizeof(h->changed));
}

static socklen_t sockaddr_of(const struct prefix *a, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = a->family;
	if (a->family == AF_INET) {
		((struct sockaddr_in *)ss)->sin_addr = a->addr.v4;
		((struct sockaddr_in *)ss)->sin_port = htons(port);
		return sizeof(struct sockaddr_in);
	}
	((struct sockaddr_in6 *)ss)->sin6_addr = a->addr.v6;
	((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	return sizeof(struct sockaddr_in6);
}

static void check_start(struct edged *e, struct lb_check *c, double now)
{
	const struct lb_service_config *svc = &e->cfg.lb.services[c->svc];
	const struct prefix *addr = &e->cfg.lb.servers[c->srv].addr;
	uint16_t port = svc->health.port ? svc->health.port : svc->port;
	struct epoll_event ev = {.events = EPOLLOUT};
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(addr, port, &ss);

	c->started = now;
	c->fd = socket(addr->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		check_done(e, c, false, strerror(errno));
		return;
	}
	if (connect(c->fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
		check_done(e, c, false, strerror(errno));
		return;
	}
	ev.data.fd = c->fd;
	if (epoll_ctl(e->lb.health.efd, EPOLL_CTL_ADD, c->fd, &ev)) {
		check_done(e, c, false, strerror(errno));
		return;
	}
	c->phase = LB_CHECK_CONNECTING;
}

static void http_send(struct edged *e, struct lb_check *c)
{
	const struct lb_health_config *hc = check_config(e, c);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = c->fd};
	char req[LB_HEALTH_PATH_MAX + 128], host[PREFIX_STRLEN];
	int n;

	prefix_format(&e->cfg.lb.servers[c->srv].addr, host, sizeof(host));
	host[strcspn(host, "/")] = '\0';
	n = snprintf(req, sizeof(req),
	             "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: edged-health/%s\r\n"
	             "Connection: close\r\n\r\n",
	             hc->path, host, EDGED_VERSION);
	/* A fresh connection's send buffer takes a request this small whole. */
	if (send(c->fd, req, n, MSG_NOSIGNAL) != n) {
		check_done(e, c, false, "could not send the request");
		return;
	}
	epoll_ctl(e->lb.health.efd, EPOLL_CTL_MOD, c->fd, &ev);
	c->phase = LB_CHECK_READING;
}

static void on_connected(struct edged *e, struct lb_check *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		check_done(e, c, false, strerror(err ? err : errno));
		return;
	}
	if (check_config(e, c)->type == LB_HEALTH_TCP)
		check_done(e, c, true, NULL);
	else
		http_send(e, c);
}

/* "HTTP/1.1 200 OK": a 2xx or 3xx status is healthy. */
static void on_readable(struct edged *e, struct lb_check *c)
{
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
	unsigned int status;
	char why[64];

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		check_done(e, c, false, n ? strerror(errno) : "closed before the status line");
		return;
	}
	c->len += n;
	c->buf[c->len] = '\0';
	if (!strchr(c->buf, '\n') && c->len < sizeof(c->buf) - 1)
		return; /* the status line is not complete yet */
	if (sscanf(c->buf, "HTTP/%*u.%*u %3u", &status) != 1) {
		check_done(e, c, false, "not an HTTP response");
		return;
	}
	snprintf(why, sizeof(why), "HTTP status %u", status);
	check_done(e, c, status >= 200 && status < 400, why);
}

/* ---- the event loop's calls ---- */

static struct lb_check *check_of_fd(struct lb_health *h, int fd)
{
	for (int i = 0; i < h->n; i++)
		if (h->checks[i].fd == fd)
			return &h->checks[i];
	return NULL;
}

bool lb_health_owns_fd(struct edged *e, int fd)
{
	return fd >= 0 && check_of_fd(&e->lb.health, fd) != NULL;
}

void lb_health_event(struct edged *e, int fd)
{
	struct lb_check *c;

	pthread_mutex_lock(&e->lock);
	c = check_of_fd(&e->lb.health, fd);
	if (c && c->phase == LB_CHECK_CONNECTING)
		on_connected(e, c);
	else if (c && c->phase == LB_CHECK_READING)
		on_readable(e, c);
	pthread_mutex_unlock(&e->lock);
}

/* Whether FD already has EVENTS: an answer that arrived while the loop was busy elsewhere (a
 * reload building tables) and whose event is still queued. */
static bool fd_ready(int fd, short events)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (events | POLLERR | POLLHUP));
}

/* A check past its timeout: first takes what its socket already has, so that only a server
 * that did not answer in time fails, never one whose answer waited in edged's queue. */
static void check_expire(struct edged *e, struct lb_check *c)
{
	if (c->phase == LB_CHECK_CONNECTING && fd_ready(c->fd, POLLOUT))
		on_connected(e, c);
	else if (c->phase == LB_CHECK_READING && fd_ready(c->fd, POLLIN))
		on_readable(e, c);
	if (c->phase != LB_CHECK_IDLE)
		check_done(e, c, false, "timed out");
}

void lb_health_tick(struct edged *e)
{
	struct lb_health *h = &e->lb.health;
	bool rebuild = false;
	double now = now_s();

	if (e->efd < 0 || (!h->n && !e->cfg.fn[FN_LB].enabled))
		return;
	pthread_mutex_lock(&e->lock);
	h->efd = e->efd;
	if (h->generation != e->generation && sync_checks(e, &rebuild))
		pr_err("lb: out of memory for health checks");
	if (rebuild) {
		lb_rebuild(&e->lb, &e->dp, &e->cfg.lb, -1, -1);
		memset(h->changed, 0, sizeof(h->changed)); /* indexes of the old config */
	}
	/* Ticks come about a second apart, a little early or late: TICK_SLACK keeps a 1 s
	 * timeout or interval from slipping to the tick after. */
	for (int i = 0; i < h->n; i++) {
		struct lb_check *c = &h->checks[i];
		double timeout = check_config(e, c)->timeout_s - TICK_SLACK;

		if (c->phase != LB_CHECK_IDLE && now - c->started >= timeout)
			check_expire(e, c);
		if (c->phase == LB_CHECK_IDLE && now + TICK_SLACK >= c->next_due)
			check_start(e, c, now);
	}
	rebuild_changed(e);
	pthread_mutex_unlock(&e->lock);
}
