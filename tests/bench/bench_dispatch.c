// SPDX-License-Identifier: GPL-2.0
/*
 * New TCP connections per second to a service through socket dispatch, against the same
 * server on a plain bind, in one run:
 *
 *   namespace   the server's socket                 how the SYN for 203.0.113.1:8080 finds it
 *   plain       bound to 203.0.113.1:8080           the kernel's listener hash (no BPF, no nft)
 *   sk_lookup   bound to 127.0.0.1:<any>            edged's sk_lookup program: binding
 *                                                   203.0.113.0/24 tcp any -> the socket
 *   tproxy      bound to 127.0.0.1:<any>, transparent  edged's nftables table: tproxy rule +
 *                                                   fwmark rule + local route table
 *
 * Each namespace is a fresh one with 203.0.113.0/24 as an AnyIP route on lo, set up with
 * edged's own modules (netlink_route, dispatch_compile, the trie, nft_tproxy). The client
 * and the server are this one thread: over loopback, connect() returns with the handshake
 * done, then accept() and two closes with SO_LINGER 0 (no TIME_WAIT to exhaust ports).
 * Blocks of connections alternate between the namespaces (setns), in a rotating order,
 * pinned to one CPU; a mechanism's rate is its connections over its summed time. Needs
 * root.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/rtnetlink.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench.h"
#include "dispatch.skel.h"
#include "dispatch_compile.h"
#include "dispatch_maps.h"
#include "harness.h"
#include "netlink_route.h"
#include "nft_tproxy.h"

/* The mechanisms take turns in blocks of this many connections (about 20 ms): this machine
 * is shared and its speed drifts by tens of percent within seconds, so fine interleaving
 * gives every mechanism the same share of good and bad moments. */
#define CONNS_PER_BLOCK 500
#define BLOCKS          48
#define DST             "203.0.113.1"
#define DST_PORT        8080
#define TPROXY_MARK     0x00e00000
#define TPROXY_TABLE    237

enum { PLAIN, SK_LOOKUP, TPROXY, NMECH };

struct mech {
	const char *name;
	int netns;  /* fd of its namespace */
	int listen; /* the server's socket */
};

static int die(const char *what)
{
	fprintf(stderr, "bench_dispatch: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A new namespace with lo up and the AnyIP route; returns its fd (we stay inside it). */
static int new_netns(void)
{
	struct ifreq ifr = {.ifr_name = "lo"};
	struct prefix p;
	struct nlr nl;
	int s, fd;

	if (unshare(CLONE_NEWNET))
		die("unshare(CLONE_NEWNET) (run as root)");
	s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr))
		die("lo flags");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr))
		die("lo up");
	close(s);
	prefix_parse("203.0.113.0/24", &p);
	if (nlr_open(&nl) || nlr_route_add(&nl,
	                                   &(struct nlr_route){.dst = p,
	                                                       .type = RTN_LOCAL,
	                                                       .protocol = NLR_PROTO_DISPATCH,
	                                                       .table = NLR_TABLE_LOCAL,
	                                                       .oif = if_nametoindex("lo")},
	                                   false))
		die("AnyIP route");
	nlr_close(&nl);
	fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open netns");
	return fd;
}

static int listener(const char *addr, int port, bool transparent)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	inet_pton(AF_INET, addr, &sin.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (transparent)
		setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, 4096))
		die("listen");
	return fd;
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	getsockname(fd, (struct sockaddr *)&sin, &len);
	return ntohs(sin.sin_port);
}

/* edged's sk_lookup program on this namespace, binding 203.0.113.0/24 tcp any -> FD. */
static void setup_sk_lookup(struct mech *m, struct dispatch_bpf **out)
{
	struct dispatch_rule r = {.protocol = IPPROTO_TCP,
	                          .kind = DISPATCH_PORT_ANY,
	                          .hi = 65535,
	                          .binding = 1,
	                          .dest = dispatch_dest(0, DISPATCH_FAM_V4, 0)};
	struct dispatch_bpf *skel = dispatch_bpf__open();
	struct dispatch_table t;
	__u32 zero = 0, dest = r.dest;
	__u64 value = m->listen;
	char err[128];
	int trie;

	prefix_parse("203.0.113.0/24", &r.prefix);
	if (!skel || harness_unpin_maps(skel->obj) || dispatch_bpf__load(skel))
		die("load the dispatch program");
	if (dispatch_compile(&r, 1, &t, err, sizeof(err)) || (trie = dispatch_trie_create(&t)) < 0)
		die("bindings");
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.dispatch_tables), &zero, &trie, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(skel->maps.dispatch_sockets), &dest, &value, BPF_ANY))
		die("fill the maps");
	if (bpf_link_create(bpf_program__fd(skel->progs.dispatch_lookup), m->netns, BPF_SK_LOOKUP,
	                    NULL) < 0)
		die("attach sk_lookup");
	dispatch_table_free(&t);
	*out = skel;
}

/* edged's TPROXY table, rule and route table on this namespace, to FD. */
static void setup_tproxy(struct mech *m)
{
	struct nft_tproxy_rule r = {.protocol = IPPROTO_TCP,
	                            .hi = 65535,
	                            .tproxy = true,
	                            .to_port = bound_port(m->listen),
	                            .mark = TPROXY_MARK,
	                            .binding = 1};
	struct prefix any = {.family = AF_INET};
	struct nlr nl;
	char err[256];

	prefix_parse("203.0.113.0/24", &r.dst);
	inet_pton(AF_INET, "127.0.0.1", &r.to_addr.v4);
	if (nft_tproxy_apply(&r, 1, false, err, sizeof(err))) {
		fprintf(stderr, "bench_dispatch: nftables: %s\n", err);
		exit(1);
	}
	if (nlr_open(&nl) ||
	    nlr_rule_add(&nl, &(struct nlr_rule){.family = AF_INET,
	                                         .fwmark = TPROXY_MARK,
	                                         .fwmask = TPROXY_MARK,
	                                         .table = TPROXY_TABLE,
	                                         .priority = 1000,
	                                         .protocol = NLR_PROTO_DISPATCH}) ||
	    nlr_route_add(&nl,
	                  &(struct nlr_route){.dst = any,
	                                      .type = RTN_LOCAL,
	                                      .protocol = NLR_PROTO_DISPATCH,
	                                      .table = TPROXY_TABLE,
	                                      .oif = if_nametoindex("lo")},
	                  false))
		die("TPROXY rule and table");
	nlr_close(&nl);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void close_reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* Seconds that one block of connections takes in M's namespace. */
static double block_time(const struct mech *m)
{
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(DST_PORT)};
	double t0;

	if (setns(m->netns, CLONE_NEWNET))
		die("setns");
	inet_pton(AF_INET, DST, &dst.sin_addr);
	t0 = now_s();
	for (int i = 0; i < CONNS_PER_BLOCK; i++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), s;

		if (c < 0 || connect(c, (struct sockaddr *)&dst, sizeof(dst)))
			die(m->name);
		s = accept4(m->listen, NULL, NULL, SOCK_CLOEXEC);
		if (s < 0)
			die("accept");
		close_reset(s);
		close_reset(c);
	}
	return now_s() - t0;
}

int main(void)
{
	struct mech m[NMECH] = {{.name = "plain bind"}, {.name = "sk_lookup"}, {.name = "tproxy"}};
	struct dispatch_bpf *skel = NULL;
	struct dispatch_state st = {};
	struct dispatch_counters c;
	double secs[NMECH] = {}, rate[NMECH];

	setvbuf(stdout, NULL, _IOLBF, 0);
	bench_pin_cpu(0);
	m[PLAIN].netns = new_netns();
	m[PLAIN].listen = listener(DST, DST_PORT, false);
	m[SK_LOOKUP].netns = new_netns();
	m[SK_LOOKUP].listen = listener("127.0.0.1", 0, false);
	setup_sk_lookup(&m[SK_LOOKUP], &skel);
	m[TPROXY].netns = new_netns();
	m[TPROXY].listen = listener("127.0.0.1", 0, true);
	setup_tproxy(&m[TPROXY]);
	for (int mm = 0; mm < NMECH; mm++)
		block_time(&m[mm]); /* warm-up: caches, first allocations */
	for (int b = 0; b < BLOCKS; b++)
		for (int k = 0; k < NMECH; k++)
			secs[(b + k) % NMECH] += block_time(&m[(b + k) % NMECH]);
	for (int mm = 0; mm < NMECH; mm++) {
		rate[mm] = BLOCKS * CONNS_PER_BLOCK / secs[mm];
		printf("dispatch: %-10s %8.0f connections/s (%d connections in blocks of %d)\n",
		       m[mm].name, rate[mm], BLOCKS * CONNS_PER_BLOCK, CONNS_PER_BLOCK);
	}
	/* Without its mechanism no connection would have found the 127.0.0.1 listeners (the
	 * bench would have stopped); the program's counter says so too. */
	st.skel = skel;
	dispatch_read_counters(&st, 1, &c);
	printf("dispatch: the sk_lookup program counted %llu lookups for its binding\n",
	       (unsigned long long)c.c[DISPATCH_OUT_LOOKUPS]);
	bench_line("dispatch_sk_lookup_tcp_connect", "conn_per_s", rate[SK_LOOKUP], "plain_bind",
	           rate[PLAIN]);
	bench_line("dispatch_tproxy_tcp_connect", "conn_per_s", rate[TPROXY], "plain_bind",
	           rate[PLAIN]);
	dispatch_bpf__destroy(skel);
	return 0;
}
