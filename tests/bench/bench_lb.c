// SPDX-License-Identifier: GPL-2.0
/*
 * The load balancer's costs, side by side with their floors:
 *
 *   data path   parse + VIP lookup + flow hash + Maglev table + FIB lookup + encapsulation +
 *               XDP_TX, per packet, against a bare `return XDP_TX` on the same frames. The
 *               encapsulating program runs inside a wrapper that undoes its rewrite (repeat
 *               reuses one buffer); the wrapper's own cost, measured alone, is taken off:
 *               lb = encap_and_undo - (undo - xdp_tx).
 *   miss path   what the stage adds to traffic that is not for a VIP (xdp_edge, lb on/off).
 *   control     rebuilding and swapping a table of 1000 servers (M = 100003) when one
 *               leaves, as edged does (lb_rebuild: Maglev, history, mmap fill, swap), against
 *               filling the same table with one bpf_map_update_elem per bucket.
 *
 * Runs in a network namespace of its own (veth + permanent neighbours for the FIB lookups).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <bpf/bpf.h>

#include "bench.h"
#include "config.h"
#include "datapath.h"
#include "edge.skel.h"
#include "harness.h"
#include "lb.h"
#include "lb_bench.skel.h"
#include "lb_maps.h"
#include "maglev.h"

#define NSERVERS 8 /* the data path's table: 8 servers over 65537 buckets */

static const char *const setup_cmds[] = {
        "ip link add lbb0 address 02:00:00:00:00:02 type veth peer name lbb1",
        "ip link set lbb0 up",
        "ip link set lbb1 up",
        "ip addr add 198.51.100.1/24 dev lbb0",
        "ip addr add 2001:db8:100::1/64 dev lbb0 nodad",
        "sysctl -qw net.ipv4.conf.all.forwarding=1",
        "sysctl -qw net.ipv6.conf.all.forwarding=1",
};

static int netns_setup(void)
{
	char cmd[160];

	if (harness_netns_enter("bench_lb") ||
	    harness_sh_all("bench_lb", setup_cmds, sizeof(setup_cmds) / sizeof(setup_cmds[0])))
		return -1;
	for (int i = 0; i < NSERVERS; i++) {
		snprintf(cmd, sizeof(cmd),
		         "ip neigh add 198.51.100.%d lladdr 02:00:00:00:%02x:00 dev lbb0 nud "
		         "permanent",
		         11 + i, 11 + i);
		if (harness_sh_all("bench_lb", (const char *[]){cmd}, 1))
			return -1;
		snprintf(cmd, sizeof(cmd),
		         "ip -6 neigh add 2001:db8:100::%d lladdr 02:00:00:00:%02x:00 dev lbb0 nud "
		         "permanent",
		         11 + i, 11 + i);
		if (harness_sh_all("bench_lb", (const char *[]){cmd}, 1))
			return -1;
	}
	return 0;
}

/* ---- frames ------------------------------------------------------------------------- */

struct frame {
	const char *name;
	uint32_t len;
	uint8_t data[1500];
};

/* Ether/IPv4/TCP ACK or UDP of LEN bytes, 192.0.2.1:40000 -> DST:80. */
static void frame4(struct frame *f, const char *dst, int proto, uint32_t len)
{
	f->len = len;
	bench_frame4(f->data, len, "192.0.2.1", 40000, dst, 80, proto);
}

static void frame6(struct frame *f, const char *dst, uint32_t len)
{
	static const uint8_t eth[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd};
	uint8_t *ip = f->data + 14, *l4 = ip + 40;

	memset(f->data, 0, sizeof(f->data));
	f->len = len;
	memcpy(f->data, eth, 14);
	ip[0] = 0x60;
	ip[4] = (len - 54) >> 8;
	ip[5] = (len - 54) & 0xff;
	ip[6] = IPPROTO_TCP;
	ip[7] = 64;
	inet_pton(AF_INET6, "2001:db8::1", ip + 8);
	inet_pton(AF_INET6, dst, ip + 24);
	l4[0] = 40000 >> 8;
	l4[1] = 40000 & 0xff;
	l4[3] = 80;
	l4[12] = 5 << 4;
	l4[13] = 0x10;
}

/* ---- the data path's maps ----------------------------------------------------------- */

static int slot_set(struct bpf_object *obj, const char *outer, uint32_t slot, int inner)
{
	int err = bpf_map_update_elem(bench_map_fd(obj, outer), &slot, &inner, BPF_ANY);

	close(inner);
	return err;
}

/* Maglev over NSERVERS servers of FAMILY (ids from FIRST_ID), as an inner table map. */
static int table_maglev(int family, uint32_t first_id)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	uint8_t keys[NSERVERS][17] = {};
	struct maglev_backend b[NSERVERS];
	uint32_t m = MAGLEV_MIN_SIZE, *t = calloc(m, 4);
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "bench_table", 4, sizeof(struct lb_bucket),
	                        m + 1, &opts);
	struct lb_bucket hdr = {.first = m};

	if (!t || fd < 0)
		return -1;
	for (int i = 0; i < NSERVERS; i++) {
		keys[i][0] = family == AF_INET ? 4 : 6;
		keys[i][1] = i;
		b[i] = (struct maglev_backend){keys[i], 17, 100};
	}
	maglev_build(b, NSERVERS, m, t);
	bpf_map_update_elem(fd, &(uint32_t){0}, &hdr, BPF_ANY);
	for (uint32_t s = 0; s < m; s++) {
		struct lb_bucket v = {.first = first_id + t[s], .second = LB_NONE};
		uint32_t k = s + 1;

		bpf_map_update_elem(fd, &k, &v, BPF_ANY);
	}
	free(t);
	return fd;
}

static int vip_add(struct lb_vip_slot *slots, const char *vip, uint8_t proto, uint16_t port,
                   uint32_t sid, uint8_t encap)
{
	struct lb_vip_key k = {.proto = proto, .port = htons(port)};
	struct lb_vip v = {.service = sid, .encap = encap};

	k.family = strchr(vip, ':') ? 6 : 4;
	inet_pton(k.family == 4 ? AF_INET : AF_INET6, vip, k.addr);
	return lb_vip_slot_insert(slots, &k, &v, true);
}

static int fill_maps(struct bpf_object *obj)
{
	struct lb_settings s = {.gue_port = htons(6080), .has_src_v4 = 1, .has_src_v6 = 1};
	struct lb_vip_slot *vips = calloc(LB_VIP_SLOTS, sizeof(*vips));
	uint32_t zero = 0;
	int err = 0;

	if (!vips)
		return -1;

	inet_pton(AF_INET, "198.51.100.1", s.src_v4);
	inet_pton(AF_INET6, "2001:db8:100::1", s.src_v6);
	err |= bpf_map_update_elem(bench_map_fd(obj, "lb_settings"), &zero, &s, BPF_ANY);
	for (uint32_t i = 0; i < 2 * NSERVERS; i++) {
		struct lb_server srv = {.family = i < NSERVERS ? 4 : 6};
		char a[64];

		snprintf(a, sizeof(a), i < NSERVERS ? "198.51.100.%u" : "2001:db8:100::%u",
		         11 + i % NSERVERS);
		inet_pton(srv.family == 4 ? AF_INET : AF_INET6, a, srv.addr);
		err |= bpf_map_update_elem(bench_map_fd(obj, "lb_servers"), &i, &srv, BPF_ANY);
	}
	err |= vip_add(vips, "203.0.113.10", IPPROTO_TCP, 80, 0, LB_ENCAP_GUE);
	err |= vip_add(vips, "203.0.113.11", IPPROTO_TCP, 80, 1, LB_ENCAP_IPIP);
	err |= vip_add(vips, "203.0.113.12", IPPROTO_UDP, 0, 1, LB_ENCAP_IPIP);
	err |= vip_add(vips, "2001:db8:f::10", IPPROTO_TCP, 80, 2, LB_ENCAP_GUE);
	err |= slot_set(obj, "lb_vips", 0, lb_vip_map_create(vips));
	free(vips);
	err |= slot_set(obj, "lb_tables", 0, table_maglev(AF_INET, 0));
	err |= slot_set(obj, "lb_tables", 1, table_maglev(AF_INET, 0));
	err |= slot_set(obj, "lb_tables", 2, table_maglev(AF_INET6, NSERVERS));
	return err ? -1 : 0;
}

/* ---- data path ---------------------------------------------------------------------- */

/* bench.c's side-by-side runner on F, arriving on IFINDEX: the FIB sends the tunnel back out
 * of lbb0, so XDP_TX needs lbb0 to be the ingress (from lo it would be a redirect). */
static int side_by_side(const int *fds, int n, const struct frame *f, uint32_t ifindex,
                        double *median)
{
	return bench_xdp_side_by_side_on(fds, n, f->data, f->len, ifindex, median);
}

/* Where the encap path's time goes: the path run up to each step (lb_upto_*, which stop
 * with XDP_TX and leave the frame alone), side by side with xdp_tx, on FRAME; the last
 * step (lb_forward: next hop, encapsulation, adjust_head) is the full figure less these. */
static int bench_steps(struct lb_bench_bpf *skel, int tx, const struct frame *f, uint32_t ifindex,
                       double lb)
{
	static const char *const names[] = {"parse", "+ flow, VIP", "+ hash, table, server",
	                                    "+ lb_balance_run call, counters"};
	int fds[5] = {tx, bpf_program__fd(skel->progs.lb_upto_parse),
	              bpf_program__fd(skel->progs.lb_upto_vip),
	              bpf_program__fd(skel->progs.lb_upto_table),
	              bpf_program__fd(skel->progs.lb_upto_balance)};
	double ns[5], sub[3];
	char name[64];

	/* side_by_side() takes 3 at a time: xdp_tx in both rounds, as the common reference */
	if (side_by_side((int[]){fds[0], fds[1], fds[2]}, 3, f, ifindex, sub))
		return -1;
	ns[0] = sub[0], ns[1] = sub[1], ns[2] = sub[2];
	if (side_by_side((int[]){fds[0], fds[3], fds[4]}, 3, f, ifindex, sub))
		return -1;
	ns[3] = sub[1] - (sub[0] - ns[0]), ns[4] = sub[2] - (sub[0] - ns[0]);
	printf("where %s's time goes (ns/pkt, cumulative; xdp_tx %.1f):\n", f->name, ns[0]);
	for (int i = 0; i < 4; i++)
		printf("  %-34s %7.1f ns  (+%.1f)\n", names[i], ns[i + 1], ns[i + 1] - ns[i]);
	printf("  %-34s %7.1f ns  (+%.1f)\n", "+ lb_forward: next hop, encap, TX", lb, lb - ns[4]);
	snprintf(name, sizeof(name), "lb_step_parse_%s", f->name);
	bench_line(name, "ns_per_pkt", ns[1], "xdp_tx", ns[0]);
	snprintf(name, sizeof(name), "lb_step_balance_%s", f->name);
	bench_line(name, "ns_per_pkt", ns[4], "xdp_tx", ns[0]);
	return 0;
}

static int bench_encap(void)
{
	struct lb_bench_bpf *skel = lb_bench_bpf__open();
	uint32_t ifindex = if_nametoindex("lbb0");
	struct frame frames[4];
	double lbs[4];
	int tx = bench_load_xdp_tx(), ret = -1;

	frame4(&frames[0], "203.0.113.10", IPPROTO_TCP, 54);
	frames[0].name = "tcp4_gue";
	frame4(&frames[1], "203.0.113.11", IPPROTO_TCP, 54);
	frames[1].name = "tcp4_ipip";
	frame4(&frames[2], "203.0.113.12", IPPROTO_UDP, 1400);
	frames[2].name = "udp4_1400_ipip";
	frame6(&frames[3], "2001:db8:f::10", 74);
	frames[3].name = "tcp6_gue";
	if (!skel || tx < 0 || harness_unpin_maps(skel->obj) || lb_bench_bpf__load(skel) ||
	    fill_maps(skel->obj)) {
		fprintf(stderr, "bench_lb: couldn't load the wrapper programs\n");
		goto out;
	}
	printf("%-16s %12s %12s %12s %12s\n", "frame", "lb+undo", "undo", "xdp_tx", "lb");
	for (int i = 0; i < 4; i++) {
		int fds[3] = {bpf_program__fd(skel->progs.lb_bench_encap),
		              bpf_program__fd(skel->progs.lb_bench_undo), tx};
		double ns[3], lb;
		char name[64];

		if (!bench_runs_tx(fds[0], frames[i].data, frames[i].len, ifindex)) {
			fprintf(stderr, "bench_lb: %s is not balanced and restored: not measured\n",
			        frames[i].name);
			goto out;
		}
		if (side_by_side(fds, 3, &frames[i], ifindex, ns))
			goto out;
		lb = ns[0] - (ns[1] - ns[2]);
		printf("%-16s %9.1f ns %9.1f ns %9.1f ns %9.1f ns\n", frames[i].name, ns[0], ns[1],
		       ns[2], lb);
		snprintf(name, sizeof(name), "lb_encap_%s", frames[i].name);
		bench_line(name, "ns_per_pkt", lb, "xdp_tx", ns[2]);
		lbs[i] = lb;
	}
	for (int i = 0; i < 4; i += 3) /* tcp4_gue, tcp6_gue */
		if (bench_steps(skel, tx, &frames[i], ifindex, lbs[i]))
			goto out;
	ret = 0;
out:
	lb_bench_bpf__destroy(skel);
	if (tx >= 0)
		close(tx);
	return ret;
}

/* ---- miss path ---------------------------------------------------------------------- */

static struct edge_bpf *load_edge(bool lb)
{
	struct edge_bpf *skel = edge_bpf__open();

	if (!skel)
		return NULL;
	harness_unpin_maps(skel->obj);
	skel->rodata->enable_lb = lb;
	if (edge_bpf__load(skel) || (lb && fill_maps(skel->obj))) {
		edge_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

static int bench_miss(void)
{
	struct edge_bpf *on = load_edge(true), *off = load_edge(false);
	struct frame f;
	double ns[2];
	int ret = -1;

	frame4(&f, "198.51.100.1", IPPROTO_TCP, 54);
	if (on && off) {
		int fds[2] = {bpf_program__fd(on->progs.xdp_edge),
		              bpf_program__fd(off->progs.xdp_edge)};

		if (!bench_xdp_side_by_side(fds, 2, f.data, f.len, ns)) {
			printf("%-16s %9.1f ns (lb on) %9.1f ns (lb off)\n", "tcp4_not_vip", ns[0],
			       ns[1]);
			bench_line("lb_miss_tcp4", "ns_per_pkt", ns[0], "xdp_edge_lb_off", ns[1]);
			ret = 0;
		}
	}
	edge_bpf__destroy(on);
	edge_bpf__destroy(off);
	return ret;
}

/* ---- control plane ------------------------------------------------------------------ */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* 1000 servers 100.64.x.y, one service over all of them. */
static char *config_1k(void)
{
	size_t cap = 80 * 1024, len = 0;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	len += snprintf(s + len, cap - len, "instance: bench\nuplinks: [lbb0]\nlb:\n  servers:\n");
	for (int i = 0; i < 1000; i++)
		len += snprintf(s + len, cap - len,
		                "    - {name: s%d, address: 100.64.%d.%d, weight: %d}\n", i,
		                i / 250, 1 + i % 250, 50 + i % 100);
	snprintf(s + len, cap - len,
	         "  services:\n    - {name: web, vip: 203.0.113.10, proto: tcp, port: 80}\n");
	return s;
}

/* The table written the naive way: Maglev, then one syscall per bucket, then the swap. */
static double naive_rebuild_ms(const struct lb_config *lc, struct datapath *dp)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	uint32_t m = lc->services[0].table_size, *t = calloc(m, 4), zero = 0;
	struct maglev_backend *b = calloc(lc->n_servers, sizeof(*b));
	uint8_t(*keys)[17] = calloc(lc->n_servers, 17);
	double t0 = now_ms(), ms = -1;
	struct lb_bucket hdr = {.first = m};
	int fd;

	if (!t || !b || !keys)
		goto out;
	for (int i = 0; i < lc->n_servers - 1; i++) {
		keys[i][0] = 4;
		memcpy(keys[i] + 1, &lc->servers[i].addr.addr, 4);
		b[i] = (struct maglev_backend){keys[i], 17, lc->servers[i].weight};
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "naive", 4, 8, m + 1, &opts);
	if (fd < 0 || maglev_build(b, lc->n_servers - 1, m, t))
		goto out;
	bpf_map_update_elem(fd, &zero, &hdr, BPF_ANY);
	for (uint32_t s = 0; s < m; s++) {
		struct lb_bucket v = {.first = t[s], .second = LB_NONE};
		uint32_t k = s + 1;

		bpf_map_update_elem(fd, &k, &v, BPF_ANY);
	}
	slot_set(dp->skel->obj, "lb_tables", 7, fd);
	ms = now_ms() - t0;
out:
	free(t);
	free(b);
	free(keys);
	return ms;
}

static int bench_rebuild(void)
{
	struct edge_bpf *skel = load_edge(true);
	struct edged_config *cfg = calloc(1, sizeof(*cfg));
	struct lb_state *st = calloc(1, sizeof(*st));
	struct datapath dp = {.skel = skel};
	struct lb_runtime drained = {.flags = LB_RT_DRAINED};
	struct config_errors ce = {};
	char *text = config_1k(), path[128];
	double best = 1e9, naive = 1e9;
	int ret = -1;

	snprintf(dp.pin_dir, sizeof(dp.pin_dir), "/sys/fs/bpf/edged-bench-lb-%d", getpid());
	if (!skel || !cfg || !st || !text || mkdir(dp.pin_dir, 0700) ||
	    config_load_string("bench.yaml", text, 0, cfg, &ce)) {
		fprintf(stderr, "bench_lb: couldn't set up the 1k-server config\n");
		goto out;
	}
	lb_state_init(st);
	if (lb_prepare(st, &dp, &cfg->lb))
		goto out;
	lb_commit(st, &dp);
	/* Drain and undrain servers in turn: every run moves about 1/1000 of the buckets and
	 * has history to merge, as in production. Best of 5, for the noise of this machine. */
	for (int i = 0; i < 5; i++) {
		double t0 = now_ms(), ms;

		drained.flags = i % 2 ? 0 : LB_RT_DRAINED;
		lb_runtime_set(st, &cfg->lb.servers[i / 2].addr, &drained);
		if (lb_rebuild(st, &dp, &cfg->lb, -1, i / 2))
			goto out;
		ms = now_ms() - t0;
		best = ms < best ? ms : best;
		ms = naive_rebuild_ms(&cfg->lb, &dp);
		naive = ms < naive ? ms : naive;
	}
	printf("1000 servers, M=%u: rebuild + swap %.1f ms (edged), %.1f ms (one update per "
	       "bucket)\n",
	       cfg->lb.services[0].table_size, best, naive);
	bench_line("lb_rebuild_1k_servers", "ms", best, "update_elem", naive);
	bench_line("lb_rebalance_1k_servers", "buckets_per_s",
	           cfg->lb.services[0].table_size / (best / 1e3), "update_elem",
	           cfg->lb.services[0].table_size / (naive / 1e3));
	ret = 0;
out:
	if (st->loaded)
		lb_state_close(st);
	snprintf(path, sizeof(path), "%s/lb_service_names", dp.pin_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lb_runtime", dp.pin_dir);
	unlink(path);
	rmdir(dp.pin_dir);
	if (cfg && !ret)
		config_release(cfg);
	config_errors_free(&ce);
	edge_bpf__destroy(skel);
	free(cfg);
	free(st);
	free(text);
	return ret;
}

int main(void)
{
	int err;

	if (netns_setup())
		return 1;
	bench_pin_cpu(0);
	err = bench_encap();
	err |= bench_miss();
	err |= bench_rebuild();
	return err ? 1 : 0;
}
