// SPDX-License-Identifier: GPL-2.0
/*
 * Maps of the load balancer (bpf/lb.h, bpf/lb.bpf.h) as edged fills them:
 *
 *   lb_servers[id]              server id -> address, SELF flag     ids stable by address
 *   lb_tables[sid]     -> array one Maglev table per service        sid stable by name
 *   lb_vips[0]         -> array exact VIPs, any-port, fragments (open addressing)
 *   lb_vip_prefixes_v4/v6[0] -> LPM   VIP prefixes
 *   lb_fleet[0]        -> hash  who may send us tunnels
 *   lb_settings[0]              our fleet addresses, GUE port
 *   lb_service_names (edged's, pinned)   sid -> name
 *   lb_runtime (edged's, pinned)         address -> drained, weight
 *
 * Tables. Bucket b of a service with M buckets (entry 0 is the header {M, 0}):
 *   first[b]  = Maglev over the active servers (configured, not drained, not down)
 *   second[b] = the old first[b] if the bucket moved and that server is alive (not down;
 *               a draining server is alive), else the old second[b] if alive and not the new
 *               first, else none.
 * Without a live table (edged starting fresh: a new machine, or after a teardown) there is no
 * history; then this machine treats itself as joining: for its own buckets, second is where
 * the table without it would send the flow, which is what the rest of the fleet did before.
 * The same rule fills any bucket of ours whose history names no live server: after this
 * machine was cut off and judged every other server dead, its table held only itself, while
 * the rest of the fleet went on without it.
 * When M changes, old buckets are found by the middle hash of each new bucket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lb_maps.h"
#include "log.h"
#include "maglev.h"
#include "sysctl.h"

/* bpf/lb.h's slot hash reads a key as six words and picks slots by their top bits. */
_Static_assert(sizeof(struct lb_vip_key) == 24, "lb_vip_slot_of() folds six words");
_Static_assert(LB_VIP_SLOTS == 1u << LB_VIP_SLOT_BITS, "slots are a power of two");

#define LB_PIN_NAMES   "lb_service_names"
#define LB_PIN_RUNTIME "lb_runtime"

/* ---- addresses ---- */

static struct lb_addr_key addr_key(const struct prefix *p)
{
	struct lb_addr_key k = {.family = p->family == AF_INET ? 4 : 6};

	memcpy(k.addr, &p->addr, p->family == AF_INET ? 4 : 16);
	return k;
}

static bool server_is(const struct lb_server *s, const struct prefix *p)
{
	struct lb_addr_key k = addr_key(p);

	return s->family == k.family && memcmp(s->addr, k.addr, 16) == 0;
}

static struct lb_server server_entry(const struct prefix *p, bool self)
{
	struct lb_addr_key k = addr_key(p);
	struct lb_server s = {.family = k.family, .flags = self ? LB_SERVER_SELF : 0};

	memcpy(s.addr, k.addr, 16);
	return s;
}

/* Whether address P is on one of this network namespace's interfaces. */
static bool addr_local(const struct ifaddrs *ifa, const struct prefix *p)
{
	for (; ifa; ifa = ifa->ifa_next) {
		const struct sockaddr *sa = ifa->ifa_addr;

		if (!sa || sa->sa_family != p->family)
			continue;
		if (p->family == AF_INET &&
		    ((const struct sockaddr_in *)sa)->sin_addr.s_addr == p->addr.v4.s_addr)
			return true;
		if (p->family == AF_INET6 &&
		    !memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, &p->addr.v6, 16))
			return true;
	}
	return false;
}

/* The source address the kernel would use towards P: a connected UDP socket sends nothing
 * and tells. 0 or -1. */
static int route_source(const struct prefix *p, struct prefix *src)
{
	struct sockaddr_storage ss = {}, me = {};
	socklen_t len = sizeof(me);
	int fd = socket(p->family, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = -1;

	if (fd < 0)
		return -1;
	ss.ss_family = p->family;
	if (p->family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_addr = p->addr.v4;
		((struct sockaddr_in *)&ss)->sin_port = htons(9);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_addr = p->addr.v6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(9);
	}
	if (connect(fd, (struct sockaddr *)&ss, sizeof(ss)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&me, &len) == 0) {
		memset(src, 0, sizeof(*src));
		src->family = p->family;
		src->len = p->family == AF_INET ? 32 : 128;
		if (p->family == AF_INET)
			src->addr.v4 = ((struct sockaddr_in *)&me)->sin_addr;
		else
			src->addr.v6 = ((struct sockaddr_in6 *)&me)->sin6_addr;
		err = 0;
	}
	close(fd);
	return err;
}

/* Our fleet address of FAMILY: configured, else our own server's, else the route's source
 * towards the first server of the family. */
static bool pick_source(const struct lb_config *lc, const struct lb_server *entries, const int *ids,
                        int family, struct prefix *out)
{
	const struct prefix *cfg = family == AF_INET ? &lc->source_v4 : &lc->source_v6;

	if (cfg->family) {
		*out = *cfg;
		return true;
	}
	for (int i = 0; i < lc->n_servers; i++)
		if (lc->servers[i].addr.family == family &&
		    (entries[ids[i]].flags & LB_SERVER_SELF)) {
			*out = lc->servers[i].addr;
			return true;
		}
	for (int i = 0; i < lc->n_servers; i++) {
		if (lc->servers[i].addr.family != family)
			continue;
		if (route_source(&lc->servers[i].addr, out) == 0)
			return true;
		pr_warn("lb: no route to server %s: cannot pick an IPv%d source address for "
		        "tunnels; set lb.source_v%d",
		        lc->servers[i].name, family == AF_INET ? 4 : 6, family == AF_INET ? 4 : 6);
		return false;
	}
	return false;
}

/* ---- pinned maps of edged's own ---- */

static int open_pinned(const struct datapath *dp, const char *name, enum bpf_map_type type,
                       __u32 key_size, __u32 value_size, __u32 max_entries)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dp->pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd >= 0)
		return fd;
	fd = bpf_map_create(type, name, key_size, value_size, max_entries, NULL);
	if (fd < 0 || bpf_obj_pin(fd, path)) {
		pr_err("Couldn't create %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Reads what a previous edged left: service names by id, servers by id. */
static int load_state(struct lb_state *st, const struct datapath *dp)
{
	int servers_fd = datapath_map_fd(dp, "lb_servers");

	if (st->loaded)
		return 0;
	st->names_fd = open_pinned(dp, LB_PIN_NAMES, BPF_MAP_TYPE_ARRAY, sizeof(__u32), LB_NAME_MAX,
	                           LB_MAX_SERVICES);
	st->runtime_fd =
	        open_pinned(dp, LB_PIN_RUNTIME, BPF_MAP_TYPE_HASH, sizeof(struct lb_addr_key),
	                    sizeof(struct lb_runtime), LB_MAX_SERVERS);
	if (st->names_fd < 0 || st->runtime_fd < 0 || servers_fd < 0)
		return -1;
	for (__u32 id = 0; id < LB_MAX_SERVICES; id++)
		if (bpf_map_lookup_elem(st->names_fd, &id, st->names[id]))
			st->names[id][0] = '\0';
	for (__u32 id = 0; id < LB_MAX_SERVERS; id++)
		if (bpf_map_lookup_elem(servers_fd, &id, &st->servers[id]))
			st->servers[id].family = 0;
	st->loaded = true;
	return 0;
}

int lb_runtime_get(const struct lb_state *st, const struct prefix *addr, struct lb_runtime *rt)
{
	struct lb_addr_key k = addr_key(addr);

	memset(rt, 0, sizeof(*rt));
	if (st->runtime_fd < 0 || bpf_map_lookup_elem(st->runtime_fd, &k, rt))
		return -1;
	return 0;
}

int lb_runtime_set(struct lb_state *st, const struct prefix *addr, const struct lb_runtime *rt)
{
	struct lb_addr_key k = addr_key(addr);

	if (st->runtime_fd < 0)
		return -1;
	if (!rt->flags && !rt->weight)
		return bpf_map_delete_elem(st->runtime_fd, &k) && errno != ENOENT ? -1 : 0;
	return bpf_map_update_elem(st->runtime_fd, &k, rt, BPF_ANY) ? -1 : 0;
}

/* ---- ids ---- */

/* Servers keep their id while their address stays; a new one takes an id no live table can
 * name (free now and in the new set). */
static int assign_server_ids(struct lb_state *st, const struct lb_config *lc,
                             const struct ifaddrs *ifa)
{
	bool *used = calloc(LB_MAX_SERVERS, sizeof(bool));
	int next_free = 0;

	if (!used)
		return -1;
	memset(st->next_servers, 0, sizeof(st->next_servers));
	for (int i = 0; lc && i < lc->n_servers; i++) {
		int id = -1;

		for (int j = 0; j < LB_MAX_SERVERS && id < 0; j++)
			if (st->servers[j].family &&
			    server_is(&st->servers[j], &lc->servers[i].addr))
				id = j;
		while (id < 0 && next_free < LB_MAX_SERVERS) {
			if (!st->servers[next_free].family && !used[next_free])
				id = next_free;
			next_free++;
		}
		if (id < 0) {
			free(used);
			return -1;
		}
		used[id] = true;
		st->next_srv_ids[i] = id;
		st->next_servers[id] =
		        server_entry(&lc->servers[i].addr, addr_local(ifa, &lc->servers[i].addr));
	}
	free(used);
	return 0;
}

static bool service_in_config(const struct lb_config *lc, const char *name)
{
	for (int i = 0; lc && i < lc->n_services; i++)
		if (strcmp(lc->services[i].name, name) == 0)
			return true;
	return false;
}

static int assign_service_ids(struct lb_state *st, const struct lb_config *lc)
{
	for (int i = 0; lc && i < lc->n_services; i++) {
		const char *name = lc->services[i].name;
		int id = -1;

		for (int j = 0; j < LB_MAX_SERVICES && id < 0; j++)
			if (strcmp(st->names[j], name) == 0)
				id = j;
		for (int j = 0; j < LB_MAX_SERVICES && id < 0; j++)
			if (!st->names[j][0] && !st->next_names[j][0])
				id = j;
		for (int j = 0; j < LB_MAX_SERVICES && id < 0; j++)
			if (!st->next_names[j][0] && !service_in_config(lc, st->names[j]))
				id = j;
		if (id < 0)
			return -1;
		snprintf(st->next_names[id], LB_NAME_MAX, "%s", name);
		st->next_svc_ids[i] = id;
	}
	return 0;
}

static int zero_percpu(int fd, __u32 key, size_t value_size)
{
	int ncpus = libbpf_num_possible_cpus();
	void *zero;
	int err;

	if (fd < 0 || ncpus < 0)
		return -1;
	zero = calloc(ncpus, (value_size + 7) & ~(size_t)7);
	if (!zero)
		return -1;
	err = bpf_map_update_elem(fd, &key, zero, BPF_ANY);
	free(zero);
	return err;
}

/* New ids start with zeroed counters (invisible until the commit names them). */
static int zero_new_counters(struct lb_state *st, const struct datapath *dp)
{
	int svc_fd = datapath_map_fd(dp, "lb_service_stats");
	int srv_fd = datapath_map_fd(dp, "lb_server_stats");

	for (int id = 0; id < LB_MAX_SERVICES; id++)
		if (st->next_names[id][0] && strcmp(st->names[id], st->next_names[id]) &&
		    zero_percpu(svc_fd, id, sizeof(struct lb_service_counters)))
			return -1;
	for (int id = 0; id < LB_MAX_SERVERS; id++)
		if (st->next_servers[id].family && !st->servers[id].family &&
		    zero_percpu(srv_fd, id, sizeof(struct lb_server_counters)))
			return -1;
	return 0;
}

/* ---- tables ---- */

/* A server of the service as the table sees it. */
struct member_view {
	int id;
	uint32_t weight;
	bool active; /* in the table */
	bool self;
	/* Maglev's identity of the server: family, then the 16 address bytes. Every edge must
	 * use the same bytes (tests/bpf/test_lb.c computes tables from them independently). */
	uint8_t key[17];
};

struct live_table {
	const struct lb_bucket *b; /* mmap of the live inner map, or NULL */
	size_t len;
	uint32_t m;
};

static void live_table_close(struct live_table *lt)
{
	if (lt->b)
		munmap((void *)lt->b, lt->len);
	lt->b = NULL;
}

static size_t table_bytes(uint32_t m)
{
	size_t page = sysconf(_SC_PAGESIZE), n = (size_t)(m + 1) * sizeof(struct lb_bucket);

	return (n + page - 1) / page * page;
}

/* Maps the table live in lb_tables[SID] read-only; B stays NULL when there is none. */
static void live_table_open(const struct datapath *dp, int sid, struct live_table *lt)
{
	int ofd = datapath_map_fd(dp, "lb_tables"), fd;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), key = sid, id;
	void *p;

	memset(lt, 0, sizeof(*lt));
	if (ofd < 0 || bpf_map_lookup_elem(ofd, &key, &id))
		return;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.max_entries >= 2) {
		p = mmap(NULL, table_bytes(info.max_entries - 1), PROT_READ, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED) {
			lt->b = p;
			lt->len = table_bytes(info.max_entries - 1);
			lt->m = info.max_entries - 1;
			if (lt->b[0].first != lt->m) /* not a table we wrote: no history */
				live_table_close(lt);
		}
	}
	close(fd);
}

/* The members of service I: weights with the operator's overrides, health, drains. */
static int members_view(const struct lb_state *st, const struct lb_config *lc, int i,
                        const int *srv_ids, int sid, struct member_view *mv)
{
	const struct lb_service_config *svc = &lc->services[i];

	for (int j = 0; j < svc->n_members; j++) {
		const struct lb_server_config *sv = &lc->servers[svc->members[j].server];
		struct lb_runtime rt;

		struct lb_addr_key k = addr_key(&sv->addr);

		mv[j] = (struct member_view){.id = srv_ids[svc->members[j].server],
		                             .weight = svc->members[j].weight};
		mv[j].key[0] = k.family;
		memcpy(mv[j].key + 1, k.addr, 16);
		mv[j].self = st->next_servers[mv[j].id].flags & LB_SERVER_SELF;
		if (lb_runtime_get(st, &sv->addr, &rt) == 0 && rt.weight)
			mv[j].weight = rt.weight;
		mv[j].active =
		        !(rt.flags & LB_RT_DRAINED) && !lb_health_down(&st->health, sid, mv[j].id);
	}
	return svc->n_members;
}

/* FIRST[0..M-1] = server ids of Maglev over the active members but EXCLUDE (an id, or -1);
 * LB_NONE everywhere when none is left. Returns how many servers it used, or -1. */
static int maglev_ids(const struct member_view *mv, int n, uint32_t m, int exclude, uint32_t *first)
{
	struct maglev_backend *b = calloc(n ? n : 1, sizeof(*b));
	int *id_of = calloc(n ? n : 1, sizeof(*id_of)), k = 0, err = 0;

	if (!b || !id_of) {
		err = -1;
		goto out;
	}
	for (int j = 0; j < n; j++) {
		if (!mv[j].active || mv[j].id == exclude)
			continue;
		b[k] = (struct maglev_backend){
		        .key = mv[j].key, .key_len = sizeof(mv[j].key), .weight = mv[j].weight};
		id_of[k++] = mv[j].id;
	}
	if (k == 0) {
		for (uint32_t s = 0; s < m; s++)
			first[s] = LB_NONE;
	} else if (maglev_build(b, k, m, first)) {
		err = -1;
	} else {
		for (uint32_t s = 0; s < m; s++)
			first[s] = id_of[first[s]];
	}
out:
	free(b);
	free(id_of);
	return err ? -1 : k;
}

/* The bucket of the old table (of OLD_M buckets) that holds the middle of new bucket B's
 * hash range: B itself when the size did not change. */
static uint32_t old_bucket(uint32_t b, uint32_t m, uint32_t old_m)
{
	uint64_t mid = ((uint64_t)(2 * b - 1) << 32) / (2 * (uint64_t)m);

	return lb_bucket_index((__u32)mid, old_m);
}

struct table_ctx {
	const struct member_view *mv;
	int n;
	uint32_t m;
	bool alive[LB_MAX_SERVERS]; /* may be a second: a member that is not down */
};

static uint32_t pick_second(const struct table_ctx *tc, const struct lb_bucket *old, uint32_t first)
{
	if (old->first != first && old->first < LB_MAX_SERVERS && tc->alive[old->first])
		return old->first;
	if (old->second != first && old->second < LB_MAX_SERVERS && tc->alive[old->second])
		return old->second;
	return LB_NONE;
}

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= ((const uint8_t *)p)[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Fills the buckets of T from FIRST and the history (live table LT, or the joining rule with
 * JOIN: where the table without this machine sends each bucket). */
static uint64_t fill_buckets(struct lb_bucket *t, const struct table_ctx *tc, const uint32_t *first,
                             const struct live_table *lt, const uint32_t *join,
                             const struct lb_server *servers)
{
	uint64_t digest = 0xcbf29ce484222325ULL;
	static const uint8_t none[17];

	t[0] = (struct lb_bucket){.first = tc->m, .second = 0};
	for (uint32_t b = 1; b <= tc->m; b++) {
		uint32_t f = first[b - 1], s = LB_NONE;

		if (lt->b)
			s = pick_second(tc, &lt->b[old_bucket(b, tc->m, lt->m)], f);
		/* A bucket of ours with no live previous owner: where the fleet without us sends
		 * it (joining; or back from being cut off, when every other server looked dead
		 * and the history we kept names nobody). */
		if (s == LB_NONE && join && f != LB_NONE && (servers[f].flags & LB_SERVER_SELF) &&
		    join[b - 1] != f)
			s = join[b - 1];
		t[b] = (struct lb_bucket){.first = f, .second = s};
		/* The digest names servers by address: ids differ between edges. */
		digest = f == LB_NONE ? fnv_bytes(digest, none, 17)
		                      : fnv_bytes(fnv_bytes(digest, &servers[f].family, 1),
		                                  servers[f].addr, 16);
	}
	return digest;
}

struct built_table {
	int fd;
	uint64_t digest;
	uint32_t active;
};

/* Creates the inner map and writes it through mmap; -1 on failure (logged). */
static int table_create(uint32_t m, struct lb_bucket **map)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "lb_table", sizeof(__u32),
	                        sizeof(struct lb_bucket), m + 1, &opts);
	void *p;

	if (fd < 0) {
		pr_err("lb: couldn't create a table of %u buckets: %s", m, strerror(errno));
		return -1;
	}
	p = mmap(NULL, table_bytes(m), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		pr_err("lb: couldn't map a table: %s", strerror(errno));
		close(fd);
		return -1;
	}
	*map = p;
	return fd;
}

/* Builds the next table of service I (config index) with id SID. */
static int table_build(const struct lb_state *st, const struct datapath *dp,
                       const struct lb_config *lc, int i, const int *srv_ids, int sid,
                       struct built_table *out)
{
	const struct lb_service_config *svc = &lc->services[i];
	struct table_ctx *tc = calloc(1, sizeof(*tc));
	struct member_view *mv = calloc(svc->n_members ? svc->n_members : 1, sizeof(*mv));
	uint32_t m = svc->table_size, *first = calloc(m, 4), *join = NULL;
	struct live_table lt = {};
	struct lb_bucket *t = NULL;
	int self = -1, ret = -1;

	out->fd = -1;
	if (!tc || !mv || !first)
		goto out;
	tc->mv = mv;
	tc->m = m;
	tc->n = members_view(st, lc, i, srv_ids, sid, mv);
	for (int j = 0; j < tc->n; j++) {
		tc->alive[mv[j].id] = !lb_health_down(&st->health, sid, mv[j].id);
		if (mv[j].self && mv[j].active)
			self = mv[j].id;
	}
	ret = maglev_ids(mv, tc->n, m, -1, first);
	if (ret < 0)
		goto out;
	out->active = ret;
	ret = -1;
	live_table_open(dp, sid, &lt);
	if (self >= 0) {
		join = calloc(m, 4);
		if (!join || maglev_ids(mv, tc->n, m, self, join) < 0)
			goto out;
	}
	out->fd = table_create(m, &t);
	if (out->fd < 0)
		goto out;
	out->digest = fill_buckets(t, tc, first, &lt, join, st->next_servers);
	munmap(t, table_bytes(m));
	ret = 0;
out:
	live_table_close(&lt);
	free(tc);
	free(mv);
	free(first);
	free(join);
	return ret;
}

/* ---- VIPs, fleet, settings ---- */

static int create_map(enum bpf_map_type type, const char *name, __u32 ks, __u32 vs, __u32 max,
                      __u32 flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
	int fd = bpf_map_create(type, name, ks, vs, max, &opts);

	if (fd < 0)
		pr_err("lb: couldn't create the %s map: %s", name, strerror(errno));
	return fd;
}

static bool is_host(const struct prefix *p)
{
	return p->len == (p->family == AF_INET ? 32 : 128);
}

int lb_vip_slot_insert(struct lb_vip_slot *slots, const struct lb_vip_key *k,
                       const struct lb_vip *v, bool replace)
{
	__u32 first = lb_vip_slot_of(k);

	for (__u32 i = 0; i < LB_VIP_PROBES; i++) {
		struct lb_vip_slot *e = &slots[(first + i) & (LB_VIP_SLOTS - 1)];

		if (!e->key.family) {
			*e = (struct lb_vip_slot){.key = *k, .vip = *v};
			return 0;
		}
		if (!memcmp(&e->key, k, sizeof(*k))) {
			if (replace)
				e->vip = *v;
			return 0;
		}
	}
	return -ENOSPC;
}

int lb_vip_map_create(const struct lb_vip_slot *slots)
{
	int fd = create_map(BPF_MAP_TYPE_ARRAY, "lb_vips", sizeof(__u32),
	                    sizeof(struct lb_vip_slot), LB_VIP_SLOTS, 0);

	for (__u32 i = 0; fd >= 0 && i < LB_VIP_SLOTS; i++) {
		if (!slots[i].key.family)
			continue;
		if (bpf_map_update_elem(fd, &i, &slots[i], BPF_ANY)) {
			pr_err("lb: couldn't write the VIP slots: %s", strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* Fragments carry no port: each (address, protocol) gets one entry, naming its any-port
 * service if it has one, else its first. */
static int vip_insert_exact(struct lb_vip_slot *slots, const struct lb_service_config *svc,
                            const struct lb_vip *v)
{
	struct lb_vip_key k = {.family = svc->vip.family == AF_INET ? 4 : 6, .proto = svc->proto};

	memcpy(k.addr, &svc->vip.addr, svc->vip.family == AF_INET ? 4 : 16);
	k.port = htons(svc->port);
	if (lb_vip_slot_insert(slots, &k, v, true))
		return -1;
	k.port = 0;
	k.frag = 1;
	return lb_vip_slot_insert(slots, &k, v, svc->port == 0);
}

static int vip_insert_prefix(int fd, const struct lb_service_config *svc, const struct lb_vip *v)
{
	struct lb_vip_lpm_v6 k = {.prefixlen = LB_LPM_HDR_BITS + svc->vip.len, .proto = svc->proto};
	__be16 port = htons(svc->port);

	memcpy(k.addr, &svc->vip.addr, svc->vip.family == AF_INET ? 4 : 16);
	memcpy(k.port, &port, 2);
	if (bpf_map_update_elem(fd, &k, v, BPF_ANY))
		return -1;
	memset(k.port, 0, 2);
	k.frag = 1;
	if (bpf_map_update_elem(fd, &k, v, svc->port ? BPF_NOEXIST : BPF_ANY) && errno != EEXIST)
		return -1;
	return 0;
}

static int build_vips(struct lb_state *st, const struct lb_config *lc)
{
	struct lb_vip_slot *slots = calloc(LB_VIP_SLOTS, sizeof(*slots));
	int err = -1;

	st->next_prefixes[0] =
	        create_map(BPF_MAP_TYPE_LPM_TRIE, "lb_vip_pfx4", sizeof(struct lb_vip_lpm_v4),
	                   sizeof(struct lb_vip), LB_MAX_VIP_PREFIXES, BPF_F_NO_PREALLOC);
	st->next_prefixes[1] =
	        create_map(BPF_MAP_TYPE_LPM_TRIE, "lb_vip_pfx6", sizeof(struct lb_vip_lpm_v6),
	                   sizeof(struct lb_vip), LB_MAX_VIP_PREFIXES, BPF_F_NO_PREALLOC);
	if (!slots || st->next_prefixes[0] < 0 || st->next_prefixes[1] < 0)
		goto out;
	for (int i = 0; lc && i < lc->n_services; i++) {
		const struct lb_service_config *svc = &lc->services[i];
		struct lb_vip v = {.service = st->next_svc_ids[i], .encap = svc->encap};
		int v6 = svc->vip.family == AF_INET6;

		errno = 0;
		if (is_host(&svc->vip) ? vip_insert_exact(slots, svc, &v)
		                       : vip_insert_prefix(st->next_prefixes[v6], svc, &v)) {
			pr_err("lb: service %s: couldn't add its VIP: %s", svc->name,
			       errno ? strerror(errno) : "too many VIPs share probe slots");
			goto out;
		}
		if (!is_host(&svc->vip) && v6)
			st->next_settings.prefixes_v6 = 1;
		else if (!is_host(&svc->vip))
			st->next_settings.prefixes_v4 = 1;
	}
	st->next_vips = lb_vip_map_create(slots);
	err = st->next_vips < 0 ? -1 : 0;
out:
	free(slots);
	return err;
}

static int fleet_add(int fd, const struct prefix *p)
{
	struct lb_addr_key k = addr_key(p);
	__u32 one = 1;

	return bpf_map_update_elem(fd, &k, &one, BPF_ANY);
}

static int build_fleet(struct lb_state *st, const struct lb_config *lc)
{
	st->next_fleet = create_map(BPF_MAP_TYPE_HASH, "lb_fleet", sizeof(struct lb_addr_key),
	                            sizeof(__u32), LB_MAX_FLEET, 0);
	if (st->next_fleet < 0)
		return -1;
	for (int i = 0; lc && i < lc->n_servers; i++)
		if (fleet_add(st->next_fleet, &lc->servers[i].addr))
			return -1;
	for (int i = 0; lc && i < lc->n_edges; i++)
		if (fleet_add(st->next_fleet, &lc->edges[i]))
			return -1;
	return 0;
}

static void build_settings(struct lb_state *st, const struct lb_config *lc)
{
	struct lb_settings *s = &st->next_settings;
	struct prefix src;
	char text[PREFIX_STRLEN];

	if (!lc)
		return;
	s->gue_port = htons(lc->gue_port);
	if (pick_source(lc, st->next_servers, st->next_srv_ids, AF_INET, &src)) {
		memcpy(s->src_v4, &src.addr.v4, 4);
		s->has_src_v4 = 1;
		pr_debug("lb: IPv4 fleet address %s", prefix_format(&src, text, sizeof(text)));
	}
	if (pick_source(lc, st->next_servers, st->next_srv_ids, AF_INET6, &src)) {
		memcpy(s->src_v6, &src.addr.v6, 16);
		s->has_src_v6 = 1;
		pr_debug("lb: IPv6 fleet address %s", prefix_format(&src, text, sizeof(text)));
	}
}

/* ---- prepare, commit, abort ---- */

void lb_state_init(struct lb_state *st)
{
	memset(st, 0, sizeof(*st));
	st->names_fd = -1;
	st->runtime_fd = -1;
	st->next_vips = -1;
	st->next_prefixes[0] = st->next_prefixes[1] = -1;
	st->next_fleet = -1;
	lb_health_init(&st->health);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void lb_abort(struct lb_state *st)
{
	for (int i = 0; st->next_tables && i < st->n_next_svc; i++)
		close_fd(&st->next_tables[i]);
	free(st->next_tables);
	free(st->next_names);
	free(st->next_srv_ids);
	free(st->next_svc_ids);
	free(st->next_digest);
	free(st->next_active);
	st->next_tables = NULL;
	st->next_names = NULL;
	st->next_srv_ids = st->next_svc_ids = NULL;
	st->next_digest = NULL;
	st->next_active = NULL;
	close_fd(&st->next_vips);
	close_fd(&st->next_prefixes[0]);
	close_fd(&st->next_prefixes[1]);
	close_fd(&st->next_fleet);
	st->prepared = false;
}

static int prepare_alloc(struct lb_state *st, const struct lb_config *lc)
{
	int ns = lc ? lc->n_services : 0, nv = lc ? lc->n_servers : 0;

	st->n_next_svc = ns;
	st->n_next_srv = nv;
	st->next_names = calloc(LB_MAX_SERVICES, LB_NAME_MAX);
	st->next_srv_ids = calloc(nv + 1, sizeof(int));
	st->next_svc_ids = calloc(ns + 1, sizeof(int));
	st->next_tables = calloc(ns + 1, sizeof(int));
	st->next_digest = calloc(ns + 1, sizeof(uint64_t));
	st->next_active = calloc(ns + 1, sizeof(uint32_t));
	if (!st->next_names || !st->next_srv_ids || !st->next_svc_ids || !st->next_tables ||
	    !st->next_digest || !st->next_active)
		return -1;
	for (int i = 0; i < ns; i++)
		st->next_tables[i] = -1;
	return 0;
}

static int build_tables(struct lb_state *st, const struct datapath *dp, const struct lb_config *lc)
{
	for (int i = 0; lc && i < lc->n_services; i++) {
		struct built_table bt;

		if (table_build(st, dp, lc, i, st->next_srv_ids, st->next_svc_ids[i], &bt)) {
			pr_err("lb: service %s: couldn't build its table", lc->services[i].name);
			return -1;
		}
		st->next_tables[i] = bt.fd;
		st->next_digest[i] = bt.digest;
		st->next_active[i] = bt.active;
	}
	return 0;
}

int lb_prepare(struct lb_state *st, struct datapath *dp, const struct lb_config *lc)
{
	struct ifaddrs *ifa = NULL;
	int err = -1;

	lb_abort(st);
	memset(&st->next_settings, 0, sizeof(st->next_settings));
	if (prepare_alloc(st, lc) || load_state(st, dp))
		goto out;
	if (lc && getifaddrs(&ifa)) {
		pr_err("lb: couldn't list this machine's addresses: %s", strerror(errno));
		goto out;
	}
	if (assign_server_ids(st, lc, ifa) || assign_service_ids(st, lc)) {
		pr_err("lb: out of server or service ids");
		goto out;
	}
	build_settings(st, lc);
	if (zero_new_counters(st, dp) || build_vips(st, lc) || build_fleet(st, lc) ||
	    build_tables(st, dp, lc))
		goto out;
	st->enabled = lc != NULL;
	st->prepared = true;
	err = 0;
out:
	if (ifa)
		freeifaddrs(ifa);
	if (err)
		lb_abort(st);
	return err;
}

static void swap_slot(const struct datapath *dp, const char *outer, __u32 slot, int inner_fd)
{
	int ofd = datapath_map_fd(dp, outer);

	if (ofd < 0 || bpf_map_update_elem(ofd, &slot, &inner_fd, BPF_ANY))
		pr_err("lb: couldn't swap in the new %s[%u]: %s (the old one stays live)", outer,
		       slot, strerror(errno));
}

static void write_servers(struct lb_state *st, const struct datapath *dp, bool departed)
{
	int fd = datapath_map_fd(dp, "lb_servers");

	for (__u32 id = 0; id < LB_MAX_SERVERS; id++) {
		struct lb_server *n = &st->next_servers[id];

		/* Before the tables: new and changed entries. After: departed ones. The gen is
		 * not a change of its own. */
		n->gen = st->servers[id].gen;
		if (departed != (n->family == 0) || !memcmp(n, &st->servers[id], sizeof(*n)))
			continue;
		n->gen++; /* the data path looks its next hop up again */
		if (bpf_map_update_elem(fd, &id, n, BPF_ANY))
			pr_err("lb: couldn't write server %u: %s", id, strerror(errno));
		st->servers[id] = *n;
	}
}

/* bpf_fib_lookup refuses to route a packet that came in on an interface without forwarding:
 * with it off, no packet can go to another server. */
static void warn_forwarding(const struct datapath *dp)
{
	for (int i = 0; i < dp->n_uplinks; i++) {
		if (sysctl_ipv4_forwarding_off(dp->uplinks[i].name))
			pr_warn("lb: IPv4 forwarding is off on uplink %s: the data path cannot "
			        "send "
			        "packets to other servers from it (sysctl -w "
			        "net.ipv4.conf.%s.forwarding=1)",
			        dp->uplinks[i].name, dp->uplinks[i].name);
	}
}

static void commit_tables(struct lb_state *st, const struct datapath *dp)
{
	int ofd = datapath_map_fd(dp, "lb_tables");

	for (int i = 0; i < st->n_next_svc; i++) {
		int sid = st->next_svc_ids[i];

		swap_slot(dp, "lb_tables", sid, st->next_tables[i]);
		st->digest[sid] = st->next_digest[i];
		st->active[sid] = st->next_active[i];
	}
	for (__u32 sid = 0; sid < LB_MAX_SERVICES; sid++) {
		if (st->next_names[sid][0] || !st->names[sid][0])
			continue;
		if (ofd >= 0 && bpf_map_delete_elem(ofd, &sid) && errno != ENOENT)
			pr_err("lb: couldn't remove the table of service id %u: %s", sid,
			       strerror(errno));
		st->digest[sid] = 0;
		st->active[sid] = 0;
	}
}

void lb_commit(struct lb_state *st, struct datapath *dp)
{
	__u32 zero = 0;
	int fd = datapath_map_fd(dp, "lb_settings");

	if (!st->prepared)
		return;
	write_servers(st, dp, false);
	if (fd < 0 || bpf_map_update_elem(fd, &zero, &st->next_settings, BPF_ANY))
		pr_err("lb: couldn't write the settings: %s", strerror(errno));
	swap_slot(dp, "lb_vips", 0, st->next_vips);
	swap_slot(dp, "lb_vip_prefixes_v4", 0, st->next_prefixes[0]);
	swap_slot(dp, "lb_vip_prefixes_v6", 0, st->next_prefixes[1]);
	swap_slot(dp, "lb_fleet", 0, st->next_fleet);
	commit_tables(st, dp);
	write_servers(st, dp, true); /* no table names a departed server any more */
	for (__u32 sid = 0; sid < LB_MAX_SERVICES; sid++) {
		if (!strcmp(st->names[sid], st->next_names[sid]))
			continue;
		memcpy(st->names[sid], st->next_names[sid], LB_NAME_MAX);
		bpf_map_update_elem(st->names_fd, &sid, st->names[sid], BPF_ANY);
	}
	free(st->srv_ids);
	free(st->svc_ids);
	st->srv_ids = st->next_srv_ids;
	st->svc_ids = st->next_svc_ids;
	st->n_srv_ids = st->n_next_srv;
	st->n_svc_ids = st->n_next_svc;
	st->next_srv_ids = st->next_svc_ids = NULL;
	if (st->enabled)
		warn_forwarding(dp);
	lb_abort(st); /* the outer maps hold the inner ones now: our fds can go */
}

void lb_state_close(struct lb_state *st)
{
	lb_abort(st);
	lb_health_close(&st->health);
	close_fd(&st->names_fd);
	close_fd(&st->runtime_fd);
	free(st->srv_ids);
	free(st->svc_ids);
	st->srv_ids = st->svc_ids = NULL;
	st->loaded = false;
}

/* ---- runtime rebuilds ---- */

static bool service_has(const struct lb_service_config *svc, int srv)
{
	for (int j = 0; j < svc->n_members; j++)
		if (svc->members[j].server == srv)
			return true;
	return false;
}

int lb_rebuild(struct lb_state *st, struct datapath *dp, const struct lb_config *lc, int svc,
               int srv)
{
	int failed = 0;

	if (!st->svc_ids || !st->srv_ids || st->n_svc_ids != lc->n_services)
		return 0; /* nothing applied yet */
	/* members_view() reads flags from next_servers: the live ones here. */
	memcpy(st->next_servers, st->servers, sizeof(st->servers));
	for (int i = 0; i < lc->n_services; i++) {
		int sid = st->svc_ids[i];
		struct built_table bt;

		if ((svc >= 0 && i != svc) || (srv >= 0 && !service_has(&lc->services[i], srv)))
			continue;
		if (table_build(st, dp, lc, i, st->srv_ids, sid, &bt)) {
			pr_err("lb: service %s: couldn't rebuild its table; the old one stays",
			       lc->services[i].name);
			failed++;
			continue;
		}
		swap_slot(dp, "lb_tables", sid, bt.fd);
		close(bt.fd);
		st->digest[sid] = bt.digest;
		st->active[sid] = bt.active;
	}
	return failed;
}

const char *lb_member_out(const struct lb_state *st, const struct lb_config *lc, int svc, int srv)
{
	struct lb_runtime rt;

	if (lb_runtime_get(st, &lc->servers[srv].addr, &rt) == 0 && (rt.flags & LB_RT_DRAINED))
		return "draining";
	if (st->svc_ids && st->srv_ids && svc < st->n_svc_ids && srv < st->n_srv_ids &&
	    lb_health_down(&st->health, st->svc_ids[svc], st->srv_ids[srv]))
		return "down";
	return NULL;
}

int lb_service_id(const struct lb_state *st, int i)
{
	return st->svc_ids && i >= 0 && i < st->n_svc_ids ? st->svc_ids[i] : -1;
}

int lb_server_id(const struct lb_state *st, int i)
{
	return st->srv_ids && i >= 0 && i < st->n_srv_ids ? st->srv_ids[i] : -1;
}

/* ---- counters ---- */

/* Sums a per-CPU value of N u64 counters. */
static int read_percpu(int fd, __u32 key, __u64 *out, int n)
{
	int ncpus = libbpf_num_possible_cpus();
	__u64 *v;

	memset(out, 0, n * sizeof(*out));
	if (fd < 0 || ncpus < 0)
		return -1;
	v = calloc((size_t)ncpus * n, sizeof(*v));
	if (!v)
		return -1;
	if (bpf_map_lookup_elem(fd, &key, v)) {
		free(v);
		return -1;
	}
	for (int c = 0; c < ncpus; c++)
		for (int i = 0; i < n; i++)
			out[i] += v[(size_t)c * n + i];
	free(v);
	return 0;
}

int lb_service_counters(const struct datapath *dp, int sid, struct lb_service_counters *out)
{
	return read_percpu(datapath_map_fd(dp, "lb_service_stats"), sid, out->c, LB_SVC_NCOUNTERS);
}

int lb_server_counters(const struct datapath *dp, int id, struct lb_server_counters *out)
{
	return read_percpu(datapath_map_fd(dp, "lb_server_stats"), id, out->c, LB_SRV_NCOUNTERS);
}

int lb_global_counters(const struct datapath *dp, struct lb_global_counters *out)
{
	return read_percpu(datapath_map_fd(dp, "lb_stats"), 0, out->c, LB_G_NCOUNTERS);
}
