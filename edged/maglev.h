/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016), weighted: the lookup table that
 * maps a flow's bucket to a server. Pure computation, no kernel state: every edge that runs
 * it on the same servers gets the same table, whatever order the servers were listed in.
 *
 * Each server walks its own permutation of the M slots (offset and skip from a hash of its
 * identity, its address) and claims the next free slot of it, in turns; a server of weight w
 * takes w turns for every w_max the heaviest one takes. M prime makes every permutation visit
 * every slot. With M >= 100 x servers, shares stay within about 1% of the weights, and taking
 * a server out moves little more than its own slots.
 */
#ifndef EDGED_MAGLEV_H
#define EDGED_MAGLEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Slots per server that keep the table's balance near 1% (the paper's rule of thumb). */
#define MAGLEV_SLOTS_PER_SERVER 100
/* The smallest table edged builds: a prime, and the size the paper measures. */
#define MAGLEV_MIN_SIZE 65537u
/* Weights are 1..MAGLEV_MAX_WEIGHT. */
#define MAGLEV_MAX_WEIGHT 65535u

struct maglev_backend {
	const uint8_t *key; /* identity: the same bytes on every edge (an address) */
	size_t key_len;     /* 1..32 */
	uint32_t weight;    /* 1..MAGLEV_MAX_WEIGHT */
};

/*
 * Fills TABLE[0..M-1] with indexes into B (0..N-1). M must be prime and at least N, keys
 * distinct. Returns 0, or -EINVAL (bad arguments, duplicate keys) or -ENOMEM.
 */
int maglev_build(const struct maglev_backend *b, uint32_t n, uint32_t m, uint32_t *table);

bool maglev_is_prime(uint32_t m);

/* The table size for N servers: the smallest prime >= max(MAGLEV_MIN_SIZE, 100 N). */
uint32_t maglev_size_for(uint32_t n);

/* A digest of a table (64-bit FNV-1a over its entries): equal tables, equal digests, so
 * operators can compare edges (`edgectl lb list` shows it). */
uint64_t maglev_digest(const uint32_t *table, uint32_t m);

#endif
