/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Turns bindings into what the sk_lookup program and the TPROXY rules read: one port table
 * per (family, protocol, prefix), with every precedence already decided, so that the data
 * path does one LPM lookup and one binary search.
 *
 * Precedence, for a lookup of address A, port P: among the bindings whose prefix holds A and
 * whose ports hold P, the one with the longest prefix wins; on the same prefix an exact port
 * beats a range, which beats any port. The table of prefix X therefore holds, port by port,
 * the winner among all bindings on X and on every shorter prefix that holds X: the LPM
 * lookup lands on the longest X holding A, and its table answers for every port.
 *
 * Pure computation, no kernel: the config check runs it to reject a table that would not
 * fit, and the unit and BPF tests run it to build their fixtures the way edged does.
 */
#ifndef EDGED_DISPATCH_COMPILE_H
#define EDGED_DISPATCH_COMPILE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "dispatch.h"
#include "dispatch_config.h"

/* One binding as the compiler sees it: the config's binding plus the slots edged gave it. */
struct dispatch_rule {
	struct prefix prefix;
	uint8_t protocol;
	enum dispatch_port_kind kind;
	uint16_t lo, hi;
	uint16_t binding; /* counter slot */
	uint16_t dest;    /* dispatch_sockets key */
	int index;        /* the binding's index in the config */
};

/* The table of one (prefix, protocol); rule[i] is the index (into the rules given) of the
 * binding that owns ports.seg[i]. */
struct dispatch_entry {
	struct prefix prefix;
	uint8_t protocol;
	struct dispatch_ports ports;
	int rule[DISPATCH_MAX_SEGMENTS];
};

struct dispatch_table {
	struct dispatch_entry *entries; /* sorted: longest prefix first (the TPROXY rule order) */
	int n;
};

/* Compiles RULES. Returns 0, or -1 with the reason in ERR (a prefix that needs more than
 * DISPATCH_MAX_SEGMENTS port segments, or out of memory). */
int dispatch_compile(const struct dispatch_rule *rules, int n, struct dispatch_table *out,
                     char *err, size_t errlen);
void dispatch_table_free(struct dispatch_table *t);

/* The trie key of an entry. */
void dispatch_entry_key(const struct dispatch_entry *e, struct dispatch_lpm_key *key);

/* True when prefix OUTER holds every address of INNER (equal prefixes included). */
bool dispatch_prefix_holds(const struct prefix *outer, const struct prefix *inner);

#endif
