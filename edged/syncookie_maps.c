// SPDX-License-Identifier: GPL-2.0
/*
 * SYN cookies in the DoS maps, and their counters (see syncookie.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "syncookie.h"
#include "syncookie_maps.h"

static const char *const stat_names[] = SYNCOOKIE_STAT_NAMES;
_Static_assert(sizeof(stat_names) / sizeof(stat_names[0]) == SC_NSTATS,
               "bpf/syncookie.h: a name in SYNCOOKIE_STAT_NAMES for every enum syncookie_stat");

/* LPM key of either family, as dos_maps.c builds them. */
struct lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};

static void key_of(const struct prefix *p, struct lpm_key *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = p->len;
	memcpy(k->addr, &p->addr, p->family == AF_INET ? 4 : 16);
}

void syncookie_policy(const struct dos_syncookie_config *c, struct dos_dest_policy *pol)
{
	pol->syn_cookies = c->mode;
	pol->syn_auto_pps = c->mode == DOS_SYN_COOKIES_AUTO ? c->auto_pps : 0;
	pol->syn_mss = syncookie_mss(c);
	pol->syn_nports = c->n_ports;
	memcpy(pol->syn_port_lo, c->port_lo, sizeof(pol->syn_port_lo));
	memcpy(pol->syn_port_hi, c->port_hi, sizeof(pol->syn_port_hi));
}

/* The ceiling whose prefix is the longest to contain P, or NULL. */
static const struct dos_ceiling_config *covering_ceiling(const struct dos_config *dc,
                                                         const struct prefix *p)
{
	const struct dos_ceiling_config *best = NULL;

	for (int i = 0; i < dc->n_ceilings; i++)
		if (prefix_contains(&dc->ceilings[i].dst, p) &&
		    (!best || dc->ceilings[i].dst.len > best->dst.len))
			best = &dc->ceilings[i];
	return best;
}

/* The syn_cookies entry containing P (entries do not overlap), or NULL. */
static const struct dos_syncookie_config *covering_syncookie(const struct dos_config *dc,
                                                             const struct prefix *p)
{
	for (int i = 0; i < dc->n_syn_cookies; i++)
		if (prefix_contains(&dc->syn_cookies[i].dst, p))
			return &dc->syn_cookies[i];
	return NULL;
}

static int fd_of(const int fds[2], const struct prefix *p)
{
	return fds[p->family == AF_INET ? 0 : 1];
}

int syncookie_dests_fill(const struct dos_config *dc, const int fds[2])
{
	struct dos_dest_policy pol;
	struct lpm_key k;

	for (int i = 0; dc && i < dc->n_syn_cookies; i++) {
		const struct dos_syncookie_config *s = &dc->syn_cookies[i];
		const struct dos_ceiling_config *c = covering_ceiling(dc, &s->dst);

		memset(&pol, 0, sizeof(pol));
		if (c) {
			pol.ceiling_pps = c->pps;
			pol.ceiling_burst = c->burst;
		}
		syncookie_policy(s, &pol);
		key_of(&s->dst, &k);
		if (bpf_map_update_elem(fd_of(fds, &s->dst), &k, &pol, BPF_ANY))
			goto err;
	}
	for (int i = 0; dc && i < dc->n_ceilings; i++) {
		const struct prefix *p = &dc->ceilings[i].dst;
		const struct dos_syncookie_config *s = covering_syncookie(dc, p);

		if (!s || s->dst.len == p->len)
			continue; /* no cookies here, or the same prefix: merged above */
		key_of(p, &k);
		if (bpf_map_lookup_elem(fd_of(fds, p), &k, &pol))
			goto err;
		syncookie_policy(s, &pol);
		if (bpf_map_update_elem(fd_of(fds, p), &k, &pol, BPF_ANY))
			goto err;
	}
	return 0;
err:
	pr_err("Couldn't add the syn_cookies destinations to the DoS policies: %s",
	       strerror(errno));
	return -1;
}

/* The counters summed over CPUs; all 0 when the map is not there. */
static void stats_read(const struct datapath *dp, __u64 sum[SC_NSTATS])
{
	int fd = datapath_map_fd(dp, SYNCOOKIE_PIN_STATS), ncpus = libbpf_num_possible_cpus();
	__u64 *v = ncpus > 0 ? calloc(ncpus, sizeof(*v)) : NULL;

	memset(sum, 0, SC_NSTATS * sizeof(sum[0]));
	for (__u32 k = 0; v && fd >= 0 && k < SC_NSTATS; k++) {
		if (bpf_map_lookup_elem(fd, &k, v))
			continue;
		for (int c = 0; c < ncpus; c++)
			sum[k] += v[c];
	}
	free(v);
}

void syncookie_stats_render(const struct datapath *dp, bool json, struct strbuf *out)
{
	__u64 sum[SC_NSTATS];

	stats_read(dp, sum);
	if (json)
		sb_printf(out, ",\"syn_cookies\":{");
	else
		sb_printf(out, "\n%-24s %12s\n", "SYN COOKIES", "PACKETS");
	for (int i = 0; i < SC_NSTATS; i++) {
		if (json)
			sb_printf(out, "%s\"%s\":%llu", i ? "," : "", stat_names[i],
			          (unsigned long long)sum[i]);
		else
			sb_printf(out, "%-24s %12llu\n", stat_names[i], (unsigned long long)sum[i]);
	}
	if (json)
		sb_printf(out, "}");
}

void syncookie_metrics_render(const struct datapath *dp, struct strbuf *out)
{
	__u64 sum[SC_NSTATS];

	stats_read(dp, sum);
	sb_printf(out, "# HELP edged_dos_syncookie_packets_total SYN cookie decisions in XDP by "
	               "outcome.\n"
	               "# TYPE edged_dos_syncookie_packets_total counter\n");
	for (int i = 0; i < SC_NSTATS; i++)
		sb_printf(out, "edged_dos_syncookie_packets_total{outcome=\"%s\"} %llu\n",
		          stat_names[i], (unsigned long long)sum[i]);
}
