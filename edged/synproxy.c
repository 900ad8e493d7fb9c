// SPDX-License-Identifier: GPL-2.0
/*
 * `inet edged_synproxy` and its sysctls (see synproxy.h), through edged/nft.h.
 *
 * Destinations are grouped by family, MSS and port list: each group gets a set of
 * destination prefixes, a set of ports (none when every port is protected) and three rules,
 * so a thousand destinations with the same ports are three rules and a set lookup.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_synproxy.h>
#include <netinet/in.h>

#include "log.h"
#include "nft.h"
#include "syncookie.h"
#include "synproxy.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/*
 * What synproxy needs, as measured (shared/platform.md, "SYN cookies in XDP in front of
 * nftables synproxy"): timestamps carry the client's window scale and SACK through the
 * cookie; conntrack must not adopt a cookie ACK as a connection picked up mid-stream (loose
 * 1 would make it "established" and hand it to the listener without a handshake), so that
 * it stays invalid for the synproxy rule; and the listener uses cookies itself.
 */
static const struct {
	const char *path;
	const char *name;
	const char *want;
	const char *absent; /* the kernel's default, when the file is missing before edged */
} sysctls[SYNPROXY_NSYSCTLS] = {
        {"/proc/sys/net/ipv4/tcp_syncookies", "net.ipv4.tcp_syncookies", "2", "1"},
        {"/proc/sys/net/ipv4/tcp_timestamps", "net.ipv4.tcp_timestamps", "1", "1"},
        /* Only there once nf_conntrack is loaded; the table's ct rules load it. */
        {"/proc/sys/net/netfilter/nf_conntrack_tcp_loose", "net.netfilter.nf_conntrack_tcp_loose",
         "0", "1"},
};

#define COMMENT_FMT "edged instance %s; sysctls before: %s %s %s"

/* ---- sysctls ------------------------------------------------------------------------- */

static int sysctl_read(int i, char *buf, size_t len)
{
	int fd = open(sysctls[i].path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		snprintf(buf, len, "%s", sysctls[i].absent);
		return errno == ENOENT ? 0 : -errno;
	}
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	buf[strcspn(buf, " \t\n")] = '\0';
	return 0;
}

/* Writes /proc/sys in edged's own network namespace: these sysctls are per namespace. */
static int sysctl_write(int i, const char *value)
{
	int fd = open(sysctls[i].path, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t)strlen(value))
		err = -errno;
	if (fd >= 0)
		close(fd);
	if (err)
		pr_err("synproxy: cannot set %s=%s (%s): %s; is /proc/sys writable here?",
		       sysctls[i].name, value, sysctls[i].path, strerror(-err));
	return err;
}

static int sysctls_save(struct synproxy_state *st)
{
	for (int i = 0; i < SYNPROXY_NSYSCTLS; i++) {
		int err = sysctl_read(i, st->saved[i], sizeof(st->saved[i]));

		if (err) {
			pr_err("synproxy: cannot read %s: %s", sysctls[i].path, strerror(-err));
			return -1;
		}
	}
	return 0;
}

static int sysctls_set(void)
{
	int failed = 0;

	for (int i = 0; i < SYNPROXY_NSYSCTLS; i++)
		failed += sysctl_write(i, sysctls[i].want) != 0; /* each failure is logged */
	return failed ? -1 : 0;
}

static void sysctls_restore(char saved[SYNPROXY_NSYSCTLS][SYNPROXY_SYSCTL_MAX])
{
	for (int i = 0; i < SYNPROXY_NSYSCTLS; i++)
		if (saved[i][0])
			sysctl_write(i, saved[i]);
}

/* ---- the table's comment: owner and saved sysctls ------------------------------------ */

/* Reads who owns the table and the sysctls it saved. 0 with OWNER set, -ENOENT without a
 * table, -EINVAL for a table edged did not write. */
static int comment_read(char *owner, size_t len, char saved[SYNPROXY_NSYSCTLS][SYNPROXY_SYSCTL_MAX])
{
	char text[NFT_COMMENT_MAX], inst[32], v[SYNPROXY_NSYSCTLS][SYNPROXY_SYSCTL_MAX];
	int err = nft_table_comment(NFPROTO_INET, SYNPROXY_TABLE, text, sizeof(text));

	if (err)
		return err;
	if (sscanf(text, "edged instance %31[^;]; sysctls before: %15s %15s %15s", inst, v[0], v[1],
	           v[2]) != 4)
		return -EINVAL;
	snprintf(owner, len, "%s", inst);
	memcpy(saved, v, sizeof(v));
	return 0;
}

/* Looks for a table a previous edged of this instance left (edged restarted): adopts its
 * saved sysctls. A table of another owner is an error only when we need the name. */
static int adopt(struct synproxy_state *st, bool need)
{
	char owner[32] = "";
	int err = comment_read(owner, sizeof(owner), st->saved);

	st->adopted = true;
	if (err == -ENOENT)
		return 0;
	if (err == 0 && strcmp(owner, st->instance) == 0) {
		st->active = true;
		pr_info("synproxy: adopted table inet %s of a previous edged", SYNPROXY_TABLE);
		return 0;
	}
	memset(st->saved, 0, sizeof(st->saved));
	st->adopted = false;
	if (!need)
		return 0;
	if (err == 0)
		pr_err("synproxy: table inet %s belongs to edged instance '%s' in this network "
		       "namespace; only one instance per namespace can use dos.syn_cookies",
		       SYNPROXY_TABLE, owner);
	else
		pr_err("synproxy: table inet %s exists and edged did not make it (%s): remove it "
		       "with `nft delete table inet %s` if it is a leftover",
		       SYNPROXY_TABLE, err == -EINVAL ? "no edged comment" : strerror(-err),
		       SYNPROXY_TABLE);
	return -1;
}

/* ---- the ruleset --------------------------------------------------------------------- */

/* Destinations that share family, MSS and ports share sets and rules. */
struct group {
	const struct dos_syncookie_config *first;
	int family;
	uint16_t mss;
};

static bool same_group(const struct dos_syncookie_config *a, const struct dos_syncookie_config *b)
{
	return a->dst.family == b->dst.family && syncookie_mss(a) == syncookie_mss(b) &&
	       a->n_ports == b->n_ports &&
	       !memcmp(a->port_lo, b->port_lo, a->n_ports * sizeof(a->port_lo[0])) &&
	       !memcmp(a->port_hi, b->port_hi, a->n_ports * sizeof(a->port_hi[0]));
}

/* The three rules of group G: notrack its SYNs, synproxy, drop what stays invalid. */
static int group_rules(struct nft_batch *b, const struct group *g, const char *dset, uint32_t did,
                       const char *pset, uint32_t pid)
{
	uint8_t nfproto = g->family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
	const char *chains[3] = {"prerouting", "input", "input"};
	char what[128];
	int err = 0;

	for (int k = 0; k < 3 && !err; k++) {
		struct nftnl_rule *r = nft_rule_new(NFPROTO_INET, SYNPROXY_TABLE, chains[k]);

		err = nft_match_nfproto(r, nfproto);
		err = err ?: nft_match_l4proto(r, IPPROTO_TCP);
		err = err ?: nft_match_daddr_set(r, nfproto, dset, did);
		if (pset)
			err = err ?: nft_match_dport_set(r, pset, pid);
		if (k == 0) {
			err = err
			              ?: nft_match_tcp_flags(
			                         r, TCP_FIN | TCP_SYN | TCP_RST | TCP_ACK, TCP_SYN);
			err = err ?: nft_stmt_counter(r);
			err = err ?: nft_stmt_notrack(r);
		} else if (k == 1) {
			err = err
			              ?: nft_match_ct_state(r, NFT_CT_STATE_INVALID |
			                                               NFT_CT_STATE_UNTRACKED);
			err = err ?: nft_stmt_counter(r);
			err = err
			              ?: nft_stmt_synproxy(r, g->mss, SYNCOOKIE_WSCALE,
			                                   NF_SYNPROXY_OPT_TIMESTAMP |
			                                           NF_SYNPROXY_OPT_SACK_PERM);
		} else {
			err = err ?: nft_match_ct_state(r, NFT_CT_STATE_INVALID);
			err = err ?: nft_stmt_counter(r);
			err = err ?: nft_stmt_verdict(r, NF_DROP);
		}
		snprintf(what, sizeof(what), "the %s rule for set %s",
		         k == 0   ? "notrack"
		         : k == 1 ? "synproxy"
		                  : "drop",
		         dset);
		if (err)
			nft_rule_free(r);
		else
			err = nft_rule_add(b, r, what);
	}
	return err;
}

/* Sets and rules of the group of entry E (index GI among groups). */
static int group_add(struct nft_batch *b, const struct dos_syncookie_config *e, int n,
                     const struct group *g, int gi)
{
	bool v4 = g->family == AF_INET;
	struct nft_range *r = calloc(n, sizeof(*r)), pr[DOS_SYN_PORT_RANGES];
	char dset[32], pset[32];
	uint32_t did, pid = 0;
	int m = 0, err;

	if (!r)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		if (same_group(&e[i], g->first))
			nft_range_prefix(&r[m++], &e[i].dst);
	snprintf(dset, sizeof(dset), "dst%d_%d", v4 ? 4 : 6, gi);
	snprintf(pset, sizeof(pset), "ports%d_%d", v4 ? 4 : 6, gi);
	err = nft_set_add(b, NFPROTO_INET, SYNPROXY_TABLE, dset, v4 ? NFT_KEY_IPV4 : NFT_KEY_IPV6,
	                  r, m, &did);
	free(r);
	for (int i = 0; i < g->first->n_ports; i++)
		nft_range_ports(&pr[i], g->first->port_lo[i], g->first->port_hi[i]);
	if (!err && g->first->n_ports)
		err = nft_set_add(b, NFPROTO_INET, SYNPROXY_TABLE, pset, NFT_KEY_INET_SERVICE, pr,
		                  g->first->n_ports, &pid);
	return err ?: group_rules(b, g, dset, did, g->first->n_ports ? pset : NULL, pid);
}

/* The whole table for entries E (N > 0), replacing whatever was there. */
static struct nft_batch *table_batch(const struct synproxy_state *st,
                                     const struct dos_syncookie_config *e, int n)
{
	struct nft_batch *b = nft_batch_new();
	char comment[NFT_COMMENT_MAX];
	int err, gi = 0;

	if (!b)
		return NULL;
	snprintf(comment, sizeof(comment), COMMENT_FMT, st->instance, st->saved[0], st->saved[1],
	         st->saved[2]);
	err = nft_table_replace(b, NFPROTO_INET, SYNPROXY_TABLE, comment);
	err = err
	              ?: nft_chain_add(b, NFPROTO_INET, SYNPROXY_TABLE, "prerouting",
	                               NF_INET_PRE_ROUTING, NFT_PRIO_RAW);
	err = err
	              ?: nft_chain_add(b, NFPROTO_INET, SYNPROXY_TABLE, "input", NF_INET_LOCAL_IN,
	                               NFT_PRIO_FILTER);
	for (int i = 0; i < n && !err; i++) {
		struct group g = {&e[i], e[i].dst.family, syncookie_mss(&e[i])};
		bool seen = false;

		for (int j = 0; j < i && !seen; j++)
			seen = same_group(&e[j], &e[i]);
		if (!seen)
			err = group_add(b, e, n, &g, gi++);
	}
	if (err) {
		nft_batch_free(b);
		return NULL;
	}
	return b;
}

/* Applies entries E (N == 0: removes the table). CHECK_ONLY: the kernel validates only. */
static int table_apply(const struct synproxy_state *st, const struct dos_syncookie_config *e, int n,
                       bool check_only)
{
	struct nft_batch *b = n ? table_batch(st, e, n) : nft_batch_new();
	char err[512];
	int ret;

	if (!b) {
		pr_err("synproxy: out of memory building table inet %s", SYNPROXY_TABLE);
		return -1;
	}
	if (!n)
		nft_table_del_if_exists(b, NFPROTO_INET, SYNPROXY_TABLE);
	ret = nft_batch_commit(b, check_only, err, sizeof(err));
	nft_batch_free(b);
	if (ret)
		pr_err("synproxy: table inet %s: %s", SYNPROXY_TABLE, err);
	return ret ? -1 : 0;
}

/* ---- the phases ---------------------------------------------------------------------- */

static struct dos_syncookie_config *copy_entries(const struct dos_config *dc, int *n)
{
	struct dos_syncookie_config *c;

	*n = dc ? dc->n_syn_cookies : 0;
	if (!*n)
		return NULL;
	c = malloc(*n * sizeof(*c));
	if (c)
		memcpy(c, dc->syn_cookies, *n * sizeof(*c));
	return c;
}

int synproxy_prepare(struct synproxy_state *st, const char *instance, const struct dos_config *dc)
{
	snprintf(st->instance, sizeof(st->instance), "%s", instance);
	free(st->next);
	st->next = copy_entries(dc, &st->n_next);
	st->prepared = false;
	st->committed = false;
	if (st->n_next && !st->next) {
		pr_err("synproxy: out of memory");
		return -1;
	}
	if (!st->adopted && adopt(st, st->n_next > 0))
		return -1;
	/* nft -c: the kernel validates the new table (and loads its modules) now, so that
	 * commit is unlikely to fail after the data path changed. */
	if (st->n_next && table_apply(st, st->next, st->n_next, true))
		return -1;
	st->prepared = true;
	return 0;
}

/* Makes the kernel hold entries E (N of them) from a state with ACTIVE. */
static int apply_entries(struct synproxy_state *st, const struct dos_syncookie_config *e, int n)
{
	if (n == 0) {
		if (!st->active)
			return 0;
		if (table_apply(st, NULL, 0, false))
			return -1;
		st->active = false;
		sysctls_restore(st->saved);
		pr_info("synproxy: table inet %s removed, sysctls restored", SYNPROXY_TABLE);
		return 0;
	}
	if (!st->active && sysctls_save(st))
		return -1;
	if (table_apply(st, e, n, false))
		return -1;
	if (!st->active)
		pr_info("synproxy: table inet %s in place for %d destination(s)", SYNPROXY_TABLE,
		        n);
	st->active = true;
	return sysctls_set();
}

int synproxy_commit(struct synproxy_state *st)
{
	if (!st->prepared)
		return 0;
	st->prepared = false;
	if (apply_entries(st, st->next, st->n_next))
		return -1;
	free(st->prev);
	st->prev = st->cur;
	st->n_prev = st->n_cur;
	st->cur = st->next;
	st->n_cur = st->n_next;
	st->next = NULL;
	st->n_next = 0;
	st->committed = true;
	return 0;
}

void synproxy_abort(struct synproxy_state *st)
{
	free(st->next);
	st->next = NULL;
	st->n_next = 0;
	st->prepared = false;
	if (!st->committed)
		return;
	st->committed = false;
	if (apply_entries(st, st->prev, st->n_prev))
		pr_err("synproxy: could not put the previous table back");
	free(st->cur);
	st->cur = st->prev;
	st->n_cur = st->n_prev;
	st->prev = NULL;
	st->n_prev = 0;
}

int synproxy_teardown(struct synproxy_state *st, const char *instance)
{
	char saved[SYNPROXY_NSYSCTLS][SYNPROXY_SYSCTL_MAX] = {}, owner[32] = "";
	int err = comment_read(owner, sizeof(owner), saved);

	if (err || strcmp(owner, instance))
		return 0; /* no table, or not ours: nothing of ours to remove */
	if (table_apply(st, NULL, 0, false))
		return -1;
	sysctls_restore(saved);
	if (st)
		st->active = false;
	pr_info("synproxy: table inet %s removed, sysctls restored", SYNPROXY_TABLE);
	return 0;
}

void synproxy_close(struct synproxy_state *st)
{
	free(st->cur);
	free(st->next);
	free(st->prev);
	st->cur = st->next = st->prev = NULL;
	st->n_cur = st->n_next = st->n_prev = 0;
}
