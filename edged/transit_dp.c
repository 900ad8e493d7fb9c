// SPDX-License-Identifier: GPL-2.0
/*
 * Maps of anycast GRE transit (bpf/transit_gre.h) as edged fills them, and the TC encap program's
 * attachments:
 *
 *   transit_endpoints       {family, address} -> index       the anycast endpoints
 *   transit_tunnels[id]     tunnel id -> addresses, key, customer, MTU
 *   transit_tunnel_ids      {family, key mode, key, local, remote} -> id, and per address
 *                           pair a TRANSIT_KEY_ANY marker (so a wrong key is counted apart)
 *   transit_tunnel_names    id -> name: ids survive restarts (pinned with the rest)
 *   transit_health[id]      1 = up
 *   transit_customers[cid]  veth ifindex, MACs, the tunnels encapsulation chooses among
 *   transit_veths[ifindex]  edged's side of a customer veth -> customer id
 *   transit_prefixes_v4/v6  (customer id, prefix) LPM
 *   transit_settings[0]     sources of ICMP too-big (the first endpoint of each family)
 *
 * Commit writes what lookups land on before what points there (tunnels and customers before
 * transit_tunnel_ids and transit_veths), and removes in the other order, so a packet never
 * finds an id whose entry is not written yet.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "transit_dp.h"
#include "transit_encap.skel.h"

/* tcx (Linux 6.6) is newer than this machine's UAPI headers: the values of enum
 * bpf_attach_type and enum bpf_link_type. */
#define TRANSIT_BPF_TCX_INGRESS   46
#define TRANSIT_BPF_LINK_TYPE_TCX 11

/* The maps the TC program shares with the XDP edge program (it declares them too). */
static const char *const shared_maps[] = {
        "transit_endpoints",    "transit_tunnel_ids",     "transit_tunnels",
        "transit_health",       "transit_customers",      "transit_veths",
        "transit_prefixes_v4",  "transit_prefixes_v6",    "transit_settings",
        "transit_tunnel_stats", "transit_customer_stats", "transit_stats",
        "transit_tunnel_names",
};

static const char *const counter_names[TRANSIT_G_COUNT] = {
        [TRANSIT_G_DECAP] = "decap",
        [TRANSIT_G_DECAP_FRAGMENT] = "decap_fragment",
        [TRANSIT_G_DECAP_TRUNCATED] = "decap_truncated",
        [TRANSIT_G_DECAP_VERSION] = "decap_version",
        [TRANSIT_G_DECAP_FLAGS] = "decap_flags",
        [TRANSIT_G_DECAP_CSUM] = "decap_csum",
        [TRANSIT_G_DECAP_PROTO] = "decap_proto",
        [TRANSIT_G_DECAP_NO_TUNNEL] = "decap_no_tunnel",
        [TRANSIT_G_DECAP_BAD_KEY] = "decap_bad_key",
        [TRANSIT_G_DECAP_INNER] = "decap_inner",
        [TRANSIT_G_DECAP_SPOOFED] = "decap_spoofed",
        [TRANSIT_G_DECAP_NO_CUSTOMER] = "decap_no_customer",
        [TRANSIT_G_ENCAP] = "encap",
        [TRANSIT_G_ENCAP_PASS] = "encap_pass",
        [TRANSIT_G_ENCAP_NO_TUNNEL] = "encap_no_tunnel",
        [TRANSIT_G_ENCAP_ALL_DOWN] = "encap_all_down",
        [TRANSIT_G_ENCAP_TOO_BIG] = "encap_too_big",
        [TRANSIT_G_ENCAP_TOO_BIG_FAIL] = "encap_too_big_fail",
        [TRANSIT_G_ENCAP_NO_ROUTE] = "encap_no_route",
        [TRANSIT_G_ENCAP_ERROR] = "encap_error",
        [TRANSIT_G_MSS_CLAMPED] = "mss_clamped",
};

const char *transit_dp_counter_name(int counter)
{
	return counter >= 0 && counter < TRANSIT_G_COUNT ? counter_names[counter] : NULL;
}

/* A prepared config: the spec deep-copied (the caller's memory may go), tunnel ids, and the
 * links attached for it. */
struct transit_dp_spec_copy {
	bool decap_only;
	struct transit_dp_prefix *endpoints;
	int n_endpoints;
	struct transit_dp_customer *customers;
	int n_customers;
	/* Tunnels flattened in customer order, with their ids and customers. */
	struct transit_dp_tunnel *tunnels;
	uint32_t *tunnel_ids;
	uint32_t *tunnel_cust;
	int n_tunnels;
	struct transit_dp_link *links; /* one per customer veth, kept or new */
	int n_links;
	bool *link_new; /* attached by this prepare: undone by abort */
};

void transit_dp_init(struct transit_dp_state *st)
{
	memset(st, 0, sizeof(*st));
}

static int map_fd(const struct datapath *dp, const char *name)
{
	int fd = datapath_map_fd(dp, name);

	if (fd < 0)
		pr_err("transit: the edge program has no map '%s': rebuild edged", name);
	return fd;
}

static void spec_free(struct transit_dp_spec_copy *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n_customers; i++) {
		free((void *)c->customers[i].prefixes);
		free((void *)c->customers[i].tunnels);
	}
	free(c->customers);
	free(c->endpoints);
	free(c->tunnels);
	free(c->tunnel_ids);
	free(c->tunnel_cust);
	free(c->links);
	free(c->link_new);
	free(c);
}

static void *dup_array(const void *src, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p && n)
		memcpy(p, src, n * size);
	return p;
}

/* ---- validation ---------------------------------------------------------------------- */

static bool is_endpoint(const struct transit_dp_spec *spec, const struct transit_dp_tunnel *t)
{
	for (int i = 0; i < spec->n_endpoints; i++)
		if (spec->endpoints[i].family == t->family &&
		    !memcmp(spec->endpoints[i].addr, t->local, t->family == AF_INET ? 4 : 16))
			return true;
	return false;
}

static int check_customer(const struct transit_dp_spec *spec, const struct transit_dp_customer *c)
{
	if (!c->id || c->id >= TRANSIT_DP_MAX_CUSTOMERS) {
		pr_err("transit: customer '%s' has id %u; the data path holds ids 1-%d", c->name,
		       c->id, TRANSIT_DP_MAX_CUSTOMERS - 1);
		return -ERANGE;
	}
	if (c->host_ifindex <= 0 || c->host_ifindex >= EDGE_MAX_IFINDEX) {
		pr_err("transit: customer '%s': veth ifindex %d is outside 1-%d; recreate the veth",
		       c->name, c->host_ifindex, EDGE_MAX_IFINDEX - 1);
		return -ERANGE;
	}
	if (c->n_tunnels > TRANSIT_DP_CUSTOMER_TUNNELS) {
		pr_err("transit: customer '%s' has %d tunnels; the data path takes %d per customer",
		       c->name, c->n_tunnels, TRANSIT_DP_CUSTOMER_TUNNELS);
		return -E2BIG;
	}
	for (int i = 0; i < c->n_tunnels; i++) {
		const struct transit_dp_tunnel *t = &c->tunnels[i];

		if (t->family != AF_INET && t->family != AF_INET6) {
			pr_err("transit: tunnel '%s': unknown address family %d", t->name,
			       t->family);
			return -EAFNOSUPPORT;
		}
		if (!is_endpoint(spec, t)) {
			pr_err("transit: tunnel '%s': its endpoint is not one of "
			       "transit.endpoints; "
			       "add it there",
			       t->name);
			return -EINVAL;
		}
	}
	return 0;
}

static int check_spec(const struct transit_dp_spec *spec, int *n_tunnels)
{
	int err = 0;

	*n_tunnels = 0;
	if (spec->n_endpoints > TRANSIT_DP_MAX_ENDPOINTS) {
		pr_err("transit: %d endpoints; the data path takes %d", spec->n_endpoints,
		       TRANSIT_DP_MAX_ENDPOINTS);
		return -E2BIG;
	}
	for (int i = 0; i < spec->n_customers && !err; i++) {
		err = check_customer(spec, &spec->customers[i]);
		*n_tunnels += spec->customers[i].n_tunnels;
		for (int j = 0; j < i && !err; j++)
			if (spec->customers[j].id == spec->customers[i].id ||
			    spec->customers[j].host_ifindex == spec->customers[i].host_ifindex) {
				pr_err("transit: customers '%s' and '%s' share an id or a veth",
				       spec->customers[j].name, spec->customers[i].name);
				err = -EINVAL;
			}
	}
	if (!err && *n_tunnels > TRANSIT_DP_MAX_TUNNELS) {
		pr_err("transit: %d tunnels; the data path takes %d", *n_tunnels,
		       TRANSIT_DP_MAX_TUNNELS);
		err = -E2BIG;
	}
	return err;
}

/* ---- copies and tunnel ids ------------------------------------------------------------ */

static struct transit_dp_spec_copy *spec_copy(const struct transit_dp_spec *spec, int n_tunnels)
{
	struct transit_dp_spec_copy *c = calloc(1, sizeof(*c));
	int k = 0;

	if (!c)
		return NULL;
	c->endpoints = dup_array(spec->endpoints, spec->n_endpoints, sizeof(*c->endpoints));
	c->customers = calloc(spec->n_customers + 1, sizeof(*c->customers));
	c->tunnels = calloc(n_tunnels + 1, sizeof(*c->tunnels));
	c->tunnel_ids = calloc(n_tunnels + 1, sizeof(*c->tunnel_ids));
	c->tunnel_cust = calloc(n_tunnels + 1, sizeof(*c->tunnel_cust));
	c->links = calloc(spec->n_customers + 1, sizeof(*c->links));
	c->link_new = calloc(spec->n_customers + 1, sizeof(*c->link_new));
	if (!c->endpoints || !c->customers || !c->tunnels || !c->tunnel_ids || !c->tunnel_cust ||
	    !c->links || !c->link_new)
		goto fail;
	c->n_endpoints = spec->n_endpoints;
	c->decap_only = spec->decap_only;
	for (int i = 0; i < spec->n_customers; i++) {
		const struct transit_dp_customer *s = &spec->customers[i];
		struct transit_dp_customer *d = &c->customers[i];

		*d = *s;
		d->prefixes = dup_array(s->prefixes, s->n_prefixes, sizeof(*s->prefixes));
		d->tunnels = dup_array(s->tunnels, s->n_tunnels, sizeof(*s->tunnels));
		c->n_customers = i + 1;
		if (!d->prefixes || !d->tunnels)
			goto fail;
		for (int j = 0; j < s->n_tunnels; j++, k++) {
			c->tunnels[k] = s->tunnels[j];
			c->tunnel_cust[k] = s->id;
		}
	}
	c->n_tunnels = k;
	return c;
fail:
	pr_err("transit: out of memory preparing the data path");
	spec_free(c);
	return NULL;
}

static const struct transit_dp_tunnel_state *applied_tunnel(const struct transit_dp_state *st,
                                                            const char *name)
{
	for (int i = 0; i < st->n_tunnels; i++)
		if (!strcmp(st->tunnels[i].name, name))
			return &st->tunnels[i];
	return NULL;
}

/* Ids: a tunnel keeps the id it has (applied, or recorded in the pinned names after a
 * restart); new ones take the lowest id nobody holds. */
static int assign_ids(const struct transit_dp_state *st, struct transit_dp_spec_copy *c,
                      int names_fd)
{
	uint8_t *used = calloc(TRANSIT_DP_MAX_TUNNELS, 1);
	struct transit_name *names = NULL;
	uint32_t next = 0;

	if (!used)
		return -ENOMEM;
	/* The pinned names, read once: looking each new tunnel up in the map was 16384
	 * lookups per tunnel (500 customers took 30 s). */
	if (!st->n_tunnels && (names = calloc(TRANSIT_DP_MAX_TUNNELS, sizeof(*names))))
		for (uint32_t id = 0; id < TRANSIT_DP_MAX_TUNNELS; id++)
			bpf_map_lookup_elem(names_fd, &id, &names[id]);
	for (int i = 0; i < c->n_tunnels; i++) {
		const struct transit_dp_tunnel_state *a = applied_tunnel(st, c->tunnels[i].name);

		c->tunnel_ids[i] = TRANSIT_DP_MAX_TUNNELS;
		if (a) {
			c->tunnel_ids[i] = a->id;
		} else {
			for (uint32_t id = 0; id < TRANSIT_DP_MAX_TUNNELS && names; id++) {
				if (!strncmp(names[id].name, c->tunnels[i].name,
				             sizeof(names[id].name))) {
					c->tunnel_ids[i] = id;
					break;
				}
			}
		}
		if (c->tunnel_ids[i] < TRANSIT_DP_MAX_TUNNELS) {
			if (used[c->tunnel_ids[i]])
				c->tunnel_ids[i] =
				        TRANSIT_DP_MAX_TUNNELS; /* two claims: renumber */
			else
				used[c->tunnel_ids[i]] = 1;
		}
	}
	/* Ids still held by applied tunnels that are going away stay unused in this round, so
	 * a new tunnel never inherits a removed one's counters mid-commit. */
	for (int i = 0; i < st->n_tunnels; i++)
		used[st->tunnels[i].id] = 1;
	for (int i = 0; i < c->n_tunnels; i++) {
		if (c->tunnel_ids[i] < TRANSIT_DP_MAX_TUNNELS)
			continue;
		while (next < TRANSIT_DP_MAX_TUNNELS && used[next])
			next++;
		if (next == TRANSIT_DP_MAX_TUNNELS) {
			free(names);
			free(used);
			pr_err("transit: no free tunnel id for '%s' (%d in use)",
			       c->tunnels[i].name, TRANSIT_DP_MAX_TUNNELS);
			return -ENOSPC;
		}
		used[next] = 1;
		c->tunnel_ids[i] = next;
	}
	free(names);
	free(used);
	return 0;
}

/* ---- the TC program and its links --------------------------------------------------- */

/* Loads the TC program on the edge program's maps (handed over by fd: nothing of it is
 * pinned by name, so a test's unpinned maps work the same). */
static int load_encap(const struct datapath *dp, struct transit_encap_bpf **out)
{
	struct transit_encap_bpf *skel = transit_encap_bpf__open();
	struct bpf_map *m;
	int err;

	if (!skel) {
		err = -errno;
		pr_err("transit: couldn't open the encap BPF object: %s", strerror(-err));
		return err;
	}
	for (m = bpf_object__next_map(skel->obj, NULL); m; m = bpf_object__next_map(skel->obj, m))
		bpf_map__set_pin_path(m, NULL);
	for (size_t i = 0; i < sizeof(shared_maps) / sizeof(shared_maps[0]); i++) {
		int fd = map_fd(dp, shared_maps[i]);

		m = bpf_object__find_map_by_name(skel->obj, shared_maps[i]);
		err = fd < 0 || !m ? -ENOENT : bpf_map__reuse_fd(m, fd);
		if (err) {
			transit_encap_bpf__destroy(skel);
			return err;
		}
	}
	err = transit_encap_bpf__load(skel);
	if (err) {
		pr_err("transit: the kernel refused the encap BPF program: %s(%d)", strerror(-err),
		       err);
		transit_encap_bpf__destroy(skel);
		return err;
	}
	*out = skel;
	return 0;
}

static void link_pin_path(const struct datapath *dp, const char *ifname, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s%s", dp->pin_dir, TRANSIT_PIN_LINK_PREFIX, ifname);
}

/* A link a previous edged pinned for this veth, if it still runs on it. */
static int adopt_link(const struct datapath *dp, const char *ifname, int ifindex)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd;

	if (!dp->pin_dir[0])
		return -1;
	link_pin_path(dp, ifname, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == TRANSIT_BPF_LINK_TYPE_TCX &&
	    (int)info.xdp.ifindex == ifindex) /* tcx's ifindex sits where xdp's does */
		return fd;
	unlink(path);
	close(fd);
	return -1;
}

/*
 * Before Linux 6.6 (no tcx: the QEMU tier's 6.1 guests): a clsact qdisc and a cls_bpf filter
 * in direct-action mode, through libbpf's netlink calls. The filter is the kernel's, not a
 * link: it keeps running without edged, and a restart replaces it in place.
 */
static int clsact_attach(struct transit_dp_link *l, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = l->ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1, .prog_fd = prog_fd,
	            .flags = BPF_TC_F_REPLACE);
	int err = bpf_tc_hook_create(&hook);

	if (err && err != -EEXIST)
		return err;
	err = bpf_tc_attach(&hook, &opts);
	if (!err)
		l->clsact = true;
	return err;
}

static void clsact_detach(const struct transit_dp_link *l)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = l->ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1);

	bpf_tc_detach(&hook, &opts);
}

static int attach_link(const struct datapath *dp, struct transit_dp_link *l, int prog_fd)
{
	char path[PATH_MAX];
	int fd = bpf_link_create(prog_fd, l->ifindex, TRANSIT_BPF_TCX_INGRESS, NULL);

	if (fd == -EINVAL) {
		int err = clsact_attach(l, prog_fd);

		if (err)
			pr_err("transit: couldn't attach the encap program to %s (ifindex %d): "
			       "tcx is refused (Linux before 6.6?) and so is clsact: %s(%d)",
			       l->ifname, l->ifindex, strerror(-err), err);
		return err ? err : -1;
	}
	if (fd < 0) {
		pr_err("transit: couldn't attach the encap program to %s (ifindex %d) with tcx: "
		       "%s(%d)",
		       l->ifname, l->ifindex, strerror(-fd), fd);
		return fd;
	}
	if (dp->pin_dir[0]) {
		link_pin_path(dp, l->ifname, path, sizeof(path));
		unlink(path);
		if (bpf_obj_pin(fd, path))
			pr_warn("transit: couldn't pin the encap link of %s at %s: %s; it runs "
			        "until edged stops",
			        l->ifname, path, strerror(errno));
	}
	return fd;
}

static void drop_link(const struct datapath *dp, struct transit_dp_link *l)
{
	char path[PATH_MAX];

	if (l->clsact) {
		clsact_detach(l);
		l->clsact = false;
		return;
	}
	if (l->fd >= 0 && bpf_link_detach(l->fd) && errno != ENOLINK && errno != ENODEV)
		pr_warn("transit: couldn't detach the encap program from %s: %s", l->ifname,
		        strerror(errno));
	if (dp->pin_dir[0]) {
		link_pin_path(dp, l->ifname, path, sizeof(path));
		unlink(path);
	}
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

static const struct transit_dp_link *applied_link(const struct transit_dp_state *st, int ifindex)
{
	for (int i = 0; i < st->n_links; i++)
		if (st->links[i].ifindex == ifindex)
			return &st->links[i];
	return NULL;
}

/*
 * XDP_REDIRECT into a veth delivers only when the PEER runs NAPI (an XDP program or GRO on
 * it): GRO is turned on for the namespace's side, from inside the namespace (an ifindex means
 * nothing elsewhere). The thread returns to edged's namespace before anything else happens.
 */
static int peer_gro_on(const struct transit_dp_customer *c)
{
	struct ethtool_value ev = {.cmd = ETHTOOL_SGRO, .data = 1};
	char path[128];
	struct ifreq ifr = {};
	int self, ns, sock = -1, err = 0;

	if (!c->netns[0])
		return 0;
	snprintf(path, sizeof(path), "/run/netns/%s", c->netns);
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || ns < 0 || setns(ns, CLONE_NEWNET)) {
		err = -errno;
		pr_err("transit: customer '%s': couldn't enter %s: %s", c->name, path,
		       strerror(-err));
		goto out;
	}
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || !if_indextoname(c->ns_ifindex, ifr.ifr_name)) {
		err = -errno;
	} else {
		ifr.ifr_data = (void *)&ev;
		if (ioctl(sock, SIOCETHTOOL, &ifr))
			err = -errno;
	}
	if (err)
		pr_err("transit: customer '%s': couldn't turn GRO on for ifindex %d in %s: %s "
		       "(without it, decapsulated packets are dropped by the veth)",
		       c->name, c->ns_ifindex, path, strerror(-err));
	if (setns(self, CLONE_NEWNET)) {
		pr_err("transit: couldn't return to edged's network namespace: %s",
		       strerror(errno));
		abort(); /* every later netlink call would act on the customer's namespace */
	}
out:
	if (sock >= 0)
		close(sock);
	if (self >= 0)
		close(self);
	if (ns >= 0)
		close(ns);
	return err;
}

static void undo_links(const struct datapath *dp, struct transit_dp_spec_copy *c)
{
	for (int i = 0; i < c->n_links; i++)
		if (c->link_new[i])
			drop_link(dp, &c->links[i]);
	c->n_links = 0;
}

/* The link of every customer veth: kept, adopted from pins, or attached now. */
static int plan_links(struct transit_dp_state *st, const struct datapath *dp,
                      struct transit_dp_spec_copy *c, int prog_fd)
{
	for (int i = 0; i < c->n_customers; i++) {
		const struct transit_dp_customer *cu = &c->customers[i];
		const struct transit_dp_link *cur = applied_link(st, cu->host_ifindex);
		struct transit_dp_link *l = &c->links[i];
		int err;

		c->n_links = i + 1;
		if (cur) {
			*l = *cur;
			continue;
		}
		l->ifindex = cu->host_ifindex;
		if (!if_indextoname(l->ifindex, l->ifname)) {
			pr_err("transit: customer '%s': no veth with ifindex %d in edged's "
			       "namespace",
			       cu->name, l->ifindex);
			c->n_links = i;
			return -ENODEV;
		}
		c->link_new[i] = true;
		l->fd = adopt_link(dp, l->ifname, l->ifindex);
		if (l->fd >= 0 && bpf_link_update(l->fd, prog_fd, NULL))
			drop_link(dp, l);
		if (l->fd < 0)
			l->fd = attach_link(dp, l, prog_fd);
		if (l->fd < 0 && !l->clsact) {
			c->n_links = i;
			return l->fd;
		}
		err = peer_gro_on(cu);
		if (err)
			return err;
	}
	return 0;
}

/* ---- prepare / commit / abort ---------------------------------------------------------- */

void transit_dp_abort(struct transit_dp_state *st)
{
	if (st->next) {
		/* Links of this prepare only; the datapath's pin dir outlives st. */
		struct datapath nodp = {};

		snprintf(nodp.pin_dir, sizeof(nodp.pin_dir), "%s", st->pin_dir);
		undo_links(&nodp, st->next);
	}
	spec_free(st->next);
	st->next = NULL;
	if (st->next_skel)
		transit_encap_bpf__destroy(st->next_skel);
	st->next_skel = NULL;
	st->prepared = false;
}

int transit_dp_prepare_spec(struct transit_dp_state *st, struct datapath *dp,
                            const struct transit_dp_spec *spec)
{
	struct transit_dp_spec_copy *c;
	struct transit_encap_bpf *skel;
	int n_tunnels, names_fd, err;

	transit_dp_abort(st);
	snprintf(st->pin_dir, sizeof(st->pin_dir), "%s", dp->pin_dir);
	if (!spec) {
		st->prepared = true;
		return 0;
	}
	err = check_spec(spec, &n_tunnels);
	if (err)
		return err;
	names_fd = map_fd(dp, "transit_tunnel_names");
	if (names_fd < 0)
		return -ENOENT;
	c = spec_copy(spec, n_tunnels);
	if (!c)
		return -ENOMEM;
	st->next = c;
	err = assign_ids(st, c, names_fd);
	/* A new program on every start, so an upgraded binary's replaces the old one. */
	if (!err && !st->skel)
		err = load_encap(dp, &st->next_skel);
	skel = st->next_skel ? st->next_skel : st->skel;
	if (!err && !c->decap_only)
		err = plan_links(st, dp, c, bpf_program__fd(skel->progs.transit_encap));
	if (err) {
		transit_dp_abort(st);
		return err;
	}
	st->prepared = true;
	return 0;
}

/* ---- commit: the maps ------------------------------------------------------------------ */

static void put(int fd, const void *k, const void *v, const char *what)
{
	if (bpf_map_update_elem(fd, k, v, BPF_ANY))
		pr_err("transit: couldn't write %s: %s", what, strerror(errno));
}

static struct transit_addr_key addr_key(int family, const uint8_t *addr)
{
	struct transit_addr_key k = {.family = family == AF_INET ? 4 : 6};

	memcpy(k.addr, addr, family == AF_INET ? 4 : 16);
	return k;
}

static void write_settings(const struct datapath *dp, const struct transit_dp_spec_copy *c)
{
	struct transit_settings s = {};
	__u32 zero = 0;

	for (int i = c->n_endpoints - 1; i >= 0; i--) {
		if (c->endpoints[i].family == AF_INET) {
			memcpy(s.icmp_src_v4, c->endpoints[i].addr, 4);
			s.has_v4 = 1;
		} else {
			memcpy(s.icmp_src_v6, c->endpoints[i].addr, 16);
			s.has_v6 = 1;
		}
	}
	put(datapath_map_fd(dp, "transit_settings"), &zero, &s, "the ICMP source addresses");
}

static struct transit_tunnel_key tunnel_key(const struct transit_dp_tunnel *t, int mode)
{
	struct transit_tunnel_key k = {.family = t->family == AF_INET ? 4 : 6, .key_mode = mode};

	if (mode == TRANSIT_KEY_SET)
		k.key = htonl(t->key);
	memcpy(k.local, t->local, t->family == AF_INET ? 4 : 16);
	memcpy(k.remote, t->remote, t->family == AF_INET ? 4 : 16);
	return k;
}

static uint16_t tunnel_mtu(const struct transit_dp_tunnel *t)
{
	if (t->mtu)
		return t->mtu;
	/* The default is IPv4's; IPv6's outer header is 20 bytes longer. */
	return TRANSIT_DP_DEFAULT_MTU - (t->has_key ? 4 : 0) - (t->family == AF_INET6 ? 20 : 0);
}

/* Whether tunnel I of C is the same as the applied one of that name (addresses, key). */
static bool tunnel_kept(const struct transit_dp_state *st, const struct transit_dp_spec_copy *c,
                        int i)
{
	return applied_tunnel(st, c->tunnels[i].name) != NULL;
}

static void write_tunnels(struct transit_dp_state *st, const struct datapath *dp,
                          const struct transit_dp_spec_copy *c)
{
	int tun_fd = datapath_map_fd(dp, "transit_tunnels");
	int names_fd = datapath_map_fd(dp, "transit_tunnel_names");
	int health_fd = datapath_map_fd(dp, "transit_health");
	int stats_fd = datapath_map_fd(dp, "transit_tunnel_stats");

	for (int i = 0; i < c->n_tunnels; i++) {
		const struct transit_dp_tunnel *t = &c->tunnels[i];
		struct transit_tunnel v = {.customer = c->tunnel_cust[i], .mtu = tunnel_mtu(t)};
		struct transit_name n = {};
		__u32 id = c->tunnel_ids[i], up = 1;

		v.family = t->family == AF_INET ? 4 : 6;
		v.flags = t->has_key ? TRANSIT_TUNNEL_F_KEY : 0;
		v.key = t->has_key ? htonl(t->key) : 0;
		memcpy(v.local, t->local, 16);
		memcpy(v.remote, t->remote, 16);
		snprintf(n.name, sizeof(n.name), "%s", t->name);
		if (!tunnel_kept(st, c, i)) {
			datapath_zero_percpu(stats_fd, id, sizeof(struct transit_counters));
			put(health_fd, &id, &up, "a tunnel's health");
		}
		put(tun_fd, &id, &v, "a tunnel");
		put(names_fd, &id, &n, "a tunnel's name");
	}
}

static void write_tunnel_ids(const struct datapath *dp, const struct transit_dp_spec_copy *c)
{
	int fd = datapath_map_fd(dp, "transit_tunnel_ids");

	for (int i = 0; i < c->n_tunnels; i++) {
		const struct transit_dp_tunnel *t = &c->tunnels[i];
		struct transit_tunnel_key k =
		        tunnel_key(t, t->has_key ? TRANSIT_KEY_SET : TRANSIT_KEY_NONE);
		struct transit_tunnel_key any = tunnel_key(t, TRANSIT_KEY_ANY);

		put(fd, &k, &c->tunnel_ids[i], "a tunnel's key");
		put(fd, &any, &c->tunnel_ids[i], "a tunnel's address marker");
	}
}

static bool customer_applied(const struct transit_dp_state *st, uint32_t id)
{
	for (int i = 0; i < st->n_customers; i++)
		if (st->customers[i] == id)
			return true;
	return false;
}

static void write_customers(const struct transit_dp_state *st, const struct datapath *dp,
                            const struct transit_dp_spec_copy *c)
{
	int cust_fd = datapath_map_fd(dp, "transit_customers");
	int stats_fd = datapath_map_fd(dp, "transit_customer_stats");
	int k = 0;

	for (int i = 0; i < c->n_customers; i++) {
		const struct transit_dp_customer *cu = &c->customers[i];
		struct transit_customer v = {.host_ifindex = cu->host_ifindex};

		memcpy(v.host_mac, cu->host_mac, 6);
		memcpy(v.ns_mac, cu->ns_mac, 6);
		for (int j = 0; j < cu->n_tunnels; j++, k++)
			v.tunnels[v.n_tunnels++] = c->tunnel_ids[k];
		if (!customer_applied(st, cu->id))
			datapath_zero_percpu(stats_fd, cu->id, sizeof(struct transit_counters));
		put(cust_fd, &cu->id, &v, "a customer");
	}
}

static void write_veths(const struct datapath *dp, const struct transit_dp_spec_copy *c)
{
	int fd = datapath_map_fd(dp, "transit_veths");

	for (int i = 0; i < c->n_customers; i++) {
		__u32 key = c->customers[i].host_ifindex;

		put(fd, &key, &c->customers[i].id, "a customer veth");
	}
}

static void prefix_key(const struct transit_dp_prefix *p, uint32_t cust, void *key)
{
	if (p->family == AF_INET) {
		struct transit_prefix_v4 *k = key;

		k->prefixlen = TRANSIT_PREFIX_HDR_BITS + p->len;
		k->customer = htonl(cust);
		memcpy(k->addr, p->addr, 4);
	} else {
		struct transit_prefix_v6 *k = key;

		k->prefixlen = TRANSIT_PREFIX_HDR_BITS + p->len;
		k->customer = htonl(cust);
		memcpy(k->addr, p->addr, 16);
	}
}

static void write_prefixes(const struct datapath *dp, const struct transit_dp_spec_copy *c)
{
	int fd4 = datapath_map_fd(dp, "transit_prefixes_v4");
	int fd6 = datapath_map_fd(dp, "transit_prefixes_v6");
	__u8 zero = 0;

	for (int i = 0; i < c->n_customers; i++)
		for (int j = 0; j < c->customers[i].n_prefixes; j++) {
			const struct transit_dp_prefix *p = &c->customers[i].prefixes[j];
			struct transit_prefix_v6 k = {};

			prefix_key(p, c->customers[i].id, &k);
			put(p->family == AF_INET ? fd4 : fd6, &k, &zero, "a customer prefix");
		}
}

/* ---- commit: removing what the config no longer has --------------------------------- */

typedef bool (*keep_fn)(const struct transit_dp_spec_copy *c, const void *key);

/* Deletes every key of map FD that KEEP refuses. Keys are collected first: deleting while
 * walking a hash map can restart the walk. */
static void sweep(int fd, size_t key_size, const struct transit_dp_spec_copy *c, keep_fn keep)
{
	size_t cap = 64, n = 0;
	uint8_t *keys = malloc(cap * key_size), cur[64], next[64];
	void *prev = NULL;

	if (!keys || fd < 0 || key_size > sizeof(cur)) {
		free(keys);
		return;
	}
	while (!bpf_map_get_next_key(fd, prev, next)) {
		if (!keep(c, next)) {
			if (n == cap) {
				uint8_t *k = realloc(keys, 2 * cap * key_size);

				if (!k)
					break;
				keys = k;
				cap *= 2;
			}
			memcpy(keys + n++ * key_size, next, key_size);
		}
		memcpy(cur, next, key_size);
		prev = cur;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, keys + i * key_size);
	free(keys);
}

static bool keep_endpoint(const struct transit_dp_spec_copy *c, const void *key)
{
	for (int i = 0; c && i < c->n_endpoints; i++) {
		struct transit_addr_key k = addr_key(c->endpoints[i].family, c->endpoints[i].addr);

		if (!memcmp(&k, key, sizeof(k)))
			return true;
	}
	return false;
}

static bool keep_tunnel_key(const struct transit_dp_spec_copy *c, const void *key)
{
	for (int i = 0; c && i < c->n_tunnels; i++) {
		const struct transit_dp_tunnel *t = &c->tunnels[i];
		struct transit_tunnel_key k =
		        tunnel_key(t, t->has_key ? TRANSIT_KEY_SET : TRANSIT_KEY_NONE);
		struct transit_tunnel_key any = tunnel_key(t, TRANSIT_KEY_ANY);

		if (!memcmp(&k, key, sizeof(k)) || !memcmp(&any, key, sizeof(any)))
			return true;
	}
	return false;
}

static bool keep_prefix(const struct transit_dp_spec_copy *c, const void *key, int family)
{
	for (int i = 0; c && i < c->n_customers; i++)
		for (int j = 0; j < c->customers[i].n_prefixes; j++) {
			const struct transit_dp_prefix *p = &c->customers[i].prefixes[j];
			struct transit_prefix_v6 k = {};

			if (p->family != family)
				continue;
			prefix_key(p, c->customers[i].id, &k);
			if (!memcmp(&k, key,
			            family == AF_INET ? sizeof(struct transit_prefix_v4)
			                              : sizeof(k)))
				return true;
		}
	return false;
}

static bool keep_prefix4(const struct transit_dp_spec_copy *c, const void *key)
{
	return keep_prefix(c, key, AF_INET);
}

static bool keep_prefix6(const struct transit_dp_spec_copy *c, const void *key)
{
	return keep_prefix(c, key, AF_INET6);
}

static bool id_in(const uint32_t *ids, int n, uint32_t id)
{
	for (int i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* Clears the entries of tunnels, customers and veths the new config does not have. */
static void remove_stale(const struct transit_dp_state *st, const struct datapath *dp,
                         const struct transit_dp_spec_copy *c)
{
	int veth_fd = datapath_map_fd(dp, "transit_veths");
	int cust_fd = datapath_map_fd(dp, "transit_customers");
	int tun_fd = datapath_map_fd(dp, "transit_tunnels");
	int names_fd = datapath_map_fd(dp, "transit_tunnel_names");
	struct transit_customer no_cust = {};
	struct transit_tunnel no_tun = {};
	struct transit_name no_name = {};
	__u32 zero = 0;

	for (int i = 0; i < st->n_links; i++) {
		bool kept = false;
		__u32 key = st->links[i].ifindex;

		for (int j = 0; c && j < c->n_customers; j++)
			kept |= c->customers[j].host_ifindex == st->links[i].ifindex;
		if (!kept)
			put(veth_fd, &key, &zero, "a removed customer veth");
	}
	for (int i = 0; i < st->n_customers; i++) {
		bool kept = false;

		for (int j = 0; c && j < c->n_customers; j++)
			kept |= c->customers[j].id == st->customers[i];
		if (!kept)
			put(cust_fd, &st->customers[i], &no_cust, "a removed customer");
	}
	for (int i = 0; i < st->n_tunnels; i++) {
		if (c && id_in(c->tunnel_ids, c->n_tunnels, st->tunnels[i].id))
			continue;
		put(tun_fd, &st->tunnels[i].id, &no_tun, "a removed tunnel");
		put(names_fd, &st->tunnels[i].id, &no_name, "a removed tunnel's name");
	}
}

/* Makes the applied state the prepared one (ownership moves). */
static int adopt_applied(struct transit_dp_state *st, struct transit_dp_spec_copy *c)
{
	struct transit_dp_tunnel_state *tun = calloc(c->n_tunnels + 1, sizeof(*tun));
	uint32_t *cust = calloc(c->n_customers + 1, sizeof(*cust));

	if (!tun || !cust) {
		free(tun);
		free(cust);
		return -ENOMEM;
	}
	for (int i = 0; i < c->n_tunnels; i++) {
		const struct transit_dp_tunnel_state *old = applied_tunnel(st, c->tunnels[i].name);

		snprintf(tun[i].name, sizeof(tun[i].name), "%s", c->tunnels[i].name);
		tun[i].id = c->tunnel_ids[i];
		tun[i].customer = c->tunnel_cust[i];
		tun[i].up = old ? old->up : true;
	}
	for (int i = 0; i < c->n_customers; i++)
		cust[i] = c->customers[i].id;
	free(st->tunnels);
	free(st->customers);
	free(st->links);
	st->tunnels = tun;
	st->n_tunnels = c->n_tunnels;
	st->customers = cust;
	st->n_customers = c->n_customers;
	st->links = c->links;
	st->n_links = c->n_links;
	c->links = NULL;
	c->n_links = 0;
	return 0;
}

static void detach_removed(struct transit_dp_state *st, const struct datapath *dp,
                           const struct transit_dp_spec_copy *c)
{
	for (int i = 0; i < st->n_links; i++) {
		bool kept = false;

		for (int j = 0; c && j < c->n_links; j++)
			kept |= c->links[j].ifindex == st->links[i].ifindex;
		if (!kept)
			drop_link(dp, &st->links[i]);
	}
}

static void swap_program(struct transit_dp_state *st, const struct transit_dp_spec_copy *c)
{
	int prog_fd;

	if (!st->next_skel)
		return;
	prog_fd = bpf_program__fd(st->next_skel->progs.transit_encap);
	for (int i = 0; c && i < c->n_links; i++) {
		struct transit_dp_link *l = &c->links[i];

		if (c->link_new[i])
			continue;
		if (l->clsact ? clsact_attach(l, prog_fd) != 0
		              : bpf_link_update(l->fd, prog_fd, NULL) != 0)
			pr_err("transit: couldn't switch %s to the new encap program: %s",
			       l->ifname, strerror(errno));
	}
	if (st->skel)
		transit_encap_bpf__destroy(st->skel);
	st->skel = st->next_skel;
	st->next_skel = NULL;
}

void transit_dp_commit(struct transit_dp_state *st, struct datapath *dp)
{
	struct transit_dp_spec_copy *c = st->next;
	struct transit_dp_spec_copy empty = {};

	if (!st->prepared)
		return;
	if (c) {
		int fd = datapath_map_fd(dp, "transit_endpoints");

		write_settings(dp, c);
		write_tunnels(st, dp, c);
		write_customers(st, dp, c);
		write_prefixes(dp, c);
		write_tunnel_ids(dp, c);
		write_veths(dp, c);
		for (int i = 0; i < c->n_endpoints; i++) {
			struct transit_addr_key k =
			        addr_key(c->endpoints[i].family, c->endpoints[i].addr);
			__u32 v = i;

			put(fd, &k, &v, "an endpoint");
		}
	}
	sweep(datapath_map_fd(dp, "transit_endpoints"), sizeof(struct transit_addr_key),
	      c ? c : &empty, keep_endpoint);
	sweep(datapath_map_fd(dp, "transit_tunnel_ids"), sizeof(struct transit_tunnel_key),
	      c ? c : &empty, keep_tunnel_key);
	sweep(datapath_map_fd(dp, "transit_prefixes_v4"), sizeof(struct transit_prefix_v4),
	      c ? c : &empty, keep_prefix4);
	sweep(datapath_map_fd(dp, "transit_prefixes_v6"), sizeof(struct transit_prefix_v6),
	      c ? c : &empty, keep_prefix6);
	remove_stale(st, dp, c);
	detach_removed(st, dp, c);
	swap_program(st, c);
	if (!c && st->skel) { /* transit is off: the program goes with its last link */
		transit_encap_bpf__destroy(st->skel);
		st->skel = NULL;
	}
	if (!c || adopt_applied(st, c)) {
		free(st->tunnels);
		free(st->customers);
		free(st->links);
		st->tunnels = NULL;
		st->customers = NULL;
		st->links = NULL;
		st->n_tunnels = st->n_customers = st->n_links = 0;
	}
	spec_free(c);
	st->next = NULL;
	st->enabled = c != NULL;
	st->prepared = false;
}

void transit_dp_close(struct transit_dp_state *st)
{
	transit_dp_abort(st);
	for (int i = 0; i < st->n_links; i++)
		if (st->links[i].fd >= 0)
			close(st->links[i].fd);
	if (st->skel)
		transit_encap_bpf__destroy(st->skel);
	free(st->tunnels);
	free(st->customers);
	free(st->links);
	transit_dp_init(st);
}

/* ---- health and counters ------------------------------------------------------------- */

static struct transit_dp_tunnel_state *find_tunnel(const struct transit_dp_state *st,
                                                   const char *name)
{
	for (int i = 0; i < st->n_tunnels; i++)
		if (!strcmp(st->tunnels[i].name, name))
			return &st->tunnels[i];
	return NULL;
}

int transit_dp_set_tunnel_health(struct transit_dp_state *st, struct datapath *dp,
                                 const char *tunnel, bool up)
{
	struct transit_dp_tunnel_state *t = find_tunnel(st, tunnel);
	__u32 v = up;

	if (!t)
		return -ENOENT;
	if (bpf_map_update_elem(datapath_map_fd(dp, "transit_health"), &t->id, &v, BPF_ANY))
		return -errno;
	t->up = up;
	return 0;
}

int transit_dp_tunnel_health(const struct transit_dp_state *st, const char *tunnel, bool *up)
{
	const struct transit_dp_tunnel_state *t = find_tunnel(st, tunnel);

	if (!t)
		return -ENOENT;
	*up = t->up;
	return 0;
}

/* Sums entry KEY of a per-CPU map of __u64 counters into OUT (N of them). */
static int sum_percpu(int fd, __u32 key, __u64 *out, size_t n)
{
	int ncpus = libbpf_num_possible_cpus();
	__u64 *v;

	memset(out, 0, n * sizeof(*out));
	if (fd < 0)
		return -ENOENT;
	if (ncpus < 0)
		return ncpus;
	v = calloc(ncpus, n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &key, v)) {
		free(v);
		return -errno;
	}
	for (int cpu = 0; cpu < ncpus; cpu++)
		for (size_t i = 0; i < n; i++)
			out[i] += v[cpu * n + i];
	free(v);
	return 0;
}

_Static_assert(sizeof(struct transit_counters) % 8 == 0, "counters are __u64 words");

int transit_dp_tunnel_counters(const struct transit_dp_state *st, const struct datapath *dp,
                               const char *tunnel, struct transit_counters *out)
{
	const struct transit_dp_tunnel_state *t = find_tunnel(st, tunnel);

	if (!t)
		return -ENOENT;
	return sum_percpu(datapath_map_fd(dp, "transit_tunnel_stats"), t->id, (__u64 *)out,
	                  sizeof(*out) / 8);
}

int transit_dp_customer_counters(const struct datapath *dp, uint32_t customer,
                                 struct transit_counters *out)
{
	return sum_percpu(datapath_map_fd(dp, "transit_customer_stats"), customer, (__u64 *)out,
	                  sizeof(*out) / 8);
}

int transit_dp_global_counters(const struct datapath *dp, struct transit_global_counters *out)
{
	return sum_percpu(datapath_map_fd(dp, "transit_stats"), 0, out->c, TRANSIT_G_COUNT);
}
