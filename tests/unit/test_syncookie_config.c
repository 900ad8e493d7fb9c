// SPDX-License-Identifier: GPL-2.0
/*
 * `dos.syn_cookies`: what each entry parses to, the errors at FILE:LINE:COL, how entries
 * become dos_dest policies merged with ceilings (real LPM maps, root), and the nftables
 * synproxy table edged makes from them (in a private network namespace, root).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <linux/netfilter.h>

#include "config.h"
#include "config_fixture.h"
#include "nft.h"
#include "syncookie_maps.h"
#include "synproxy.h"

/* ---- parsing ---- */

static void test_entries_parse(void **state)
{
	struct fx *f = *state;
	const struct dos_syncookie_config *c;

	assert_int_equal(load(f, HEAD "dos:\n"
	                              "  syn_cookies:\n"
	                              "    - {dst: 203.0.113.10, ports: \"443, 8000-8100,80\"}\n"
	                              "    - dst: 2001:db8:1::/64\n"
	                              "      mode: auto\n"
	                              "      auto_pps: 20k\n"
	                              "      mss: 1400\n"),
	                 0);
	assert_int_equal(f->cfg.dos.n_syn_cookies, 2);
	c = &f->cfg.dos.syn_cookies[0];
	assert_int_equal(c->dst.family, AF_INET);
	assert_int_equal(c->dst.len, 32);
	assert_int_equal(c->mode, DOS_SYN_COOKIES_ALWAYS);
	assert_int_equal(c->n_ports, 3); /* sorted */
	assert_int_equal(c->port_lo[0], 80);
	assert_int_equal(c->port_hi[0], 80);
	assert_int_equal(c->port_lo[1], 443);
	assert_int_equal(c->port_lo[2], 8000);
	assert_int_equal(c->port_hi[2], 8100);
	assert_int_equal(syncookie_mss(c), 1460);
	c = &f->cfg.dos.syn_cookies[1];
	assert_int_equal(c->dst.family, AF_INET6);
	assert_int_equal(c->dst.len, 64);
	assert_int_equal(c->mode, DOS_SYN_COOKIES_AUTO);
	assert_int_equal(c->auto_pps, 20000);
	assert_int_equal(c->n_ports, 0); /* every port */
	assert_int_equal(syncookie_mss(c), 1400);
}

static void test_ports_forms_and_merging(void **state)
{
	struct fx *f = *state;
	const struct dos_syncookie_config *c;

	assert_int_equal(load(f, HEAD
	                      "dos:\n  syn_cookies:\n"
	                      "    - {dst: 192.0.2.0/24, ports: [443, \"80-90\", \"91-95,85\"]}\n"
	                      "    - {dst: 198.51.100.1, ports: 8080}\n"
	                      "    - {dst: \"2001:db8::1\"}\n"),
	                 0);
	c = &f->cfg.dos.syn_cookies[0];
	assert_int_equal(c->n_ports, 2); /* 80-90, 91-95 and 85 touch: one range */
	assert_int_equal(c->port_lo[0], 80);
	assert_int_equal(c->port_hi[0], 95);
	assert_int_equal(c->port_lo[1], 443);
	c = &f->cfg.dos.syn_cookies[1];
	assert_int_equal(c->n_ports, 1);
	assert_int_equal(c->port_lo[0], 8080);
	assert_int_equal(syncookie_mss(&f->cfg.dos.syn_cookies[2]), 1440);
}

static void test_errors(void **state)
{
	/* AT: where in the entry the error must point (its first occurrence). */
	static const struct {
		const char *entry;
		const char *at;
		const char *words;
	} cases[] = {
	        {"{ports: 80}", "{", "missing required key 'dst'"},
	        {"{dst: 192.0.2.1, ports: \"80,0\"}", "\"80", "'0' is not a port"},
	        {"{dst: 192.0.2.1, ports: \"70000\"}", "\"7", "'70000' is not a port"},
	        {"{dst: 192.0.2.1, ports: \"90-80\"}", "\"9", "'90-80'"},
	        {"{dst: 192.0.2.1, ports: [80, http]}", "http", "'http'"},
	        {"{dst: 192.0.2.1, ports: \"1,3,5,7,9,11,13,15,17\"}", "\"1",
	         "9 separate port ranges, at most 8"},
	        {"{dst: 192.0.2.1, ports: []}", "[]", "no ports given"},
	        {"{dst: 192.0.2.1, mode: sometimes}", "sometimes", "use always"},
	        {"{dst: 192.0.2.1, mode: auto}", "{", "mode auto needs auto_pps"},
	        {"{dst: 192.0.2.1, auto_pps: 5}", "5}", "only used with `mode: auto`"},
	        {"{dst: 192.0.2.1, mss: 100}", "100", "out of range"},
	        {"{dst: 192.0.2.1/24}", "192", "did you mean 192.0.2.0/24"},
	        {"192.0.2.1", "192", "expected a mapping"},
	        {"{dst: 192.0.2.1, port: 80}", "port", "port"},
	};
	struct fx *f = *state;
	char text[512], where[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* The entry is on line 5 after "    - ": column 7 is its first character. */
		snprintf(where, sizeof(where), "t.yaml:5:%d: ",
		         (int)(strstr(cases[i].entry, cases[i].at) - cases[i].entry) + 7);
		snprintf(text, sizeof(text), HEAD "dos:\n  syn_cookies:\n    - %s\n",
		         cases[i].entry);
		print_message("%s\n", cases[i].entry);
		assert_int_equal(load(f, text), -1);
		assert_one_error(f, where, cases[i].words);
	}
}

static void test_overlap_rejected(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "dos:\n  syn_cookies:\n"
	                              "    - {dst: 203.0.113.0/24, ports: 80}\n"
	                              "    - {dst: 198.51.100.0/24}\n"
	                              "    - {dst: 203.0.113.7, ports: 443}\n"),
	                 -1);
	assert_one_error(f,
	                 "t.yaml:7:7: ", "203.0.113.7/32 overlaps syn_cookies[0] (203.0.113.0/24)");
	/* Different families never overlap; a ceiling over a protected prefix is fine. */
	assert_int_equal(load(f, HEAD "dos:\n"
	                              "  ceilings: [{dst: 203.0.113.0/24, pps: 1000}]\n"
	                              "  syn_cookies:\n"
	                              "    - {dst: 203.0.113.0/25}\n"
	                              "    - {dst: \"2001:db8::/32\"}\n"),
	                 0);
}

/* ---- policies in the LPM tries ---- */

struct lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};

static int lpm(int fam)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);

	return bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "t_dest", fam ? 20 : 8,
	                      sizeof(struct dos_dest_policy), 64, &opts);
}

/* The policy the data path would find for ADDR (a longest-prefix lookup). */
static struct dos_dest_policy policy_of(const int fds[2], const char *addr)
{
	struct lpm_key k = {.prefixlen = strchr(addr, ':') ? 128 : 32};
	struct dos_dest_policy pol;

	assert_int_equal(inet_pton(k.prefixlen == 128 ? AF_INET6 : AF_INET, addr, k.addr), 1);
	if (bpf_map_lookup_elem(fds[k.prefixlen == 128], &k, &pol))
		memset(&pol, 0, sizeof(pol));
	return pol;
}

static void ceilings_fill(const struct dos_config *dc, const int fds[2])
{
	for (int i = 0; i < dc->n_ceilings; i++) {
		struct dos_dest_policy pol = {.ceiling_pps = dc->ceilings[i].pps};
		struct lpm_key k = {.prefixlen = dc->ceilings[i].dst.len};

		memcpy(k.addr, &dc->ceilings[i].dst.addr, 16);
		assert_int_equal(bpf_map_update_elem(fds[dc->ceilings[i].dst.family == AF_INET6],
		                                     &k, &pol, BPF_ANY),
		                 0);
	}
}

/* Every address gets the ceiling and the SYN cookies that contain it, whichever prefix is
 * the longer (as build_dests() then syncookie_dests_fill() leave the tries). */
static void test_policies_merge_with_ceilings(void **state)
{
	struct fx *f = *state;
	struct dos_dest_policy p;
	int fds[2] = {lpm(0), lpm(1)};

	if (fds[0] < 0 && errno == EPERM)
		skip();
	assert_true(fds[0] >= 0 && fds[1] >= 0);
	assert_int_equal(load(f,
	                      HEAD "dos:\n"
	                           "  ceilings:\n"
	                           "    - {dst: 203.0.113.0/24, pps: 1000}\n"
	                           "    - {dst: 203.0.113.128/25, pps: 500}\n"
	                           "    - {dst: 203.0.113.200/32, pps: 50}\n"
	                           "  syn_cookies:\n"
	                           "    - {dst: 203.0.113.128/26, ports: \"80,443\", mss: 1400}\n"
	                           "    - {dst: \"2001:db8::/64\", mode: auto, auto_pps: 7}\n"),
	                 0);
	ceilings_fill(&f->cfg.dos, fds);
	assert_int_equal(syncookie_dests_fill(&f->cfg.dos, fds), 0);

	p = policy_of(fds, "203.0.113.130"); /* in the /26: cookies, and the /25's ceiling */
	assert_int_equal(p.syn_cookies, DOS_SYN_COOKIES_ALWAYS);
	assert_int_equal(p.ceiling_pps, 500);
	assert_int_equal(p.syn_mss, 1400);
	assert_int_equal(p.syn_nports, 2);
	assert_int_equal(p.syn_port_lo[1], 443);
	p = policy_of(fds, "203.0.113.200"); /* outside the /26: the /32 ceiling, no cookies */
	assert_int_equal(p.syn_cookies, DOS_SYN_COOKIES_OFF);
	assert_int_equal(p.ceiling_pps, 50);
	p = policy_of(fds, "203.0.113.5");
	assert_int_equal(p.syn_cookies, DOS_SYN_COOKIES_OFF);
	assert_int_equal(p.ceiling_pps, 1000);
	p = policy_of(fds, "2001:db8::99");
	assert_int_equal(p.syn_cookies, DOS_SYN_COOKIES_AUTO);
	assert_int_equal(p.syn_auto_pps, 7);
	assert_int_equal(p.syn_mss, 1440);
	assert_int_equal(p.ceiling_pps, 0);

	/* A ceiling inside a protected prefix gets its cookies. */
	assert_int_equal(load(f, HEAD "dos:\n"
	                              "  ceilings: [{dst: 198.51.100.9, pps: 9}]\n"
	                              "  syn_cookies: [{dst: 198.51.100.0/24}]\n"),
	                 0);
	ceilings_fill(&f->cfg.dos, fds);
	assert_int_equal(syncookie_dests_fill(&f->cfg.dos, fds), 0);
	p = policy_of(fds, "198.51.100.9");
	assert_int_equal(p.syn_cookies, DOS_SYN_COOKIES_ALWAYS);
	assert_int_equal(p.ceiling_pps, 9);
	close(fds[0]);
	close(fds[1]);
}

/* ---- the synproxy table, in a network namespace of its own ---- */

static char *sysctl_get(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

#define SYSCTL_COOKIES "/proc/sys/net/ipv4/tcp_syncookies"
#define SYSCTL_LOOSE   "/proc/sys/net/netfilter/nf_conntrack_tcp_loose"

static void test_synproxy_table_lifecycle(void **state)
{
	struct synproxy_state st = {.instance = ""};
	struct fx *f = *state;
	char text[NFT_COMMENT_MAX], v[16];

	if (unshare(CLONE_NEWNET)) {
		print_message("  no private network namespace (%s): skipped\n", strerror(errno));
		skip();
	}
	assert_string_equal(sysctl_get(SYSCTL_COOKIES, v, sizeof(v)), "1");
	assert_int_equal(load(f, HEAD "dos:\n  syn_cookies:\n"
	                              "    - {dst: 203.0.113.10, ports: \"80,8000-8100\"}\n"
	                              "    - {dst: 203.0.113.11, ports: \"8000-8100, 80\"}\n"
	                              "    - {dst: \"2001:db8::/64\", mss: 1220}\n"),
	                 0);
	assert_int_equal(synproxy_prepare(&st, "e1", &f->cfg.dos), 0);
	/* prepare only checks: nothing exists yet */
	assert_int_equal(nft_table_comment(NFPROTO_INET, SYNPROXY_TABLE, text, sizeof(text)),
	                 -ENOENT);
	assert_int_equal(synproxy_commit(&st), 0);
	assert_int_equal(nft_table_comment(NFPROTO_INET, SYNPROXY_TABLE, text, sizeof(text)), 0);
	assert_string_equal(text, "edged instance e1; sysctls before: 1 1 1");
	assert_string_equal(sysctl_get(SYSCTL_COOKIES, v, sizeof(v)), "2");
	assert_string_equal(sysctl_get(SYSCTL_LOOSE, v, sizeof(v)), "0");

	/* A later commit undone by abort (the data path failed): the old table is back. */
	assert_int_equal(load(f, HEAD "dos: {}\n"), 0);
	assert_int_equal(synproxy_prepare(&st, "e1", &f->cfg.dos), 0);
	assert_int_equal(synproxy_commit(&st), 0);
	assert_int_equal(nft_table_comment(NFPROTO_INET, SYNPROXY_TABLE, text, sizeof(text)),
	                 -ENOENT);
	assert_string_equal(sysctl_get(SYSCTL_COOKIES, v, sizeof(v)), "1");
	synproxy_abort(&st);
	assert_int_equal(nft_table_comment(NFPROTO_INET, SYNPROXY_TABLE, text, sizeof(text)), 0);
	assert_string_equal(sysctl_get(SYSCTL_COOKIES, v, sizeof(v)), "2");

	/* Another instance's teardown leaves it; ours removes it and restores the sysctls,
	 * from the table's comment (as `edged --teardown` does without a running edged). */
	assert_int_equal(synproxy_teardown(NULL, "other"), 0);
	assert_int_equal(nft_table_comment(NFPROTO_INET, SYNPROXY_TABLE, text, sizeof(text)), 0);
	assert_int_equal(synproxy_teardown(NULL, "e1"), 0);
	assert_int_equal(nft_table_comment(NFPROTO_INET, SYNPROXY_TABLE, text, sizeof(text)),
	                 -ENOENT);
	assert_string_equal(sysctl_get(SYSCTL_COOKIES, v, sizeof(v)), "1");
	assert_string_equal(sysctl_get(SYSCTL_LOOSE, v, sizeof(v)), "1");
	synproxy_close(&st);
}

/* The kernel's word on a bad batch reaches the message, with what was refused. */
static void test_nft_error_names_the_message(void **state)
{
	struct nft_batch *b = nft_batch_new();
	char err[512];

	(void)state;
	if (unshare(CLONE_NEWNET))
		skip();
	assert_non_null(b);
	assert_int_equal(nft_table_add(b, NFPROTO_INET, "t", NULL), 0);
	/* No such table: the chain is refused. */
	assert_int_equal(nft_chain_add(b, NFPROTO_INET, "absent", "c", 1, 0), 0);
	assert_int_equal(nft_batch_commit(b, false, err, sizeof(err)), -ENOENT);
	print_message("  %s\n", err);
	assert_non_null(strstr(err, "the chain c"));
	nft_batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_entries_parse, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_ports_forms_and_merging, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_overlap_rejected, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_policies_merge_with_ceilings, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_synproxy_table_lifecycle, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_nft_error_names_the_message, setup, teardown),
	};

	return cmocka_run_group_tests_name("syncookie_config", tests, NULL, NULL);
}
