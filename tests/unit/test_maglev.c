// SPDX-License-Identifier: GPL-2.0
/*
 * The Maglev table (edged/maglev.c), by the properties the fleet relies on:
 *   balance     every server's share of the M = 65537 slots within 1% of its weight's share
 *   disruption  taking 1 of N servers out (or adding one) moves at most 1/N + 1% of the slots
 *   determinism the same servers in any order give the same table, on every edge and every
 *               version (a golden digest), and 1000 servers take well under a second
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "maglev.h"

#define M 65537u

struct fleet {
	uint8_t keys[1024][4];
	struct maglev_backend b[1024];
	uint32_t n;
};

/* N servers 10.0.x.y with the given weights (all 1 when W is NULL). */
static void fleet_init(struct fleet *f, uint32_t n, const uint32_t *w)
{
	assert_true(n <= 1024);
	f->n = n;
	for (uint32_t i = 0; i < n; i++) {
		f->keys[i][0] = 10;
		f->keys[i][1] = 0;
		f->keys[i][2] = (i + 1) >> 8;
		f->keys[i][3] = (i + 1) & 0xff;
		f->b[i] = (struct maglev_backend){
		        .key = f->keys[i], .key_len = 4, .weight = w ? w[i] : 1};
	}
}

static uint32_t *build(const struct fleet *f, uint32_t m)
{
	uint32_t *t = malloc(m * sizeof(*t));

	assert_non_null(t);
	assert_int_equal(maglev_build(f->b, f->n, m, t), 0);
	return t;
}

/* Each server's share against its weight's, relative error at most 1%. */
static void assert_balanced(const struct fleet *f, uint32_t m)
{
	uint32_t *t = build(f, m), count[1024] = {0};
	double total = 0;

	for (uint32_t i = 0; i < m; i++) {
		assert_true(t[i] < f->n);
		count[t[i]]++;
	}
	for (uint32_t i = 0; i < f->n; i++)
		total += f->b[i].weight;
	for (uint32_t i = 0; i < f->n; i++) {
		double want = m * f->b[i].weight / total, err = (count[i] - want) / want;

		if (err > 0.01 || err < -0.01)
			fail_msg("server %u (weight %u): %u slots, want %.1f (%.2f%% off)", i,
			         f->b[i].weight, count[i], want, 100 * err);
	}
	free(t);
}

static void test_balance_equal_weights(void **state)
{
	struct fleet f;

	(void)state;
	for (uint32_t n = 1; n <= 100; n = n * 3 + 1) {
		fleet_init(&f, n, NULL);
		assert_balanced(&f, M);
	}
}

static void test_balance_honours_weights(void **state)
{
	static const uint32_t w10[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	static const uint32_t w3[] = {100, 100, 200};
	static const uint32_t w5[] = {65535, 1000, 30000, 7, 500};
	struct fleet f;

	(void)state;
	fleet_init(&f, 10, w10);
	assert_balanced(&f, M);
	fleet_init(&f, 3, w3);
	assert_balanced(&f, M);
	/* Weight 7 of 97042 is 4.7 slots: 1% of it is not a slot. Check the others, and that
	 * the light one has its handful. */
	fleet_init(&f, 5, w5);
	{
		uint32_t *t = build(&f, M), light = 0;

		for (uint32_t i = 0; i < M; i++)
			light += t[i] == 3;
		assert_in_range(light, 4, 6);
		free(t);
		f.b[3].weight = 500; /* now every share is large enough for the 1% check */
		assert_balanced(&f, M);
	}
}

/* Slots that changed owner between tables A (servers of F) and B (F without server GONE),
 * as a fraction of M. B's indexes skip GONE. */
static double moved_without(const struct fleet *f, uint32_t gone, uint32_t m)
{
	struct fleet g = *f;
	uint32_t *a, *b, moved = 0;

	for (uint32_t i = gone; i + 1 < g.n; i++) {
		memcpy(g.keys[i], f->keys[i + 1], 4);
		g.b[i] = f->b[i + 1];
		g.b[i].key = g.keys[i];
	}
	g.n--;
	for (uint32_t i = 0; i < g.n; i++)
		g.b[i].key = g.keys[i];
	a = build(f, m);
	b = build(&g, m);
	for (uint32_t i = 0; i < m; i++) {
		uint32_t before = a[i], after = b[i] >= gone ? b[i] + 1 : b[i];

		moved += before != after;
	}
	free(a);
	free(b);
	return (double)moved / m;
}

static void test_removal_moves_little(void **state)
{
	static const uint32_t sizes[] = {3, 5, 10, 20, 50, 100};
	double worst = 0;

	(void)state;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint32_t n = sizes[s];
		struct fleet f;

		fleet_init(&f, n, NULL);
		/* The first, the last and one in the middle: positions in key order matter to
		 * the fill order. */
		for (uint32_t k = 0; k < 3; k++) {
			uint32_t gone = k == 0 ? 0 : k == 1 ? n / 2 : n - 1;
			double moved = moved_without(&f, gone, M), limit = 1.0 / n + 0.01;

			if (moved - 1.0 / n > worst)
				worst = moved - 1.0 / n;
			if (moved > limit)
				fail_msg(
				        "N=%u, removing server %u moved %.2f%% of the slots, limit "
				        "%.2f%%",
				        n, gone, 100 * moved, 100 * limit);
		}
	}
	print_message("  worst excess over 1/N: %.3f%% of the slots\n", 100 * worst);
}

/* Adding the N+1th server moves at most 1/(N+1) + 1%: the same comparison read backwards. */
static void test_addition_moves_little(void **state)
{
	struct fleet f;

	(void)state;
	fleet_init(&f, 11, NULL);
	assert_true(moved_without(&f, 10, M) <= 1.0 / 11 + 0.01);
}

static void test_weight_change_moves_little(void **state)
{
	struct fleet f;
	uint32_t *a, *b, moved = 0;

	(void)state;
	fleet_init(&f, 10, NULL);
	a = build(&f, M);
	f.b[4].weight = 2; /* server 4 goes from 1/10 to 2/11 of the table: +8.2% */
	b = build(&f, M);
	for (uint32_t i = 0; i < M; i++)
		moved += a[i] != b[i];
	assert_true((double)moved / M <= 2.0 / 11 - 1.0 / 10 + 0.01);
	free(a);
	free(b);
}

/* The same servers in another order: the same server in every slot. */
static void test_order_does_not_matter(void **state)
{
	struct fleet f, r;
	uint32_t *a, *b;

	(void)state;
	fleet_init(&f, 50, NULL);
	for (uint32_t i = 0; i < 50; i++)
		f.b[i].weight = 1 + i % 4;
	r = f;
	for (uint32_t i = 0; i < 50; i++) {
		memcpy(r.keys[i], f.keys[49 - i], 4);
		r.b[i] = f.b[49 - i];
		r.b[i].key = r.keys[i];
	}
	a = build(&f, M);
	b = build(&r, M);
	for (uint32_t i = 0; i < M; i++)
		assert_int_equal(a[i], 49 - b[i]);
	free(a);
	free(b);
}

/*
 * Every edge of the fleet must compute this exact table, across versions too: a change of
 * the hash, the seeds or the fill order changes the digest, and means every flow of a
 * running fleet would move at the upgrade. If that is intended, it needs a fleet-wide
 * migration plan, and then a new digest here.
 */
static void test_golden_digest(void **state)
{
	static const uint32_t w[] = {100, 100, 200, 50};
	struct fleet f;
	uint32_t *t;

	(void)state;
	fleet_init(&f, 4, w);
	t = build(&f, M);
	print_message("  digest %016llx, slot 0 -> %u, slot 65536 -> %u\n",
	              (unsigned long long)maglev_digest(t, M), t[0], t[M - 1]);
	assert_true(maglev_digest(t, M) == 0x201c76086b00e2d6ULL);
	free(t);
}

static void test_bad_arguments(void **state)
{
	static const uint8_t k1[4] = {10, 0, 0, 1};
	struct maglev_backend b[2] = {{k1, 4, 1}, {k1, 4, 1}};
	uint32_t t[7];

	(void)state;
	assert_int_equal(maglev_build(b, 1, 6, t), -EINVAL); /* 6 is not prime */
	assert_int_equal(maglev_build(b, 2, 7, t), -EINVAL); /* one key twice */
	assert_int_equal(maglev_build(b, 0, 7, t), -EINVAL); /* nobody */
	b[1].weight = 0;
	assert_int_equal(maglev_build(b, 2, 7, t), -EINVAL); /* weight 0 */
	assert_int_equal(maglev_build(b, 1, 7, t), 0);
	for (int i = 0; i < 7; i++)
		assert_int_equal(t[i], 0);
}

static void test_sizes(void **state)
{
	(void)state;
	assert_true(maglev_is_prime(65537));
	assert_false(maglev_is_prime(65535));
	assert_false(maglev_is_prime(1));
	assert_int_equal(maglev_size_for(1), 65537);
	assert_int_equal(maglev_size_for(655), 65537);
	assert_int_equal(maglev_size_for(1000), 100003);
	assert_true(maglev_is_prime(maglev_size_for(4096)));
	assert_true(maglev_size_for(4096) >= 409600);
}

/* The control plane's budget: 1000 servers, M = 100003, each server with its own weight. */
static void test_fast_at_1k_servers(void **state)
{
	uint32_t w[1000], m = maglev_size_for(1000), *t = malloc(m * sizeof(*t));
	struct timespec a, b;
	struct fleet *f = malloc(sizeof(*f));
	double ms;

	(void)state;
	assert_non_null(t);
	assert_non_null(f);
	for (uint32_t i = 0; i < 1000; i++)
		w[i] = 50 + i % 100;
	fleet_init(f, 1000, w);
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(maglev_build(f->b, f->n, m, t), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
	print_message("  1000 servers, M=%u: %.1f ms\n", m, ms);
	assert_true(ms < 500);
	free(t);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_balance_equal_weights),
	        cmocka_unit_test(test_balance_honours_weights),
	        cmocka_unit_test(test_removal_moves_little),
	        cmocka_unit_test(test_addition_moves_little),
	        cmocka_unit_test(test_weight_change_moves_little),
	        cmocka_unit_test(test_order_does_not_matter),
	        cmocka_unit_test(test_golden_digest),
	        cmocka_unit_test(test_bad_arguments),
	        cmocka_unit_test(test_sizes),
	        cmocka_unit_test(test_fast_at_1k_servers),
	};

	return cmocka_run_group_tests_name("maglev", tests, NULL, NULL);
}
