/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The DoS stage of the XDP edge program: allow and block lists, signature rules with
 * rate limits, and per-destination packet-rate ceilings. bpf/dos.h holds the data layout
 * and the order of evaluation; edged (edged/dos_maps.c) fills the maps below.
 *
 *   allow list hit ------------------------------------------------> continue (skip the stage)
 *   block list hit ------------------------------------------------> drop
 *   rules, in order: count -> next rule; drop | rate-limit | pass -> stop the rules
 *   ceiling of the destination ------------------------------------> drop when over the rate
 *
 * Each list is a hash of exact addresses then an LPM trie (bpf/dos.h), and each step runs
 * only when dos_active says its maps hold something: an LPM lookup costs 40-90 ns here
 * (growing with the trie), a hash lookup about 15, an empty step nothing.
 *
 * Token buckets (rate-limit rules and ceilings)
 * ---------------------------------------------
 * A bucket holds tokens in nano-units: DOS_TOKEN (1e9) of them are one packet in pkt_tokens
 * and one byte in byte_tokens. A rate in units per second then refills exactly
 * `elapsed_ns * rate` nano-units: no division and no rounding on the packet path, and slow
 * rates keep their fractions (1 pps gains 1e6 nano-units per millisecond instead of losing
 * every partial token to integer division).
 *
 *   rates are clamped to DOS_RATE_MAX (1.8e10/s, above the 1e9 pps and 1.25e10 B/s that
 *   100 Gbit/s needs) and bursts to DOS_BURST_MAX units, so a full bucket (burst * 1e9)
 *   and one second of refill (1e9 ns * rate) both stay below 2^64 (1.8447e19);
 *   elapsed time is used as is up to 1 s; beyond it (an idle bucket) the refill is
 *   "full" once elapsed >= burst / rate, else elapsed * rate (then < burst: no overflow);
 *   a clock read older than the bucket's last_ns (another CPU updated it since) refills 0.
 *   burst defaults to one second of the rate; a rule's burst_pkts/burst_bytes override it.
 *   A packet passes when every limited measure holds its cost (1 packet, len bytes), and
 *   only then are the tokens taken; a new bucket starts full.
 *
 * The kernel refuses a bpf_spin_lock inside an LRU map's value (map_check_btf allows it in
 * HASH and ARRAY maps only), so dos_buckets stays LRU (memory bounded under spoofed-source
 * floods) and its buckets are guarded by striped locks in the dos_bucket_locks array: a
 * bucket's key hashes to one of DOS_BUCKET_LOCKS locks, so two CPUs updating one bucket
 * always serialise, and unrelated buckets rarely contend. (An LRU map may hand an evicted
 * bucket's memory to a new key while another CPU still updates it; only when the map is
 * full, and the worst case is one bucket's tokens off by a packet.)
 *
 * Counters: every decision counts MATCHED plus one outcome, packets and the frame's bytes;
 * DROPPED (drop action, block list) and RATE_LIMITED (empty bucket) are disjoint, so the
 * drops of a rule are their sum. A count-only rule counts MATCHED alone. The ceiling
 * counters count every packet to a destination under a ceiling (MATCHED) as PASSED or
 * RATE_LIMITED. A packet's rule_id (struct pkt) names what dropped it: the rule's id,
 * DOS_RULE_ID_BLOCKLIST or DOS_RULE_ID_CEILING.
 */
#ifndef EDGED_BPF_DOS_BPF_H
#define EDGED_BPF_DOS_BPF_H

#include "defs.h"
#include "edge.h"
#include "parse.h"
#include "dos.h"

#define NSEC_PER_SEC 1000000000ULL
/* Nano-units per packet or byte in a bucket (see the top of this file). */
#define DOS_TOKEN NSEC_PER_SEC
/* 1.8e10 x 1e9 < 2^64: the largest rate (per second) and burst (packets, bytes) whose
 * nano-units and one second of refill fit in 64 bits. */
#define DOS_RATE_MAX  18000000000ULL
#define DOS_BURST_MAX 18000000000ULL
/* Lock stripes for the buckets: a power of two; 1024 x 4 B, and two CPUs hitting
 * different buckets of one stripe at once is rare enough to cost nothing measurable. */
#define DOS_BUCKET_LOCKS 1024
/* Rules per bpf_loop step: a callback call costs about 8 ns here (call and return go
 * through the CPU's mitigations), as much as matching a rule; 8 rules a step halve the cost
 * of a 32-rule set (500 -> 270 ns/pkt, bench_dos) for 2x the verifier's work on the stage
 * (60k -> 120k instructions processed), which stays independent of DOS_MAX_RULES. */
#define DOS_RULES_PER_STEP 8
/* Lookups per expired list entry to find its prefix length by bisection: enough for the
 * 129 lengths of IPv6 (see dos_list_walk_step). */
#define DOS_LIST_BISECT_STEPS 8
/* Steps of the walk past expired list entries: bisection plus one step down per expired
 * entry, so up to 7 expired entries nested in one another; past that the address counts as
 * not listed until the sweeper has been by. */
#define DOS_LIST_WALK_STEPS (7 * (DOS_LIST_BISECT_STEPS + 1))

/* ---- maps ---------------------------------------------------------------------------- */

/* Inner map templates: edged creates its inner maps with exactly these parameters (type,
 * key and value size, flags, max_entries), or the kernel refuses to insert them. Sizes, not
 * __type(): clang 14 gives types that only these templates name as forward declarations in
 * BTF, and libbpf then cannot size the template. */
struct dos_list_v4_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, DOS_MAX_LIST_ENTRIES);
	__uint(key_size, sizeof(struct dos_lpm_v4));
	__uint(value_size, sizeof(struct dos_list_entry));
};

struct dos_list_v6_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, DOS_MAX_LIST_ENTRIES);
	__uint(key_size, sizeof(struct dos_lpm_v6));
	__uint(value_size, sizeof(struct dos_list_entry));
};

/* Exact addresses of a list. Any max_entries: the kernel compares it for arrays only. */
struct dos_exact_v4_hash {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, DOS_EXACT_MAP_FLAGS);
	__uint(max_entries, 1); /* the template only: edged sizes each hash */
	__uint(key_size, sizeof(struct dos_exact_v4));
	__uint(value_size, sizeof(struct dos_list_entry));
};

struct dos_exact_v6_hash {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, DOS_EXACT_MAP_FLAGS);
	__uint(max_entries, 1); /* the template only: edged sizes each hash */
	__uint(key_size, sizeof(struct dos_exact_v6));
	__uint(value_size, sizeof(struct dos_list_entry));
};

struct dos_rule_set {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DOS_MAX_RULES);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct dos_rule));
};

struct dos_dest_v4_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, DOS_MAX_DEST_PREFIXES);
	__uint(key_size, sizeof(struct dos_lpm_v4));
	__uint(value_size, sizeof(struct dos_dest_policy));
};

struct dos_dest_v6_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, DOS_MAX_DEST_PREFIXES);
	__uint(key_size, sizeof(struct dos_lpm_v6));
	__uint(value_size, sizeof(struct dos_dest_policy));
};

/* The live generation and what it holds (DOS_ACTIVE_GEN, DOS_HAS_*: bpf/dos.h). Written by
 * edged: once per reload, after the new generation's slots are filled (the flip), and to
 * set a DOS_HAS_* bit when edgectl adds to an empty list. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dos_active SEC(".maps");

/* IPv4 allow and block lists by source, [DOS_LIST_SLOT(gen, list)] -> LPM trie of the
 * prefixes. edged fills a generation's tries on reload and adds single entries (edgectl)
 * to the live ones. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, DOS_GENS *DOS_NLISTS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct dos_list_v4_trie);
} dos_lists_v4 SEC(".maps");

/* IPv6 allow and block lists by source, as dos_lists_v4. Written by edged. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, DOS_GENS *DOS_NLISTS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct dos_list_v6_trie);
} dos_lists_v6 SEC(".maps");

/* The exact addresses (/32) of the IPv4 lists, [DOS_LIST_SLOT(gen, list)] -> hash, beside
 * the tries of dos_lists_v4. Written by edged like them. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, DOS_GENS *DOS_NLISTS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct dos_exact_v4_hash);
} dos_exact_v4 SEC(".maps");

/* The exact addresses (/128) of the IPv6 lists, as dos_exact_v4. Written by edged. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, DOS_GENS *DOS_NLISTS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct dos_exact_v6_hash);
} dos_exact_v6 SEC(".maps");

/* The signature rule set of each generation: an array of rules ending at DOS_ACT_END.
 * edged builds a new array for each reload. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, DOS_GENS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct dos_rule_set);
} dos_rules SEC(".maps");

/* IPv4 per-destination policies (ceilings, SYN cookies) of each generation, by destination
 * prefix. Written (a new trie per reload) by edged. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, DOS_GENS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct dos_dest_v4_trie);
} dos_dest_v4 SEC(".maps");

/* IPv6 per-destination policies, as dos_dest_v4. Written by edged. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, DOS_GENS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct dos_dest_v6_trie);
} dos_dest_v6 SEC(".maps");

/* Token buckets of rate-limit rules and ceilings, by rule and key address. Written by this
 * program only; LRU so a flood of spoofed sources evicts old buckets instead of failing. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DOS_MAX_BUCKETS);
	__type(key, struct dos_bucket_key);
	__type(value, struct dos_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dos_buckets SEC(".maps");

struct dos_bucket_lock {
	struct bpf_spin_lock lock;
};

/* The locks guarding dos_buckets, by hash of the bucket key (see the top of this file).
 * Used by this program only. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DOS_BUCKET_LOCKS);
	__type(key, __u32);
	__type(value, struct dos_bucket_lock);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dos_bucket_locks SEC(".maps");

/* Per-rule counters, indexed by dos_rule.id. Written by this program, read and zeroed (for a
 * new rule taking an id) by edged. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DOS_MAX_RULES);
	__type(key, __u32);
	__type(value, struct dos_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dos_rule_stats SEC(".maps");

/* Per-list counters, [DOS_LIST_ALLOW|BLOCK], both families. Written by this program. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DOS_NLISTS);
	__type(key, __u32);
	__type(value, struct dos_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dos_list_stats SEC(".maps");

/* Counters of the per-destination ceilings, all destinations together. Written by this
 * program. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dos_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dos_ceiling_stats SEC(".maps");

/* ---- helpers ------------------------------------------------------------------------- */

/* The clock of list expiry (CLOCK_BOOTTIME, as edged writes expires_ns) and of the buckets,
 * read at most once per packet and only when needed. */
static __always_inline __u64 dos_now(__u64 *now)
{
	if (!*now)
		*now = bpf_ktime_get_boot_ns();
	return *now;
}

static __always_inline bool dos_is_v4(const struct pkt *p)
{
	return p->l3_proto == ETH_P_IP;
}

/* dos_active: read once per packet, so that every lookup uses one generation. */
static __always_inline __u32 dos_active_word(void)
{
	__u32 zero = 0, *w = bpf_map_lookup_elem(&dos_active, &zero);

	return w ? *w : 0;
}

/* Counts one decision: MATCHED and OUTCOME (unless it is MATCHED itself). */
static __always_inline void dos_count(void *stats, __u32 idx, int outcome, __u32 len)
{
	struct dos_counters *c = bpf_map_lookup_elem(stats, &idx);

	if (!c)
		return;
	/* Per-CPU value: this CPU is its only writer. */
	c->packets[DOS_OUT_MATCHED]++;
	c->bytes[DOS_OUT_MATCHED] += len;
	if (outcome > DOS_OUT_MATCHED && outcome < DOS_NOUTCOMES) {
		c->packets[outcome]++;
		c->bytes[outcome] += len;
	}
}

static __always_inline bool dos_entry_live(const struct dos_list_entry *e, __u64 *now)
{
	return !e->expires_ns || e->expires_ns > dos_now(now);
}

/* ---- lists --------------------------------------------------------------------------- */

/*
 * An LPM trie returns only the longest matching prefix; when that entry has expired, a
 * shorter live prefix covering the same address must still match (an expired /32 inside a
 * permanent /16 block) until edged's sweeper deletes the expired one. The walk below finds
 * the expired entry's prefix length L by bisection (a lookup with prefixlen >= L returns
 * that same entry, a shorter one does not), looks up with prefixlen L - 1, and repeats while
 * it meets expired entries: 9 lookups per expired level, and only for addresses inside an
 * expired entry the sweeper has not removed yet.
 *
 * It follows a fixed schedule of steps, 8 bisection steps (enough for the 129 lengths of
 * IPv6) then one step down, decided by the loop index alone; the walk's state is only data.
 * Linux 6.1 verifies a bpf_loop callback once, from the state of the first call, and then
 * removes the branches it did not see taken: a walk branching on its own state (as in "still
 * bisecting?") would lose everything after the first step there.
 */
struct dos_list_walk {
	void *trie;
	const struct dos_list_entry *hit; /* the expired entry being stepped over */
	struct dos_lpm_v6 key;            /* an IPv4 key is its first 8 bytes */
	__u64 now;
	__u32 lo, hi; /* the hit's prefix length is in [lo, hi] */
	__u32 live;   /* found a live entry */
};

static long dos_list_walk_step(__u32 i, void *arg)
{
	struct dos_list_walk *w = arg;
	const struct dos_list_entry *e;
	__u32 mid = (w->lo + w->hi) / 2;

	if (i % (DOS_LIST_BISECT_STEPS + 1) < DOS_LIST_BISECT_STEPS) {
		/* Bisection; once lo == hi, mid is the hit's length and nothing changes. */
		w->key.prefixlen = mid;
		e = bpf_map_lookup_elem(w->trie, &w->key);
		if (e && e == w->hit)
			w->hi = mid;
		else
			w->lo = mid + 1;
		return 0;
	}
	/* One step down: the longest entry shorter than the hit. For a hit of length 0 the
	 * prefixlen wraps to 0xffffffff, which the trie answers with NULL: nothing shorter. */
	w->key.prefixlen = w->lo - 1;
	e = bpf_map_lookup_elem(w->trie, &w->key);
	if (!e)
		return 1;
	if (!e->expires_ns || e->expires_ns > w->now) {
		w->live = 1;
		return 1;
	}
	w->hit = e;
	w->hi = w->lo - 1;
	w->lo = 0;
	return 0;
}

/* True when a live entry of TRIE covers the key's address; HIT is the longest match. */
static __always_inline bool dos_list_live(void *trie, const struct dos_list_entry *hit,
                                          const struct dos_lpm_v6 *key, __u64 *now)
{
	struct dos_list_walk w = {
	        .trie = trie,
	        .hit = hit,
	        .key = *key,
	        .hi = key->prefixlen,
	};

	if (dos_entry_live(hit, now))
		return true;
	w.now = *now;
	bpf_loop(DOS_LIST_WALK_STEPS, dos_list_walk_step, &w, 0);
	return w.live;
}

/* Whether the trie of list LIST holds a live entry covering the source address. */
static __always_inline bool dos_prefix_v4(__u32 slot, const struct pkt *p, __u64 *now)
{
	struct dos_lpm_v6 key = {.prefixlen = 32};
	struct dos_list_entry *e;
	void *trie;

	trie = bpf_map_lookup_elem(&dos_lists_v4, &slot);
	if (!trie) /* no list installed: an empty list */
		return false;
	__builtin_memcpy(key.addr, &p->saddr.v4, 4);
	e = bpf_map_lookup_elem(trie, &key);
	return e && dos_list_live(trie, e, &key, now);
}

static __always_inline bool dos_prefix_v6(__u32 slot, const struct pkt *p, __u64 *now)
{
	struct dos_lpm_v6 key = {.prefixlen = 128};
	struct dos_list_entry *e;
	void *trie;

	trie = bpf_map_lookup_elem(&dos_lists_v6, &slot);
	if (!trie)
		return false;
	__builtin_memcpy(key.addr, &p->saddr.v6, 16);
	e = bpf_map_lookup_elem(trie, &key);
	return e && dos_list_live(trie, e, &key, now);
}

/* Whether the exact-address hash of the list holds a live entry for the source address. An
 * expired one is no answer: a live prefix in the trie may still cover the address. */
static __always_inline bool dos_exact_hit(__u32 slot, const struct pkt *p, __u64 *now)
{
	struct dos_list_entry *e;
	void *hash;

	/* Keys copied to the stack: 6.1 takes no global function's argument memory as one. */
	if (dos_is_v4(p)) {
		struct dos_exact_v4 k;

		hash = bpf_map_lookup_elem(&dos_exact_v4, &slot);
		if (!hash)
			return false;
		__builtin_memcpy(k.addr, &p->saddr.v4, 4);
		e = bpf_map_lookup_elem(hash, &k);
	} else {
		struct dos_exact_v6 k;

		hash = bpf_map_lookup_elem(&dos_exact_v6, &slot);
		if (!hash)
			return false;
		__builtin_memcpy(k.addr, &p->saddr.v6, 16);
		e = bpf_map_lookup_elem(hash, &k);
	}
	return e && dos_entry_live(e, now);
}

/* Whether list LIST (DOS_LIST_ALLOW or _BLOCK) of the generation in ACTIVE holds a live entry
 * for the source address: the exact hash, then the trie, each only when it holds entries. */
static __always_inline bool dos_list_hit(__u32 list, const struct pkt *p, __u64 *now, __u32 active)
{
	__u32 fam = dos_is_v4(p) ? 0 : 1, slot = DOS_LIST_SLOT(dos_active_gen(active), list);

	if ((active & DOS_HAS_EXACT(list, fam)) && dos_exact_hit(slot, p, now))
		return true;
	if (!(active & DOS_HAS_PREFIX(list, fam)))
		return false;
	return fam == 0 ? dos_prefix_v4(slot, p, now) : dos_prefix_v6(slot, p, now);
}

/* ---- token buckets ------------------------------------------------------------------- */

/* A bucket's limits in nano-units, from a rule or a destination policy (0 rate: no limit). */
struct dos_limit {
	__u64 pps, burst_pkts;  /* per second; nano-units */
	__u64 bps, burst_bytes; /* per second; nano-units */
};

static __always_inline __u64 dos_min(__u64 a, __u64 b)
{
	return a < b ? a : b;
}

static __always_inline void dos_limit_set(struct dos_limit *l, __u64 pps, __u64 burst_pkts,
                                          __u64 bps, __u64 burst_bytes)
{
	l->pps = dos_min(pps, DOS_RATE_MAX);
	l->burst_pkts = dos_min(burst_pkts ?: l->pps, DOS_BURST_MAX) * DOS_TOKEN;
	l->bps = dos_min(bps, DOS_RATE_MAX);
	l->burst_bytes = dos_min(burst_bytes ?: l->bps, DOS_BURST_MAX) * DOS_TOKEN;
}

/* TOKENS (<= BURST) after ELAPSED ns at RATE per second; never above BURST. */
static __always_inline __u64 dos_refill(__u64 tokens, __u64 burst, __u64 rate, __u64 elapsed)
{
	__u64 add;

	/* A bucket fuller than its burst: the rule's limit was lowered by a reload while the
	 * bucket lived. Cap it now, or `burst - tokens` below would wrap and the new limit
	 * would never apply. */
	if (tokens >= burst)
		return burst;
	/* An idle bucket: the one place that divides, and it is off the flood's path. */
	if (elapsed > NSEC_PER_SEC && elapsed >= burst / rate)
		return burst;
	add = elapsed * rate;
	return add >= burst - tokens ? burst : tokens + add;
}

/* Takes one packet of LEN bytes from B if every limited measure has it. Called with the
 * bucket's lock held, or on a bucket no other CPU can see yet. */
static __always_inline bool dos_take(struct dos_bucket *b, const struct dos_limit *l, __u32 len)
{
	__u64 bytes = (__u64)len * DOS_TOKEN;

	if (l->pps && b->pkt_tokens < DOS_TOKEN)
		return false;
	if (l->bps && b->byte_tokens < bytes)
		return false;
	if (l->pps)
		b->pkt_tokens -= DOS_TOKEN;
	if (l->bps)
		b->byte_tokens -= bytes;
	return true;
}

static __always_inline __u32 dos_lock_stripe(const struct dos_bucket_key *k)
{
	const __u32 *w = (const __u32 *)k;
	__u32 h = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*k) / 4); i++)
		h = (h ^ w[i]) * 0x9e3779b1; /* golden-ratio multiply: spreads every bit up */
	return (h >> 16) & (DOS_BUCKET_LOCKS - 1);
}

/* Whether a packet of LEN bytes passes the bucket K, limited by L; takes its tokens if so. */
static __always_inline bool dos_bucket_pass(const struct dos_bucket_key *k,
                                            const struct dos_limit *l, __u32 len, __u64 now)
{
	__u32 stripe = dos_lock_stripe(k);
	struct dos_bucket_lock *lock;
	struct dos_bucket *b;
	bool ok;

	lock = bpf_map_lookup_elem(&dos_bucket_locks, &stripe);
	if (!lock)
		return true;
	b = bpf_map_lookup_elem(&dos_buckets, k);
	if (!b) {
		struct dos_bucket nb = {
		        .last_ns = now,
		        .pkt_tokens = l->burst_pkts,
		        .byte_tokens = l->burst_bytes,
		};

		ok = dos_take(&nb, l, len);
		if (!bpf_map_update_elem(&dos_buckets, k, &nb, BPF_NOEXIST))
			return ok;
		/* Another CPU created it meanwhile: take from that one. */
		b = bpf_map_lookup_elem(&dos_buckets, k);
		if (!b)
			return ok;
	}
	bpf_spin_lock(&lock->lock);
	if (now > b->last_ns) {
		__u64 elapsed = now - b->last_ns;

		if (l->pps)
			b->pkt_tokens = dos_refill(b->pkt_tokens, l->burst_pkts, l->pps, elapsed);
		if (l->bps)
			b->byte_tokens =
			        dos_refill(b->byte_tokens, l->burst_bytes, l->bps, elapsed);
		b->last_ns = now;
	}
	ok = dos_take(b, l, len);
	bpf_spin_unlock(&lock->lock);
	return ok;
}

/* ---- rules --------------------------------------------------------------------------- */

static __always_inline bool dos_in(__u32 v, __u32 min, __u32 max)
{
	return v >= min && v <= max;
}

/* Whether the first LEN bits of the addresses A (the packet's) and B (the rule's) agree;
 * WORDS is 1 for IPv4, 4 for IPv6. */
static __always_inline bool dos_prefix_match(const __u32 *a, const __u8 *rule_addr, __u32 len,
                                             int words)
{
	__u32 b[4];

	__builtin_memcpy(b, rule_addr, sizeof(b));
#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (i >= words || len == 0)
			return true;
		if (len < 32)
			return ((a[i] ^ b[i]) & bpf_htonl(~0u << (32 - len))) == 0;
		if (a[i] != b[i])
			return false;
		len -= 32;
	}
	return true;
}

static __always_inline bool dos_addr_match(const struct pkt *p, const void *addr,
                                           const struct dos_rule *r, const __u8 *rule_addr,
                                           __u8 len)
{
	if (r->l3 != (dos_is_v4(p) ? 4 : 6)) /* an IPv4 prefix never matches IPv6 */
		return false;
	return dos_prefix_match(addr, rule_addr, len, dos_is_v4(p) ? 1 : 4);
}

static __always_inline bool dos_frag_match(const struct pkt *p, __u8 want)
{
	switch (want) {
	case DOS_FRAG_NONE:
		return !p->frag;
	case DOS_FRAG_ANY_FRAGMENT:
		return p->frag;
	case DOS_FRAG_FIRST:
		return p->frag && !p->frag_later;
	case DOS_FRAG_LATER:
		return p->frag_later;
	default:
		return false;
	}
}

/* Payload bytes at payload_off from the L4 header, masked. Bytes past the IP packet's own
 * length (Ethernet padding, trailers) are not payload; reads past the frame fail: no match. */
static __always_inline bool dos_payload_match(struct xdp_md *ctx, const struct pkt *p,
                                              const struct dos_rule *r)
{
	__u8 buf[DOS_PAYLOAD_MAX] = {};
	__u32 off = (__u32)p->l4_off + r->payload_off;
	__u32 n = r->payload_len;

	if (n == 0 || n > DOS_PAYLOAD_MAX || off + n > p->l3_end)
		return false;
	/* The same value the checks above allowed, written so the verifier sees it in 1..16
	 * (clang 14 may test a copy of n and pass the verifier another). */
	n = ((n - 1) & (DOS_PAYLOAD_MAX - 1)) + 1;
	if (bpf_xdp_load_bytes(ctx, off, buf, n))
		return false;
#pragma unroll
	for (int i = 0; i < DOS_PAYLOAD_MAX; i++)
		if (i < (int)n && ((buf[i] ^ r->payload[i]) & r->payload_mask[i]))
			return false;
	return true;
}

/*
 * Whether rule R matches the packet. A later fragment carries no L4 header: port, TCP flag
 * and payload matches never match it, while address, protocol, fragment, length and TTL
 * matches do (its headers up to L3 are all there). Ports exist for TCP and UDP only.
 */
static __always_inline bool dos_rule_match(struct xdp_md *ctx, const struct pkt *p,
                                           const struct dos_rule *r)
{
	bool l4 = !p->frag_later;
	bool ports = l4 && (p->l4_proto == IPPROTO_TCP || p->l4_proto == IPPROTO_UDP);
	__u16 m = r->match;

	if ((m & DOS_M_L3) && r->l3 != (dos_is_v4(p) ? 4 : 6))
		return false;
	if ((m & DOS_M_L4) && r->l4_proto != p->l4_proto)
		return false;
	if ((m & DOS_M_TTL) && !dos_in(p->ttl, r->ttl_min, r->ttl_max))
		return false;
	if ((m & DOS_M_LEN) && !dos_in(p->len, r->len_min, r->len_max))
		return false;
	if ((m & DOS_M_FRAG) && !dos_frag_match(p, r->frag))
		return false;
	if ((m & DOS_M_SPORT) &&
	    (!ports || !dos_in(bpf_ntohs(p->sport), r->sport_min, r->sport_max)))
		return false;
	if ((m & DOS_M_DPORT) &&
	    (!ports || !dos_in(bpf_ntohs(p->dport), r->dport_min, r->dport_max)))
		return false;
	if ((m & DOS_M_TCP_FLAGS) && (!l4 || p->l4_proto != IPPROTO_TCP ||
	                              (p->tcp_flags & r->tcp_flags_mask) != r->tcp_flags_value))
		return false;
	if ((m & DOS_M_SRC) && !dos_addr_match(p, &p->saddr, r, r->src, r->src_len))
		return false;
	if ((m & DOS_M_DST) && !dos_addr_match(p, &p->daddr, r, r->dst, r->dst_len))
		return false;
	if ((m & DOS_M_PAYLOAD) && (!l4 || !dos_payload_match(ctx, p, r)))
		return false;
	return true;
}

struct dos_rule_walk {
	struct xdp_md *ctx;
	struct pkt *p;
	void *rules; /* the rule set this packet sees from start to end, even across a swap */
	__u32 hit;   /* the deciding rule's index; DOS_MAX_RULES when none decided */
};

/* Rule I: 1 stops the walk (end of the set, or a deciding match), 0 goes on. */
static __always_inline int dos_rule_one(struct dos_rule_walk *w, __u32 i)
{
	struct dos_rule *r;

	r = bpf_map_lookup_elem(w->rules, &i);
	if (!r || r->action == DOS_ACT_END)
		return 1;
	if (!dos_rule_match(w->ctx, w->p, r))
		return 0;
	switch (r->action) {
	case DOS_ACT_DROP:
	case DOS_ACT_RATE_LIMIT:
	case DOS_ACT_PASS:
		w->hit = i;
		return 1;
	default: /* DOS_ACT_COUNT, and actions this program does not know: note, go on */
		dos_count(&dos_rule_stats, r->id, DOS_OUT_MATCHED, w->p->len);
		return 0;
	}
}

/* Rules I * DOS_RULES_PER_STEP and the next ones: 1 stops the walk, 0 goes on. */
static long dos_rule_step(__u32 i, void *arg)
{
	for (__u32 j = 0; j < DOS_RULES_PER_STEP; j++)
		if (dos_rule_one(arg, i * DOS_RULES_PER_STEP + j))
			return 1;
	return 0;
}

/* The rate-limit bucket key of rule R for this packet. */
static __always_inline void dos_rule_key(const struct pkt *p, const struct dos_rule *r,
                                         struct dos_bucket_key *k)
{
	const void *addr = r->rl_key == DOS_RL_DST ? (const void *)&p->daddr : &p->saddr;
	bool v4 = dos_is_v4(p);
	__u32 n;

	k->rule_id = r->id;
	switch (r->rl_key) {
	case DOS_RL_SRC:
	case DOS_RL_DST:
		n = v4 ? 4 : 16;
		break;
	case DOS_RL_SRC24:
		n = v4 ? 3 : 6; /* /24, /48 */
		break;
	case DOS_RL_SRC64:
		n = v4 ? 4 : 8; /* /32, /64 */
		break;
	default: /* DOS_RL_RULE: one bucket for the rule, family 0 */
		return;
	}
	k->family = v4 ? 4 : 6;
	/* Constant-size copies: the verifier wants them, and bytes past n stay 0. */
	if (n == 3)
		__builtin_memcpy(k->addr, addr, 3);
	else if (n == 4)
		__builtin_memcpy(k->addr, addr, 4);
	else if (n == 6)
		__builtin_memcpy(k->addr, addr, 6);
	else if (n == 8)
		__builtin_memcpy(k->addr, addr, 8);
	else
		__builtin_memcpy(k->addr, addr, 16);
}

/* What the deciding rule R does with the packet. */
static __always_inline int dos_rule_act(struct pkt *p, const struct dos_rule *r, __u64 *now)
{
	struct dos_bucket_key k = {};
	struct dos_limit l;

	if (r->action == DOS_ACT_PASS) {
		dos_count(&dos_rule_stats, r->id, DOS_OUT_PASSED, p->len);
		return EDGE_CONTINUE;
	}
	if (r->action == DOS_ACT_DROP) {
		dos_count(&dos_rule_stats, r->id, DOS_OUT_DROPPED, p->len);
		p->rule_id = r->id;
		return EDGE_VERDICT_DROP; /* a drop rule matched */
	}
	dos_limit_set(&l, r->pps, r->burst_pkts, r->bps, r->burst_bytes);
	dos_rule_key(p, r, &k);
	if ((!l.pps && !l.bps) || dos_bucket_pass(&k, &l, p->len, dos_now(now))) {
		dos_count(&dos_rule_stats, r->id, DOS_OUT_PASSED, p->len);
		return EDGE_CONTINUE;
	}
	dos_count(&dos_rule_stats, r->id, DOS_OUT_RATE_LIMITED, p->len);
	p->rule_id = r->id;
	return EDGE_VERDICT_DROP; /* over the rule's rate for this key */
}

static __always_inline int dos_rules_eval(struct xdp_md *ctx, struct pkt *p, __u64 *now, __u32 gen)
{
	struct dos_rule_walk w = {.ctx = ctx, .p = p, .hit = DOS_MAX_RULES};
	__u32 zero = 0;
	struct dos_rule *r;

	w.rules = bpf_map_lookup_elem(&dos_rules, &gen);
	if (!w.rules) /* no rule set installed */
		return EDGE_CONTINUE;
	r = bpf_map_lookup_elem(w.rules, &zero);
	if (!r || r->action == DOS_ACT_END) /* an empty set: skip the loop's cost */
		return EDGE_CONTINUE;
	bpf_loop(DOS_MAX_RULES / DOS_RULES_PER_STEP, dos_rule_step, &w, 0);
	r = bpf_map_lookup_elem(w.rules, &w.hit);
	if (!r) /* no rule decided (w.hit is out of the array) */
		return EDGE_CONTINUE;
	return dos_rule_act(p, r, now);
}

/* ---- ceilings ------------------------------------------------------------------------ */

/* The policy of the packet's destination in generation GEN. */
static __always_inline struct dos_dest_policy *dos_dest_lookup(const struct pkt *p, __u32 gen)
{
	struct dos_lpm_v6 key = {};
	void *trie;

	if (dos_is_v4(p)) {
		trie = bpf_map_lookup_elem(&dos_dest_v4, &gen);
		if (!trie)
			return NULL;
		key.prefixlen = 32;
		__builtin_memcpy(key.addr, &p->daddr.v4, 4);
		return bpf_map_lookup_elem(trie, &key);
	}
	trie = bpf_map_lookup_elem(&dos_dest_v6, &gen);
	if (!trie)
		return NULL;
	key.prefixlen = 128;
	__builtin_memcpy(key.addr, &p->daddr.v6, 16);
	return bpf_map_lookup_elem(trie, &key);
}

/* The ceiling of the packet's destination: one bucket per destination address covered by a
 * policy's prefix, so each server behind a /24 gets its own ceiling. */
static __always_inline int dos_ceiling(struct pkt *p, __u64 *now, __u32 gen)
{
	struct dos_dest_policy *pol = dos_dest_lookup(p, gen);
	struct dos_bucket_key k = {.rule_id = DOS_RULE_ID_CEILING};
	struct dos_limit l;

	if (!pol || !pol->ceiling_pps)
		return EDGE_CONTINUE;
	dos_limit_set(&l, pol->ceiling_pps, pol->ceiling_burst, 0, 0);
	if (dos_is_v4(p)) {
		k.family = 4;
		__builtin_memcpy(k.addr, &p->daddr.v4, 4);
	} else {
		k.family = 6;
		__builtin_memcpy(k.addr, &p->daddr.v6, 16);
	}
	if (dos_bucket_pass(&k, &l, p->len, dos_now(now))) {
		dos_count(&dos_ceiling_stats, 0, DOS_OUT_PASSED, p->len);
		return EDGE_CONTINUE;
	}
	dos_count(&dos_ceiling_stats, 0, DOS_OUT_RATE_LIMITED, p->len);
	p->rule_id = DOS_RULE_ID_CEILING;
	return EDGE_VERDICT_DROP; /* the destination is over its ceiling */
}

/* ---- the stage ----------------------------------------------------------------------- */

/*
 * Global and not inlined: the verifier checks a global function once, on its own, instead
 * of once for every distinct state the parser's paths arrive with: 122k instructions
 * processed for the whole program this way, 424k inlined (the limit is 1M, and transit and
 * lb are still to come). The price is one BPF-to-BPF call, about 10 ns per packet here
 * (bench_dos, "dos on, no maps").
 */
__noinline int dos_stage_run(struct xdp_md *ctx, struct pkt *p, __u32 active)
{
	__u32 gen = dos_active_gen(active);
	__u64 now = 0;
	int v;

	if (!p)
		return EDGE_CONTINUE;
	if ((active & DOS_HAS_LIST(DOS_LIST_ALLOW)) &&
	    dos_list_hit(DOS_LIST_ALLOW, p, &now, active)) {
		dos_count(&dos_list_stats, DOS_LIST_ALLOW, DOS_OUT_PASSED, p->len);
		return EDGE_CONTINUE;
	}
	if ((active & DOS_HAS_LIST(DOS_LIST_BLOCK)) &&
	    dos_list_hit(DOS_LIST_BLOCK, p, &now, active)) {
		dos_count(&dos_list_stats, DOS_LIST_BLOCK, DOS_OUT_DROPPED, p->len);
		p->rule_id = DOS_RULE_ID_BLOCKLIST;
		return EDGE_VERDICT_DROP; /* the source is on the block list */
	}
	if (active & DOS_HAS_RULES) {
		v = dos_rules_eval(ctx, p, &now, gen);
		if (v != EDGE_CONTINUE)
			return v;
	}
	if (active & DOS_HAS_CEILINGS)
		return dos_ceiling(p, &now, gen);
	return EDGE_CONTINUE;
}

/* Lists of exact addresses only, and no rules or ceilings (what xdp-filter does): the two
 * hash lookups inline, without dos_stage_run's call (bench_dos: 107 -> 90 ns). */
#define DOS_HAS_EXACT_ONLY                                                                         \
	(DOS_HAS_EXACT(DOS_LIST_ALLOW, 0) | DOS_HAS_EXACT(DOS_LIST_ALLOW, 1) |                     \
	 DOS_HAS_EXACT(DOS_LIST_BLOCK, 0) | DOS_HAS_EXACT(DOS_LIST_BLOCK, 1))

static __always_inline bool dos_exact_only_drops(struct pkt *p, __u32 active)
{
	__u32 fam = dos_is_v4(p) ? 0 : 1, gen = dos_active_gen(active);
	__u64 now = 0;

	if ((active & DOS_HAS_EXACT(DOS_LIST_ALLOW, fam)) &&
	    dos_exact_hit(DOS_LIST_SLOT(gen, DOS_LIST_ALLOW), p, &now)) {
		dos_count(&dos_list_stats, DOS_LIST_ALLOW, DOS_OUT_PASSED, p->len);
		return false;
	}
	if (!(active & DOS_HAS_EXACT(DOS_LIST_BLOCK, fam)) ||
	    !dos_exact_hit(DOS_LIST_SLOT(gen, DOS_LIST_BLOCK), p, &now))
		return false;
	dos_count(&dos_list_stats, DOS_LIST_BLOCK, DOS_OUT_DROPPED, p->len);
	p->rule_id = DOS_RULE_ID_BLOCKLIST;
	return true; /* the source is on the block list */
}

/* The DoS stage with the dos_active word ACTIVE: EDGE_CONTINUE or EDGE_VERDICT_DROP. Only
 * when some list, rule or ceiling is installed does it pay for the call. */
static __always_inline int dos_stage(struct xdp_md *ctx, struct pkt *p, __u32 active)
{
	int v = EDGE_VERDICT_DROP;

	if (!(active & DOS_HAS_STAGE))
		return EDGE_CONTINUE;
	if (!(active & DOS_HAS_STAGE & ~DOS_HAS_EXACT_ONLY))
		return dos_exact_only_drops(p, active) ? EDGE_VERDICT_DROP : EDGE_CONTINUE;
	if (dos_stage_run(ctx, p, active) != EDGE_VERDICT_DROP)
		return EDGE_CONTINUE;
	/* A global function's result is any int to the verifier, and the caller indexes its
	 * counters with the verdict: hand it a constant, and keep clang 14 from turning this
	 * into a select of two constants before the branch (the verifier cannot tie the two
	 * together and would follow an index of -1). */
	barrier_var(v);
	return v;
}

#endif
