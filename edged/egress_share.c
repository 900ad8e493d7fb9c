// SPDX-License-Identifier: GPL-2.0
/*
 * Maps of IP sharing (bpf/eshare.h, bpf/egress_share.bpf.h) as edged fills them:
 *
 *   eshare_addrs[0]  -> hash   shared address -> range, members, this edge's index, slot
 *   eshare_settings[0]         egress.self, tunnel kind and GUE port
 *   eshare_stats[slot]         per-address counters (the data path writes them)
 *
 * Every member of a share list computes the same slices from the same list
 * (edged/port_range.c); the data path finds a port's member by one division, which is only
 * right for port_range's equal split, so each entry is checked against port_range_split()
 * before it goes in.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "egress_share.h"
#include "log.h"
#include "port_range.h"
#include "sysctl.h"

static bool entry_shared(const struct egress_snat_config *s)
{
	return s->n_share > 0 && s->address.family == AF_INET;
}

bool egress_share_wanted(const struct edged_config *cfg)
{
	if (!cfg->fn[FN_EGRESS].enabled)
		return false;
	for (int i = 0; i < cfg->egress.n_snat; i++)
		if (entry_shared(&cfg->egress.snat[i]))
			return true;
	return false;
}

/* The data path's formula (eshare_member_of) gives member j exactly port_range's slice. */
static int check_slices(const struct egress_snat_config *s, const struct eshare_addr *a, char *err,
                        size_t errlen)
{
	for (int j = 0; j < s->n_share; j++) {
		struct port_slice sl;
		uint32_t lo = a->first + (uint32_t)j * a->size;
		uint32_t hi = j == s->n_share - 1 ? a->last : lo + a->size - 1;

		if (port_range_slice(s, j, &sl) || sl.lo != lo || sl.hi != hi) {
			snprintf(err, errlen,
			         "member %d's slice is not the equal split the data path computes "
			         "(an edged/port_range.c change not mirrored in bpf/eshare.h)",
			         j);
			return -1;
		}
	}
	return 0;
}

int egress_share_entry(const struct edged_config *cfg, int i, uint32_t index,
                       struct eshare_addr *out, char *err, size_t errlen)
{
	const struct egress_snat_config *s = &cfg->egress.snat[i];
	char text[INET6_ADDRSTRLEN] = "?";
	struct port_slice first;

	memset(out, 0, sizeof(*out));
	inet_ntop(s->address.family, &s->address.addr, text, sizeof(text));
	if (s->n_share > ESHARE_MAX_MEMBERS || index >= ESHARE_MAX_ADDRS) {
		snprintf(err, errlen,
		         "egress.snat[%d] (%s): at most %d shared addresses of %d edges", i, text,
		         ESHARE_MAX_ADDRS, ESHARE_MAX_MEMBERS);
		return -1;
	}
	if (port_range_slice(s, 0, &first)) {
		snprintf(err, errlen, "egress.snat[%d] (%s): ports %u-%u cannot be split %d ways",
		         i, text, s->port_lo, s->port_hi, s->n_share);
		return -1;
	}
	out->index = index;
	out->first = s->port_lo;
	out->last = s->port_hi;
	out->size = first.hi - first.lo + 1;
	out->n = s->n_share;
	out->self = s->self_index >= 0 ? s->self_index : ESHARE_NO_SELF;
	for (int j = 0; j < s->n_share; j++) {
		if (s->share[j].family != AF_INET) {
			snprintf(
			        err, errlen,
			        "egress.snat[%d] (%s): share member %d is not an IPv4 address: the "
			        "edges reach each other over IPv4 for a shared IPv4 address",
			        i, text, j);
			return -1;
		}
		out->member[j] = s->share[j].addr.v4.s_addr;
	}
	if (check_slices(s, out, err, errlen)) {
		char msg[200];

		snprintf(msg, sizeof(msg), "%s", err);
		snprintf(err, errlen, "egress.snat[%d] (%s): %s", i, text, msg);
		return -1;
	}
	return 0;
}

void egress_share_settings(const struct edged_config *cfg, struct eshare_settings *out)
{
	memset(out, 0, sizeof(*out));
	if (cfg->egress.self.family == AF_INET) {
		memcpy(out->lb.src_v4, &cfg->egress.self.addr.v4, 4);
		out->lb.has_src_v4 = 1;
	}
	/* One tunnel format for the fleet: the load balancer's when it runs, so that the
	 * fleet's network and firewalls see one kind of tunnel traffic. */
	out->encap = cfg->fn[FN_LB].enabled ? cfg->lb.encap : LB_ENCAP_GUE;
	out->lb.gue_port = htons(cfg->fn[FN_LB].enabled && cfg->lb.gue_port ? cfg->lb.gue_port
	                                                                    : LB_DEFAULT_GUE_PORT);
}

/* ---- the table ---- */

int egress_share_slot_insert(struct eshare_slot *slots, uint32_t addr, const struct eshare_addr *a)
{
	uint32_t slot = eshare_slot_of(addr);

	for (int i = 0; i < ESHARE_PROBES; i++) {
		struct eshare_slot *e = &slots[(slot + i) & (ESHARE_SLOTS - 1)];

		if (e->addr && e->addr != addr)
			continue;
		e->addr = addr;
		e->a = *a;
		return 0;
	}
	return -ENOSPC;
}

int egress_share_table_create(const struct eshare_slot *slots)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "eshare_table", sizeof(__u32),
	                        sizeof(struct eshare_slot), ESHARE_SLOTS, NULL);

	if (fd < 0)
		return -1;
	for (__u32 i = 0; i < ESHARE_SLOTS; i++)
		if (slots[i].addr && bpf_map_update_elem(fd, &i, &slots[i], BPF_ANY)) {
			close(fd);
			return -1;
		}
	return fd;
}

/* ---- the live table ---- */

void egress_share_init(struct egress_share_state *st)
{
	memset(st, 0, sizeof(*st));
	st->next_table = -1;
}

void egress_share_abort(struct egress_share_state *st)
{
	if (st->next_table >= 0)
		close(st->next_table);
	st->next_table = -1;
	st->prepared = false;
}

/* Which address each counter slot has in the table that runs (left by a previous edged). */
static void load_live(struct egress_share_state *st, const struct datapath *dp)
{
	int outer = datapath_map_fd(dp, "eshare_addrs"), inner;
	__u32 zero = 0, id;
	struct eshare_slot e;

	if (st->loaded)
		return;
	st->loaded = true;
	if (outer < 0 || bpf_map_lookup_elem(outer, &zero, &id))
		return;
	inner = bpf_map_get_fd_by_id(id);
	if (inner < 0)
		return;
	for (__u32 i = 0; i < ESHARE_SLOTS; i++)
		if (!bpf_map_lookup_elem(inner, &i, &e) && e.addr && e.a.index < ESHARE_MAX_ADDRS)
			st->addrs[e.a.index] = e.addr;
	close(inner);
}

/* The slot of ADDR: the one it has, else a free one (not live, not taken). */
static int slot_of(const struct egress_share_state *st, uint32_t addr)
{
	for (int i = 0; i < ESHARE_MAX_ADDRS; i++)
		if (st->addrs[i] == addr && !st->next_addrs[i])
			return i;
	for (int i = 0; i < ESHARE_MAX_ADDRS; i++)
		if (!st->addrs[i] && !st->next_addrs[i])
			return i;
	for (int i = 0; i < ESHARE_MAX_ADDRS; i++) /* departed addresses' slots last */
		if (!st->next_addrs[i])
			return i;
	return -1;
}

static int table_add(struct egress_share_state *st, const struct edged_config *cfg, int i)
{
	uint32_t addr = cfg->egress.snat[i].address.addr.v4.s_addr;
	int slot = slot_of(st, addr);
	struct eshare_addr a;
	char err[300];

	if (slot < 0) {
		pr_err("egress: more than %d shared addresses", ESHARE_MAX_ADDRS);
		return -1;
	}
	if (egress_share_entry(cfg, i, slot, &a, err, sizeof(err))) {
		pr_err("%s", err);
		return -1;
	}
	if (egress_share_slot_insert(st->next_slots, addr, &a)) {
		pr_err("egress: shared addresses collide in the data path's table (more than %d "
		       "probes); share fewer addresses",
		       ESHARE_PROBES);
		return -1;
	}
	st->next_addrs[slot] = addr;
	return 0;
}

int egress_share_prepare(struct egress_share_state *st, struct datapath *dp,
                         const struct edged_config *cfg)
{
	egress_share_abort(st);
	memset(st->next_addrs, 0, sizeof(st->next_addrs));
	memset(st->next_slots, 0, sizeof(st->next_slots));
	load_live(st, dp);
	egress_share_settings(cfg, &st->next_settings);
	for (int i = 0; egress_share_wanted(cfg) && i < cfg->egress.n_snat; i++)
		if (entry_shared(&cfg->egress.snat[i]) && table_add(st, cfg, i))
			return -1;
	st->next_table = egress_share_table_create(st->next_slots);
	if (st->next_table < 0) {
		pr_err("egress: couldn't create the shared-address table: %s", strerror(errno));
		return -1;
	}
	st->prepared = true;
	return 0;
}

/* bpf_fib_lookup refuses packets that arrived where forwarding is off: no reply could be
 * steered to its member. */
static void warn_forwarding(const struct datapath *dp)
{
	for (int i = 0; i < dp->n_uplinks; i++) {
		if (sysctl_ipv4_forwarding_off(dp->uplinks[i].name))
			pr_warn("egress: IPv4 forwarding is off on uplink %s: replies to a shared "
			        "address cannot be steered to other edges from it (sysctl -w "
			        "net.ipv4.conf.%s.forwarding=1)",
			        dp->uplinks[i].name, dp->uplinks[i].name);
	}
}

void egress_share_commit(struct egress_share_state *st, struct datapath *dp)
{
	int outer = datapath_map_fd(dp, "eshare_addrs");
	int settings = datapath_map_fd(dp, "eshare_settings");
	int stats = datapath_map_fd(dp, "eshare_stats");
	__u32 zero = 0;

	if (!st->prepared)
		return;
	/* Counters first: a slot that changes address starts from zero before packets of
	 * the new address count in it. */
	for (__u32 i = 0; i < ESHARE_MAX_ADDRS; i++)
		if (st->next_addrs[i] && st->next_addrs[i] != st->addrs[i] && stats >= 0)
			datapath_zero_percpu(stats, i, sizeof(struct eshare_counters));
	/* Settings before the table: a new member's tunnels are accepted from the start. */
	if (settings < 0 || bpf_map_update_elem(settings, &zero, &st->next_settings, BPF_ANY))
		pr_err("egress: couldn't write the sharing settings: %s", strerror(errno));
	if (outer < 0 || bpf_map_update_elem(outer, &zero, &st->next_table, BPF_ANY))
		pr_err("egress: couldn't swap in the shared-address table: %s (the old one stays "
		       "live)",
		       strerror(errno));
	else
		memcpy(st->addrs, st->next_addrs, sizeof(st->addrs));
	if (memcmp(st->addrs, (uint32_t[ESHARE_MAX_ADDRS]){0}, sizeof(st->addrs)))
		warn_forwarding(dp);
	egress_share_abort(st); /* the outer map holds the table now */
}

/* ---- counters ---- */

static int read_percpu(int fd, __u32 key, __u64 *out, int n)
{
	int ncpus = libbpf_num_possible_cpus();
	__u64 *v;

	if (fd < 0 || ncpus <= 0)
		return -1;
	v = calloc(ncpus, n * sizeof(__u64));
	if (!v)
		return -1;
	memset(out, 0, n * sizeof(__u64));
	if (bpf_map_lookup_elem(fd, &key, v)) {
		free(v);
		return -1;
	}
	for (int c = 0; c < ncpus; c++)
		for (int k = 0; k < n; k++)
			out[k] += v[c * n + k];
	free(v);
	return 0;
}

int egress_share_counters(const struct datapath *dp, uint32_t index, struct eshare_counters *out)
{
	return read_percpu(datapath_map_fd(dp, "eshare_stats"), index, out->c, ESHARE_NCOUNTERS);
}

int egress_share_global(const struct datapath *dp, struct eshare_global_counters *out)
{
	return read_percpu(datapath_map_fd(dp, "eshare_global"), 0, out->c, ESHARE_G_NCOUNTERS);
}

static const char *const counter_names[ESHARE_NCOUNTERS] = {
        [ESHARE_FORWARDED] = "forwarded", [ESHARE_LOCAL] = "local",
        [ESHARE_RECEIVED] = "received",   [ESHARE_NO_ROUTE] = "no_route",
        [ESHARE_TOO_BIG] = "too_big",     [ESHARE_NO_PORT] = "no_port",
};

static const int bytes_of[ESHARE_NCOUNTERS] = {
        [ESHARE_FORWARDED] = ESHARE_FORWARDED_BYTES,
        [ESHARE_LOCAL] = ESHARE_LOCAL_BYTES,
        [ESHARE_RECEIVED] = ESHARE_RECEIVED_BYTES,
};

void egress_share_metrics_render(const struct egress_share_state *st, const struct datapath *dp,
                                 struct strbuf *sb)
{
	struct eshare_global_counters g;
	bool any = false;

	for (int i = 0; i < ESHARE_MAX_ADDRS; i++)
		any |= st->addrs[i] != 0;
	if (!any)
		return;
	sb_printf(sb, "# HELP edged_egress_share_packets_total Packets to a shared egress address "
	              "by what the XDP stage did: forwarded to the member owning the port, local "
	              "(ours), received (steered to us), or dropped/passed for a reason.\n"
	              "# TYPE edged_egress_share_packets_total counter\n");
	for (int pass = 0; pass < 2; pass++) {
		if (pass)
			sb_printf(sb, "# HELP edged_egress_share_bytes_total Bytes of the packets "
			              "above, as received.\n"
			              "# TYPE edged_egress_share_bytes_total counter\n");
		for (__u32 i = 0; i < ESHARE_MAX_ADDRS; i++) {
			struct eshare_counters c;
			char addr[INET_ADDRSTRLEN];

			if (!st->addrs[i] || egress_share_counters(dp, i, &c))
				continue;
			inet_ntop(AF_INET, &st->addrs[i], addr, sizeof(addr));
			for (int k = 0; k < ESHARE_NCOUNTERS; k++) {
				if (!counter_names[k] || (pass && !bytes_of[k]))
					continue;
				sb_printf(sb,
				          "edged_egress_share_%s_total{address=\"%s\",outcome=\"%"
				          "s\"} %llu\n",
				          pass ? "bytes" : "packets", addr, counter_names[k],
				          (unsigned long long)c.c[pass ? bytes_of[k] : k]);
			}
		}
	}
	if (egress_share_global(dp, &g))
		return;
	sb_printf(sb,
	          "# HELP edged_egress_share_dropped_total Tunnels for a shared address "
	          "dropped: from a non-member, or with a malformed inner packet.\n"
	          "# TYPE edged_egress_share_dropped_total counter\n"
	          "edged_egress_share_dropped_total{reason=\"untrusted\"} %llu\n"
	          "edged_egress_share_dropped_total{reason=\"malformed\"} %llu\n",
	          (unsigned long long)g.c[ESHARE_G_UNTRUSTED],
	          (unsigned long long)g.c[ESHARE_G_MALFORMED]);
}
