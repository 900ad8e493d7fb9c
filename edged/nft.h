/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nftables through libnftnl and libmnl, for the modules of edged that own a table (synproxy,
 * and dispatch, egress and transit as they move over): a batch of changes that the kernel
 * applies whole or not at all, tables, base chains, interval sets of prefixes or ports, and
 * rules built from small match and statement helpers. Never the nft binary.
 *
 *   struct nft_batch *b = nft_batch_new();
 *   nft_table_replace(b, NFPROTO_INET, "edged_x", "comment");     starts the table empty
 *   nft_chain_add(b, NFPROTO_INET, "edged_x", "input", NF_INET_LOCAL_IN, NFT_PRIO_FILTER);
 *   nft_set_add(b, NFPROTO_INET, "edged_x", "dst4", NFT_KEY_IPV4, ranges, n, &set_id);
 *   r = nft_rule_new(NFPROTO_INET, "edged_x", "input");
 *   nft_match_daddr_set(r, NFPROTO_IPV4, "dst4", set_id); ... nft_stmt_verdict(r, NF_DROP);
 *   nft_rule_add(b, r, "the drop rule");                           names it in errors
 *   nft_batch_commit(b, false, err, sizeof(err));                  one transaction
 *   nft_batch_free(b);
 *
 * Helpers that build return 0 or -ENOMEM and may be chained with `err = err ?: ...`; a
 * batch remembers the first failure, and commit reports it. Everything runs in the calling
 * thread's network namespace.
 */
#ifndef EDGED_NFT_H
#define EDGED_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct nft_batch;
struct nftnl_rule;
struct nftnl_expr;

/* Base chain priorities, as nft names them. */
#define NFT_PRIO_RAW    -300
#define NFT_PRIO_MANGLE -150
#define NFT_PRIO_FILTER 0

/* ct state bits (nft's `ct state`): NF_CT_STATE_BIT(ctinfo) and the two specials. */
#define NFT_CT_STATE_INVALID     (1u << 0)
#define NFT_CT_STATE_ESTABLISHED (1u << 1)
#define NFT_CT_STATE_RELATED     (1u << 2)
#define NFT_CT_STATE_NEW         (1u << 3)
#define NFT_CT_STATE_UNTRACKED   (1u << 6)

/* Longest comment the kernel keeps with a table (NFTNL_UDATA_COMMENT_MAXLEN). */
#define NFT_COMMENT_MAX 128

struct nft_batch *nft_batch_new(void);
void nft_batch_free(struct nft_batch *b);

/*
 * Sends the batch as one transaction and reads the kernel's answer to every message.
 * CHECK_ONLY: the kernel validates everything and applies nothing (nft -c). Returns 0, or
 * -errno with ERR naming the message the kernel refused, its reason and the kernel's own
 * words when it gave some. A batch is sent once.
 */
int nft_batch_commit(struct nft_batch *b, bool check_only, char *err, size_t errlen);

/* ---- tables and chains ---------------------------------------------------------------- */

/* Creates TABLE if missing (COMMENT may be NULL; it is kept only when the table is new). */
int nft_table_add(struct nft_batch *b, int family, const char *table, const char *comment);
/* Deletes TABLE with all it holds; the batch fails if it does not exist. */
int nft_table_del(struct nft_batch *b, int family, const char *table);
/* Deletes TABLE if it exists: create-if-missing, then delete. */
int nft_table_del_if_exists(struct nft_batch *b, int family, const char *table);
/* TABLE, empty, whether or not it existed: what the rest of the batch then fills is all it
 * holds once the batch is applied, and packets meet the old table or the new, never a mix. */
int nft_table_replace(struct nft_batch *b, int family, const char *table, const char *comment);

/* A base chain of type filter with policy accept on HOOK (NF_INET_*) at PRIO. */
int nft_chain_add(struct nft_batch *b, int family, const char *table, const char *chain,
                  uint32_t hook, int prio);

/* The comment of TABLE in the current network namespace into BUF ("" when it has none).
 * Returns 0, -ENOENT when there is no such table, or -errno. */
int nft_table_comment(int family, const char *table, char *buf, size_t len);

/* ---- interval sets -------------------------------------------------------------------- */

enum nft_key {
	NFT_KEY_IPV4,         /* ipv4_addr, 4 bytes */
	NFT_KEY_IPV6,         /* ipv6_addr, 16 bytes */
	NFT_KEY_INET_SERVICE, /* a port, 2 bytes */
};

/* An inclusive range of keys, in network byte order, of the set's key length. */
struct nft_range {
	uint8_t lo[16];
	uint8_t hi[16];
};

void nft_range_prefix(struct nft_range *r, const struct prefix *p);
void nft_range_ports(struct nft_range *r, uint16_t lo, uint16_t hi);

/* A named interval set of KEY holding the N ranges R (any order; overlapping and touching
 * ranges are merged, as the kernel refuses overlaps). *SET_ID identifies the set to rules
 * of the same batch (nft_match_*_set). */
int nft_set_add(struct nft_batch *b, int family, const char *table, const char *set,
                enum nft_key key, const struct nft_range *r, int n, uint32_t *set_id);

/* ---- rules ---------------------------------------------------------------------------- */

/* A rule to append to CHAIN; NULL when out of memory. nft_rule_add() sends and frees it. */
struct nftnl_rule *nft_rule_new(int family, const char *table, const char *chain);
/* Appends R to the batch (WHAT names it in error messages, e.g. "the synproxy rule for
 * 203.0.113.0/24") and frees it. R may be NULL (out of memory): the batch then fails. */
int nft_rule_add(struct nft_batch *b, struct nftnl_rule *r, const char *what);
/* Frees a rule that will not be added (NULL is fine). */
void nft_rule_free(struct nftnl_rule *r);

/* meta nfproto ipv4|ipv6 */
int nft_match_nfproto(struct nftnl_rule *r, uint8_t nfproto);
/* meta l4proto PROTO */
int nft_match_l4proto(struct nftnl_rule *r, uint8_t proto);
/* ip daddr @SET / ip6 daddr @SET (NFPROTO picks the header); add nft_match_nfproto first */
int nft_match_daddr_set(struct nftnl_rule *r, uint8_t nfproto, const char *set, uint32_t set_id);
/* th dport @SET (TCP and UDP); add nft_match_l4proto first */
int nft_match_dport_set(struct nftnl_rule *r, const char *set, uint32_t set_id);
/* tcp flags & MASK == VALUE, e.g. `tcp flags syn / fin,syn,rst,ack` */
int nft_match_tcp_flags(struct nftnl_rule *r, uint8_t mask, uint8_t value);
/* ct state STATES: any of the NFT_CT_STATE_* bits */
int nft_match_ct_state(struct nftnl_rule *r, uint32_t states);

int nft_stmt_counter(struct nftnl_rule *r);
int nft_stmt_notrack(struct nftnl_rule *r);
/* synproxy mss MSS wscale WSCALE plus FLAGS (NF_SYNPROXY_OPT_*: timestamp, sack-perm) */
int nft_stmt_synproxy(struct nftnl_rule *r, uint16_t mss, uint8_t wscale, uint32_t flags);
/* accept, drop (NF_ACCEPT, NF_DROP) */
int nft_stmt_verdict(struct nftnl_rule *r, int verdict);
int nft_rule_comment(struct nftnl_rule *r, const char *text);

/* Expression builders for rules that need more than the helpers above (nft_tproxy.c): each
 * appends one expression to R and returns 0, or -ENOMEM. Registers: NFT_REG_1. */
int nft_add_expr(struct nftnl_rule *r, struct nftnl_expr *e);
/* reg 1 OP DATA */
int nft_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len);
/* reg 1 = LEN bytes at OFFSET of header BASE (NFT_PAYLOAD_*_HEADER) */
int nft_payload_load(struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len);
/* reg 1 &= MASK (LEN bytes, at most 16) */
int nft_mask(struct nftnl_rule *r, const void *mask, uint32_t len);
/* reg REG = DATA (LEN bytes): the operands of snat and tproxy. */
int nft_immediate(struct nftnl_rule *r, uint32_t reg, const void *data, uint32_t len);

/* ---- what egress needs (edged/egress_nft.c) -------------------------------------------- */

/* A base chain of TYPE ("filter" or "nat"), policy accept. */
int nft_chain_add_type(struct nft_batch *b, int family, const char *table, const char *chain,
                       const char *type, uint32_t hook, int prio);
/* Named counter object NAME starting at PKTS/BYTES (to carry values over a table replace). */
int nft_counter_add(struct nft_batch *b, int family, const char *table, const char *name,
                    uint64_t pkts, uint64_t bytes);
/* Calls FN for every rule of TABLE (of CHAIN only, unless NULL) in the current network
 * namespace, with the rule's comment (NULL when it has none). Returns 0, -ENOENT when there
 * is no such table or chain, or -errno. */
int nft_rules_dump(int family, const char *table, const char *chain,
                   void (*fn)(struct nftnl_rule *r, const char *comment, void *arg), void *arg);
/* Calls FN for every named counter of TABLE. Returns 0 (also when there is no table: none),
 * or -errno. */
int nft_counters_get(int family, const char *table,
                     void (*fn)(const char *name, uint64_t pkts, uint64_t bytes, void *arg),
                     void *arg);

/* iifname NAME / iifname != NAME (EQ false); oifname likewise */
int nft_match_iifname(struct nftnl_rule *r, const char *name, bool eq);
int nft_match_oifname(struct nftnl_rule *r, const char *name, bool eq);
/* iif INDEX (IN) or oif INDEX, == or != (EQ false): a 4-byte compare where the name match
 * copies and compares 16 bytes; only for devices whose rules are rebuilt when they are. */
int nft_match_ifindex(struct nftnl_rule *r, bool in, uint32_t ifindex, bool eq);
/* ip saddr @SET / ip6 saddr @SET */
int nft_match_saddr_set(struct nftnl_rule *r, uint8_t nfproto, const char *set, uint32_t set_id);
/* ip daddr ADDR / ip6 daddr ADDR (a host) */
int nft_match_daddr(struct nftnl_rule *r, const struct prefix *addr);
/* ip saddr ADDR / ip6 saddr ADDR (a host) */
int nft_match_saddr(struct nftnl_rule *r, const struct prefix *addr);
/* ct direction original|reply (the kernel's IP_CT_DIR_*, not in its UAPI headers) */
#define NFT_CT_DIR_ORIGINAL 0
#define NFT_CT_DIR_REPLY    1
int nft_match_ct_direction(struct nftnl_rule *r, uint8_t dir);
/* ct mark & BITS == BITS */
int nft_match_ct_mark_bits(struct nftnl_rule *r, uint32_t bits);
/* ct mark set ct mark | BITS */
int nft_stmt_ct_mark_or(struct nftnl_rule *r, uint32_t bits);
/* meta mark set meta mark | BITS */
int nft_stmt_meta_mark_or(struct nftnl_rule *r, uint32_t bits);
/* ct count over N (matches when the rule's connections number more than N) */
int nft_stmt_ct_count_over(struct nftnl_rule *r, uint32_t n);
/* snat ip to ADDR:LO-HI (ip6 for an IPv6 ADDR); the chain must be of type nat */
int nft_stmt_snat(struct nftnl_rule *r, const struct prefix *addr, uint16_t lo, uint16_t hi);
/* counter name NAME (a named counter of the table) */
int nft_stmt_counter_named(struct nftnl_rule *r, const char *name);

/* ---- for transit's tables (transit_nft.c) ---------------------------------------------- */

/* A regular chain (no hook), the target of nft_stmt_jump(). */
int nft_chain_add_regular(struct nft_batch *b, int family, const char *table, const char *chain);
/* A named interval map of KEY to 32-bit marks: R[i] -> DATA[i], N entries that must not
 * overlap (unlike sets, neighbours with different data are not merged). */
int nft_map_add(struct nft_batch *b, int family, const char *table, const char *map,
                enum nft_key key, const struct nft_range *r, const uint32_t *data, int n,
                uint32_t *set_id);
/* ip saddr|daddr P / ip6 saddr|daddr P (SOURCE picks); nothing for a /0. Add
 * nft_match_nfproto first. */
int nft_match_prefix(struct nftnl_rule *r, uint8_t nfproto, bool source, const struct prefix *p);
/* th sport|dport LO-HI (one port when LO == HI); add nft_match_l4proto first */
int nft_match_port_range(struct nftnl_rule *r, bool source, uint16_t lo, uint16_t hi);
/* meta KEY & MASK == VALUE (NFT_META_MARK, NFT_META_IIFGROUP, ...; a mask of all ones is
 * left out) */
int nft_match_meta(struct nftnl_rule *r, uint32_t key, uint32_t mask, uint32_t value);
/* meta mark set ip daddr map @MAP (ip6 for NFPROTO_IPV6); a miss ends the rule */
int nft_stmt_mark_from_map(struct nftnl_rule *r, uint8_t nfproto, const char *map, uint32_t set_id);
/* jump CHAIN */
int nft_stmt_jump(struct nftnl_rule *r, const char *chain);

#endif
