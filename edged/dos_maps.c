// SPDX-License-Identifier: GPL-2.0
/*
 * Maps of the DoS stage (bpf/dos.h, bpf/dos.bpf.h) as edged fills them:
 *
 *   dos_exact_v4/v6[gen, ALLOW|BLOCK] -> hash  the lists' exact addresses (/32, /128)
 *   dos_lists_v4/v6[gen, ALLOW|BLOCK] -> trie  their other prefixes (config, files, runtime)
 *   dos_rules[gen]                    -> array the rule set, DOS_ACT_END after the last
 *   dos_dest_v4/v6[gen]               -> trie  per-destination ceilings and SYN cookies
 *   dos_active                                 the live generation + what it holds
 *   dos_rule_names (edged's own, pinned)       rule id -> name, so ids survive restarts
 *
 * A reload fills the generation not in use and flips dos_active (bpf/dos.h); the old
 * generation's maps are released a second later by the sweeper, when no packet can still
 * be using them.
 *
 * Outer maps are found by name in the loaded object, not through the skeleton, so that this
 * file depends on the contract in bpf/dos.h only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dos_maps.h"
#include "syncookie_maps.h"
#include "log.h"

#define DOS_PIN_NAMES "dos_rule_names"

static const char *const lists_map[DOS_NFAMILIES] = {"dos_lists_v4", "dos_lists_v6"};
static const char *const exact_map[DOS_NFAMILIES] = {"dos_exact_v4", "dos_exact_v6"};
static const char *const dest_map[DOS_NFAMILIES] = {"dos_dest_v4", "dos_dest_v6"};
static const char *const list_names[DOS_NLISTS] = {
        [DOS_LIST_ALLOW] = "allow", [DOS_LIST_BLOCK] = "block"};
static const char *const outcome_names[DOS_NOUTCOMES] = {[DOS_OUT_MATCHED] = "matched",
                                                         [DOS_OUT_DROPPED] = "dropped",
                                                         [DOS_OUT_RATE_LIMITED] = "rate_limited",
                                                         [DOS_OUT_PASSED] = "passed"};

/* LPM key of either family: an IPv4 key is the first 8 bytes of it. */
struct lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* A generation's old inner maps outlive the flip by this much before the sweeper releases
 * them: far longer than any packet that read the old dos_active can still take. */
#define DOS_STALE_NS 1000000000ULL
/* Entries per bpf_map_update_batch call while a list loads. */
#define DOS_LOAD_BATCH 8192

const char *dos_list_name(enum dos_list list)
{
	return list < DOS_NLISTS ? list_names[list] : "?";
}

static __u64 now_boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static __u32 key_size(int fam)
{
	return fam == DOS_V4 ? sizeof(struct dos_lpm_v4) : sizeof(struct dos_lpm_v6);
}

static __u32 addr_bits(int fam)
{
	return fam == DOS_V4 ? 32 : 128;
}

static __u32 addr_size(int fam)
{
	return fam == DOS_V4 ? 4 : 16;
}

/* Whether K is an exact address: those go to the list's hash when it has one. */
static bool key_exact(int fam, const struct lpm_key *k)
{
	return k->prefixlen == addr_bits(fam);
}

/* The key of K in MAP_FD's layout: the hash takes the bare address, the trie all of K. */
static const void *key_in(bool hash, const struct lpm_key *k)
{
	return hash ? (const void *)k->addr : (const void *)k;
}

/* The live dos_active word; 0 (generation 0, nothing) before the first commit. */
static __u32 active_read(const struct datapath *dp)
{
	int fd = datapath_map_fd(dp, "dos_active");
	__u32 zero = 0, w = 0;

	if (fd >= 0)
		bpf_map_lookup_elem(fd, &zero, &w);
	return w;
}

static int active_write(const struct datapath *dp, __u32 w)
{
	int fd = datapath_map_fd(dp, "dos_active");
	__u32 zero = 0;

	if (fd < 0 || bpf_map_update_elem(fd, &zero, &w, BPF_ANY)) {
		pr_err("Couldn't write dos_active: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Sets BITS in the live dos_active word (a runtime entry in a list that had none). */
static void active_set(const struct datapath *dp, __u32 bits)
{
	__u32 w = active_read(dp);

	if ((w & bits) != bits)
		active_write(dp, w | bits);
}

static __u32 live_gen(const struct datapath *dp)
{
	return dos_active_gen(active_read(dp));
}

static int family_of(const struct prefix *p)
{
	return p->family == AF_INET ? DOS_V4 : DOS_V6;
}

static void key_of(const struct prefix *p, struct lpm_key *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = p->len;
	memcpy(k->addr, &p->addr, p->family == AF_INET ? 4 : 16);
}

static void prefix_of(int fam, const struct lpm_key *k, struct prefix *p)
{
	memset(p, 0, sizeof(*p));
	p->family = fam == DOS_V4 ? AF_INET : AF_INET6;
	p->len = k->prefixlen;
	memcpy(&p->addr, k->addr, fam == DOS_V4 ? 4 : 16);
}

/* The inner map now live in SLOT of OUTER, as a new fd; -1 when the slot is empty. */
static int live_inner(const struct datapath *dp, const char *outer, __u32 slot)
{
	int ofd = datapath_map_fd(dp, outer);
	__u32 id;

	if (ofd < 0 || bpf_map_lookup_elem(ofd, &slot, &id))
		return -1;
	return bpf_map_get_fd_by_id(id);
}

static int create_exact(int fam, __u32 max_entries)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = DOS_EXACT_MAP_FLAGS);
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "dos_exact", addr_size(fam),
	                        sizeof(struct dos_list_entry), max_entries, &opts);

	if (fd < 0)
		pr_err("Couldn't create a %u-entry dos_exact map: %s", max_entries,
		       strerror(errno));
	return fd;
}

static int create_lpm(int fam, __u32 value_size, __u32 max_entries, const char *name)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	int fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, name, key_size(fam), value_size, max_entries,
	                        &opts);

	if (fd < 0)
		pr_err("Couldn't create the %s map: %s", name, strerror(errno));
	return fd;
}

/* ---- lists ---- */

/* A list's entries of one family, collected before the maps are made, so that the hash is
 * sized for its exact addresses and both maps load in batches. */
struct entry_vec {
	struct lpm_key *keys;
	struct dos_list_entry *vals;
	size_t n, cap;
};

struct list_fill {
	struct entry_vec v[DOS_NFAMILIES];
};

static int vec_push(struct entry_vec *v, const struct lpm_key *k, const struct dos_list_entry *e)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 1024;
		struct lpm_key *keys = realloc(v->keys, cap * sizeof(*keys));
		struct dos_list_entry *vals;

		if (!keys)
			return -ENOMEM;
		v->keys = keys;
		vals = realloc(v->vals, cap * sizeof(*vals));
		if (!vals)
			return -ENOMEM;
		v->vals = vals;
		v->cap = cap;
	}
	v->keys[v->n] = *k;
	v->vals[v->n++] = *e;
	return 0;
}

static void vec_free(struct entry_vec *v)
{
	free(v->keys);
	free(v->vals);
	memset(v, 0, sizeof(*v));
}

/* Adds or refreshes one entry in MAP_FD (HASH: the exact-address layout); COUNT counts the
 * entries of the list, so only new ones add to it. */
static int map_insert(int fd, bool hash, const struct lpm_key *k, const struct dos_list_entry *e,
                      long *count)
{
	if (bpf_map_update_elem(fd, key_in(hash, k), e, BPF_NOEXIST) == 0) {
		(*count)++;
		return 0;
	}
	if (errno == EEXIST)
		return bpf_map_update_elem(fd, key_in(hash, k), e, BPF_ANY) ? -errno : 0;
	return -errno;
}

/* By key, then push order (the struct's idx right after the key: no padding between). */
static int tagged_cmp(const void *a, const void *b)
{
	int c = memcmp(a, b, sizeof(struct lpm_key));
	__u32 x = *(const __u32 *)((const char *)a + sizeof(struct lpm_key));
	__u32 y = *(const __u32 *)((const char *)b + sizeof(struct lpm_key));

	return c ? c : (x > y) - (x < y);
}

/* Sorts V by key and keeps, of equal keys, the last pushed (a runtime entry carried over
 * wins over the config's, as a later update would). Then each key is loaded once, and V->n
 * is the list's size. qsort is not stable: the push order is part of the sort key. */
static int vec_dedup(struct entry_vec *v)
{
	struct tagged {
		struct lpm_key k;
		__u32 idx;
	} *t = calloc(v->n ? v->n : 1, sizeof(*t));
	struct dos_list_entry *vals = calloc(v->n ? v->n : 1, sizeof(*vals));
	size_t out = 0;

	if (!t || !vals) {
		free(t);
		free(vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < v->n; i++) {
		t[i].k = v->keys[i];
		t[i].idx = i;
	}
	qsort(t, v->n, sizeof(*t), tagged_cmp);
	for (size_t i = 0; i < v->n; i++) {
		if (i + 1 < v->n && !memcmp(&t[i].k, &t[i + 1].k, sizeof(t[i].k)))
			continue; /* a later entry of the same key follows */
		vals[out] = v->vals[t[i].idx];
		v->keys[out++] = t[i].k; /* out <= i: t holds its own copy of every key */
	}
	free(t);
	free(v->vals);
	v->vals = vals;
	v->n = out;
	return 0;
}

/* Loads N entries (distinct keys) into MAP_FD with bpf_map_update_batch: one syscall per
 * DOS_LOAD_BATCH entries instead of one each. A batch the kernel refuses (a kernel without
 * batches for the map type) goes in one entry at a time. */
static int map_load(int fd, bool hash, int fam, const struct lpm_key *keys,
                    const struct dos_list_entry *vals, size_t n)
{
	size_t ks = hash ? addr_size(fam) : key_size(fam);
	unsigned char *buf = malloc(DOS_LOAD_BATCH * ks);
	int err = 0;

	if (!buf)
		return -ENOMEM;
	for (size_t done = 0; done < n && !err;) {
		__u32 chunk = n - done > DOS_LOAD_BATCH ? DOS_LOAD_BATCH : n - done, cnt = chunk;

		for (__u32 i = 0; i < chunk; i++)
			memcpy(buf + i * ks, key_in(hash, &keys[done + i]), ks);
		if (bpf_map_update_batch(fd, buf, vals + done, &cnt, NULL))
			for (__u32 i = 0; i < chunk && !err; i++)
				if (bpf_map_update_elem(fd, buf + i * ks, &vals[done + i], BPF_ANY))
					err = -errno;
		done += chunk;
	}
	free(buf);
	return err;
}

static int fill_from_file(const struct prefix *p, void *arg)
{
	struct list_fill *lf = arg;
	struct dos_list_entry e = {};
	struct lpm_key k;

	key_of(p, &k);
	return vec_push(&lf->v[family_of(p)], &k, &e);
}

/* Remembers the earliest expiry among TTL entries, so the sweeper walks the lists only when
 * something is due: walking a million config entries every second would cost a core. */
static void note_expiry(struct dos_state *st, __u64 expires_ns)
{
	if (expires_ns && (!st->next_expiry_ns || expires_ns < st->next_expiry_ns))
		st->next_expiry_ns = expires_ns;
}

/* The runtime entries of one live map (hash or trie), pushed onto V. */
static void carry_map(struct dos_state *st, int fd, bool hash, int fam, struct entry_vec *v,
                      __u64 now)
{
	struct lpm_key k = {}, next = {};
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, (void *)key_in(hash, &next)) == 0) {
		struct dos_list_entry e;

		k = next;
		if (hash)
			k.prefixlen = addr_bits(fam);
		prev = (void *)key_in(hash, &k);
		if (bpf_map_lookup_elem(fd, prev, &e) || !(e.flags & DOS_ENTRY_RUNTIME))
			continue;
		if (e.expires_ns && e.expires_ns <= now)
			continue;
		if (vec_push(v, &k, &e) == 0)
			note_expiry(st, e.expires_ns);
	}
}

/* Carries the runtime entries of the live list over into the new one: a reload rebuilds
 * what the config states, not what an operator added by hand. Expired ones stay behind. */
static void carry_runtime(struct dos_state *st, struct datapath *dp, int fam, enum dos_list list,
                          struct entry_vec *v)
{
	__u32 slot = DOS_LIST_SLOT(live_gen(dp), list);
	__u64 now = now_boot_ns();
	int fd;

	fd = live_inner(dp, exact_map[fam], slot);
	if (fd >= 0) {
		carry_map(st, fd, true, fam, v, now);
		close(fd);
	}
	fd = live_inner(dp, lists_map[fam], slot);
	if (fd >= 0) {
		carry_map(st, fd, false, fam, v, now);
		close(fd);
	}
}

/* Makes the maps of one family of a list from V: the exact addresses into a hash sized for
 * them (none when there are none), everything else into the trie. */
static int build_family(struct dos_state *st, int fam, enum dos_list list, struct entry_vec *v)
{
	struct entry_vec ex = {}, pre = {};
	int err = vec_dedup(v);

	for (size_t i = 0; i < v->n && !err; i++)
		err = vec_push(key_exact(fam, &v->keys[i]) ? &ex : &pre, &v->keys[i], &v->vals[i]);
	if (err)
		goto out;
	err = -1; /* the create functions say why */
	st->next_lists[fam][list] =
	        create_lpm(fam, sizeof(struct dos_list_entry), DOS_MAX_LIST_ENTRIES, "dos_list");
	if (st->next_lists[fam][list] < 0)
		goto out;
	if (ex.n) {
		size_t cap = ex.n + DOS_EXACT_SPARE;

		st->next_exact[fam][list] =
		        create_exact(fam, cap > DOS_MAX_LIST_ENTRIES ? DOS_MAX_LIST_ENTRIES : cap);
		if (st->next_exact[fam][list] < 0)
			goto out;
	}
	err = map_load(st->next_exact[fam][list], true, fam, ex.keys, ex.vals, ex.n);
	if (!err)
		err = map_load(st->next_lists[fam][list], false, fam, pre.keys, pre.vals, pre.n);
	if (err) {
		pr_err("dos %s list: cannot add the entries: %s (at most %d per family)",
		       list_names[list], strerror(-err), DOS_MAX_LIST_ENTRIES);
		goto out;
	}
	st->next_entries[fam][list] = v->n;
	if (ex.n)
		st->next_active |= DOS_HAS_EXACT(list, fam);
	if (pre.n)
		st->next_active |= DOS_HAS_PREFIX(list, fam);
out:
	vec_free(&ex);
	vec_free(&pre);
	return err ? -1 : 0;
}

static int build_list(struct dos_state *st, struct datapath *dp, enum dos_list list,
                      const struct dos_list_config *lc)
{
	struct list_fill lf = {};
	struct dos_list_entry e = {};
	char err[512];
	int ret = -1;

	for (int i = 0; lc && i < lc->n; i++) {
		const struct prefix *p = &lc->prefixes[i];
		struct lpm_key k;

		key_of(p, &k);
		if (vec_push(&lf.v[family_of(p)], &k, &e))
			goto out;
	}
	for (int i = 0; lc && i < lc->n_files; i++) {
		if (dos_list_file_read(lc->files[i], fill_from_file, &lf, err, sizeof(err))) {
			pr_err("dos %s list: %s", list_names[list], err);
			goto out;
		}
	}
	for (int fam = 0; fam < DOS_NFAMILIES; fam++) {
		carry_runtime(st, dp, fam, list, &lf.v[fam]);
		if (build_family(st, fam, list, &lf.v[fam]))
			goto out;
	}
	ret = 0;
out:
	for (int fam = 0; fam < DOS_NFAMILIES; fam++)
		vec_free(&lf.v[fam]);
	return ret;
}

/* ---- rules ---- */

static bool name_in_config(const struct dos_config *dc, const char *name)
{
	for (int i = 0; dc && i < dc->n_rules; i++)
		if (strcmp(dc->rules[i].name, name) == 0)
			return true;
	return false;
}

/* A rule keeps its id while its name stays in the config. A new name gets an id free both
 * now and in the new set, so no departing rule's packets land in its fresh counters; only
 * when none is left does it take a departing rule's id. */
static int rule_id_for(const struct dos_state *st, const struct dos_config *dc, const char *name,
                       char (*next_names)[DOS_NAME_MAX])
{
	for (int id = 0; id < DOS_MAX_RULES; id++)
		if (strcmp(st->names[id], name) == 0)
			return id;
	for (int id = 0; id < DOS_MAX_RULES; id++)
		if (!st->names[id][0] && !next_names[id][0])
			return id;
	for (int id = 0; id < DOS_MAX_RULES; id++)
		if (!next_names[id][0] && !name_in_config(dc, st->names[id]))
			return id;
	return -1;
}

static int zero_rule_stats(struct datapath *dp, __u32 id)
{
	return datapath_zero_percpu(datapath_map_fd(dp, "dos_rule_stats"), id,
	                            sizeof(struct dos_counters));
}

static int build_rules(struct dos_state *st, struct datapath *dp, const struct dos_config *dc,
                       char (*next_names)[DOS_NAME_MAX])
{
	struct dos_rule end = {.action = DOS_ACT_END};
	int n = dc ? dc->n_rules : 0;
	__u32 i;
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "dos_ruleset", sizeof(__u32),
	                    sizeof(struct dos_rule), DOS_MAX_RULES, NULL);
	st->next_rules = fd;
	if (fd < 0) {
		pr_err("Couldn't create a DoS rule set: %s", strerror(errno));
		return -1;
	}
	if (n)
		st->next_active |= DOS_HAS_RULES;
	for (i = 0; i < (__u32)n; i++) {
		struct dos_rule r = dc->rules[i].rule;
		int id = rule_id_for(st, dc, dc->rules[i].name, next_names);

		if (id < 0)
			return -1;
		snprintf(next_names[id], DOS_NAME_MAX, "%s", dc->rules[i].name);
		if (strcmp(st->names[id], dc->rules[i].name) && zero_rule_stats(dp, id))
			return -1;
		r.id = id;
		if (bpf_map_update_elem(fd, &i, &r, BPF_ANY))
			return -1;
	}
	return bpf_map_update_elem(fd, &i, &end, BPF_ANY);
}

/* ---- destinations ---- */

static int build_dests(struct dos_state *st, const struct dos_config *dc)
{
	for (int fam = 0; fam < DOS_NFAMILIES; fam++) {
		st->next_dest[fam] = create_lpm(fam, sizeof(struct dos_dest_policy),
		                                DOS_MAX_DEST_PREFIXES, "dos_dest");
		if (st->next_dest[fam] < 0)
			return -1;
	}
	if (dc && dc->n_ceilings)
		st->next_active |= DOS_HAS_CEILINGS;
	if (dc && dc->n_syn_cookies)
		st->next_active |= DOS_HAS_SYN_COOKIES;
	for (int i = 0; dc && i < dc->n_ceilings; i++) {
		const struct dos_ceiling_config *c = &dc->ceilings[i];
		struct dos_dest_policy pol = {.ceiling_pps = c->pps, .ceiling_burst = c->burst};
		struct lpm_key k;

		key_of(&c->dst, &k);
		if (bpf_map_update_elem(st->next_dest[family_of(&c->dst)], &k, &pol, BPF_ANY))
			return -1;
	}
	return syncookie_dests_fill(dc, st->next_dest); /* edged/syncookie_maps.c */
}

/* ---- names ---- */

static int open_names(struct dos_state *st, const struct datapath *dp)
{
	char path[PATH_MAX];

	if (st->names_fd >= 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dp->pin_dir, DOS_PIN_NAMES);
	st->names_fd = bpf_obj_get(path);
	if (st->names_fd < 0) {
		st->names_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, DOS_PIN_NAMES, sizeof(__u32),
		                              DOS_NAME_MAX, DOS_MAX_RULES, NULL);
		if (st->names_fd < 0 || bpf_obj_pin(st->names_fd, path)) {
			pr_err("Couldn't create %s: %s", path, strerror(errno));
			return -1;
		}
	}
	for (__u32 id = 0; id < DOS_MAX_RULES; id++)
		bpf_map_lookup_elem(st->names_fd, &id, st->names[id]);
	return 0;
}

/* ---- prepare, commit, abort ---- */

void dos_state_init(struct dos_state *st)
{
	memset(st, 0, sizeof(*st));
	st->names_fd = -1;
	st->next_rules = -1;
	for (int fam = 0; fam < DOS_NFAMILIES; fam++) {
		st->next_dest[fam] = -1;
		for (int l = 0; l < DOS_NLISTS; l++)
			st->next_lists[fam][l] = st->next_exact[fam][l] = -1;
	}
}

static void close_next(struct dos_state *st)
{
	if (st->next_rules >= 0)
		close(st->next_rules);
	st->next_rules = -1;
	for (int fam = 0; fam < DOS_NFAMILIES; fam++) {
		if (st->next_dest[fam] >= 0)
			close(st->next_dest[fam]);
		st->next_dest[fam] = -1;
		for (int l = 0; l < DOS_NLISTS; l++) {
			if (st->next_lists[fam][l] >= 0)
				close(st->next_lists[fam][l]);
			if (st->next_exact[fam][l] >= 0)
				close(st->next_exact[fam][l]);
			st->next_lists[fam][l] = st->next_exact[fam][l] = -1;
		}
	}
	st->next_active = 0;
	st->prepared = false;
}

int dos_prepare(struct dos_state *st, struct datapath *dp, const struct dos_config *dc)
{
	char(*next_names)[DOS_NAME_MAX] = calloc(DOS_MAX_RULES, DOS_NAME_MAX);
	int err = -1;

	close_next(st);
	if (!next_names || open_names(st, dp))
		goto out;
	for (int l = 0; l < DOS_NLISTS; l++)
		if (build_list(st, dp, l, dc ? &dc->lists[l] : NULL))
			goto out;
	if (build_rules(st, dp, dc, next_names) || build_dests(st, dc))
		goto out;
	err = 0;
out:
	if (err) {
		close_next(st);
		free(next_names);
		return -1;
	}
	free(st->next_names);
	st->next_names = next_names;
	st->prepared = true;
	return 0;
}

/* Puts INNER_FD into SLOT of OUTER, or empties the slot when INNER_FD is -1. */
static int set_slot(struct datapath *dp, const char *outer, __u32 slot, int inner_fd)
{
	int ofd = datapath_map_fd(dp, outer);

	if (ofd < 0)
		return -1;
	if (inner_fd < 0)
		return bpf_map_delete_elem(ofd, &slot) && errno != ENOENT ? -1 : 0;
	return bpf_map_update_elem(ofd, &slot, &inner_fd, BPF_ANY) ? -1 : 0;
}

/* Fills generation GEN's slots with the prepared maps; -1 (and a message) if any failed. */
static int fill_gen(struct dos_state *st, struct datapath *dp, __u32 gen)
{
	int err = 0;

	for (int fam = 0; fam < DOS_NFAMILIES; fam++) {
		for (int l = 0; l < DOS_NLISTS; l++) {
			__u32 slot = DOS_LIST_SLOT(gen, l);

			err |= set_slot(dp, lists_map[fam], slot, st->next_lists[fam][l]);
			err |= set_slot(dp, exact_map[fam], slot, st->next_exact[fam][l]);
		}
		err |= set_slot(dp, dest_map[fam], gen, st->next_dest[fam]);
	}
	err |= set_slot(dp, "dos_rules", gen, st->next_rules);
	if (err)
		pr_err("Couldn't fill the DoS maps of generation %u: %s (the old set stays live)",
		       gen, strerror(errno));
	return err ? -1 : 0;
}

/* Empties generation GEN's slots: the kernel frees their maps once no program uses them. */
static void clear_gen(struct datapath *dp, __u32 gen)
{
	for (int fam = 0; fam < DOS_NFAMILIES; fam++) {
		for (int l = 0; l < DOS_NLISTS; l++) {
			set_slot(dp, lists_map[fam], DOS_LIST_SLOT(gen, l), -1);
			set_slot(dp, exact_map[fam], DOS_LIST_SLOT(gen, l), -1);
		}
		set_slot(dp, dest_map[fam], gen, -1);
	}
	set_slot(dp, "dos_rules", gen, -1);
}

/* The flip: the prepared maps go into the generation not in use, then one write of
 * dos_active makes them live, all at once. */
void dos_commit(struct dos_state *st, struct datapath *dp)
{
	__u32 old, gen;

	if (!st->prepared)
		return;
	old = live_gen(dp);
	gen = old ^ 1;
	if (fill_gen(st, dp, gen) ||
	    active_write(dp, (gen ? DOS_ACTIVE_GEN : 0) | st->next_active)) {
		clear_gen(dp, gen);
		dos_abort(st);
		return;
	}
	st->stale_gen = old;
	st->stale_due_ns = now_boot_ns() + DOS_STALE_NS;
	memcpy(st->entries, st->next_entries, sizeof(st->entries));
	for (__u32 id = 0; id < DOS_MAX_RULES; id++) {
		if (!strcmp(st->names[id], st->next_names[id]))
			continue;
		memcpy(st->names[id], st->next_names[id], DOS_NAME_MAX);
		bpf_map_update_elem(st->names_fd, &id, st->names[id], BPF_ANY);
	}
	dos_abort(st); /* the outer maps hold the inner ones now: our fds can go */
}

void dos_abort(struct dos_state *st)
{
	close_next(st);
	free(st->next_names);
	st->next_names = NULL;
}

void dos_state_close(struct dos_state *st)
{
	dos_abort(st);
	if (st->names_fd >= 0)
		close(st->names_fd);
	st->names_fd = -1;
}

int dos_rule_id(const struct dos_state *st, const char *name)
{
	for (int id = 0; id < DOS_MAX_RULES; id++)
		if (st->names[id][0] && strcmp(st->names[id], name) == 0)
			return id;
	return -1;
}

/* ---- runtime list entries ---- */

/* The live trie of the list (always there once the dos section is loaded), as a new fd. */
static int live_list(struct datapath *dp, int fam, enum dos_list list, struct strbuf *err)
{
	int fd = live_inner(dp, lists_map[fam], DOS_LIST_SLOT(live_gen(dp), list));

	if (fd < 0)
		sb_printf(err, "the %s list is not loaded: is the dos section in the config?\n",
		          list_names[list]);
	return fd;
}

/* An exact address goes to the list's hash, unless the trie holds it already (it went there
 * when the hash was full) or there is no hash (the list was built without exact addresses,
 * or the hash is full): then to the trie, which takes any prefix. */
static int runtime_insert(struct dos_state *st, struct datapath *dp, int fam, enum dos_list list,
                          int trie, const struct lpm_key *k, const struct dos_list_entry *e)
{
	long *count = &st->entries[fam][list];
	struct dos_list_entry old;
	int hash, err;

	if (key_exact(fam, k) && bpf_map_lookup_elem(trie, k, &old)) {
		hash = live_inner(dp, exact_map[fam], DOS_LIST_SLOT(live_gen(dp), list));
		if (hash >= 0) {
			err = map_insert(hash, true, k, e, count);
			close(hash);
			if (err != -E2BIG) {
				if (!err)
					active_set(dp, DOS_HAS_EXACT(list, fam));
				return err;
			}
		}
	}
	err = map_insert(trie, false, k, e, count);
	if (!err)
		active_set(dp, DOS_HAS_PREFIX(list, fam));
	return err;
}

int dos_list_add(struct dos_state *st, struct datapath *dp, enum dos_list list,
                 const struct prefix *pfx, unsigned int ttl_s, struct strbuf *err)
{
	struct dos_list_entry e = {.flags = DOS_ENTRY_RUNTIME};
	int fam = family_of(pfx), fd, ret;
	struct lpm_key k;

	if (ttl_s)
		e.expires_ns = now_boot_ns() + (__u64)ttl_s * 1000000000ULL;
	fd = live_list(dp, fam, list, err);
	if (fd < 0)
		return -1;
	key_of(pfx, &k);
	ret = runtime_insert(st, dp, fam, list, fd, &k, &e);
	close(fd);
	if (ret) {
		sb_printf(err, "cannot add to the %s list: %s\n", list_names[list], strerror(-ret));
		return -1;
	}
	note_expiry(st, e.expires_ns);
	return 0;
}

int dos_list_del(struct dos_state *st, struct datapath *dp, enum dos_list list,
                 const struct prefix *pfx, struct strbuf *err)
{
	int fam = family_of(pfx), fd = live_list(dp, fam, list, err), hash;
	char text[PREFIX_STRLEN];
	bool gone = false;
	struct lpm_key k;

	if (fd < 0)
		return -1;
	key_of(pfx, &k);
	if (key_exact(fam, &k)) {
		hash = live_inner(dp, exact_map[fam], DOS_LIST_SLOT(live_gen(dp), list));
		gone = hash >= 0 && bpf_map_delete_elem(hash, key_in(true, &k)) == 0;
		if (hash >= 0)
			close(hash);
	}
	if (!gone)
		gone = bpf_map_delete_elem(fd, &k) == 0;
	close(fd);
	if (!gone) {
		sb_printf(err, "%s is not in the %s list (`edgectl dos %s list` shows it)\n",
		          prefix_format(pfx, text, sizeof(text)), list_names[list],
		          list_names[list]);
		return -1;
	}
	st->entries[fam][list]--;
	return 0;
}

typedef bool (*entry_fn)(int fam, const struct lpm_key *k, const struct dos_list_entry *e,
                         void *arg);

/* Calls FN on every entry of one live map (HASH: a list's exact addresses, else its trie);
 * FN returns true to delete the entry. Returns how many were deleted. */
static int map_walk(int fd, bool hash, int fam, entry_fn fn, void *arg)
{
	struct lpm_key k = {}, next = {};
	void *prev = NULL;
	int removed = 0;

	while (bpf_map_get_next_key(fd, prev, (void *)key_in(hash, &next)) == 0) {
		struct dos_list_entry e;

		k = next;
		if (hash)
			k.prefixlen = addr_bits(fam);
		prev = (void *)key_in(hash, &k);
		if (bpf_map_lookup_elem(fd, prev, &e) || !fn(fam, &k, &e, arg))
			continue;
		/* Deleting the current key restarts the walk from the start, which visits the
		 * survivors again: harmless, fn is idempotent. */
		if (bpf_map_delete_elem(fd, prev) == 0) {
			removed++;
			prev = NULL;
		}
	}
	return removed;
}

/* Calls FN on every entry of a live list, both families, hash and trie. */
static int list_walk(struct dos_state *st, struct datapath *dp, enum dos_list list, entry_fn fn,
                     void *arg)
{
	__u32 slot = DOS_LIST_SLOT(live_gen(dp), list);
	int removed = 0;

	for (int fam = 0; fam < DOS_NFAMILIES; fam++) {
		for (int hash = 1; hash >= 0; hash--) {
			int fd = live_inner(dp, hash ? exact_map[fam] : lists_map[fam], slot), n;

			if (fd < 0)
				continue;
			n = map_walk(fd, hash, fam, fn, arg);
			st->entries[fam][list] -= n;
			removed += n;
			close(fd);
		}
	}
	return removed;
}

static bool is_runtime(int fam, const struct lpm_key *k, const struct dos_list_entry *e, void *arg)
{
	(void)fam;
	(void)k;
	(void)arg;
	return e->flags & DOS_ENTRY_RUNTIME;
}

int dos_list_flush(struct dos_state *st, struct datapath *dp, enum dos_list list)
{
	return list_walk(st, dp, list, is_runtime, NULL);
}

struct sweep_ctx {
	__u64 now;
	__u64 next; /* earliest expiry among the entries that stay */
};

static bool is_expired(int fam, const struct lpm_key *k, const struct dos_list_entry *e, void *arg)
{
	struct sweep_ctx *sc = arg;

	(void)fam;
	(void)k;
	if (e->expires_ns && e->expires_ns <= sc->now)
		return true;
	if (e->expires_ns && (!sc->next || e->expires_ns < sc->next))
		sc->next = e->expires_ns;
	return false;
}

int dos_sweep(struct dos_state *st, struct datapath *dp)
{
	struct sweep_ctx sc = {.now = now_boot_ns()};
	int n = 0;

	if (st->stale_due_ns && sc.now >= st->stale_due_ns) {
		clear_gen(dp, st->stale_gen);
		st->stale_due_ns = 0;
	}
	if (!st->next_expiry_ns || sc.now < st->next_expiry_ns)
		return 0;
	for (int l = 0; l < DOS_NLISTS; l++)
		n += list_walk(st, dp, l, is_expired, &sc);
	st->next_expiry_ns = sc.next;
	if (n)
		pr_debug("dos: %d expired list entries removed", n);
	return n;
}

struct render_ctx {
	struct strbuf *out;
	bool json;
	int n;
	__u64 now;
};

static bool render_entry(int fam, const struct lpm_key *k, const struct dos_list_entry *e,
                         void *arg)
{
	struct render_ctx *rc = arg;
	char text[PREFIX_STRLEN];
	struct prefix p;
	long long ttl = e->expires_ns ? (long long)((e->expires_ns - rc->now) / 1000000000ULL) : -1;

	if (e->expires_ns && e->expires_ns <= rc->now)
		return false; /* expired, the sweeper has not been by yet */
	prefix_of(fam, k, &p);
	prefix_format(&p, text, sizeof(text));
	if (rc->json)
		sb_printf(rc->out, "%s{\"prefix\":\"%s\",\"origin\":\"%s\",\"ttl_s\":%lld}",
		          rc->n ? "," : "", text,
		          e->flags & DOS_ENTRY_RUNTIME ? "runtime" : "config", ttl);
	else if (ttl >= 0)
		sb_printf(rc->out, "%-44s %-8s %llds\n", text,
		          e->flags & DOS_ENTRY_RUNTIME ? "runtime" : "config", ttl);
	else
		sb_printf(rc->out, "%-44s %-8s forever\n", text,
		          e->flags & DOS_ENTRY_RUNTIME ? "runtime" : "config");
	rc->n++;
	return false;
}

void dos_list_render(struct dos_state *st, struct datapath *dp, enum dos_list list, bool json,
                     struct strbuf *out)
{
	struct render_ctx rc = {.out = out, .json = json, .now = now_boot_ns()};

	if (json)
		sb_printf(out, "{\"list\":\"%s\",\"entries\":[", list_names[list]);
	else
		sb_printf(out, "%-44s %-8s %s\n", "PREFIX", "ORIGIN", "EXPIRES IN");
	list_walk(st, dp, list, render_entry, &rc);
	if (json)
		sb_printf(out, "]}\n");
	else if (!rc.n)
		sb_printf(out, "(the %s list is empty)\n", list_names[list]);
}

/* ---- counters ---- */

static int read_counters(struct datapath *dp, const char *map, __u32 idx, struct dos_counters *sum)
{
	int fd = datapath_map_fd(dp, map), ncpus = libbpf_num_possible_cpus();
	struct dos_counters *v;
	int err = 0;

	memset(sum, 0, sizeof(*sum));
	if (fd < 0 || ncpus < 0)
		return -1;
	v = calloc(ncpus, sizeof(*v));
	if (!v)
		return -1;
	if (bpf_map_lookup_elem(fd, &idx, v))
		err = -1;
	for (int c = 0; !err && c < ncpus; c++)
		for (int o = 0; o < DOS_NOUTCOMES; o++) {
			sum->packets[o] += v[c].packets[o];
			sum->bytes[o] += v[c].bytes[o];
		}
	free(v);
	return err;
}

static void counters_json(struct strbuf *out, const struct dos_counters *c)
{
	for (int o = 0; o < DOS_NOUTCOMES; o++)
		sb_printf(out, "%s\"%s\":{\"packets\":%llu,\"bytes\":%llu}", o ? "," : "",
		          outcome_names[o], (unsigned long long)c->packets[o],
		          (unsigned long long)c->bytes[o]);
}

static const char *const action_names[] = {[DOS_ACT_END] = "end",
                                           [DOS_ACT_DROP] = "drop",
                                           [DOS_ACT_RATE_LIMIT] = "rate-limit",
                                           [DOS_ACT_PASS] = "pass",
                                           [DOS_ACT_COUNT] = "count"};

void dos_rules_render(struct dos_state *st, struct datapath *dp, const struct dos_config *dc,
                      bool json, struct strbuf *out)
{
	int n = dc ? dc->n_rules : 0;

	if (json)
		sb_printf(out, "{\"rules\":[");
	else
		sb_printf(out, "%-24s %-10s %12s %12s %12s %12s\n", "RULE", "ACTION", "MATCHED",
		          "DROPPED", "RATE_LIMITED", "PASSED");
	for (int i = 0; i < n; i++) {
		const struct dos_rule_config *r = &dc->rules[i];
		int id = dos_rule_id(st, r->name);
		struct dos_counters c;

		if (id < 0 || read_counters(dp, "dos_rule_stats", id, &c))
			memset(&c, 0, sizeof(c));
		if (json) {
			sb_printf(out, "%s{\"name\":", i ? "," : "");
			sb_json_str(out, r->name);
			sb_printf(out, ",\"id\":%d,\"action\":\"%s\",", id,
			          action_names[r->rule.action]);
			counters_json(out, &c);
			sb_printf(out, "}");
		} else {
			sb_printf(out, "%-24s %-10s %12llu %12llu %12llu %12llu\n", r->name,
			          action_names[r->rule.action],
			          (unsigned long long)c.packets[DOS_OUT_MATCHED],
			          (unsigned long long)c.packets[DOS_OUT_DROPPED],
			          (unsigned long long)c.packets[DOS_OUT_RATE_LIMITED],
			          (unsigned long long)c.packets[DOS_OUT_PASSED]);
		}
	}
	if (json) {
		sb_printf(out, "],\"lists\":[");
		for (int l = 0; l < DOS_NLISTS; l++) {
			struct dos_counters c;

			read_counters(dp, "dos_list_stats", l, &c);
			sb_printf(out, "%s{\"name\":\"%s\",\"entries_v4\":%ld,\"entries_v6\":%ld,",
			          l ? "," : "", list_names[l], st->entries[DOS_V4][l],
			          st->entries[DOS_V6][l]);
			counters_json(out, &c);
			sb_printf(out, "}");
		}
		sb_printf(out, "],\"ceilings\":{");
		{
			struct dos_counters c;

			read_counters(dp, "dos_ceiling_stats", 0, &c);
			counters_json(out, &c);
		}
		sb_printf(out, "}");
		syncookie_stats_render(dp, true, out);
		sb_printf(out, "}\n");
	} else {
		if (!n)
			sb_printf(out, "(no rules)\n");
		if (dc && dc->n_syn_cookies)
			syncookie_stats_render(dp, false, out);
	}
}

/* Per-destination ceilings: what they matched and dropped, all ceilings together. */
static void ceiling_metrics(struct datapath *dp, struct strbuf *out, const char *unit_name,
                            int bytes)
{
	struct dos_counters c;

	if (read_counters(dp, "dos_ceiling_stats", 0, &c))
		return;
	sb_printf(out,
	          "# HELP edged_dos_ceiling_%s_total DoS per-destination ceilings by outcome.\n"
	          "# TYPE edged_dos_ceiling_%s_total counter\n",
	          unit_name, unit_name);
	for (int o = 0; o < DOS_NOUTCOMES; o++)
		sb_printf(out, "edged_dos_ceiling_%s_total{outcome=\"%s\"} %llu\n", unit_name,
		          outcome_names[o],
		          (unsigned long long)(bytes ? c.bytes[o] : c.packets[o]));
}

void dos_metrics_render(struct dos_state *st, struct datapath *dp, const struct dos_config *dc,
                        struct strbuf *out)
{
	static const char *const help[] = {"packets", "bytes"};

	for (int unit = 0; unit < 2; unit++) {
		sb_printf(out,
		          "# HELP edged_dos_rule_%s_total DoS signature rule matches by outcome.\n"
		          "# TYPE edged_dos_rule_%s_total counter\n",
		          help[unit], help[unit]);
		for (int i = 0; dc && i < dc->n_rules; i++) {
			int id = dos_rule_id(st, dc->rules[i].name);
			struct dos_counters c;

			if (id < 0 || read_counters(dp, "dos_rule_stats", id, &c))
				continue;
			for (int o = 0; o < DOS_NOUTCOMES; o++)
				sb_printf(out,
				          "edged_dos_rule_%s_total{rule=\"%s\",outcome=\"%s\"} "
				          "%llu\n",
				          help[unit], dc->rules[i].name, outcome_names[o],
				          (unsigned long long)(unit ? c.bytes[o] : c.packets[o]));
		}
		sb_printf(out,
		          "# HELP edged_dos_list_%s_total DoS allow/block list hits by outcome.\n"
		          "# TYPE edged_dos_list_%s_total counter\n",
		          help[unit], help[unit]);
		for (int l = 0; l < DOS_NLISTS; l++) {
			struct dos_counters c;

			if (read_counters(dp, "dos_list_stats", l, &c))
				continue;
			for (int o = 0; o < DOS_NOUTCOMES; o++)
				sb_printf(out,
				          "edged_dos_list_%s_total{list=\"%s\",outcome=\"%s\"} "
				          "%llu\n",
				          help[unit], list_names[l], outcome_names[o],
				          (unsigned long long)(unit ? c.bytes[o] : c.packets[o]));
		}
		ceiling_metrics(dp, out, help[unit], unit);
	}
	sb_printf(out, "# HELP edged_dos_list_entries Prefixes in each DoS list.\n"
	               "# TYPE edged_dos_list_entries gauge\n");
	for (int l = 0; l < DOS_NLISTS; l++)
		for (int fam = 0; fam < DOS_NFAMILIES; fam++)
			sb_printf(out, "edged_dos_list_entries{list=\"%s\",family=\"ipv%d\"} %ld\n",
			          list_names[l], fam == DOS_V4 ? 4 : 6, st->entries[fam][l]);
	syncookie_metrics_render(dp, out);
}
