// SPDX-License-Identifier: GPL-2.0
/*
 * Pinned layout of the dispatch function, under /sys/fs/bpf/edged/<instance>/:
 *   prog_sk_lookup_dispatch          the program the link runs (replaced on restart)
 *   netns_link_sk_lookup_dispatch    the bpf_link attaching it to edged's netns
 *   dispatch_tables                  slot 0: the live bindings trie (swapped whole)
 *   dispatch_sockets                 SOCKMAP of service sockets, by dest
 *   dispatch_stats                   per-CPU counters by binding slot
 *   dispatch_services, dispatch_binding_keys   edged's records of the slots
 *
 * See dispatch_maps.h for the two-phase apply and the slots.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/limits.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dispatch.skel.h"
#include "dispatch_maps.h"
#include "log.h"
#include "nft_tproxy.h"

void dispatch_state_init(struct dispatch_state *st)
{
	memset(st, 0, sizeof(*st));
	st->link_fd = -1;
	st->next_trie = -1;
}

static void pin_path(const struct datapath *dp, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dp->pin_dir, name);
}

static void gen_free(struct dispatch_gen *g)
{
	dispatch_table_free(&g->table);
	free(g->binding_slot);
	free(g->service_slot);
	g->binding_slot = NULL;
	g->service_slot = NULL;
}

/* ---- the program ---- */

static int load_program(struct dispatch_state *st, const struct datapath *dp)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = dp->pin_dir);
	struct dispatch_bpf *skel = dispatch_bpf__open_opts(&opts);
	int err;

	if (!skel) {
		err = -errno;
		pr_err("Couldn't open the dispatch BPF object: %s", strerror(-err));
		return err;
	}
	err = dispatch_bpf__load(skel);
	if (err) {
		pr_err("Couldn't load the sk_lookup dispatch program: %s(%d). If a dispatch_* map "
		       "pinned under %s is from an incompatible edged version, run `edged "
		       "--teardown -c FILE` and start again",
		       strerror(-err), err, dp->pin_dir);
		dispatch_bpf__destroy(skel);
		return err;
	}
	st->skel = skel;
	return 0;
}

/* Reads the slot records a previous edged left, so slots keep their sockets and counters. */
static void read_slots(struct dispatch_state *st)
{
	int sfd = bpf_map__fd(st->skel->maps.dispatch_services);
	int kfd = bpf_map__fd(st->skel->maps.dispatch_binding_keys);

	for (__u32 s = 0; s < DISPATCH_MAX_SERVICES; s++) {
		struct dispatch_service_slot v;

		if (bpf_map_lookup_elem(sfd, &s, &v) == 0) {
			v.name[sizeof(v.name) - 1] = '\0';
			memcpy(st->live.names[s], v.name, sizeof(v.name));
		}
	}
	for (__u32 b = 1; b < DISPATCH_MAX_BINDINGS; b++)
		bpf_map_lookup_elem(kfd, &b, &st->live.keys[b]);
	st->slots_read = true;
}

/* ---- slots ---- */

static void key_of_binding(const struct dispatch_binding_config *b, struct dispatch_binding_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = b->prefix.family == AF_INET ? DISPATCH_FAM_V4 : DISPATCH_FAM_V6;
	k->protocol = b->protocol;
	k->prefixlen = b->prefix.len;
	k->lo = b->lo;
	k->hi = b->hi;
	memcpy(k->addr, &b->prefix.addr, b->prefix.family == AF_INET ? 4 : 16);
}

/* The slot of a service: where the live generation has its name, else a slot that is free
 * in both generations (a slot freed by this apply keeps its sockets until the commit). */
static int service_slot(const struct dispatch_state *st, struct dispatch_gen *g, const char *name)
{
	for (int s = 0; s < DISPATCH_MAX_SERVICES; s++)
		if (strcmp(st->live.names[s], name) == 0)
			return s;
	for (int s = 0; s < DISPATCH_MAX_SERVICES; s++)
		if (!st->live.names[s][0] && !g->names[s][0])
			return s;
	return -1; /* not reached: the config allows at most DISPATCH_MAX_SERVICES */
}

static int binding_slot(const struct dispatch_state *st, struct dispatch_gen *g,
                        const struct dispatch_binding_key *k)
{
	for (int b = 1; b < DISPATCH_MAX_BINDINGS; b++)
		if (st->live.keys[b].protocol && !memcmp(&st->live.keys[b], k, sizeof(*k)) &&
		    !g->keys[b].protocol)
			return b;
	for (int b = 1; b < DISPATCH_MAX_BINDINGS; b++)
		if (!st->live.keys[b].protocol && !g->keys[b].protocol)
			return b;
	return -1;
}

static int assign_slots(const struct dispatch_state *st, const struct dispatch_config *dc,
                        struct dispatch_gen *g)
{
	g->service_slot = calloc(dc->n_services ? dc->n_services : 1, sizeof(int));
	g->binding_slot = calloc(dc->n_bindings ? dc->n_bindings : 1, sizeof(int));
	if (!g->service_slot || !g->binding_slot)
		return -ENOMEM;
	for (int i = 0; i < dc->n_services; i++) {
		int s = service_slot(st, g, dc->services[i].name);

		g->service_slot[i] = s;
		memcpy(g->names[s], dc->services[i].name, DISPATCH_SERVICE_NAME_MAX);
	}
	for (int i = 0; i < dc->n_bindings; i++) {
		struct dispatch_binding_key k;
		int b;

		key_of_binding(&dc->bindings[i], &k);
		b = binding_slot(st, g, &k);
		if (b < 0) { /* the old config's slots are freed only once the new one runs */
			pr_err("dispatch: no free counter slot: the old and the new config "
			       "together "
			       "have more than %d distinct bindings; reload in two steps",
			       DISPATCH_MAX_BINDINGS - 1);
			return -ENOSPC;
		}
		g->binding_slot[i] = b;
		g->keys[b] = k;
		g->tproxy |= dc->bindings[i].mechanism == DISPATCH_MECH_TPROXY;
	}
	return 0;
}

/* ---- the trie ---- */

/* RULES[i] is config binding i, so the compiled entries name config bindings directly. */
static int compile(const struct dispatch_config *dc, struct dispatch_gen *g)
{
	struct dispatch_rule *rules = calloc(dc->n_bindings ? dc->n_bindings : 1, sizeof(*rules));
	char err[256];
	int ret = 0;

	if (!rules)
		return -ENOMEM;
	for (int i = 0; i < dc->n_bindings; i++) {
		const struct dispatch_binding_config *b = &dc->bindings[i];
		int fam = b->prefix.family == AF_INET ? DISPATCH_FAM_V4 : DISPATCH_FAM_V6;

		rules[i] = (struct dispatch_rule){
		        .prefix = b->prefix,
		        .protocol = b->protocol,
		        .kind = b->kind,
		        .lo = b->lo,
		        .hi = b->hi,
		        .binding = g->binding_slot[i],
		        .dest = dispatch_dest(g->service_slot[b->service], fam,
		                              b->protocol == IPPROTO_UDP),
		        .index = i,
		};
	}
	if (dispatch_compile(rules, dc->n_bindings, &g->table, err, sizeof(err))) {
		pr_err("dispatch bindings: %s", err);
		ret = -E2BIG;
	}
	free(rules);
	return ret;
}

int dispatch_trie_create(const struct dispatch_table *table)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	int fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "dispatch_trie",
	                        sizeof(struct dispatch_lpm_key), sizeof(struct dispatch_ports),
	                        DISPATCH_MAX_PREFIXES, &opts);

	if (fd < 0) {
		pr_err("Couldn't create the dispatch bindings trie: %s", strerror(errno));
		return -errno;
	}
	for (int i = 0; i < table->n; i++) {
		struct dispatch_lpm_key key;

		dispatch_entry_key(&table->entries[i], &key);
		if (bpf_map_update_elem(fd, &key, &table->entries[i].ports, BPF_NOEXIST)) {
			int err = -errno;

			pr_err("Couldn't fill the dispatch bindings trie: %s", strerror(-err));
			close(fd);
			return err;
		}
	}
	return fd;
}

/* ---- registered sockets ---- */

bool dispatch_dest_alive(const struct dispatch_state *st, __u32 dest,
                         struct dispatch_dest_info *info)
{
	__u32 slot = dest / DISPATCH_DESTS_PER_SERVICE;
	struct dispatch_service_slot v;
	__u64 cookie = 0;

	memset(info, 0, sizeof(*info));
	if (!st->skel || slot >= DISPATCH_MAX_SERVICES)
		return false;
	if (bpf_map_lookup_elem(bpf_map__fd(st->skel->maps.dispatch_services), &slot, &v) == 0)
		*info = v.dest[dest % DISPATCH_DESTS_PER_SERVICE];
	/* A SOCKMAP lookup from userspace answers the socket's cookie. */
	if (bpf_map_lookup_elem(bpf_map__fd(st->skel->maps.dispatch_sockets), &dest, &cookie))
		return false;
	return cookie && cookie == info->cookie;
}

int dispatch_read_counters(const struct dispatch_state *st, __u32 slot,
                           struct dispatch_counters *out)
{
	int ncpus = libbpf_num_possible_cpus(), err = 0;
	struct dispatch_counters *percpu;

	memset(out, 0, sizeof(*out));
	if (!st->skel)
		return -ENOENT;
	if (ncpus < 0)
		return ncpus;
	percpu = calloc(ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(st->skel->maps.dispatch_stats), &slot, percpu))
		err = -errno;
	for (int cpu = 0; !err && cpu < ncpus; cpu++)
		for (int o = 0; o < DISPATCH_NOUTCOMES; o++)
			out->c[o] += percpu[cpu].c[o];
	free(percpu);
	return err;
}

/* ---- TPROXY rules ---- */

/* The rule of segment S of entry E: TPROXY to the service's socket, or accept. */
static void tproxy_rule(const struct dispatch_state *st, const struct dispatch_config *dc,
                        const struct dispatch_gen *g, const struct dispatch_entry *e, int s,
                        struct nft_tproxy_rule *t)
{
	const struct dispatch_segment *seg = &e->ports.seg[s];
	const struct dispatch_binding_config *b = &dc->bindings[e->rule[s]];
	struct dispatch_dest_info info;

	*t = (struct nft_tproxy_rule){.dst = e->prefix,
	                              .protocol = e->protocol,
	                              .lo = seg->lo,
	                              .hi = seg->hi,
	                              .binding = seg->binding,
	                              .mark = g->tproxy_mark};
	/* Without a live socket, no TPROXY: the accept leaves the packet to sk_lookup, which
	 * refuses it and counts the miss. */
	if (b->mechanism != DISPATCH_MECH_TPROXY || !dispatch_dest_alive(st, seg->dest, &info))
		return;
	t->tproxy = true;
	t->to_port = info.port;
	memcpy(&t->to_addr, info.addr, e->prefix.family == AF_INET ? 4 : 16);
}

/* The rules of generation G in precedence order; accept rules after the last TPROXY rule
 * are left out (nothing after them could take the packet anyway). */
static int tproxy_rules(const struct dispatch_state *st, const struct dispatch_config *dc,
                        const struct dispatch_gen *g, struct nft_tproxy_rule **out)
{
	int n = 0, last = 0, cap = 0;
	struct nft_tproxy_rule *rules;

	*out = NULL;
	if (!g->enabled || !g->tproxy)
		return 0;
	for (int i = 0; i < g->table.n; i++)
		cap += g->table.entries[i].ports.n;
	rules = calloc(cap ? cap : 1, sizeof(*rules));
	if (!rules)
		return -ENOMEM;
	for (int i = 0; i < g->table.n; i++) {
		for (unsigned int s = 0; s < g->table.entries[i].ports.n; s++) {
			tproxy_rule(st, dc, g, &g->table.entries[i], s, &rules[n++]);
			if (rules[n - 1].tproxy)
				last = n;
		}
	}
	*out = rules;
	return last;
}

static int tproxy_write(struct dispatch_state *st, const struct dispatch_config *dc,
                        const struct dispatch_gen *g, bool check)
{
	struct nft_tproxy_rule *rules;
	int n = tproxy_rules(st, dc, g, &rules), err;
	char msg[512];

	if (n < 0)
		return n;
	err = nft_tproxy_apply(rules, n, check, msg, sizeof(msg));
	if (err)
		pr_err("dispatch: TPROXY table inet %s: %s", NFT_TPROXY_TABLE, msg);
	else if (!check)
		pr_debug("dispatch: TPROXY table inet %s: %d rules", NFT_TPROXY_TABLE, n);
	free(rules);
	return err;
}

int dispatch_tproxy_refresh(struct dispatch_state *st, const struct edged_config *cfg)
{
	if (!st->live.enabled || !st->live.tproxy)
		return 0;
	return tproxy_write(st, &cfg->dispatch, &st->live, false);
}

/* ---- the link ---- */

static __u64 netns_ino(void)
{
	struct stat sb;

	return stat("/proc/self/ns/net", &sb) ? 0 : sb.st_ino;
}

/* The pinned link of a previous edged, when it is an sk_lookup link on this namespace. */
static int adopt_link(const struct datapath *dp)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd;

	pin_path(dp, DISPATCH_PIN_LINK, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == BPF_LINK_TYPE_NETNS &&
	    info.netns.attach_type == BPF_SK_LOOKUP && info.netns.netns_ino == netns_ino())
		return fd;
	pr_info("dispatch: the pinned sk_lookup link is for another network namespace: "
	        "replacing it");
	bpf_link_detach(fd);
	unlink(path);
	close(fd);
	return -1;
}

static int create_link(const struct datapath *dp, int prog_fd)
{
	int nsfd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), fd, err;
	char path[PATH_MAX];

	if (nsfd < 0)
		return -errno;
	fd = bpf_link_create(prog_fd, nsfd, BPF_SK_LOOKUP, NULL);
	err = fd < 0 ? fd : 0;
	close(nsfd);
	if (err) {
		pr_err("Couldn't attach the sk_lookup program to the network namespace: %s",
		       strerror(-err));
		return err;
	}
	pin_path(dp, DISPATCH_PIN_LINK, path, sizeof(path));
	unlink(path);
	if (bpf_obj_pin(fd, path))
		pr_warn("Couldn't pin the sk_lookup link at %s: %s; dispatch then stops while "
		        "edged is not running",
		        path, strerror(errno));
	return fd;
}

static void pin_program(const struct dispatch_state *st, const struct datapath *dp)
{
	char path[PATH_MAX];

	pin_path(dp, DISPATCH_PIN_PROG, path, sizeof(path));
	unlink(path);
	if (bpf_obj_pin(bpf_program__fd(st->skel->progs.dispatch_lookup), path))
		pr_warn("Couldn't pin the dispatch program at %s: %s", path, strerror(errno));
}

/* Adopts or creates the link, and points it at the loaded program (atomic). */
static int attach(struct dispatch_state *st, const struct datapath *dp)
{
	int prog_fd = bpf_program__fd(st->skel->progs.dispatch_lookup);
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	bool adopted = false;

	if (st->link_fd < 0) {
		st->link_fd = adopt_link(dp);
		adopted = st->link_fd >= 0;
	}
	if (st->link_fd < 0)
		st->link_fd = create_link(dp, prog_fd);
	else if (bpf_link_update(st->link_fd, prog_fd, NULL))
		pr_err("Couldn't switch the sk_lookup link to the new program: %s",
		       strerror(errno));
	if (st->link_fd < 0)
		return st->link_fd;
	pin_program(st, dp);
	if (bpf_obj_get_info_by_fd(st->link_fd, &info, &len) == 0 && info.id != st->link_id) {
		st->link_id = info.id;
		pr_info("dispatch: sk_lookup program %s on this network namespace, link id %u",
		        adopted ? "adopted" : "attached", st->link_id);
	}
	return 0;
}

static void detach(struct dispatch_state *st, const struct datapath *dp)
{
	char path[PATH_MAX];
	int fd = st->link_fd >= 0 ? st->link_fd : adopt_link(dp);

	if (fd >= 0) {
		/* Now, not when the pin's release runs from a workqueue. */
		if (bpf_link_detach(fd) && errno != ENOLINK)
			pr_warn("Couldn't detach the sk_lookup link: %s", strerror(errno));
		close(fd);
		pr_info("dispatch: sk_lookup program detached");
	}
	st->link_fd = -1;
	st->link_id = 0;
	pin_path(dp, DISPATCH_PIN_LINK, path, sizeof(path));
	unlink(path);
	pin_path(dp, DISPATCH_PIN_PROG, path, sizeof(path));
	unlink(path);
}

/* ---- prepare / commit ---- */

static int prepare_enabled(struct dispatch_state *st, const struct datapath *dp,
                           const struct dispatch_config *dc)
{
	struct dispatch_gen *g = &st->next;
	int err = 0;

	if (!st->skel)
		err = load_program(st, dp);
	if (!err && !st->slots_read)
		read_slots(st);
	if (!err && !st->nl.nl)
		err = nlr_open(&st->nl);
	err = err ?: assign_slots(st, dc, g);
	err = err ?: compile(dc, g);
	if (err)
		return err;
	st->next_trie = dispatch_trie_create(&g->table);
	if (st->next_trie < 0)
		return st->next_trie;
	err = dispatch_routes_prepare(st, dc, g);
	/* nftables validates the new table now; it is written at the commit. Without TPROXY
	 * bindings nftables is not needed at all (a kernel without it still runs sk_lookup). */
	return err ?: g->tproxy ? tproxy_write(st, dc, g, true) : 0;
}

int dispatch_prepare(struct dispatch_state *st, const struct datapath *dp,
                     const struct edged_config *cfg)
{
	const struct dispatch_config *dc = &cfg->dispatch;
	int err = 0;

	dispatch_abort(st);
	memset(&st->next, 0, sizeof(st->next));
	st->next.enabled = cfg->fn[FN_DISPATCH].enabled;
	st->next.tproxy_mark = dc->tproxy_mark ? dc->tproxy_mark : DISPATCH_DEFAULT_TPROXY_MARK;
	st->next.tproxy_table = dc->tproxy_table ? dc->tproxy_table : DISPATCH_DEFAULT_TPROXY_TABLE;
	if (st->next.enabled)
		err = prepare_enabled(st, dp, dc);
	st->prepared = true;
	if (err)
		dispatch_abort(st);
	return err;
}

void dispatch_abort(struct dispatch_state *st)
{
	if (!st->prepared)
		return;
	if (st->next_trie >= 0)
		close(st->next_trie);
	st->next_trie = -1;
	dispatch_routes_abort(st);
	gen_free(&st->next);
	st->prepared = false;
}

static int zero_counters(const struct dispatch_state *st, __u32 slot)
{
	return datapath_zero_percpu(bpf_map__fd(st->skel->maps.dispatch_stats), slot,
	                            sizeof(struct dispatch_counters));
}

/* New binding slots start from zero, before the trie that counts into them goes live. */
static void write_new_keys(struct dispatch_state *st)
{
	int kfd = bpf_map__fd(st->skel->maps.dispatch_binding_keys);

	for (__u32 b = 1; b < DISPATCH_MAX_BINDINGS; b++) {
		if (!st->next.keys[b].protocol ||
		    !memcmp(&st->next.keys[b], &st->live.keys[b], sizeof(st->live.keys[b])))
			continue;
		zero_counters(st, b);
		bpf_map_update_elem(kfd, &b, &st->next.keys[b], BPF_ANY);
	}
}

/* Slots of bindings gone from the config, after the trie no longer names them. */
static void clear_old_keys(struct dispatch_state *st)
{
	int kfd = bpf_map__fd(st->skel->maps.dispatch_binding_keys);
	struct dispatch_binding_key none = {};

	for (__u32 b = 1; b < DISPATCH_MAX_BINDINGS; b++)
		if (st->live.keys[b].protocol && !st->next.keys[b].protocol)
			bpf_map_update_elem(kfd, &b, &none, BPF_ANY);
}

/* Service slots: a new name gets an empty record; a slot whose service left the config
 * loses its sockets (the service keeps its own copies; they just receive nothing more). */
static void write_service_slots(struct dispatch_state *st)
{
	int sfd = bpf_map__fd(st->skel->maps.dispatch_services);
	int kfd = bpf_map__fd(st->skel->maps.dispatch_sockets);

	for (__u32 s = 0; s < DISPATCH_MAX_SERVICES; s++) {
		struct dispatch_service_slot v = {};

		if (!strcmp(st->live.names[s], st->next.names[s]))
			continue;
		for (__u32 d = 0; st->live.names[s][0] && d < DISPATCH_DESTS_PER_SERVICE; d++) {
			__u32 dest = s * DISPATCH_DESTS_PER_SERVICE + d;

			bpf_map_delete_elem(kfd, &dest);
		}
		memcpy(v.name, st->next.names[s], sizeof(v.name));
		bpf_map_update_elem(sfd, &s, &v, BPF_ANY);
		if (st->live.names[s][0])
			pr_info("dispatch: service '%s' removed; its sockets no longer receive",
			        st->live.names[s]);
	}
}

static void swap_trie(struct dispatch_state *st)
{
	__u32 slot = 0;

	if (bpf_map_update_elem(bpf_map__fd(st->skel->maps.dispatch_tables), &slot, &st->next_trie,
	                        BPF_ANY))
		pr_err("Couldn't swap in the new dispatch bindings: %s", strerror(errno));
	close(st->next_trie); /* the outer map holds the trie now */
	st->next_trie = -1;
}

static void commit_enabled(struct dispatch_state *st, const struct datapath *dp,
                           const struct dispatch_config *dc)
{
	write_new_keys(st);
	write_service_slots(st);
	swap_trie(st);
	if (attach(st, dp))
		pr_err("dispatch: sk_lookup is not attached; bindings answer nothing until a "
		       "reload succeeds");
	if (st->next.tproxy || st->live.tproxy || !st->applied)
		tproxy_write(st, dc, &st->next, false); /* writes, or removes a table gone unused */
	dispatch_routes_commit(st, dc, &st->next);
	clear_old_keys(st);
}

static void commit_disabled(struct dispatch_state *st, const struct datapath *dp,
                            const struct dispatch_config *dc)
{
	char msg[256];

	detach(st, dp);
	if (!st->nl.nl && nlr_open(&st->nl))
		pr_warn("dispatch: cannot open rtnetlink to remove its routes: %s",
		        strerror(errno));
	dispatch_routes_commit(st, dc, &st->next);
	if (nft_tproxy_apply(NULL, 0, false, msg, sizeof(msg)))
		pr_warn("dispatch: cannot remove the nftables table inet %s: %s", NFT_TPROXY_TABLE,
		        msg);
	nlr_close(&st->nl);
	if (st->skel)
		dispatch_bpf__destroy(st->skel); /* the maps stay pinned: sockets and counters */
	st->skel = NULL;
	st->slots_read = false;
}

/* Whether an earlier edged ran dispatch on this instance (its pins are still there): then
 * its link, routes and table may still be in place. */
static bool leftovers(const struct datapath *dp)
{
	char path[PATH_MAX];

	pin_path(dp, DISPATCH_PIN_LINK, path, sizeof(path));
	if (access(path, F_OK) == 0)
		return true;
	pin_path(dp, "dispatch_tables", path, sizeof(path));
	return access(path, F_OK) == 0;
}

void dispatch_commit(struct dispatch_state *st, const struct datapath *dp,
                     const struct edged_config *cfg)
{
	if (!st->prepared)
		return;
	if (st->next.enabled)
		commit_enabled(st, dp, &cfg->dispatch);
	else if (st->live.enabled || (!st->applied && leftovers(dp)))
		commit_disabled(st, dp, &cfg->dispatch); /* turned off, or by an earlier edged */
	gen_free(&st->live);
	st->live = st->next;
	memset(&st->next, 0, sizeof(st->next));
	st->applied = true;
	free(st->added_routes);
	free(st->added_rules);
	st->added_routes = NULL;
	st->added_rules = NULL;
	st->n_added_routes = st->n_added_rules = 0;
	st->prepared = false;
}

void dispatch_state_close(struct dispatch_state *st, bool teardown)
{
	char msg[256];

	dispatch_abort(st);
	if (teardown && st->link_fd >= 0 && bpf_link_detach(st->link_fd) && errno != ENOLINK)
		pr_warn("Couldn't detach the sk_lookup link: %s", strerror(errno));
	if (teardown && st->live.enabled) {
		dispatch_routes_remove_all(&st->nl);
		if (nft_tproxy_apply(NULL, 0, false, msg, sizeof(msg)))
			pr_warn("dispatch: cannot remove the nftables table: %s", msg);
	}
	if (st->link_fd >= 0)
		close(st->link_fd);
	st->link_fd = -1;
	nlr_close(&st->nl);
	if (st->skel)
		dispatch_bpf__destroy(st->skel);
	st->skel = NULL;
	gen_free(&st->live);
}

void dispatch_teardown_offline(void)
{
	struct nlr nl;
	char msg[256];

	if (nlr_open(&nl) == 0) {
		dispatch_routes_remove_all(&nl);
		nlr_close(&nl);
	}
	if (nft_tproxy_apply(NULL, 0, false, msg, sizeof(msg)))
		pr_warn("dispatch: cannot remove the nftables table inet %s: %s", NFT_TPROXY_TABLE,
		        msg);
}
