// SPDX-License-Identifier: GPL-2.0
/*
 * dispatch_lookup (bpf/dispatch.bpf.c) through BPF_PROG_TEST_RUN with a struct bpf_sk_lookup
 * context: the kernel runs the program as for a real lookup and reports the selected
 * socket's cookie, so each case checks which socket a (family, protocol, address, port)
 * lookup lands on, the verdict, and that exactly the expected counter of the expected
 * binding moved.
 *
 *   bindings (compiled by edged's own dispatch_compile())     services, their sockets
 *   203.0.113.0/24     tcp any        -> A                    A  tcp4 tcp6 udp4
 *   203.0.113.0/24     tcp 1000-2000  -> B                    B  tcp4 tcp6
 *   203.0.113.0/24     tcp 1500       -> C                    C  tcp4
 *   203.0.113.16/28    tcp any        -> B   (longest prefix) D  none (the service died)
 *   203.0.113.64/26    tcp 443        -> D   (no socket)      E  an IPv6-only socket where
 *   203.0.113.0/24     udp 53         -> A                       its IPv4 one belongs
 *   2001:db8:100::/64  tcp any        -> A
 *   2001:db8:100::5/128 tcp 443       -> B
 *   198.51.100.0/24    tcp 80         -> E   (bad socket)
 *
 * Run as root. Nothing is attached or pinned: the lookups are test runs only, and the
 * sockets live in a network namespace of the test's own (with its loopback up, which the
 * QEMU guest's bare /init does not do for us).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include "harness.h"
#include "dispatch.skel.h"
#include "dispatch_compile.h"
#include "dispatch_maps.h"

enum { SVC_A, SVC_B, SVC_C, SVC_D, SVC_E, NSVC };

struct env {
	struct dispatch_bpf *skel;
	int prog_fd;
	int sock[NSVC][DISPATCH_DESTS_PER_SERVICE]; /* by dest index; -1: none */
	__u64 cookie[NSVC][DISPATCH_DESTS_PER_SERVICE];
};

static const struct {
	const char *prefix;
	uint8_t proto;
	enum dispatch_port_kind kind;
	uint16_t lo, hi;
	int svc;
} bindings[] = {
        {"203.0.113.0/24", IPPROTO_TCP, DISPATCH_PORT_ANY, 0, 65535, SVC_A},
        {"203.0.113.0/24", IPPROTO_TCP, DISPATCH_PORT_RANGE, 1000, 2000, SVC_B},
        {"203.0.113.0/24", IPPROTO_TCP, DISPATCH_PORT_EXACT, 1500, 1500, SVC_C},
        {"203.0.113.16/28", IPPROTO_TCP, DISPATCH_PORT_ANY, 0, 65535, SVC_B},
        {"203.0.113.64/26", IPPROTO_TCP, DISPATCH_PORT_EXACT, 443, 443, SVC_D},
        {"203.0.113.0/24", IPPROTO_UDP, DISPATCH_PORT_EXACT, 53, 53, SVC_A},
        {"2001:db8:100::/64", IPPROTO_TCP, DISPATCH_PORT_ANY, 0, 65535, SVC_A},
        {"2001:db8:100::5/128", IPPROTO_TCP, DISPATCH_PORT_EXACT, 443, 443, SVC_B},
        {"198.51.100.0/24", IPPROTO_TCP, DISPATCH_PORT_EXACT, 80, 80, SVC_E},
};

#define NBINDINGS (sizeof(bindings) / sizeof(bindings[0]))
/* Binding i counts in slot i + 1; slot 0 counts lookups no binding claimed. */
#define SLOT(i) ((i) + 1)

static int dest_index(int family, int proto)
{
	return (family == AF_INET6) * 2 + (proto == IPPROTO_UDP);
}

/* A socket as a service would register it: TCP listening, UDP bound, on loopback. */
static int service_socket(int family, int proto, bool v6only)
{
	int type = proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM, one = 1;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int fd = socket(family, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (family == AF_INET6 && v6only)
		assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), 0);
	if (family == AF_INET)
		assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	else
		assert_int_equal(bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	if (proto == IPPROTO_TCP)
		assert_int_equal(listen(fd, 16), 0);
	return fd;
}

static __u64 cookie_of(int fd)
{
	__u64 c = 0;
	socklen_t len = sizeof(c);

	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len), 0);
	return c;
}

/* Puts SVC's socket FD in at the dest of (FAMILY, PROTO), as edged's register does. */
static void put_socket(struct env *env, int svc, int family, int proto, int fd)
{
	__u32 dest = dispatch_dest(svc, family == AF_INET6, proto == IPPROTO_UDP);
	__u64 value = fd;
	int d = dest_index(family, proto);

	assert_int_equal(bpf_map_update_elem(bpf_map__fd(env->skel->maps.dispatch_sockets), &dest,
	                                     &value, BPF_ANY),
	                 0);
	env->sock[svc][d] = fd;
	env->cookie[svc][d] = cookie_of(fd);
}

static void add_sockets(struct env *env)
{
	memset(env->sock, -1, sizeof(env->sock));
	put_socket(env, SVC_A, AF_INET, IPPROTO_TCP, service_socket(AF_INET, IPPROTO_TCP, false));
	put_socket(env, SVC_A, AF_INET6, IPPROTO_TCP, service_socket(AF_INET6, IPPROTO_TCP, true));
	put_socket(env, SVC_A, AF_INET, IPPROTO_UDP, service_socket(AF_INET, IPPROTO_UDP, false));
	put_socket(env, SVC_B, AF_INET, IPPROTO_TCP, service_socket(AF_INET, IPPROTO_TCP, false));
	put_socket(env, SVC_B, AF_INET6, IPPROTO_TCP, service_socket(AF_INET6, IPPROTO_TCP, true));
	put_socket(env, SVC_C, AF_INET, IPPROTO_TCP, service_socket(AF_INET, IPPROTO_TCP, false));
	/* E's IPv4 TCP dest holds an IPv6-only socket: the kernel refuses to assign it. */
	put_socket(env, SVC_E, AF_INET, IPPROTO_TCP, service_socket(AF_INET6, IPPROTO_TCP, true));
}

/* Compiles the bindings with edged's compiler and installs the trie as edged does. */
static void install_bindings(struct env *env)
{
	struct dispatch_rule rules[NBINDINGS];
	struct dispatch_table t;
	__u32 zero = 0;
	char err[256];
	int trie;

	for (size_t i = 0; i < NBINDINGS; i++) {
		rules[i] = (struct dispatch_rule){.protocol = bindings[i].proto,
		                                  .kind = bindings[i].kind,
		                                  .lo = bindings[i].lo,
		                                  .hi = bindings[i].hi,
		                                  .binding = SLOT(i),
		                                  .index = i};
		assert_int_equal(prefix_parse(bindings[i].prefix, &rules[i].prefix), 0);
		rules[i].dest = dispatch_dest(bindings[i].svc, rules[i].prefix.family == AF_INET6,
		                              bindings[i].proto == IPPROTO_UDP);
	}
	assert_int_equal(dispatch_compile(rules, NBINDINGS, &t, err, sizeof(err)), 0);
	trie = dispatch_trie_create(&t);
	assert_true(trie >= 0);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(env->skel->maps.dispatch_tables), &zero,
	                                     &trie, BPF_ANY),
	                 0);
	close(trie);
	dispatch_table_free(&t);
}

static int setup(void **state)
{
	struct env *env = calloc(1, sizeof(*env));

	if (!env)
		return -1;
	env->skel = dispatch_bpf__open();
	if (!env->skel || harness_unpin_maps(env->skel->obj) || dispatch_bpf__load(env->skel)) {
		fprintf(stderr, "cannot load the dispatch program (run as root): %s\n",
		        strerror(errno));
		return -1;
	}
	env->prog_fd = bpf_program__fd(env->skel->progs.dispatch_lookup);
	add_sockets(env);
	install_bindings(env);
	*state = env;
	return 0;
}

static int teardown(void **state)
{
	struct env *env = *state;

	for (int s = 0; s < NSVC; s++)
		for (int d = 0; d < DISPATCH_DESTS_PER_SERVICE; d++)
			if (env->sock[s][d] >= 0)
				close(env->sock[s][d]);
	dispatch_bpf__destroy(env->skel);
	free(env);
	return 0;
}

/* ---- one lookup ---- */

struct lookup {
	int family, proto;
	const char *addr;
	uint16_t port;
};

struct outcome {
	int retval;   /* SK_PASS or SK_DROP */
	__u64 cookie; /* the socket selected, 0 for none */
};

static int run_lookup(struct env *env, const struct lookup *l, struct outcome *o)
{
	struct bpf_sk_lookup ctx = {.family = l->family,
	                            .protocol = l->proto,
	                            .local_port = l->port,
	                            .remote_port = htons(40000)};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
	            .ctx_out = &ctx, .ctx_size_out = sizeof(ctx));
	int err;

	if (l->family == AF_INET) {
		inet_pton(AF_INET, l->addr, &ctx.local_ip4);
		inet_pton(AF_INET, "192.0.2.1", &ctx.remote_ip4);
	} else {
		inet_pton(AF_INET6, l->addr, ctx.local_ip6);
		inet_pton(AF_INET6, "2001:db8::1", ctx.remote_ip6);
	}
	err = bpf_prog_test_run_opts(env->prog_fd, &opts);
	if (err)
		return -errno;
	o->retval = opts.retval;
	o->cookie = ctx.cookie;
	return 0;
}

static void counters(struct env *env, struct dispatch_counters *out)
{
	struct dispatch_state st = {.skel = env->skel};

	for (__u32 s = 0; s <= NBINDINGS; s++)
		assert_int_equal(dispatch_read_counters(&st, s, &out[s]), 0);
}

static const char *const outcome_names[DISPATCH_NOUTCOMES] = {"lookups", "misses",
                                                              "errors__bad_socket"};

/* Exactly these counters moved, by one: lookups of SLOT, plus OUTCOME when not lookups. */
static void assert_counted(const struct dispatch_counters *before,
                           const struct dispatch_counters *after, __u32 slot, int outcome,
                           const char *what)
{
	for (__u32 s = 0; s <= NBINDINGS; s++) {
		for (int o = 0; o < DISPATCH_NOUTCOMES; o++) {
			__u64 want = before[s].c[o] +
			             (s == slot && (o == DISPATCH_OUT_LOOKUPS || o == outcome));

			if (after[s].c[o] != want)
				fail_msg("%s: binding slot %u %s: expected %llu, got %llu", what, s,
				         outcome_names[o], (unsigned long long)want,
				         (unsigned long long)after[s].c[o]);
		}
	}
}

/* The lookup L lands on SVC's socket for its family and protocol, counted by binding B. */
static void expect_socket(struct env *env, const struct lookup *l, int svc, int b)
{
	struct dispatch_counters before[NBINDINGS + 1], after[NBINDINGS + 1];
	struct outcome o;
	char what[128];

	snprintf(what, sizeof(what), "%s %s:%u", l->proto == IPPROTO_TCP ? "tcp" : "udp", l->addr,
	         l->port);
	counters(env, before);
	assert_int_equal(run_lookup(env, l, &o), 0);
	counters(env, after);
	if (o.retval != SK_PASS || o.cookie != env->cookie[svc][dest_index(l->family, l->proto)])
		fail_msg("%s: expected SK_PASS to service %c's socket (cookie %llu), got %s "
		         "cookie %llu",
		         what, 'A' + svc,
		         (unsigned long long)env->cookie[svc][dest_index(l->family, l->proto)],
		         o.retval == SK_PASS ? "SK_PASS" : "SK_DROP", (unsigned long long)o.cookie);
	assert_counted(before, after, SLOT(b), DISPATCH_OUT_LOOKUPS, what);
}

/* The lookup L gets VERDICT with no socket, counted as OUTCOME of slot SLOT. */
static void expect_none(struct env *env, const struct lookup *l, int verdict, __u32 slot,
                        int outcome)
{
	struct dispatch_counters before[NBINDINGS + 1], after[NBINDINGS + 1];
	struct outcome o;
	char what[128];

	snprintf(what, sizeof(what), "%s %s:%u", l->proto == IPPROTO_TCP ? "tcp" : "udp", l->addr,
	         l->port);
	counters(env, before);
	assert_int_equal(run_lookup(env, l, &o), 0);
	counters(env, after);
	if (o.retval != verdict || o.cookie)
		fail_msg("%s: expected %s and no socket, got %s cookie %llu", what,
		         verdict == SK_PASS ? "SK_PASS" : "SK_DROP",
		         o.retval == SK_PASS ? "SK_PASS" : "SK_DROP", (unsigned long long)o.cookie);
	assert_counted(before, after, slot, outcome, what);
}

/* ---- cases ---- */

static void test_longest_prefix_wins(void **state)
{
	struct env *env = *state;

	expect_socket(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.200", 80}, SVC_A, 0);
	expect_socket(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.17", 80}, SVC_B, 3);
	/* The /28 takes any port, even one the /24 gives to an exact binding. */
	expect_socket(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.17", 1500}, SVC_B, 3);
	expect_socket(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.31", 22}, SVC_B, 3);
	expect_socket(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.32", 22}, SVC_A, 0);
}

static void test_exact_beats_range_beats_any(void **state)
{
	struct env *env = *state;

	expect_socket(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.5", 1500}, SVC_C, 2);
	expect_socket(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.5", 1499}, SVC_B, 1);
	expect_socket(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.5", 1000}, SVC_B, 1);
	expect_socket(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.5", 2000}, SVC_B, 1);
	expect_socket(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.5", 2001}, SVC_A, 0);
	expect_socket(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.5", 999}, SVC_A, 0);
	expect_socket(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.5", 65535}, SVC_A, 0);
	/* The /26's exact port 443 wins there; its other ports fall back to the /24. */
	expect_socket(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.70", 444}, SVC_A, 0);
}

static void test_udp_and_tcp_are_separate(void **state)
{
	struct env *env = *state;

	expect_socket(env, &(struct lookup){AF_INET, IPPROTO_UDP, "203.0.113.9", 53}, SVC_A, 5);
	/* UDP to a port only TCP binds: not ours, the kernel's own lookup decides. */
	expect_none(env, &(struct lookup){AF_INET, IPPROTO_UDP, "203.0.113.9", 54}, SK_PASS,
	            DISPATCH_BINDING_NONE, DISPATCH_OUT_LOOKUPS);
}

static void test_ipv6(void **state)
{
	struct env *env = *state;

	expect_socket(env, &(struct lookup){AF_INET6, IPPROTO_TCP, "2001:db8:100::7", 8080}, SVC_A,
	              6);
	expect_socket(env, &(struct lookup){AF_INET6, IPPROTO_TCP, "2001:db8:100::5", 443}, SVC_B,
	              7);
	expect_socket(env, &(struct lookup){AF_INET6, IPPROTO_TCP, "2001:db8:100::5", 444}, SVC_A,
	              6);
	expect_none(env, &(struct lookup){AF_INET6, IPPROTO_TCP, "2001:db8:101::5", 443}, SK_PASS,
	            DISPATCH_BINDING_NONE, DISPATCH_OUT_LOOKUPS);
	/* An IPv4 lookup of the same bits does not match the IPv6 prefix. */
	expect_none(env, &(struct lookup){AF_INET, IPPROTO_TCP, "32.1.13.184", 443}, SK_PASS,
	            DISPATCH_BINDING_NONE, DISPATCH_OUT_LOOKUPS);
}

static void test_unbound_passes(void **state)
{
	struct env *env = *state;

	expect_none(env, &(struct lookup){AF_INET, IPPROTO_TCP, "192.0.2.10", 80}, SK_PASS,
	            DISPATCH_BINDING_NONE, DISPATCH_OUT_LOOKUPS);
	expect_none(env, &(struct lookup){AF_INET, IPPROTO_TCP, "198.51.100.1", 81}, SK_PASS,
	            DISPATCH_BINDING_NONE, DISPATCH_OUT_LOOKUPS);
}

static void test_missing_socket_is_a_counted_miss(void **state)
{
	struct env *env = *state;

	expect_none(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.70", 443}, SK_DROP,
	            SLOT(4), DISPATCH_OUT_MISSES);
}

/* A service that dies: its socket leaves the map with its last descriptor, and the binding
 * counts misses instead of falling through to another socket. */
static void test_dead_service_misses(void **state)
{
	struct env *env = *state;
	int d = dest_index(AF_INET, IPPROTO_TCP);

	expect_socket(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.5", 1500}, SVC_C, 2);
	close(env->sock[SVC_C][d]);
	env->sock[SVC_C][d] = -1;
	expect_none(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.5", 1500}, SK_DROP,
	            SLOT(2), DISPATCH_OUT_MISSES);
}

static void test_bad_socket_counted(void **state)
{
	struct env *env = *state;

	expect_none(env, &(struct lookup){AF_INET, IPPROTO_TCP, "198.51.100.1", 80}, SK_DROP,
	            SLOT(8), DISPATCH_OUT_BAD_SOCKET);
}

/* The checks above can fail: a wrong expectation is reported, not passed. */
static void test_wrong_expectation_fails(void **state)
{
	struct env *env = *state;
	struct outcome o;

	assert_int_equal(
	        run_lookup(env, &(struct lookup){AF_INET, IPPROTO_TCP, "203.0.113.5", 1500}, &o),
	        0);
	assert_int_not_equal(o.cookie, env->cookie[SVC_A][dest_index(AF_INET, IPPROTO_TCP)]);
	assert_int_not_equal(o.cookie, 0);
}

/* A private network namespace with lo up: the services' sockets bind to loopback. */
static int private_netns(void)
{
	struct ifreq ifr = {.ifr_name = "lo"};
	int s;

	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (run as root)\n", strerror(errno));
		return -1;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr))
		return -1;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr)) {
		fprintf(stderr, "cannot bring lo up: %s\n", strerror(errno));
		close(s);
		return -1;
	}
	close(s);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_longest_prefix_wins, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_exact_beats_range_beats_any, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_udp_and_tcp_are_separate, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unbound_passes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_missing_socket_is_a_counted_miss, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_dead_service_misses, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_socket_counted, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_wrong_expectation_fails, setup, teardown),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (private_netns())
		return 1;
	return cmocka_run_group_tests_name("dispatch_lookup", tests, NULL, NULL);
}
