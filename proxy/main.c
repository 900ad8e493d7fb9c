// SPDX-License-Identifier: GPL-2.0
/*
 * edged-proxy -c CONFIG -s SERVICE: the built-in any-port proxy of edged's socket dispatch.
 *
 * It reads the same config file as edged: the service's `proxy:` settings (origins by
 * destination prefix, PROXY protocol v2, idle timeouts) and, from the service's bindings,
 * which sockets it needs (TCP and/or UDP, IPv4 and/or IPv6). It makes those sockets,
 * registers them with edged (libedged_dispatch, over edged's control socket), and relays.
 *
 *   SIGHUP    re-read the config: new origins and timeouts apply to new connections
 *   SIGUSR1   log the counters (also on GET /metrics at the service's proxy.metrics)
 *   SIGTERM   stop (the bindings then count misses until a proxy registers again)
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <microhttpd.h>

#include "config.h"
#include "dispatch_config.h"
#include "edged_dispatch.h"
#include "log.h"
#include "proxy.h"

/* A registration retries this long by default: edged may start after the proxy. */
#define REGISTER_WAIT_S 30
/* Pending connections per listener: a burst of new connections on many ports at once. */
#define LISTEN_BACKLOG 4096

/* ---- setup ---- */

struct options {
	const char *config, *service;
	int wait_s;
};

static int load(struct proxy *p, const char *path, const char *service)
{
	struct edged_config *cfg = calloc(1, sizeof(*cfg));
	struct config_errors ce = {};
	int i;

	if (!cfg || config_load(path, 0, cfg, &ce)) {
		for (int e = 0; e < ce.n; e++)
			fprintf(stderr, "%s\n", ce.msgs[e]);
		config_errors_free(&ce);
		free(cfg);
		return -1;
	}
	i = dispatch_service_index(&cfg->dispatch, service);
	if (i < 0 || !cfg->dispatch.services[i].proxy.enabled) {
		pr_err("%s: %s: add it under dispatch.services with a `proxy:` section (origins)",
		       path, i < 0 ? "no such service" : "the service has no proxy settings");
		config_release(cfg);
		free(cfg);
		return -1;
	}
	if (p->cfg) {
		config_release(p->cfg);
		free(p->cfg);
	}
	p->cfg = cfg;
	p->pc = &cfg->dispatch.services[i].proxy;
	return 0;
}

/* Registers FD, retrying while edged is not up yet. */
static int register_socket(struct proxy *p, int fd, int wait_s)
{
	char err[512];

	for (int t = 0;; t++) {
		if (!edged_dispatch_register(p->cfg->control_socket, p->service, fd, err,
		                             sizeof(err)))
			return 0;
		if (t >= wait_s || strstr(err, "edged refused")) {
			pr_err("proxy: cannot register with edged: %s", err);
			return -1;
		}
		sleep(1);
	}
}

static int open_listener(struct proxy *p, int family, int protocol, int wait_s, struct listener *l)
{
	int type = protocol == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM;

	l->family = family;
	l->protocol = protocol;
	l->fd = edged_dispatch_socket(family, type, NULL, 0, LISTEN_BACKLOG);
	if (l->fd < 0) {
		pr_err("proxy: cannot make a %s socket: %s", dispatch_proto_name(protocol),
		       strerror(-l->fd));
		return -1;
	}
	fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL) | O_NONBLOCK);
	if (register_socket(p, l->fd, wait_s))
		return -1;
	return proxy_watch(p, l->fd, &l->h, EPOLLIN);
}

static void on_listener(struct proxy *p, struct handler *h, uint32_t events)
{
	struct listener *l = (struct listener *)h;

	(void)events;
	if (l->protocol == IPPROTO_TCP)
		proxy_tcp_accept(p, l);
	else
		proxy_udp_receive(p, l);
}

/* One listener per (family, protocol) the service's bindings use. Returns how many. */
static int open_listeners(struct proxy *p, int wait_s, struct listener *ls)
{
	const struct dispatch_config *dc = &p->cfg->dispatch;
	int svc = dispatch_service_index(dc, p->service), n = 0;

	for (int fam = 0; fam < 2; fam++) {
		for (int udp = 0; udp < 2; udp++) {
			int family = fam ? AF_INET6 : AF_INET,
			    proto = udp ? IPPROTO_UDP : IPPROTO_TCP;
			bool used = false;

			for (int i = 0; i < dc->n_bindings; i++)
				used |= dc->bindings[i].service == svc &&
				        dc->bindings[i].prefix.family == family &&
				        dc->bindings[i].protocol == proto;
			if (!used)
				continue;
			ls[n].h.fn = on_listener;
			if (open_listener(p, family, proto, wait_s, &ls[n]))
				return -1;
			pr_info("proxy: %s/%s socket registered for service '%s'",
			        dispatch_proto_name(proto), fam ? "ipv6" : "ipv4", p->service);
			n++;
		}
	}
	if (!n)
		pr_err("proxy: no binding names service '%s': nothing would reach the proxy",
		       p->service);
	return n;
}

/* Thousands of connections take two descriptors each. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ---- the loop ---- */

static void log_stats(const struct proxy *p)
{
	const struct proxy_stats *s = &p->st;

	pr_info("proxy '%s': tcp accepted %llu active %llu closed %llu no_origin %llu "
	        "origin_failed %llu idle_closed %llu; udp flows %llu active %llu closed %llu "
	        "no_origin %llu errors %llu idle_closed %llu; bytes to origin %llu to client %llu",
	        p->service, (unsigned long long)s->tcp_accepted, (unsigned long long)s->tcp_active,
	        (unsigned long long)s->tcp_closed, (unsigned long long)s->tcp_no_origin,
	        (unsigned long long)s->tcp_origin_failed, (unsigned long long)s->tcp_idle_closed,
	        (unsigned long long)s->udp_flows, (unsigned long long)s->udp_active,
	        (unsigned long long)s->udp_closed, (unsigned long long)s->udp_no_origin,
	        (unsigned long long)s->udp_errors, (unsigned long long)s->udp_idle_closed,
	        (unsigned long long)s->bytes_to_origin, (unsigned long long)s->bytes_to_client);
}

struct fd_handler {
	struct handler h;
	int fd;
};

static void on_signal(struct proxy *p, struct handler *h, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	if (read(((struct fd_handler *)h)->fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		if (load(p, p->cfg->path, p->service) == 0)
			pr_info("proxy: reloaded %s", p->cfg->path);
	} else if (si.ssi_signo == SIGUSR1) {
		log_stats(p);
	} else {
		p->stopping = true;
	}
}

static void on_timer(struct proxy *p, struct handler *h, uint32_t events)
{
	uint64_t ticks;
	struct timespec ts;

	(void)events;
	if (read(((struct fd_handler *)h)->fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	proxy_tcp_sweep(p, ts.tv_sec);
	proxy_udp_sweep(p, ts.tv_sec);
	if (p->metrics)
		MHD_run(p->metrics); /* its connection timeouts: nothing else wakes it for them */
}

static int setup_events(struct proxy *p, struct fd_handler *sig, struct fd_handler *tick)
{
	struct itimerspec its = {.it_interval = {.tv_sec = 1}, .it_value = {.tv_sec = 1}};
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sig->h.fn = on_signal;
	sig->fd = signalfd(-1, &mask, SFD_CLOEXEC);
	tick->h.fn = on_timer;
	tick->fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (sig->fd < 0 || tick->fd < 0 || timerfd_settime(tick->fd, 0, &its, NULL))
		return -1;
	return proxy_watch(p, sig->fd, &sig->h, EPOLLIN)
	               ?: proxy_watch(p, tick->fd, &tick->h, EPOLLIN);
}

static int serve(struct proxy *p)
{
	struct epoll_event ev[256];

	while (!p->stopping) {
		int n = epoll_wait(p->efd, ev, sizeof(ev) / sizeof(ev[0]), -1);

		if (n < 0 && errno != EINTR)
			return -1;
		for (int i = 0; i < n; i++) {
			struct handler *h = ev[i].data.ptr;

			h->fn(p, h, ev[i].events);
		}
	}
	return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'c'}, {"service", required_argument, NULL, 's'},
	        {"wait", required_argument, NULL, 'w'},   {"verbose", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},         {},
	};
	int c;

	o->wait_s = REGISTER_WAIT_S;
	while ((c = getopt_long(argc, argv, "c:s:w:vh", opts, NULL)) != -1) {
		if (c == 'c')
			o->config = optarg;
		else if (c == 's')
			o->service = optarg;
		else if (c == 'w')
			o->wait_s = atoi(optarg);
		else if (c == 'v')
			log_set_level(LOG_LVL_DEBUG);
		else
			goto usage;
	}
	if (o->config && o->service && optind == argc)
		return 0;
usage:
	fprintf(stderr, "usage: edged-proxy -c CONFIG -s SERVICE [-w SECONDS] [-v]\n"
	                "  -c  edged's config file (the service's proxy: settings and bindings)\n"
	                "  -s  the dispatch service this proxy serves\n"
	                "  -w  how long to retry registering while edged is not up (default "
	                "30)\n");
	return -1;
}

int main(int argc, char **argv)
{
	static struct proxy p; /* 64 KiB buffer inside: not for the stack */
	struct fd_handler sig, tick;
	struct listener ls[4];
	struct options o = {};
	int n;

	if (parse_options(argc, argv, &o))
		return 2;
	p.service = o.service;
	lru_init(&p.tcp_connecting);
	lru_init(&p.tcp_idle);
	lru_init(&p.udp_idle);
	raise_nofile();
	p.efd = epoll_create1(EPOLL_CLOEXEC);
	if (p.efd < 0 || proxy_udp_init(&p) || load(&p, o.config, o.service) ||
	    setup_events(&p, &sig, &tick))
		return 1;
	/* Metrics first: a scraper sees the proxy while it waits for edged to register it. */
	if (proxy_metrics_start(&p))
		return 1;
	n = open_listeners(&p, o.wait_s, ls);
	if (n <= 0)
		return 1;
	pr_info("proxy '%s': serving %d socket(s), PROXY protocol v2 %s", p.service, n,
	        p.pc->proxy_protocol_v2 ? "on" : "off");
	n = serve(&p);
	log_stats(&p);
	proxy_metrics_stop(&p);
	return n ? 1 : 0;
}
