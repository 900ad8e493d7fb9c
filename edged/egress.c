// SPDX-License-Identifier: GPL-2.0
/*
 * VPN egress: the tunnel device, its WireGuard configuration, nftables, routes, rules and
 * sysctls (see egress.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conntrack.h"
#include "edged.h"
#include "egress.h"
#include "egress_nft.h"
#include "log.h"
#include "netlink_link.h"
#include "netlink_route.h"
#include "wg_genl.h"
#include "nft.h"
#include "sysctl.h"
#include "wg_uapi.h"

#include <linux/netfilter.h>
#include <linux/rtnetlink.h>

/* ---- config copies ---- */

static int copy_section(struct egress_config *dst, const struct egress_config *src)
{
	*dst = *src;
	dst->peers = NULL;
	if (!src->n_peers)
		return 0;
	dst->peers = malloc(src->n_peers * sizeof(*dst->peers));
	if (!dst->peers)
		return -ENOMEM;
	memcpy(dst->peers, src->peers, src->n_peers * sizeof(*dst->peers));
	return 0;
}

static const char *ifname(const struct egress_state *st)
{
	return st->cur.interface;
}

/* The peers or addresses changed: the next statistics dump conntrack again. FREE: also
 * release the cache (egress off, or edged closing). */
static void ct_stats_stale(struct egress_state *st, bool release)
{
	st->ct.at_ms = 0;
	if (release) {
		free(st->ct.peer_conns);
		st->ct.peer_conns = NULL;
	}
}

/* ---- the WireGuard device, whichever backend ---- */

static void peer_to_wg(const struct egress_peer_config *pe, struct wg_peer *w)
{
	memset(w, 0, sizeof(*w));
	memcpy(w->public_key, pe->public_key, WG_KEY_LEN);
	for (int i = 0; i < pe->n_addresses && i < WG_MAX_ALLOWED; i++)
		w->allowed[w->n_allowed++] = pe->addresses[i];
	w->keepalive_s = (uint16_t)pe->keepalive_s;
}

static int device_of(const struct egress_state *st, struct wg_device *d)
{
	memset(d, 0, sizeof(*d));
	d->has_private_key = true;
	memcpy(d->private_key, st->private_key, WG_KEY_LEN);
	d->listen_port = st->cur.listen_port;
	for (int i = 0; i < st->n_peers; i++) {
		struct wg_peer *w = wg_device_add_peer(d);

		if (!w) {
			wg_device_free(d);
			return -ENOMEM;
		}
		peer_to_wg(&st->peers[i], w);
	}
	return 0;
}

static int backend_get(const struct egress_state *st, struct wg_device *d, char *err,
                       size_t errlen);

/* The keys the running device has that D does not: the peers a sync removes. */
static int gone_peers(const struct wg_device *now, const struct wg_device *d,
                      uint8_t (**gone)[WG_KEY_LEN])
{
	int n = 0;

	*gone = calloc(now->n_peers ? now->n_peers : 1, sizeof(**gone));
	if (!*gone)
		return -ENOMEM;
	for (int i = 0; i < now->n_peers; i++)
		if (!wg_device_find(d, now->peers[i].public_key))
			memcpy((*gone)[n++], now->peers[i].public_key, WG_KEY_LEN);
	return n;
}

/* Genl: the device's peers followed by those to remove, with the mask that says which. */
static int genl_sync(const struct egress_state *st, struct wg_device *d,
                     const uint8_t (*gone)[WG_KEY_LEN], int n_gone, char *err, size_t errlen)
{
	int n_keep = d->n_peers, ret;
	bool *remove = calloc(n_keep + n_gone + 1, sizeof(*remove));

	for (int i = 0; remove && i < n_gone; i++) {
		struct wg_peer *p = wg_device_add_peer(d);

		if (!p)
			break;
		memcpy(p->public_key, gone[i], WG_KEY_LEN);
		remove[n_keep + i] = true;
	}
	if (!remove || d->n_peers != n_keep + n_gone) {
		free(remove);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = wg_genl_set(ifname(st), d, false, remove, err, errlen);
	free(remove);
	return ret;
}

/* Configures the whole device. A device that answers a get (running, maybe adopted) is
 * synced: peers it keeps keep their sessions; a new one gets everything at once. */
static int backend_set_all(const struct egress_state *st, char *err, size_t errlen)
{
	struct wg_device d, now;
	struct strbuf req = {};
	uint8_t(*gone)[WG_KEY_LEN] = NULL;
	int ret = device_of(st, &d), n_gone = -1;

	if (ret) {
		snprintf(err, errlen, "out of memory");
		return ret;
	}
	if (backend_get(st, &now, err, errlen) == 0) {
		n_gone = gone_peers(&now, &d, &gone);
		explicit_bzero(now.private_key, sizeof(now.private_key));
		wg_device_free(&now);
	}
	if (st->backend == EGRESS_BACKEND_KERNEL) {
		ret = n_gone >= 0 ? genl_sync(st, &d, (const uint8_t(*)[WG_KEY_LEN])gone, n_gone,
		                              err, errlen)
		                  : wg_genl_set(ifname(st), &d, true, NULL, err, errlen);
	} else {
		if (n_gone >= 0)
			wg_uapi_build_sync(&d, (const uint8_t(*)[WG_KEY_LEN])gone, n_gone, &req);
		else
			wg_uapi_build_set(&d, &req);
		ret = req.oom ? -ENOMEM : wg_uapi_set(ifname(st), req.buf, err, errlen);
	}
	free(gone);
	/* The key must not linger in freed memory. */
	explicit_bzero(d.private_key, sizeof(d.private_key));
	if (req.buf)
		explicit_bzero(req.buf, req.len);
	sb_free(&req);
	wg_device_free(&d);
	return ret;
}

static int backend_peer(const struct egress_state *st, const struct egress_peer_config *pe,
                        bool remove, char *err, size_t errlen)
{
	struct wg_device d = {.listen_port = st->cur.listen_port};
	struct wg_peer w;
	struct strbuf req = {};
	int ret;

	peer_to_wg(pe, &w);
	if (st->backend == EGRESS_BACKEND_KERNEL) {
		d.peers = &w;
		d.n_peers = 1;
		return wg_genl_set(ifname(st), &d, false, (const bool[]){remove}, err, errlen);
	}
	if (remove)
		wg_uapi_build_remove(pe->public_key, &req);
	else
		wg_uapi_build_peer(&w, &req);
	ret = req.oom ? -ENOMEM : wg_uapi_set(ifname(st), req.buf, err, errlen);
	sb_free(&req);
	return ret;
}

static int backend_get(const struct egress_state *st, struct wg_device *d, char *err, size_t errlen)
{
	if (st->backend == EGRESS_BACKEND_KERNEL)
		return wg_genl_get(ifname(st), d, err, errlen);
	return wg_uapi_get(ifname(st), d, err, errlen);
}

/* Makes sure the device exists; *CREATED: this call made it. */
static int device_create(struct egress_state *st, const char *name, enum egress_backend be,
                         bool *created)
{
	struct nlr nl;
	int err;

	*created = false;
	if (be == EGRESS_BACKEND_WIREGUARD_GO) {
		bool had = st->proc.pid > 0 || st->proc.adopted;

		if (wg_process_start(&st->proc, name))
			return -1;
		*created = !had && !st->proc.adopted;
		return 0;
	}
	err = nlr_open(&nl);
	err = err ?: nll_link_add(&nl, name, "wireguard");
	nlr_close(&nl);
	if (err && err != -EEXIST) {
		pr_err("egress: cannot create the kernel WireGuard device %s: %s", name,
		       strerror(-err));
		return -1;
	}
	*created = err == 0;
	st->kernel_link = true;
	return 0;
}

static void device_destroy(struct egress_state *st, const char *name)
{
	struct nlr nl;
	int idx = if_nametoindex(name);

	wg_process_stop(&st->proc);
	/* A kernel link, or an adopted wireguard-go's TUN (it exits when its device goes). */
	if (idx && nlr_open(&nl) == 0) {
		nll_link_del(&nl, idx);
		nlr_close(&nl);
	}
	st->kernel_link = false;
}

/* ---- sysctls ---- */

/* The values before edged, kept in a file as well: an edged restarted after kill -9 finds the
 * sysctls already set, and only this file knows what to restore on teardown. */
#define EGRESS_STATE_DIR "/run/edged"

static void saved_path(const char *instance, char *buf, size_t size)
{
	snprintf(buf, size, "%s/egress-%s.sysctls", EGRESS_STATE_DIR, instance);
}

/* A state file is written whole to PATH.tmp and renamed over PATH, so a crash mid-write
 * leaves the previous one. Opens TMP (mode MODE); state_commit() closes and renames it. */
static FILE *state_open(const char *path, char *tmp, size_t size, mode_t mode)
{
	FILE *f;

	snprintf(tmp, size, "%s.tmp", path);
	mkdir(EGRESS_STATE_DIR, 0755);
	f = fopen(tmp, "w");
	if (f)
		fchmod(fileno(f), mode);
	return f;
}

static void state_commit(FILE *f, const char *tmp, const char *path)
{
	if (fclose(f) == 0)
		rename(tmp, path);
}

static void saved_write(const struct egress_state *st)
{
	char path[256], tmp[272];
	FILE *f;

	saved_path(st->instance, path, sizeof(path));
	f = state_open(path, tmp, sizeof(tmp), 0644);
	if (!f)
		return;
	for (int i = 0; i < st->n_saved; i++)
		fprintf(f, "%s %s\n", st->saved[i].path, st->saved[i].before);
	state_commit(f, tmp, path);
}

static void saved_read(struct egress_state *st)
{
	char path[256], line[192];
	FILE *f;

	saved_path(st->instance, path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return;
	while (st->n_saved < EGRESS_MAX_SYSCTLS && fgets(line, sizeof(line), f)) {
		struct egress_sysctl *v = &st->saved[st->n_saved];

		if (sscanf(line, "%127s %15s", v->path, v->before) == 2 &&
		    strncmp(v->path, "/proc/sys/net/", 14) == 0)
			st->n_saved++;
	}
	fclose(f);
}

/* Sets PATH to VALUE, remembering the value before the first time. */
static int sysctl_set(struct egress_state *st, const char *path, const char *value)
{
	char before[16];
	int i;

	for (i = 0; i < st->n_saved; i++)
		if (strcmp(st->saved[i].path, path) == 0)
			break;
	if (i == st->n_saved) {
		if (sysctl_read(path, before, sizeof(before)))
			return -ENOENT;
		if (i < EGRESS_MAX_SYSCTLS) {
			snprintf(st->saved[i].path, sizeof(st->saved[i].path), "%s", path);
			snprintf(st->saved[i].before, sizeof(st->saved[i].before), "%s", before);
			st->n_saved++;
			saved_write(st);
		}
	}
	return sysctl_write(path, value);
}

static void sysctls_restore(struct egress_state *st)
{
	char path[256];

	for (int i = st->n_saved - 1; i >= 0; i--)
		sysctl_write(st->saved[i].path, st->saved[i].before);
	st->n_saved = 0;
	saved_path(st->instance, path, sizeof(path));
	unlink(path);
}

/* Forwarding on IFN: IPv4 per interface; IPv6 forwards only with all.forwarding, or per
 * interface with force_forwarding (Linux 6.17+), which leaves the other interfaces alone. */
static void forwarding_on(struct egress_state *st, const char *ifn)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", ifn);
	if (sysctl_set(st, path, "1"))
		pr_warn("egress: cannot enable IPv4 forwarding on %s", ifn);
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/force_forwarding", ifn);
	if (sysctl_set(st, path, "1") == 0)
		return;
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/forwarding", ifn);
	sysctl_set(st, path, "1");
}

/* ---- routes and rules ---- */

static void routes(struct egress_state *st, int ifindex, bool add)
{
	static const int families[] = {AF_INET, AF_INET6};
	struct nlr nl;

	if (nlr_open(&nl))
		return;
	for (size_t i = 0; i < 2; i++) {
		struct nlr_route r = {.dst = {.family = families[i]},
		                      .type = RTN_UNICAST,
		                      .protocol = NLR_PROTO_EGRESS,
		                      .table = st->cur.table,
		                      .oif = ifindex};
		int err = add ? nlr_route_add(&nl, &r, true) : nlr_route_del(&nl, &r);

		if (err && add)
			pr_err("egress: cannot add the default route of table %u to %s: %s",
			       st->cur.table, ifname(st), strerror(-err));
	}
	nlr_close(&nl);
}

static void rules(const struct egress_config *ec, bool add)
{
	static const int families[] = {AF_INET, AF_INET6};
	struct nlr nl;

	if (nlr_open(&nl))
		return;
	for (size_t i = 0; i < 2; i++) {
		struct nlr_rule r = {.family = families[i],
		                     .fwmark = ec->mark,
		                     .fwmask = ec->mark,
		                     .table = ec->table,
		                     .priority = EGRESS_RULE_PRIORITY,
		                     .protocol = NLR_PROTO_EGRESS};
		int err = add ? nlr_rule_add(&nl, &r) : nlr_rule_del(&nl, &r);

		if (err && !(add && err == -EEXIST) && !(!add && err == -ESRCH))
			pr_err("egress: cannot %s the fwmark rule for table %u: %s",
			       add ? "add" : "remove", ec->table, strerror(-err));
	}
	nlr_close(&nl);
}

/* ---- the device's configuration ---- */

static void addresses(struct egress_state *st, int ifindex)
{
	struct nlr nl;
	char text[PREFIX_STRLEN];

	if (nlr_open(&nl))
		return;
	for (int i = 0; i < st->cur.n_address; i++) {
		const struct prefix *a = &st->cur.address[i];
		/* IPv6: no duplicate address detection on a point-to-point tunnel. */
		int err = nll_addr_add(&nl, ifindex, a, a->family == AF_INET6);

		if (err && err != -EEXIST)
			pr_err("egress: cannot add %s to %s: %s",
			       prefix_format(&st->cur.address[i], text, sizeof(text)), ifname(st),
			       strerror(-err));
	}
	nll_link_up(&nl, ifindex);
	nlr_close(&nl);
}

/* Configures the (possibly new) device: WireGuard, addresses, routes, its sysctls. */
static int device_setup(struct egress_state *st)
{
	int idx = if_nametoindex(ifname(st));
	char err[256], path[128];

	if (!idx) {
		pr_err("egress: the device %s does not exist", ifname(st));
		return -1;
	}
	if (backend_set_all(st, err, sizeof(err))) {
		pr_err("egress: %s", err);
		return -1;
	}
	addresses(st, idx);
	routes(st, idx, true);
	forwarding_on(st, ifname(st));
	/* Loose: a client's source is checked against any route, not the one back through
	 * the tunnel (client networks may be routed by mark only). */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", ifname(st));
	sysctl_set(st, path, "2");
	st->device_setups++;
	return 0;
}

static int nft_apply(const struct egress_state *st, const struct egress_config *ec,
                     const struct egress_peer_config *peers, int n_peers, bool check)
{
	struct egress_nft_input in = {.instance = st->instance,
	                              .ec = ec,
	                              .peers = peers,
	                              .n_peers = n_peers,
	                              .ifindex = if_nametoindex(ec->interface)};
	char err[512];
	int ret = egress_nft_apply(&in, check, err, sizeof(err));

	if (ret)
		pr_err("egress: nftables refused table inet %s: %s", EGRESS_TABLE, err);
	return ret;
}

/* ---- runtime peers, kept over reloads and restarts ---- */

static void runtime_path(const char *instance, char *buf, size_t size)
{
	snprintf(buf, size, "%s/egress-%s.peers", EGRESS_STATE_DIR, instance);
}

/* One peer's words per line; no file when there is none. */
static void runtime_write(const struct egress_state *st)
{
	char path[256], tmp[272];
	FILE *f;

	runtime_path(st->instance, path, sizeof(path));
	if (!st->n_rt) {
		unlink(path);
		return;
	}
	f = state_open(path, tmp, sizeof(tmp), 0600);
	if (!f) {
		pr_err("egress: cannot write %s: %s (runtime peers will not survive a restart)",
		       tmp, strerror(errno));
		return;
	}
	for (int i = 0; i < st->n_rt; i++)
		fprintf(f, "%s\n", st->rt[i].words);
	state_commit(f, tmp, path);
}

static int runtime_append(struct egress_state *st, const char *name, const char *words)
{
	struct egress_runtime_peer *g = realloc(st->rt, (st->n_rt + 1) * sizeof(*g));

	if (!g)
		return -ENOMEM;
	st->rt = g;
	snprintf(g[st->n_rt].name, sizeof(g[st->n_rt].name), "%s", name);
	snprintf(g[st->n_rt].words, sizeof(g[st->n_rt].words), "%s", words);
	st->n_rt++;
	return 0;
}

static void runtime_remove(struct egress_state *st, int i)
{
	memmove(&st->rt[i], &st->rt[i + 1], (st->n_rt - i - 1) * sizeof(*st->rt));
	st->n_rt--;
}

static void runtime_read(struct egress_state *st)
{
	char path[256], line[EGRESS_RT_WORDS_MAX + 2], name[EGRESS_NAME_MAX];
	FILE *f;

	runtime_path(st->instance, path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%31s", name) == 1)
			runtime_append(st, name, line);
	}
	fclose(f);
}

static void runtime_forget(struct egress_state *st)
{
	char path[256];

	runtime_path(st->instance, path, sizeof(path));
	unlink(path);
	free(st->rt);
	st->rt = NULL;
	st->n_rt = 0;
	st->rt_loaded = false;
}

/* Splits WORDS (a copy) into ARGV; returns the count. */
static int split_words(char *words, char **argv, int max)
{
	char *save, *w;
	int n = 0;

	for (w = strtok_r(words, " ", &save); w && n < max; w = strtok_r(NULL, " ", &save))
		argv[n++] = w;
	return n;
}

/* Checks runtime peer RP against the live peers and appends it to them. */
static int runtime_restore_one(struct egress_state *st, const struct egress_runtime_peer *rp,
                               char *err, size_t errlen)
{
	char words[EGRESS_RT_WORDS_MAX], *argv[32];
	struct egress_config ec = {};
	struct egress_peer_config pe, *grown;
	struct prefix snat;
	int argc;

	snprintf(words, sizeof(words), "%s", rp->words);
	argc = split_words(words, argv, 32);
	if (egress_peer_from_args(argc, argv, &pe, &snat, err, errlen))
		return -1;
	ec = st->cur;
	ec.peers = st->peers;
	ec.n_peers = st->n_peers;
	if (egress_peer_check_snat(&ec, &pe, -1, &snat, err, errlen))
		return -1;
	grown = realloc(st->peers, (st->n_peers + 1) * sizeof(*grown));
	if (!grown) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	st->peers = grown;
	st->peers[st->n_peers++] = pe;
	return 0;
}

/* After a commit set the file's peers: the runtime ones join them, unless the file now has a
 * peer with the same name, key or addresses (the config wins; the runtime one is dropped). */
static void runtime_restore(struct egress_state *st)
{
	bool dropped = false;
	char err[256];

	if (!st->rt_loaded) {
		runtime_read(st);
		st->rt_loaded = true;
	}
	for (int i = 0; i < st->n_rt;) {
		if (runtime_restore_one(st, &st->rt[i], err, sizeof(err)) == 0) {
			i++;
			continue;
		}
		pr_warn("egress: runtime peer %s dropped: %s", st->rt[i].name, err);
		runtime_remove(st, i);
		dropped = true;
	}
	if (dropped)
		runtime_write(st);
}

/* ---- two phases ---- */

static enum egress_backend resolve_backend(enum egress_backend b)
{
	if (b != EGRESS_BACKEND_AUTO)
		return b;
	return wg_genl_available() ? EGRESS_BACKEND_KERNEL : EGRESS_BACKEND_WIREGUARD_GO;
}

static int check_owner(const struct egress_state *st)
{
	char owner[64];

	if (egress_nft_owner(owner, sizeof(owner)) == 0 && owner[0] &&
	    strcmp(owner, st->instance)) {
		pr_err("egress: table inet %s belongs to edged instance '%s' in this network "
		       "namespace; one instance per namespace can run egress",
		       EGRESS_TABLE, owner);
		return -1;
	}
	return 0;
}

int egress_prepare(struct egress_state *st, const struct edged_config *cfg)
{
	const struct egress_config *ec = &cfg->egress;
	char err[512];

	snprintf(st->instance, sizeof(st->instance), "%s", cfg->instance);
	st->prepared = true;
	st->prepared_off = !cfg->fn[FN_EGRESS].enabled;
	st->started_device = false;
	if (st->prepared_off)
		return 0;
	snprintf(st->next_ifname, sizeof(st->next_ifname), "%s", ec->interface);
	if (check_owner(st))
		return -1;
	if (!st->active && !st->n_saved)
		saved_read(st); /* an earlier edged of this instance set them */
	if (st->active && strcmp(ec->interface, st->cur.interface)) {
		pr_err("egress: changing egress.interface (%s -> %s) needs a restart",
		       st->cur.interface, ec->interface);
		return -1;
	}
	if (wg_key_read_file(ec->private_key_file, st->next_key, err, sizeof(err))) {
		pr_err("egress: %s", err);
		return -1;
	}
	st->next_backend = st->active ? st->backend : resolve_backend(ec->backend);
	if (st->next_backend == EGRESS_BACKEND_KERNEL && !wg_genl_available()) {
		pr_err("egress: backend kernel: this kernel has no WireGuard (use backend: "
		       "wireguard-go or auto)");
		return -1;
	}
	if (nft_apply(st, ec, ec->peers, ec->n_peers, true))
		return -1;
	if (device_create(st, ec->interface, st->next_backend, &st->started_device))
		return -1;
	return 0;
}

static void go_off(struct egress_state *st)
{
	char err[256];
	int idx = if_nametoindex(ifname(st));

	if (!st->active)
		return;
	egress_nft_remove(err, sizeof(err));
	rules(&st->cur, false);
	if (idx)
		routes(st, idx, false);
	device_destroy(st, ifname(st));
	sysctls_restore(st);
	runtime_forget(st);
	ct_stats_stale(st, true);
	free(st->peers);
	st->peers = NULL;
	st->n_peers = 0;
	egress_config_release(&st->cur);
	st->active = false;
	pr_info("egress: off");
}

static void uplinks_forwarding(struct egress_state *st, const struct edged_config *cfg)
{
	for (int i = 0; i < cfg->n_uplinks; i++)
		forwarding_on(st, cfg->uplinks[i].name);
}

void egress_commit(struct egress_state *st, const struct edged_config *cfg)
{
	const struct egress_config *ec = &cfg->egress;
	bool rules_changed;

	if (!st->prepared)
		return;
	st->prepared = false;
	if (st->prepared_off) {
		go_off(st);
		return;
	}
	rules_changed = st->active && (st->cur.mark != ec->mark || st->cur.table != ec->table);
	if (rules_changed) {
		rules(&st->cur, false);
		routes(st, if_nametoindex(ifname(st)), false);
	}
	egress_config_release(&st->cur);
	free(st->peers);
	st->peers = NULL;
	st->n_peers = 0;
	if (copy_section(&st->cur, ec)) {
		pr_err("egress: out of memory");
		return;
	}
	/* The live peers: the file's, then those added with edgectl. */
	if (ec->n_peers) {
		st->peers = malloc(ec->n_peers * sizeof(*st->peers));
		if (st->peers) {
			memcpy(st->peers, ec->peers, ec->n_peers * sizeof(*st->peers));
			st->n_peers = ec->n_peers;
		}
	}
	runtime_restore(st);
	ct_stats_stale(st, false);
	st->backend = st->next_backend;
	memcpy(st->private_key, st->next_key, WG_KEY_LEN);
	explicit_bzero(st->next_key, sizeof(st->next_key));
	st->active = true;
	device_setup(st);
	nft_apply(st, &st->cur, st->peers, st->n_peers, false);
	rules(&st->cur, true);
	uplinks_forwarding(st, cfg);
	pr_info("egress: %s (%s), %d peer(s), %d egress address(es)", ifname(st),
	        egress_backend_name(st->backend), st->n_peers, st->cur.n_snat);
}

void egress_abort(struct egress_state *st)
{
	if (!st->prepared)
		return;
	st->prepared = false;
	explicit_bzero(st->next_key, sizeof(st->next_key));
	if (st->started_device)
		device_destroy(st, st->next_ifname);
	st->started_device = false;
}

void egress_tick(struct egress_state *st)
{
	if (!st->active || st->backend != EGRESS_BACKEND_WIREGUARD_GO)
		return;
	/* A new wireguard-go makes a new device: the table matches its index, so it is rebuilt. */
	if (wg_process_tick(&st->proc) == 1 && device_setup(st) == 0 &&
	    nft_apply(st, &st->cur, st->peers, st->n_peers, false) == 0)
		pr_info("egress: wireguard-go for %s restarted and configured (%d peers)",
		        ifname(st), st->n_peers);
}

void egress_teardown(struct egress_state *st)
{
	char err[256], owner[64];

	if (st->active) {
		go_off(st);
		return;
	}
	/* edged --teardown without a running egress: what a previous run left. */
	if (egress_nft_owner(owner, sizeof(owner)) == 0 && strcmp(owner, st->instance) == 0)
		egress_nft_remove(err, sizeof(err));
}

void egress_teardown_offline(const struct edged_config *cfg)
{
	struct egress_state st = {};
	char owner[64], err[256];

	snprintf(st.instance, sizeof(st.instance), "%s", cfg->instance);
	if (egress_nft_owner(owner, sizeof(owner)) || strcmp(owner, cfg->instance))
		return; /* not ours (or nothing): leave it */
	egress_nft_remove(err, sizeof(err));
	rules(&cfg->egress, false);
	device_destroy(&st, cfg->egress.interface);
	saved_read(&st);
	sysctls_restore(&st);
	runtime_forget(&st);
}

void egress_close(struct egress_state *st)
{
	egress_config_release(&st->cur);
	free(st->peers);
	st->peers = NULL;
	st->n_peers = 0;
	explicit_bzero(st->private_key, sizeof(st->private_key));
	ct_stats_stale(st, true);
	free(st->rt); /* the file stays: the next edged adds them again */
	st->rt = NULL;
	st->n_rt = 0;
	/* Our wireguard-go keeps serving: the next edged adopts it. */
	st->proc.pid = 0;
}

/* ---- runtime peers ---- */

/* The section with the live peers, for checks against them. */
static struct egress_config live_section(const struct egress_state *st)
{
	struct egress_config ec = st->cur;

	ec.peers = st->peers;
	ec.n_peers = st->n_peers;
	return ec;
}

static int peer_add(struct egress_state *st, struct egress_peer_config *peer,
                    const struct prefix *snat, char *err, size_t errlen)
{
	struct egress_config ec = live_section(st);
	struct egress_peer_config *grown;

	if (!st->active) {
		snprintf(err, errlen, "egress is off in this edged's config");
		return -1;
	}
	if (st->n_peers >= EGRESS_MAX_PEERS) {
		snprintf(err, errlen, "at most %d peers", EGRESS_MAX_PEERS);
		return -1;
	}
	if (egress_peer_check_snat(&ec, peer, -1, snat, err, errlen))
		return -1;
	grown = realloc(st->peers, (st->n_peers + 1) * sizeof(*grown));
	if (!grown) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	st->peers = grown;
	grown[st->n_peers] = *peer; /* counted in only once the device took it */
	if (nft_apply(st, &st->cur, grown, st->n_peers + 1, true)) {
		snprintf(err, errlen, "nftables refused the peer's rules (see edged's log)");
		return -1;
	}
	if (backend_peer(st, peer, false, err, errlen))
		return -1;
	st->n_peers++;
	ct_stats_stale(st, false);
	nft_apply(st, &st->cur, st->peers, st->n_peers, false);
	pr_info("egress: peer %s added", peer->name);
	return 0;
}

/* ARGV joined by spaces into WORDS, for the file; words with blanks cannot be kept. */
static int join_words(int argc, char *const argv[], char *words, size_t size, char *err,
                      size_t errlen)
{
	size_t off = 0;

	for (int i = 0; i < argc; i++) {
		int n;

		if (strpbrk(argv[i], " \t\n")) {
			snprintf(err, errlen, "'%.40s': no blanks in a word", argv[i]);
			return -1;
		}
		n = snprintf(words + off, size - off, "%s%s", i ? " " : "", argv[i]);
		if (n < 0 || (size_t)n >= size - off) {
			snprintf(err, errlen, "the peer's words are longer than %zu characters",
			         size);
			return -1;
		}
		off += n;
	}
	return 0;
}

int egress_peer_add_args(struct egress_state *st, int argc, char *const argv[], char *err,
                         size_t errlen)
{
	char words[EGRESS_RT_WORDS_MAX];
	struct egress_peer_config pe;
	struct prefix snat;

	if (egress_peer_from_args(argc, argv, &pe, &snat, err, errlen) ||
	    join_words(argc, argv, words, sizeof(words), err, errlen) ||
	    peer_add(st, &pe, &snat, err, errlen))
		return -1;
	if (runtime_append(st, pe.name, words)) {
		pr_err("egress: out of memory: peer %s will not survive a reload", pe.name);
		return 0;
	}
	runtime_write(st);
	return 0;
}

/* Deletes the conntrack entries of PE's addresses: its NAT mappings and ports go with it. */
static int forget_connections(const struct egress_state *st, const struct egress_peer_config *pe)
{
	int total = 0;

	for (int f = 0; f < 2; f++) {
		int n = ct_delete_sources(f ? AF_INET6 : AF_INET, st->cur.mark, st->cur.mark,
		                          pe->addresses, pe->n_addresses);

		if (n > 0)
			total += n;
	}
	return total;
}

int egress_peer_del(struct egress_state *st, const char *name, int *ct_deleted, char *err,
                    size_t errlen)
{
	struct egress_peer_config gone;
	int i;

	*ct_deleted = 0;
	if (!st->active) {
		snprintf(err, errlen, "egress is off in this edged's config");
		return -1;
	}
	for (i = 0; i < st->n_peers; i++)
		if (strcmp(st->peers[i].name, name) == 0)
			break;
	if (i == st->n_peers) {
		snprintf(err, errlen, "no peer '%s' (edgectl egress peers lists them)", name);
		return -1;
	}
	gone = st->peers[i];
	if (backend_peer(st, &gone, true, err, errlen))
		return -1;
	memmove(&st->peers[i], &st->peers[i + 1], (st->n_peers - i - 1) * sizeof(*st->peers));
	st->n_peers--;
	nft_apply(st, &st->cur, st->peers, st->n_peers, false);
	for (int k = 0; k < st->n_rt; k++)
		if (strcmp(st->rt[k].name, name) == 0) {
			runtime_remove(st, k);
			runtime_write(st);
			break;
		}
	/* After the rules: no new connection of the peer can be made while we delete. */
	*ct_deleted = forget_connections(st, &gone);
	ct_stats_stale(st, false);
	pr_info("egress: peer %s removed with %d connection(s)", name, *ct_deleted);
	return 0;
}

/* ---- statistics ---- */

struct stats_ctx {
	const struct egress_state *st;
	struct egress_stats *out;
	/* ports of each snat entry's slice seen in use (a bitmap over the slice) */
	uint8_t *ports[EGRESS_MAX_SNAT];
};

static bool prefix_has(const struct prefix *net, const struct prefix *host)
{
	const uint8_t *a = (const uint8_t *)&net->addr, *b = (const uint8_t *)&host->addr;
	unsigned int full = net->len / 8, rest = net->len % 8;

	if (net->family != host->family || memcmp(a, b, full))
		return false;
	return !rest || ((a[full] ^ b[full]) & (0xff00 >> rest)) == 0;
}

static void count_entry(const struct ct_entry *e, void *arg)
{
	struct stats_ctx *c = arg;
	const struct egress_state *st = c->st;

	for (int i = 0; i < c->out->n_peers; i++) {
		const struct egress_peer_config *pe = &st->peers[i];

		for (int a = 0; a < pe->n_addresses; a++)
			if (prefix_has(&pe->addresses[a], &e->orig_src)) {
				c->out->peers[i].connections++;
				a = pe->n_addresses;
			}
	}
	for (int k = 0; k < c->out->n_snat; k++) {
		const struct egress_snat_config *s = &st->cur.snat[k];

		if (!prefix_has(&s->address, &e->reply_dst))
			continue;
		c->out->snat[k].connections++;
		if (c->ports[k] && e->reply_dport >= s->own_lo && e->reply_dport <= s->own_hi) {
			unsigned int bit = e->reply_dport - s->own_lo;

			if (!(c->ports[k][bit / 8] & (1u << (bit % 8)))) {
				c->ports[k][bit / 8] |= 1u << (bit % 8);
				c->out->snat[k].ports_in_use++;
			}
		}
	}
}

static void counter_value(const char *name, uint64_t pkts, uint64_t bytes, void *arg)
{
	struct stats_ctx *c = arg;
	char want[96];

	for (int i = 0; i < c->out->n_peers; i++) {
		struct egress_peer_stats *ps = &c->out->peers[i];

		egress_nft_peer_counter(ps->peer->name, false, want, sizeof(want));
		if (strcmp(want, name) == 0) {
			ps->out_pkts = pkts;
			ps->out_bytes = bytes;
		}
		egress_nft_peer_counter(ps->peer->name, true, want, sizeof(want));
		if (strcmp(want, name) == 0) {
			ps->in_pkts = pkts;
			ps->in_bytes = bytes;
		}
	}
	for (int k = 0; k < c->out->n_snat; k++) {
		egress_nft_snat_counter(k, false, want, sizeof(want));
		if (strcmp(want, name) == 0) {
			c->out->snat[k].out_pkts = pkts;
			c->out->snat[k].out_bytes = bytes;
		}
		egress_nft_snat_counter(k, true, want, sizeof(want));
		if (strcmp(want, name) == 0) {
			c->out->snat[k].in_pkts = pkts;
			c->out->snat[k].in_bytes = bytes;
		}
	}
}

static void wg_state(const struct egress_state *st, struct egress_stats *out)
{
	struct wg_device d;

	if (backend_get(st, &d, out->error, sizeof(out->error)))
		return;
	out->device_ok = true;
	for (int i = 0; i < out->n_peers; i++) {
		struct egress_peer_stats *ps = &out->peers[i];
		const struct wg_peer *w = wg_device_find(&d, ps->peer->public_key);

		if (!w)
			continue;
		ps->has_wg = true;
		ps->last_handshake_s = w->last_handshake_s;
		ps->rx_bytes = w->rx_bytes;
		ps->tx_bytes = w->tx_bytes;
		if (w->has_endpoint)
			addr_format(&w->endpoint, ps->endpoint, sizeof(ps->endpoint));
	}
	explicit_bzero(d.private_key, sizeof(d.private_key));
	wg_device_free(&d);
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The conntrack figures into OUT: from the cache while it is fresh, else from a new dump. */
static void ct_stats(struct egress_state *st, struct stats_ctx *c)
{
	struct egress_ct_cache *k = &st->ct;
	struct egress_stats *out = c->out;
	uint64_t now = monotonic_ms();

	if (k->at_ms && k->n_peers == out->n_peers && now - k->at_ms < EGRESS_CT_CACHE_MS) {
		for (int i = 0; i < out->n_peers; i++)
			out->peers[i].connections = k->peer_conns[i];
		for (int j = 0; j < out->n_snat; j++) {
			out->snat[j].connections = k->snat_conns[j];
			out->snat[j].ports_in_use = k->snat_ports[j];
		}
		return;
	}
	ct_dump(AF_INET, st->cur.mark, st->cur.mark, count_entry, c);
	ct_dump(AF_INET6, st->cur.mark, st->cur.mark, count_entry, c);
	k->dumps++;
	free(k->peer_conns);
	k->peer_conns = calloc(out->n_peers ? out->n_peers : 1, sizeof(*k->peer_conns));
	k->at_ms = k->peer_conns ? now : 0;
	k->n_peers = out->n_peers;
	for (int i = 0; k->peer_conns && i < out->n_peers; i++)
		k->peer_conns[i] = out->peers[i].connections;
	for (int j = 0; j < out->n_snat; j++) {
		k->snat_conns[j] = out->snat[j].connections;
		k->snat_ports[j] = out->snat[j].ports_in_use;
	}
}

int egress_stats_get(struct egress_state *st, struct egress_stats *out)
{
	struct stats_ctx c = {.st = st, .out = out};

	memset(out, 0, sizeof(*out));
	if (!st->active)
		return -1;
	out->peers = calloc(st->n_peers ? st->n_peers : 1, sizeof(*out->peers));
	if (!out->peers)
		return -ENOMEM;
	out->n_peers = st->n_peers;
	for (int i = 0; i < st->n_peers; i++)
		out->peers[i].peer = &st->peers[i];
	out->n_snat = st->cur.n_snat;
	for (int k = 0; k < out->n_snat; k++) {
		const struct egress_snat_config *s = &st->cur.snat[k];

		out->snat[k].snat = s;
		c.ports[k] = calloc(((unsigned int)s->own_hi - s->own_lo) / 8 + 1, 1);
	}
	wg_state(st, out);
	nft_counters_get(NFPROTO_INET, EGRESS_TABLE, counter_value, &c);
	ct_stats(st, &c);
	for (int k = 0; k < out->n_snat; k++)
		free(c.ports[k]);
	return 0;
}

void egress_stats_free(struct egress_stats *s)
{
	free(s->peers);
	s->peers = NULL;
	s->n_peers = 0;
}
