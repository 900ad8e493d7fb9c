// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_edge (bpf/edge.bpf.c) through BPF_PROG_TEST_RUN, driven by the fixtures of
 * traffic/fixtures/edge_parse_*: for every packet, the XDP action, the unchanged frame, and
 * that exactly one uplink_stats counter (the expected stage, the verdict's column) moved by
 * one packet and the frame's length in bytes.
 *
 *   fixture .pcap --> BPF_PROG_TEST_RUN(xdp_edge, ingress lo) --> action, frame out
 *                                         |
 *                                         +--> uplink_stats[1].c[stage][verdict] += 1, len
 *
 * Run as root from the repository root (or set EDGED_FIXTURES).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include "harness.h"
#include "edge.skel.h"

/* The fixture sets of the parser; gen.py writes them. */
static const char *const parse_sets[] = {
        "edge_parse_eth",
        "edge_parse_ipv4",
        "edge_parse_ipv6",
        "edge_parse_l4",
};

#define NSETS (sizeof(parse_sets) / sizeof(parse_sets[0]))

/* An uplink with no device: packets arrive on lo, never on it. */
#define IFINDEX_ELSEWHERE 4242
/* The slots the tests give lo and IFINDEX_ELSEWHERE, as edged would. */
#define SLOT_LO        1
#define SLOT_ELSEWHERE 2

struct env {
	struct edge_bpf *skel;
	int prog_fd;
	int slots_fd;
	int stats_fd;
};

/* Opens, configures and loads xdp_edge without pinning, with a stats entry for lo. */
static int env_setup(void **state, bool all_stages)
{
	struct env *env = calloc(1, sizeof(*env));

	assert_non_null(env);
	env->skel = edge_bpf__open();
	assert_non_null(env->skel);
	/* With every stage on, well-formed packets must still reach the end: the stages have
	 * no rules yet. When they get some, this variant needs its own expectation files. */
	env->skel->rodata->enable_dos = all_stages;
	env->skel->rodata->enable_transit = all_stages;
	env->skel->rodata->enable_lb = all_stages;
	assert_int_equal(harness_unpin_maps(env->skel->obj), 0);
	assert_int_equal(edge_bpf__load(env->skel), 0);
	assert_false(bpf_map__is_pinned(env->skel->maps.uplink_stats));

	env->prog_fd = bpf_program__fd(env->skel->progs.xdp_edge);
	env->slots_fd = bpf_map__fd(env->skel->maps.uplink_slots);
	env->stats_fd = bpf_map__fd(env->skel->maps.uplink_stats);
	assert_int_equal(
	        harness_uplink_register(env->slots_fd, env->stats_fd, HARNESS_IFINDEX_LO, SLOT_LO),
	        0);
	*state = env;
	return 0;
}

static int setup_stages_off(void **state)
{
	return env_setup(state, false);
}

static int setup_stages_on(void **state)
{
	return env_setup(state, true);
}

static int teardown(void **state)
{
	struct env *env = *state;

	edge_bpf__destroy(env->skel);
	free(env);
	return 0;
}

static void run_parse_sets(struct env *env, uint32_t slot)
{
	struct harness_uplink_check uc = {.stats_fd = env->stats_fd, .slot = slot};
	struct fixture_hooks hooks = {
	        .arg = &uc,
	        .before = harness_uplink_snapshot,
	        .check = harness_uplink_check,
	};
	int bad = 0;

	for (unsigned int i = 0; i < NSETS; i++) {
		int n = harness_run_fixtures(env->prog_fd, HARNESS_IFINDEX_LO, parse_sets[i],
		                             &hooks);

		if (n < 0)
			fail_msg("cannot run fixture set %s: %s", parse_sets[i], strerror(-n));
		bad += n;
	}
	assert_int_equal(bad, 0);
}

/* ---- tests --------------------------------------------------------------------------- */

/* The parser's verdict on every fixture, with the dos/transit/lb stages compiled out. */
static void test_parse_fixtures_stages_off(void **state)
{
	run_parse_sets(*state, SLOT_LO);
}

/* The same verdicts with every stage compiled in: stages without rules change nothing. */
static void test_parse_fixtures_stages_on(void **state)
{
	run_parse_sets(*state, SLOT_LO);
}

/*
 * Packets on an interface that is not an uplink get the same verdicts and are counted in
 * slot EDGE_SLOT_OTHER; the uplinks' own counters do not move.
 */
static void test_unknown_ifindex_counted_as_other(void **state)
{
	struct env *env = *state;
	struct edge_uplink_stats st;

	assert_int_equal(harness_uplink_register(env->slots_fd, env->stats_fd, HARNESS_IFINDEX_LO,
	                                         EDGE_SLOT_OTHER),
	                 0);
	assert_int_equal(harness_uplink_register(env->slots_fd, env->stats_fd, IFINDEX_ELSEWHERE,
	                                         SLOT_ELSEWHERE),
	                 0);
	run_parse_sets(env, EDGE_SLOT_OTHER);

	for (uint32_t slot = SLOT_LO; slot <= SLOT_ELSEWHERE; slot++) {
		assert_int_equal(harness_uplink_stats_read(env->stats_fd, slot, &st), 0);
		for (int s = 0; s < EDGE_NSTAGES; s++) {
			for (int v = 0; v < EDGE_NVERDICTS; v++) {
				assert_int_equal(st.c[s][v].packets, 0);
				assert_int_equal(st.c[s][v].bytes, 0);
			}
		}
	}
}

/* ---- the harness catches what it should ---------------------------------------------- */

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/*
 * A wrong action, a wrong stage (the counter check), a wrong output frame and a known bug
 * that does not show are each one mismatch; correct lines are none. Built from packets of
 * edge_parse_eth in a temporary directory, so the real fixtures stay untouched.
 */
static void test_runner_reports_mismatches(void **state)
{
	struct env *env = *state;
	struct harness_uplink_check uc = {.stats_fd = env->stats_fd, .slot = SLOT_LO};
	struct fixture_hooks hooks = {
	        .arg = &uc,
	        .before = harness_uplink_snapshot,
	        .check = harness_uplink_check,
	};
	/* edge_parse_eth: IPv4/TCP, ARP, padded ARP, IPv6/TCP, bare header, 13-byte runt */
	static const unsigned int pick[] = {0, 5, 6, 1, 4, 2};
	struct pcap_pkt sel[sizeof(pick) / sizeof(pick[0])], changed;
	char dir[] = "/tmp/edged-harness-XXXXXX", path[PATH_MAX];
	uint8_t buf[64];
	struct pcap_file eth;

	snprintf(path, sizeof(path), "%s/edge_parse_eth.pcap", harness_fixture_dir());
	assert_int_equal(pcap_read(path, &eth), 0);
	for (unsigned int i = 0; i < sizeof(pick) / sizeof(pick[0]); i++) {
		assert_true(pick[i] < eth.n);
		sel[i] = eth.pkts[pick[i]];
	}
	/* The "expected output" of the padded ARP: the frame with its ARP opcode changed. */
	assert_true(sel[2].len <= sizeof(buf));
	memcpy(buf, sel[2].data, sel[2].len);
	buf[21] ^= 3;
	changed = (struct pcap_pkt){.len = sel[2].len, .data = buf};

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/selftest.pcap", dir);
	assert_int_equal(pcap_write(path, sel, sizeof(pick) / sizeof(pick[0])), 0);
	snprintf(path, sizeof(path), "%s/selftest.out.pcap", dir);
	assert_int_equal(pcap_write(path, &changed, 1), 0);
	snprintf(path, sizeof(path), "%s/selftest.expect", dir);
	write_text(path, "# deliberately wrong expectations\n"
	                 "0 XDP_DROP end                # wrong action\n"
	                 "1 XDP_PASS end                # wrong stage: ARP is decided by parse\n"
	                 "2 XDP_PASS parse out=0        # wrong output frame\n"
	                 "3 XDP_PASS end xfail=selftest # a known bug that does not show\n"
	                 "4 XDP_DROP parse              # right\n"
	                 "5 REFUSED -                   # right\n");
	fprintf(stderr, "-- the 4 mismatches reported next are what this test expects --\n");
	assert_int_equal(
	        harness_run_fixtures_in(dir, env->prog_fd, HARNESS_IFINDEX_LO, "selftest", &hooks),
	        4);

	/* A line the harness cannot read, and a set that does not exist, are errors. */
	write_text(path, "0 XDP_MAYBE end # not an action\n");
	assert_int_equal(
	        harness_run_fixtures_in(dir, env->prog_fd, HARNESS_IFINDEX_LO, "selftest", &hooks),
	        -EINVAL);
	assert_int_equal(
	        harness_run_fixtures_in(dir, env->prog_fd, HARNESS_IFINDEX_LO, "absent", &hooks),
	        -ENOENT);

	for (const char *const *f = (const char *const[]){"selftest.pcap", "selftest.out.pcap",
	                                                  "selftest.expect", NULL};
	     *f; f++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *f);
		unlink(path);
	}
	rmdir(dir);
	pcap_free(&eth);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_parse_fixtures_stages_off, setup_stages_off,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_parse_fixtures_stages_on, setup_stages_on,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_unknown_ifindex_counted_as_other,
	                                        setup_stages_off, teardown),
	        cmocka_unit_test_setup_teardown(test_runner_reports_mismatches, setup_stages_off,
	                                        teardown),
	};

	/* The harness reports on stderr; line-buffer stdout so cmocka's lines stay in order
	 * when both go through a pipe (tests/run.sh). */
	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests_name("xdp_edge", tests, NULL, NULL);
}
