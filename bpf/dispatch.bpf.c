// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Socket dispatch with BPF sk_lookup: attached to edged's network namespace, it picks the
 * listening socket of a new TCP connection or an unclaimed UDP datagram by (prefix, protocol,
 * port) -> service, for addresses no socket is bound to (AnyIP prefixes, any port).
 * See bpf/dispatch.h for the lookup and the maps' layout.
 */
#include "defs.h"
#include "dispatch.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET  2
#define AF_INET6 10

/* The template of the bindings trie. Sizes, not __type(): clang 14 emits types that only a
 * template names as forward declarations in BTF, and libbpf then cannot size them. */
struct dispatch_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, DISPATCH_MAX_PREFIXES);
	__uint(key_size, sizeof(struct dispatch_lpm_key));
	__uint(value_size, sizeof(struct dispatch_ports));
};

/* Slot 0: the live bindings trie. edged builds a whole new trie on every apply and swaps it
 * in with one update, so a lookup sees the old bindings or the new ones, never a mix. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct dispatch_trie);
} dispatch_tables SEC(".maps");

/* Service sockets by dest (bpf/dispatch.h). Written by edged when a service registers; the
 * kernel removes an entry by itself when its socket closes, which is how a dead service
 * turns into counted misses. edged keeps no fd of these sockets for that reason. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, DISPATCH_MAX_DESTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dispatch_sockets SEC(".maps");

/* Lookups by binding slot and outcome. Written here; edged reads them and zeroes a slot
 * before giving it to a new binding. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DISPATCH_MAX_BINDINGS);
	__type(key, __u32);
	__type(value, struct dispatch_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dispatch_stats SEC(".maps");

/* edged's own records, not read by this program: service names and their registered
 * sockets by service slot, and what each binding slot stands for. Pinned with the rest so
 * a restarted edged finds slots, sockets and counters where it left them. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DISPATCH_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct dispatch_service_slot);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dispatch_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DISPATCH_MAX_BINDINGS);
	__type(key, __u32);
	__type(value, struct dispatch_binding_key);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dispatch_binding_keys SEC(".maps");

static __always_inline void count(__u32 binding, enum dispatch_outcome outcome)
{
	struct dispatch_counters *c = bpf_map_lookup_elem(&dispatch_stats, &binding);

	if (c)
		c->c[outcome]++;
}

/* The key of this lookup's local address; false for a family we do not dispatch. Each
 * context field is loaded into a register of its own (barrier_var) before it is stored:
 * otherwise clang merges the two branches' loads into one through a moved context pointer,
 * which the verifier refuses ("dereference of modified ctx ptr"). */
static __always_inline bool make_key(struct bpf_sk_lookup *ctx, struct dispatch_lpm_key *key)
{
	__u32 *addr = (__u32 *)key->addr;

	key->protocol = ctx->protocol;
	if (ctx->family == AF_INET) {
		__u32 a = ctx->local_ip4;

		barrier_var(a);
		key->family = DISPATCH_FAM_V4;
		key->prefixlen = DISPATCH_KEY_FIXED_BITS + 32;
		addr[0] = a;
		return true;
	}
	if (ctx->family == AF_INET6) {
		__u32 a0 = ctx->local_ip6[0], a1 = ctx->local_ip6[1];
		__u32 a2 = ctx->local_ip6[2], a3 = ctx->local_ip6[3];

		barrier_var(a0);
		barrier_var(a1);
		barrier_var(a2);
		barrier_var(a3);
		key->family = DISPATCH_FAM_V6;
		key->prefixlen = DISPATCH_KEY_FIXED_BITS + 128;
		addr[0] = a0;
		addr[1] = a1;
		addr[2] = a2;
		addr[3] = a3;
		return true;
	}
	return false;
}

/* The segment holding PORT, by binary search; NULL when no binding covers it. */
static __always_inline const struct dispatch_segment *find_segment(const struct dispatch_ports *pt,
                                                                   __u32 port)
{
	__u32 lo = 0, hi = pt->n;

	if (hi > DISPATCH_MAX_SEGMENTS)
		hi = DISPATCH_MAX_SEGMENTS; /* a corrupt table must not read past the array */
	for (int i = 0; i < DISPATCH_SEARCH_STEPS; i++) {
		const struct dispatch_segment *s;
		__u32 mid;

		if (lo >= hi)
			break;
		mid = (lo + hi) / 2;
		/* Always true (mid < hi <= MAX); the mask lets the verifier see the bound. */
		mid &= DISPATCH_MAX_SEGMENTS - 1;
		s = &pt->seg[mid];
		if (port < s->lo)
			hi = mid;
		else if (port > s->hi)
			lo = mid + 1;
		else
			return s;
	}
	return NULL;
}

SEC("sk_lookup")
int dispatch_lookup(struct bpf_sk_lookup *ctx)
{
	struct dispatch_lpm_key key = {};
	const struct dispatch_segment *seg;
	const struct dispatch_ports *pt;
	struct bpf_sock *sk;
	__u32 slot = 0, dest;
	void *trie;
	long err;

	trie = bpf_map_lookup_elem(&dispatch_tables, &slot);
	if (!trie || !make_key(ctx, &key))
		return SK_PASS; /* nothing configured, or not IP: the kernel's own lookup */
	pt = bpf_map_lookup_elem(trie, &key);
	seg = pt ? find_segment(pt, ctx->local_port) : NULL;
	if (!seg) {
		count(DISPATCH_BINDING_NONE, DISPATCH_OUT_LOOKUPS);
		return SK_PASS; /* no binding for this address and port: not ours */
	}
	count(seg->binding, DISPATCH_OUT_LOOKUPS);
	dest = seg->dest;
	sk = bpf_map_lookup_elem(&dispatch_sockets, &dest);
	if (!sk) {
		count(seg->binding, DISPATCH_OUT_MISSES);
		/* The service has not registered a socket, or it died (its socket left the map).
		 * Refuse (TCP RST, ICMP unreachable): passing would let the kernel's lookup give
		 * the packet to another socket on this address, a misroute nobody would notice. */
		return SK_DROP;
	}
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err) {
		count(seg->binding, DISPATCH_OUT_BAD_SOCKET);
		/* The socket cannot take this lookup: a TCP socket that stopped listening, a UDP
		 * socket that got connected, or a family mismatch (an IPv6-only socket for IPv4).
		 * edged checks all of this at registration, so this means the service changed
		 * its socket since. Refused for the same reason as a miss. */
		return SK_DROP;
	}
	return SK_PASS;
}
