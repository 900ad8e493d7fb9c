/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * SYN cookies in XDP, in front of nftables synproxy: the last step of the DoS stage. A SYN
 * flood to a protected destination is answered here, from the NIC's receive path, and only
 * connections whose client echoed a valid cookie reach the stack, where nft synproxy
 * (edged/synproxy.c) completes them with the real listener. The listener never sees a
 * half-open connection.
 *
 *   TCP, not fragmented, to a destination and port whose dos_dest policy wants cookies:
 *     pure SYN -- auto mode and still under auto_pps ---------------> continue (nft synproxy
 *              |                                                        answers it instead)
 *              `- else: the frame becomes the SYN-ACK, cookie in seq -> XDP_TX
 *     pure ACK -- conntrack knows the flow (established) -------------> continue, untouched
 *              |- the ack number is a valid cookie ------------------> pass (nft synproxy
 *              |                                                        completes the handshake)
 *              |- a zero-window probe carrying a valid cookie --------> repaired, pass
 *              `- anything else ----------------------------------------> drop
 *     SYN with RST or FIN -----------------------------------------------> drop
 *   everything else (RST, FIN, SYN-ACK, other destinations) ----------> continue
 *
 * A pure SYN has SYN and none of ACK, RST, FIN; a pure ACK has ACK and none of SYN, RST, FIN
 * (PSH and data are fine: a client's first data segment stands in for its lost ACK).
 *
 * The mechanics follow the kernel's xdp_synproxy selftest: bpf_tcp_raw_gen_syncookie_* make
 * the same cookie as the kernel (same secrets), so nft synproxy, which checks the returning
 * ACK again, accepts it; the SYN-ACK's timestamp carries the client's window scale, SACK and
 * ECN in its low 6 bits exactly as nf_synproxy encodes them, because synproxy decodes them
 * from the ACK's echo. Hence the nft rule's `wscale` must be SYNCOOKIE_WSCALE.
 *
 * Choices, and why:
 * - SYNs are not looked up in conntrack: a SYN never belongs to a flow that answering it
 *   could break, and under a flood the lookup would be the most expensive step.
 * - The incoming SYN's checksums are not verified: veth and other virtual devices hand XDP
 *   partial checksums (tx offload of the sender), which cannot be told from bad ones, and a
 *   SYN with a bad checksum earns its sender one SYN-ACK, as a spoofed SYN does.
 * - VLAN-tagged frames are handled: the SYN-ACK keeps the frame's L2 header (tags included)
 *   with the MAC addresses swapped, so it leaves on the VLAN it came from.
 * - IPv4 options and IPv6 extension headers of a SYN are not echoed: the SYN-ACK is plain.
 * - The SYN-ACK offers window 0, like nf_synproxy's: the client waits for synproxy's window
 *   update once the listener accepted. When the client's ACK is lost, the client sends
 *   zero-window probes with seq one short of the ACK's, which fail the cookie check; a probe
 *   whose seq + 1 passes it is repaired into that ACK (costs one bit of cookie strength).
 * - Kernels without the conntrack kfuncs (nf_conntrack a module not loaded when the program
 *   loads, e.g. Debian's 6.1 before edged's synproxy table loaded it) cannot tell
 *   established flows from cookie ACKs here: a CO-RE check prunes the lookup, ACKs are left
 *   to nft synproxy (SC_ACK_NO_CONNTRACK counts them) and only the SYN side runs in XDP.
 */
#ifndef EDGED_BPF_SYNCOOKIE_BPF_H
#define EDGED_BPF_SYNCOOKIE_BPF_H

#include <bpf/bpf_core_read.h>

#include "defs.h"
#include "edge.h"
#include "parse.h"
#include "dos.h"
#include "syncookie.h"

#define TCPOPT_EOL        0
#define TCPOPT_NOP        1
#define TCPOPT_MSS        2
#define TCPOPT_WINDOW     3
#define TCPOPT_SACK_PERM  4
#define TCPOPT_TIMESTAMP  8
#define TCPOLEN_MSS       4
#define TCPOLEN_WINDOW    3
#define TCPOLEN_SACK_PERM 2
#define TCPOLEN_TIMESTAMP 10

#define SC_ETH_ALEN     6
#define SC_TCP_FLAG_ECE 0x40
#define SC_TCP_FLAG_CWR 0x80
/* The flags that make a segment a SYN, an ACK or neither. */
#define SC_FLAGS_KIND (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST | TCP_FLAG_FIN)

#define SC_TCP_HLEN   20 /* without options */
#define SC_TCP_MAXLEN 60 /* doff 15 */
/* The SYN's TCP header is copied into a buffer of this size: a power of two, so an option
 * offset masked with SC_OPT_BUF - 1 is always inside it. */
#define SC_OPT_BUF 64
/* Timestamp cookie (nf_synproxy's layout): low 4 bits the client's window shift or 0xf for
 * none, bit 4 SACK permitted, bit 5 ECN; the rest is the clock in milliseconds. */
#define SC_TS_WSCALE_NONE 0xf
#define SC_TS_SACK        (1u << 4)
#define SC_TS_ECN         (1u << 5)
#define SC_TS_LOW         0x3fu
#define SC_TCP_MAX_WSCALE 14 /* RFC 7323: larger shifts are read as 14 */
/* The SYN-ACK's TTL / hop limit: the stack's default. */
#define SC_TTL 64

#define SC_NSEC_PER_SEC  1000000000ULL
#define SC_NSEC_PER_MSEC 1000000ULL
/* Auto mode's token bucket counts in nano-SYNs: 1e9 per SYN, so a rate refills exactly
 * elapsed_ns * pps without division. Rates are clamped to 1e9 SYN/s so that a full bucket
 * (one second of the rate) and a second of refill both stay far below 2^64. */
#define SC_TOKEN    1000000000ULL
#define SC_RATE_MAX 1000000000ULL
/* Destination addresses whose SYN rate auto mode tracks at once: LRU, 64k x ~50 B. A /16 of
 * protected servers fits; beyond it the least recently hit bucket restarts full. */
#define SC_RATE_KEYS 65536

#define SC_ENOENT        2          /* errno of a conntrack lookup that found nothing */
#define SC_IPS_CONFIRMED (1UL << 3) /* IPS_CONFIRMED: the flow is in the conntrack table */

/* ---- conntrack kfuncs (CO-RE: present only where nf_conntrack is) --------------------- */

/* The kernel's struct bpf_ct_opts as of 6.1 (12 bytes; newer kernels accept that size). A
 * local flavour, so the build does not depend on the build host's vmlinux.h having it. */
struct bpf_ct_opts___sc {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u8 reserved[2];
};

struct nf_conn___sc {
	unsigned long status;
} __attribute__((preserve_access_index));

/* __weak: where the kernel lacks them they resolve to nothing, and the type check in
 * sc_have_conntrack() makes the verifier drop every call to them. */
extern struct nf_conn___sc *bpf_xdp_ct_lookup(struct xdp_md *ctx, struct bpf_sock_tuple *tuple,
                                              __u32 tuple__sz, struct bpf_ct_opts___sc *opts,
                                              __u32 opts__sz) __ksym __weak;
extern void bpf_ct_release(struct nf_conn___sc *ct) __ksym __weak;

/* struct bpf_ct_opts is defined next to the kfuncs (nf_conntrack_bpf.c): it is in the
 * kernel's or a loaded module's BTF exactly when they are. Known at load time, so the
 * verifier prunes the branch that is not taken. */
static __always_inline bool sc_have_conntrack(void)
{
	return bpf_core_type_exists(struct bpf_ct_opts___sc);
}

/* ---- maps ---------------------------------------------------------------------------- */

/* Outcome counters, enum syncookie_stat -> packets, per CPU. Written by this program; read by
 * edged (edgectl dos rules, metrics). Pinned, so they survive edged restarts. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SC_NSTATS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} syncookie_stats SEC(".maps");

struct sc_rate_key {
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
	__u8 addr[16];
};

struct sc_rate {
	__u64 last_ns;
	__u64 tokens; /* nano-SYNs, at most one second of the rate */
};

/* Auto mode's SYN rate per destination address. Written by this program only; not pinned:
 * a reload starts every bucket full again, which only lets one more second of SYNs go to
 * nft synproxy. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SC_RATE_KEYS);
	__type(key, struct sc_rate_key);
	__type(value, struct sc_rate);
} syncookie_syn_rate SEC(".maps");

static __always_inline void sc_count(__u32 what)
{
	__u64 *c = bpf_map_lookup_elem(&syncookie_stats, &what);

	if (c)
		(*c)++; /* per-CPU: this CPU is the only writer */
}

static __always_inline bool sc_is_v4(const struct pkt *p)
{
	return p->l3_proto == ETH_P_IP;
}

/* ---- which packets are protected ------------------------------------------------------ */

static __always_inline bool sc_port_protected(const struct dos_dest_policy *pol, __u16 port)
{
	if (!pol->syn_nports)
		return true;
#pragma unroll
	for (int i = 0; i < DOS_SYN_PORT_RANGES; i++)
		if (i < pol->syn_nports && port >= pol->syn_port_lo[i] &&
		    port <= pol->syn_port_hi[i])
			return true;
	return false;
}

/*
 * Auto mode: whether this SYN fits in the destination's auto_pps, taking a token if so. The
 * bucket holds one second of the rate and starts full. Updated without a lock: two CPUs
 * racing on one bucket can each take the same token, so at worst a few more SYNs per
 * second than auto_pps go to nft synproxy, which answers them just the same.
 */
static __always_inline bool sc_under_auto_rate(const struct pkt *p, __u64 pps)
{
	struct sc_rate_key k = {};
	__u64 now = bpf_ktime_get_ns(), burst, tokens;
	struct sc_rate *r;

	if (pps > SC_RATE_MAX)
		pps = SC_RATE_MAX;
	burst = pps * SC_TOKEN;
	if (sc_is_v4(p)) {
		k.family = 4;
		__builtin_memcpy(k.addr, &p->daddr.v4, 4);
	} else {
		k.family = 6;
		__builtin_memcpy(k.addr, &p->daddr.v6, 16);
	}
	r = bpf_map_lookup_elem(&syncookie_syn_rate, &k);
	if (!r) {
		struct sc_rate nr = {.last_ns = now, .tokens = burst - SC_TOKEN};

		bpf_map_update_elem(&syncookie_syn_rate, &k, &nr, BPF_ANY);
		return true;
	}
	tokens = r->tokens;
	if (now > r->last_ns) {
		__u64 elapsed = now - r->last_ns;

		/* An idle second refills the bucket; below it, elapsed * pps < 1e18. */
		tokens = elapsed >= SC_NSEC_PER_SEC ? burst : tokens + elapsed * pps;
		if (tokens > burst)
			tokens = burst;
		r->last_ns = now;
	}
	if (tokens < SC_TOKEN) {
		r->tokens = tokens;
		return false;
	}
	r->tokens = tokens - SC_TOKEN;
	return true;
}

/* ---- checksums ----------------------------------------------------------------------- */

/* Folds a 64-bit sum of 32-bit words into the 16-bit one's complement checksum field. The
 * words are summed as loaded from memory, so the result is stored as is, no byte swap. */
static __always_inline __u16 sc_csum_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* ---- the SYN: options, cookie, SYN-ACK ----------------------------------------------- */

/* The SYN's TCP header and what its options ask for. */
struct sc_syn {
	__u8 th[SC_OPT_BUF]; /* the header as received, options included; zeros after it */
	__u64 off;           /* next option byte */
	__u64 end;           /* the header's length, doff * 4 */
	__u32 tsval;         /* the client's timestamp (host order), echoed in the SYN-ACK */
	__u8 wscale;         /* the client's window shift, SC_TS_WSCALE_NONE when not offered */
	__u8 ts;             /* timestamps offered */
	__u8 sack;           /* SACK permitted */
	__u8 ecn;            /* ECN setup SYN (ECE and CWR) */
};

/* The SYN-ACK's TCP header: 20 bytes and at most MSS (4), SACK-perm/NOPs + timestamps (12)
 * and NOP + window scale (4). */
struct sc_tcp_synack {
	struct tcphdr th;
	__be32 opt[5];
};

struct sc_synack4 {
	struct iphdr ip;
	struct sc_tcp_synack tcp;
};

struct sc_synack6 {
	struct ipv6hdr ip;
	struct sc_tcp_synack tcp;
};

/* The SYN being answered and the SYN-ACK being built. */
struct sc_scratch {
	struct sc_syn syn;
	union {
		struct sc_synack4 v4;
		struct sc_synack6 v6;
	} out;
};

/*
 * Per-CPU scratch, not the stack, for two reasons found on Debian's 6.1 kernel
 * (tests/e2e/core_6_1.sh): its verifier takes the parse results (all 0 before the option
 * walk) for constants on the first path it explores, prunes the others as equivalent and
 * deletes the code for SACK and timestamps as dead, while map values are never constants
 * to it; and it counts this function's stack into a chain with the DoS stage's, which 170
 * more bytes here took over 512. XDP does not nest on a CPU: one entry per CPU is enough.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sc_scratch);
} syncookie_scratch SEC(".maps");

/* bpf_loop takes its context on the stack only: this carries the pointer. */
struct sc_walk {
	struct sc_syn *s;
};

static __always_inline __u8 sc_opt_byte(const struct sc_syn *s, __u64 i)
{
	/* clang 14 can drop a mask it has already applied to the offset when it forms the
	 * stack address; barrier_var pins the masked value (shared/platform.md). */
	i &= SC_OPT_BUF - 1;
	barrier_var(i);
	return s->th[i];
}

/*
 * One option of the SYN; bpf_loop calls it until it returns 1. An unrolled walk over 40
 * option bytes costs the verifier over a million instructions (shared/platform.md). The
 * comparisons with SC_TCP_MAXLEN repeat what s->end already implies, for the verifier: it
 * checks the callback until its state stops changing, and only a bounded s->off does.
 */
static long sc_opt_step(__u32 i, void *arg)
{
	struct sc_syn *s = ((struct sc_walk *)arg)->s;
	__u64 off = s->off, len;
	__u8 kind;

	(void)i;
	if (off >= s->end || off >= SC_TCP_MAXLEN)
		return 1;
	kind = sc_opt_byte(s, off);
	if (kind == TCPOPT_EOL)
		return 1;
	if (kind == TCPOPT_NOP) {
		s->off = off + 1;
		return 0;
	}
	/* A length that is missing, under 2 or past the header ends the walk, as it does in
	 * the kernel's tcp_parse_options(): what was read until then stands. */
	if (off + 2 > s->end)
		return 1;
	len = sc_opt_byte(s, off + 1);
	if (len < 2 || off + len > s->end || off + len > SC_TCP_MAXLEN)
		return 1;
	switch (kind) {
	case TCPOPT_WINDOW:
		if (len == TCPOLEN_WINDOW) {
			__u8 shift = sc_opt_byte(s, off + 2);

			s->wscale = shift > SC_TCP_MAX_WSCALE ? SC_TCP_MAX_WSCALE : shift;
		}
		break;
	case TCPOPT_SACK_PERM:
		if (len == TCPOLEN_SACK_PERM)
			s->sack = 1;
		break;
	case TCPOPT_TIMESTAMP:
		if (len == TCPOLEN_TIMESTAMP) {
			s->ts = 1;
			s->tsval = (__u32)sc_opt_byte(s, off + 2) << 24 |
			           (__u32)sc_opt_byte(s, off + 3) << 16 |
			           (__u32)sc_opt_byte(s, off + 4) << 8 | sc_opt_byte(s, off + 5);
		}
		break;
	}
	s->off = off + len;
	return 0;
}

/* Copies the SYN's TCP header into S and parses its options; -1 if it cannot be read. */
static __always_inline int sc_syn_read(struct xdp_md *ctx, const struct pkt *p, struct sc_syn *s)
{
	struct sc_walk walk = {.s = s};
	__u64 optlen;

	if (bpf_xdp_load_bytes(ctx, p->l4_off, s->th, SC_TCP_HLEN))
		return -1;
	/* parse.h checked doff against the frame; the bounds are restated for the verifier on
	 * a 64-bit register that clang cannot copy before the check (helpers take it as a
	 * size, and a checked 32-bit copy would leave the original unbounded). */
	optlen = (__u64)(s->th[12] >> 4) * 4 - SC_TCP_HLEN;
	barrier_var(optlen);
	if (optlen > SC_TCP_MAXLEN - SC_TCP_HLEN)
		return -1; /* doff under 5: parse.h refused those already */
	/* '>= 4', not '!= 0': 6.1's verifier learns no minimum from '!= 0' and refuses a size
	 * that may be 0 (tests/e2e/core_6_1.sh). Options come in 4-byte words. */
	if (optlen >= 4 &&
	    bpf_xdp_load_bytes(ctx, p->l4_off + SC_TCP_HLEN, s->th + SC_TCP_HLEN, optlen))
		return -1;
	s->end = SC_TCP_HLEN + optlen;
	s->off = SC_TCP_HLEN;
	s->tsval = 0;
	s->wscale = SC_TS_WSCALE_NONE;
	s->ts = 0;
	s->sack = 0;
	s->ecn = (p->tcp_flags & (SC_TCP_FLAG_ECE | SC_TCP_FLAG_CWR)) ==
	         (SC_TCP_FLAG_ECE | SC_TCP_FLAG_CWR);
	bpf_loop(SC_TCP_MAXLEN - SC_TCP_HLEN, sc_opt_step, &walk, 0);
	return 0;
}

/*
 * The IP headers the cookie helpers take; they read only the addresses. Arrays of words, not
 * struct initialisers: vmlinux.h's iphdr/ipv6hdr bitfields are CO-RE accesses, and clang
 * zeroes them with a read-modify-write of a stack slot it may have used for a pointer.
 */
struct sc_ip4 {
	__be32 w[5]; /* saddr at word 3, daddr at 4 */
};

struct sc_ip6 {
	__be32 w[10]; /* saddr at words 2-5, daddr at 6-9 */
};

static __always_inline void sc_ip4_of(const struct pkt *p, struct sc_ip4 *h)
{
	__builtin_memset(h, 0, sizeof(*h));
	h->w[3] = p->saddr.v4;
	h->w[4] = p->daddr.v4;
}

static __always_inline void sc_ip6_of(const struct pkt *p, struct sc_ip6 *h)
{
	__builtin_memset(h, 0, sizeof(*h));
	__builtin_memcpy(&h->w[2], &p->saddr.v6, 16);
	__builtin_memcpy(&h->w[6], &p->daddr.v6, 16);
}

/* The cookie for the SYN S (the kernel's, from addresses, ports, seq and the client's MSS);
 * negative on error. */
static __always_inline __s64 sc_cookie(const struct pkt *p, struct sc_syn *s)
{
	__u64 hlen = s->end;
	struct sc_ip6 h6;
	struct sc_ip4 h4;

	barrier_var(hlen);
	if (hlen < SC_TCP_HLEN || hlen > SC_TCP_MAXLEN)
		return -1;
	if (sc_is_v4(p)) {
		sc_ip4_of(p, &h4);
		return bpf_tcp_raw_gen_syncookie_ipv4((struct iphdr *)&h4, (struct tcphdr *)s->th,
		                                      hlen);
	}
	sc_ip6_of(p, &h6);
	return bpf_tcp_raw_gen_syncookie_ipv6((struct ipv6hdr *)&h6, (struct tcphdr *)s->th, hlen);
}

static __always_inline __u32 sc_clock_ms(void)
{
	/* nf_synproxy's tcp_clock_ms(): CLOCK_MONOTONIC in milliseconds. */
	return bpf_ktime_get_ns() / SC_NSEC_PER_MSEC;
}

/* Writes the SYN-ACK's TCP header answering S into T; returns its length in bytes. */
static __always_inline __u32 sc_synack_tcp(struct sc_tcp_synack *t, const struct sc_syn *s,
                                           __u32 cookie, __u16 mss)
{
	const struct tcphdr *syn = (const struct tcphdr *)s->th;
	__u16 flags = TCP_FLAG_SYN | TCP_FLAG_ACK;
	__u32 n = 0;

	t->th.source = syn->dest;
	t->th.dest = syn->source;
	t->th.seq = bpf_htonl(cookie);
	t->th.ack_seq = bpf_htonl(bpf_ntohl(syn->seq) + 1);
	t->opt[n++] = bpf_htonl(TCPOPT_MSS << 24 | TCPOLEN_MSS << 16 | mss);
	/* Without timestamps there is nowhere to keep the client's window scale, SACK and ECN,
	 * so the SYN-ACK offers none of them (as nf_synproxy does). */
	if (s->ts) {
		__u32 tsval = (sc_clock_ms() & ~SC_TS_LOW) | s->wscale;

		if (s->sack)
			tsval |= SC_TS_SACK;
		if (s->ecn)
			tsval |= SC_TS_ECN;
		t->opt[n++] =
		        bpf_htonl(s->sack ? TCPOPT_SACK_PERM << 24 | TCPOLEN_SACK_PERM << 16 |
		                                    TCPOPT_TIMESTAMP << 8 | TCPOLEN_TIMESTAMP
		                          : TCPOPT_NOP << 24 | TCPOPT_NOP << 16 |
		                                    TCPOPT_TIMESTAMP << 8 | TCPOLEN_TIMESTAMP);
		t->opt[n++] = bpf_htonl(tsval);
		t->opt[n++] = bpf_htonl(s->tsval);
		if (s->wscale != SC_TS_WSCALE_NONE)
			t->opt[n++] = bpf_htonl(TCPOPT_NOP << 24 | TCPOPT_WINDOW << 16 |
			                        TCPOLEN_WINDOW << 8 | SYNCOOKIE_WSCALE);
		if (s->ecn)
			flags |= SC_TCP_FLAG_ECE;
	}
	/* Data offset and flags share bytes 12-13. Window 0, like nf_synproxy's SYN-ACK: the
	 * client sends nothing until synproxy opens it with the listener's window. */
	*(__be16 *)((__u8 *)&t->th + 12) = bpf_htons((SC_TCP_HLEN / 4 + n) << 12 | flags);
	t->th.window = 0;
	t->th.urg_ptr = 0;
	t->th.check = 0;
	return SC_TCP_HLEN + n * 4;
}

/* The whole IPv4 SYN-ACK in O, checksums included; returns its length from the IP header. */
static __always_inline __u32 sc_synack_v4(struct sc_synack4 *o, const struct pkt *p,
                                          const struct sc_syn *s, __u32 cookie, __u16 mss)
{
	__u32 tcp_len = sc_synack_tcp(&o->tcp, s, cookie, mss);
	__u64 sum;

	*(__u8 *)&o->ip = 0x45; /* version 4, 20-byte header */
	o->ip.tot_len = bpf_htons(sizeof(o->ip) + tcp_len);
	o->ip.frag_off = bpf_htons(0x4000); /* DF, as the stack sends SYN-ACKs */
	o->ip.ttl = SC_TTL;
	o->ip.protocol = IPPROTO_TCP;
	o->ip.saddr = p->daddr.v4;
	o->ip.daddr = p->saddr.v4;
	o->ip.check =
	        sc_csum_fold((__u32)bpf_csum_diff(NULL, 0, (__be32 *)&o->ip, sizeof(o->ip), 0));
	barrier_var(tcp_len);
	if (tcp_len > sizeof(o->tcp))
		return 0;
	sum = (__u32)bpf_csum_diff(NULL, 0, (__be32 *)&o->tcp, tcp_len, 0);
	sum += o->ip.saddr;
	sum += o->ip.daddr;
	sum += bpf_htonl(IPPROTO_TCP << 16 | tcp_len);
	o->tcp.th.check = sc_csum_fold(sum);
	return sizeof(o->ip) + tcp_len;
}

static __always_inline __u32 sc_synack_v6(struct sc_synack6 *o, const struct pkt *p,
                                          const struct sc_syn *s, __u32 cookie, __u16 mss)
{
	__u32 tcp_len = sc_synack_tcp(&o->tcp, s, cookie, mss);
	__u64 sum;

	*(__be32 *)&o->ip = bpf_htonl(0x60000000); /* version 6, no traffic class, no label */
	o->ip.payload_len = bpf_htons(tcp_len);
	o->ip.nexthdr = IPPROTO_TCP;
	o->ip.hop_limit = SC_TTL;
	o->ip.saddr = p->daddr.v6;
	o->ip.daddr = p->saddr.v6;
	barrier_var(tcp_len);
	if (tcp_len > sizeof(o->tcp))
		return 0;
	sum = (__u32)bpf_csum_diff(NULL, 0, (__be32 *)&o->tcp, tcp_len, 0);
#pragma unroll
	for (int i = 0; i < 4; i++) {
		sum += o->ip.saddr.in6_u.u6_addr32[i];
		sum += o->ip.daddr.in6_u.u6_addr32[i];
	}
	sum += bpf_htonl(tcp_len);
	sum += bpf_htonl(IPPROTO_TCP);
	o->tcp.th.check = sc_csum_fold(sum);
	return sizeof(o->ip) + tcp_len;
}

/* Swaps the frame's Ethernet addresses; VLAN tags after them stay as they are. */
static __always_inline int sc_swap_macs(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 tmp[SC_ETH_ALEN];

	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(tmp, eth->h_dest, SC_ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, SC_ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, SC_ETH_ALEN);
	return 0;
}

/* Turns the frame into OUT (LEN bytes from the IP header on), keeping its L2 header.
 * Returns -1 with the frame unchanged, -2 when it was resized but not rewritten. */
static __always_inline int sc_rewrite(struct xdp_md *ctx, const struct pkt *p, void *out, __u64 len)
{
	int delta;

	barrier_var(len);
	if (len < sizeof(struct iphdr) + SC_TCP_HLEN || len > sizeof(struct sc_synack6))
		return -1;
	delta = (int)(p->l3_off + len) - (int)bpf_xdp_get_buff_len(ctx);
	if (bpf_xdp_adjust_tail(ctx, delta))
		return -1; /* no tailroom to grow into */
	if (bpf_xdp_store_bytes(ctx, p->l3_off, out, len) || sc_swap_macs(ctx))
		return -2;
	return 0;
}

static __always_inline int sc_syn(struct xdp_md *ctx, struct pkt *p,
                                  const struct dos_dest_policy *pol)
{
	__u16 mss = pol->syn_mss;
	struct sc_scratch *sc;
	__u32 zero = 0;
	struct sc_syn *s;
	__u32 len;
	__s64 cookie;
	int err;

	if (pol->syn_cookies == DOS_SYN_COOKIES_AUTO && pol->syn_auto_pps &&
	    sc_under_auto_rate(p, pol->syn_auto_pps)) {
		sc_count(SC_SYN_BELOW_AUTO);
		return EDGE_CONTINUE;
	}
	sc = bpf_map_lookup_elem(&syncookie_scratch, &zero);
	if (!sc)
		return EDGE_CONTINUE;
	s = &sc->syn;
	cookie = sc_syn_read(ctx, p, s) ? -1 : sc_cookie(p, s);
	if (cookie < 0) {
		sc_count(SC_SYN_NO_ROOM);
		return EDGE_CONTINUE;
	}
	__builtin_memset(&sc->out, 0, sizeof(sc->out));
	if (sc_is_v4(p))
		len = sc_synack_v4(&sc->out.v4, p, s, (__u32)cookie, mss ?: SYNCOOKIE_MSS4);
	else
		len = sc_synack_v6(&sc->out.v6, p, s, (__u32)cookie, mss ?: SYNCOOKIE_MSS6);
	err = sc_rewrite(ctx, p, &sc->out, len);
	if (err == -1) {
		sc_count(SC_SYN_NO_ROOM);
		return EDGE_CONTINUE;
	}
	p->rule_id = DOS_RULE_ID_SYNCOOKIE;
	if (err)
		return EDGE_VERDICT_DROP; /* half rewritten: neither the SYN nor a SYN-ACK now */
	sc_count(SC_SYN_ANSWERED);
	return EDGE_VERDICT_TX;
}

/* ---- the ACK: conntrack, cookie check ------------------------------------------------ */

enum sc_ct_state {
	SC_CTS_NONE = 0,    /* no confirmed flow: the ACK must carry a cookie */
	SC_CTS_ESTABLISHED, /* a flow conntrack confirmed */
	SC_CTS_ERROR,
};

static __always_inline int sc_ct_lookup(struct xdp_md *ctx, const struct pkt *p)
{
	struct bpf_ct_opts___sc opts = {.netns_id = -1 /* the device's */, .l4proto = IPPROTO_TCP};
	struct bpf_sock_tuple tup = {};
	struct nf_conn___sc *ct;
	unsigned long status;
	__u32 len;

	if (sc_is_v4(p)) {
		tup.ipv4.saddr = p->saddr.v4;
		tup.ipv4.daddr = p->daddr.v4;
		tup.ipv4.sport = p->sport;
		tup.ipv4.dport = p->dport;
		len = sizeof(tup.ipv4);
	} else {
		__builtin_memcpy(tup.ipv6.saddr, &p->saddr.v6, 16);
		__builtin_memcpy(tup.ipv6.daddr, &p->daddr.v6, 16);
		tup.ipv6.sport = p->sport;
		tup.ipv6.dport = p->dport;
		len = sizeof(tup.ipv6);
	}
	ct = bpf_xdp_ct_lookup(ctx, &tup, len, &opts, sizeof(opts));
	if (!ct)
		return opts.error == -SC_ENOENT ? SC_CTS_NONE : SC_CTS_ERROR;
	status = ct->status;
	bpf_ct_release(ct);
	return status & SC_IPS_CONFIRMED ? SC_CTS_ESTABLISHED : SC_CTS_NONE;
}

/* 0 when the ACK TH (of the packet P) carries a valid cookie. */
static __always_inline long sc_check(const struct pkt *p, struct tcphdr *th)
{
	struct sc_ip6 h6;
	struct sc_ip4 h4;

	if (sc_is_v4(p)) {
		sc_ip4_of(p, &h4);
		return bpf_tcp_raw_check_syncookie_ipv4((struct iphdr *)&h4, th);
	}
	sc_ip6_of(p, &h6);
	return bpf_tcp_raw_check_syncookie_ipv6((struct ipv6hdr *)&h6, th);
}

/*
 * A zero-window probe after a lost cookie ACK: no payload, seq one short of the ACK's
 * (Linux probes with snd_una - 1). If seq + 1 makes the cookie valid, the probe becomes the
 * lost ACK, checksum updated, and goes on to nft synproxy. Returns true if it did.
 */
static __always_inline bool sc_probe_repair(struct xdp_md *ctx, const struct pkt *p,
                                            struct tcphdr *th)
{
	__u32 hlen = (((__u8 *)th)[12] >> 4) * 4;
	__be32 old = th->seq;
	__u64 sum;

	if (p->l4_off + hlen != p->l3_end)
		return false; /* carries data: not a probe */
	th->seq = bpf_htonl(bpf_ntohl(old) + 1);
	if (sc_check(p, th))
		return false;
	/* RFC 1624 update. A partial checksum (virtual devices) is not verified on the way
	 * in, so updating it as a full one is harmless there. */
	sum = (__u32)bpf_csum_diff(&old, sizeof(old), &th->seq, sizeof(th->seq), (__u16)~th->check);
	th->check = sc_csum_fold(sum);
	return bpf_xdp_store_bytes(ctx, p->l4_off, th, sizeof(*th)) == 0;
}

static __always_inline int sc_ack(struct xdp_md *ctx, struct pkt *p)
{
	struct tcphdr th;

	if (!sc_have_conntrack()) {
		sc_count(SC_ACK_NO_CONNTRACK);
		return EDGE_CONTINUE;
	}
	switch (sc_ct_lookup(ctx, p)) {
	case SC_CTS_ESTABLISHED:
		sc_count(SC_ACK_ESTABLISHED);
		return EDGE_CONTINUE;
	case SC_CTS_ERROR:
		sc_count(SC_CT_ERROR);
		return EDGE_CONTINUE;
	default:
		break;
	}
	if (bpf_xdp_load_bytes(ctx, p->l4_off, &th, sizeof(th)))
		return EDGE_CONTINUE; /* parse.h saw the header: cannot happen */
	p->rule_id = DOS_RULE_ID_SYNCOOKIE;
	if (sc_check(p, &th) == 0) {
		sc_count(SC_ACK_VALID);
		return EDGE_VERDICT_PASS;
	}
	if (sc_probe_repair(ctx, p, &th)) {
		sc_count(SC_ACK_PROBE_FIXED);
		return EDGE_VERDICT_PASS;
	}
	sc_count(SC_ACK_INVALID);
	/* An ACK for a connection neither conntrack nor a cookie knows: an ACK flood, or a
	 * cookie older than the kernel accepts (about two minutes). */
	return EDGE_VERDICT_DROP;
}

/* ---- the stage ----------------------------------------------------------------------- */

/*
 * Global, as dos_stage_run(): the verifier checks it once on its own rather than for every
 * state the parser's paths reach it with. P is never NULL; the check is for the verifier.
 */
__noinline int syncookie_stage_run(struct xdp_md *ctx, struct pkt *p, __u32 active)
{
	const struct dos_dest_policy *pol;
	__u8 kind;

	if (!p)
		return EDGE_CONTINUE;
	/* the DoS stage's tries, of the generation the DoS stage used: edged fills them */
	pol = dos_dest_lookup(p, dos_active_gen(active));
	if (!pol || !pol->syn_cookies || !sc_port_protected(pol, bpf_ntohs(p->dport)))
		return EDGE_CONTINUE;
	kind = p->tcp_flags & SC_FLAGS_KIND;
	if (kind == TCP_FLAG_SYN)
		return sc_syn(ctx, p, pol);
	if (kind == TCP_FLAG_ACK)
		return sc_ack(ctx, p);
	sc_count(SC_SYN_BAD_FLAGS);
	p->rule_id = DOS_RULE_ID_SYNCOOKIE;
	/* SYN with RST or FIN: no TCP stack accepts one, and a flood of them would otherwise
	 * be the one kind of SYN that reaches the stack's synproxy. */
	return EDGE_VERDICT_DROP;
}

/* ACTIVE: the packet's dos_active word; without SYN-cookie destinations in it, nothing to do. */
static __always_inline int syncookie_stage(struct xdp_md *ctx, struct pkt *p, __u32 active)
{
	__u8 kind = p->tcp_flags & SC_FLAGS_KIND;
	int v;

	if (!(active & DOS_HAS_SYN_COOKIES))
		return EDGE_CONTINUE;
	/* Only unfragmented TCP SYNs (with or without RST or FIN) and ACKs are ours; the rest
	 * skips the call. Fragments go to the stack, which reassembles them before nft synproxy
	 * sees them. */
	if (p->l4_proto != IPPROTO_TCP || p->frag || kind == (TCP_FLAG_SYN | TCP_FLAG_ACK) ||
	    (!(kind & TCP_FLAG_SYN) && kind != TCP_FLAG_ACK))
		return EDGE_CONTINUE;
	v = syncookie_stage_run(ctx, p, active);
	if (v != EDGE_VERDICT_TX && v != EDGE_VERDICT_PASS && v != EDGE_VERDICT_DROP)
		return EDGE_CONTINUE;
	/* The caller indexes counters with the verdict, and a global function's result is any
	 * int to the verifier. clang folds a switch to constants back into that register, so
	 * bound the register that is returned, behind a barrier clang cannot see through. */
	barrier_var(v);
	return v & 3;
}

#endif
