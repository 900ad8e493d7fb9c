// SPDX-License-Identifier: GPL-2.0
/*
 * What operators read: edgectl's tables and JSON, the control protocol's answers to bad
 * requests, and the Prometheus text. Rendered from a daemon context with one uplink and no
 * loaded program (counters read as zero), so no kernel is needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "control.h"
#include "metrics.h"
#include "stats.h"
#include "strbuf.h"

static struct edged ctx;

static int setup(void **state)
{
	(void)state;
	memset(&ctx, 0, sizeof(ctx));
	strcpy(ctx.cfg.instance, "edge1");
	strcpy(ctx.cfg.path, "/etc/edged/edge.yaml");
	ctx.cfg.fn[FN_DOS].enabled = true;
	ctx.generation = 3;
	ctx.last_reload_ok = true;
	ctx.dp.n_uplinks = 1;
	ctx.dp.lock_fd = -1;
	strcpy(ctx.dp.uplinks[0].name, "eth0");
	ctx.dp.uplinks[0].ifindex = 7;
	ctx.dp.uplinks[0].mode = XDP_MODE_GENERIC;
	strcpy(ctx.dp.uplinks[0].driver, "e1000");
	ctx.dp.uplinks[0].link_fd = 42; /* attached, as far as rendering cares */
	ctx.dp.uplinks[0].link_id = 9;
	ctx.ctl_fd = -1;
	return 0;
}

static void assert_contains(const struct strbuf *sb, const char *needle)
{
	if (!sb->buf || !strstr(sb->buf, needle))
		fail_msg("expected to find\n  %s\nin\n%s", needle, sb->buf ? sb->buf : "(empty)");
}

static void test_json_string_escaping(void **state)
{
	struct strbuf sb = {};

	(void)state;
	sb_json_str(&sb, "a\"b\\c\nd\x01");
	assert_string_equal(sb.buf, "\"a\\\"b\\\\c\\u000ad\\u0001\"");
	sb_free(&sb);
}

static void test_strbuf_grows_past_initial_capacity(void **state)
{
	struct strbuf sb = {};

	(void)state;
	for (int i = 0; i < 1000; i++)
		sb_printf(&sb, "%04d,", i);
	assert_int_equal(sb.len, 5000);
	assert_false(sb.oom);
	assert_memory_equal(sb.buf + 4995, "0999,", 5);
	sb_free(&sb);
}

static void test_stats_json_shape(void **state)
{
	struct strbuf sb = {};

	(void)state;
	stats_render(&ctx, &sb, true);
	assert_contains(&sb,
	                "{\"instance\":\"edge1\",\"uplinks\":[{\"iface\":\"eth0\",\"ifindex\":7,"
	                "\"xdp_mode\":\"generic\",\"packets\":0,\"bytes\":0,\"counters\":{"
	                "\"parse\":{\"pass\":{\"packets\":0,\"bytes\":0}");
	assert_contains(&sb, "\"end\":{\"pass\":");
	assert_contains(&sb,
	                "\"aborted\":{\"packets\":0,\"bytes\":0}}}}],\"totals\":{\"packets\":0,"
	                "\"bytes\":0}}\n");
	sb_free(&sb);
}

static void test_stats_table_without_traffic_says_so(void **state)
{
	struct strbuf sb = {};

	(void)state;
	stats_render(&ctx, &sb, false);
	assert_contains(&sb, "IFACE");
	assert_contains(&sb, "(no packets counted yet)");
	sb_free(&sb);
}

static void test_status_json_reports_functions_and_uplinks(void **state)
{
	struct strbuf sb = {};

	(void)state;
	status_render(&ctx, &sb, true);
	assert_contains(&sb, "\"generation\":3,\"last_reload\":{\"ok\":true");
	assert_contains(&sb, "\"functions\":{\"dos\":true,\"lb\":false,\"dispatch\":false,"
	                     "\"egress\":false,\"transit\":false}");
	assert_contains(&sb, "\"uplinks\":[{\"iface\":\"eth0\",\"ifindex\":7,\"driver\":\"e1000\","
	                     "\"xdp_mode\":\"generic\","
	                     "\"attached\":true,\"link_id\":9}]");
	sb_free(&sb);
}

static void test_status_table_shows_failed_reload(void **state)
{
	struct strbuf sb = {};

	(void)state;
	ctx.last_reload_ok = false;
	strcpy(ctx.last_reload_error, "edge.yaml:3:5: bad");
	status_render(&ctx, &sb, false);
	assert_contains(&sb, "last reload FAILED: edge.yaml:3:5: bad");
	sb_free(&sb);
}

static void test_control_rejects_malformed_request(void **state)
{
	struct strbuf sb = {};

	(void)state;
	assert_false(control_dispatch(&ctx, "status", &sb));
	assert_contains(&sb, "expected '<json|text> <command> [args]'");
	sb_free(&sb);
	assert_false(control_dispatch(&ctx, "yaml status", &sb));
	sb_free(&sb);
}

static void test_control_unknown_command_lists_known_ones(void **state)
{
	struct strbuf sb = {};

	(void)state;
	assert_false(control_dispatch(&ctx, "text stauts", &sb));
	assert_contains(&sb, "unknown command 'stauts'; edged knows: status stats reload version "
	                     "teardown");
	sb_free(&sb);
}

static void test_control_version_and_teardown(void **state)
{
	struct strbuf sb = {};

	(void)state;
	assert_true(control_dispatch(&ctx, "json version", &sb));
	assert_string_equal(sb.buf, "{\"version\":\"" EDGED_VERSION "\"}\n");
	sb_free(&sb);
	assert_false(ctx.stopping);
	assert_true(control_dispatch(&ctx, "text teardown", &sb));
	assert_true(ctx.stopping && ctx.teardown);
	sb_free(&sb);
}

static void test_metrics_prometheus_text(void **state)
{
	struct strbuf sb = {};

	(void)state;
	metrics_render(&ctx, &sb);
	assert_contains(&sb, "# TYPE edged_xdp_packets_total counter\n");
	assert_contains(
	        &sb, "edged_xdp_packets_total{iface=\"eth0\",stage=\"end\",verdict=\"pass\"} 0\n");
	assert_contains(&sb,
	                "edged_xdp_bytes_total{iface=\"eth0\",stage=\"dos\",verdict=\"drop\"} 0\n");
	assert_contains(&sb, "edged_config_generation 3\n");
	assert_contains(&sb, "edged_build_info{version=\"" EDGED_VERSION
	                     "\",edged_instance=\"edge1\"} 1\n");
	assert_contains(
	        &sb,
	        "edged_uplink_attached{iface=\"eth0\",driver=\"e1000\",xdp_mode=\"generic\"} 1\n");
	/* EDGE_NSTAGES stages x 5 verdicts, for packets and for bytes: a fixed set of series per
	 * uplink. */
	int series = 0;
	for (const char *p = sb.buf; (p = strstr(p, "edged_xdp_")); p++)
		if (p == sb.buf || p[-1] == '\n')
			series++;
	assert_int_equal(series, 2 * EDGE_NSTAGES * EDGE_NVERDICTS);
	sb_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_json_string_escaping),
	        cmocka_unit_test(test_strbuf_grows_past_initial_capacity),
	        cmocka_unit_test_setup(test_stats_json_shape, setup),
	        cmocka_unit_test_setup(test_stats_table_without_traffic_says_so, setup),
	        cmocka_unit_test_setup(test_status_json_reports_functions_and_uplinks, setup),
	        cmocka_unit_test_setup(test_status_table_shows_failed_reload, setup),
	        cmocka_unit_test_setup(test_control_rejects_malformed_request, setup),
	        cmocka_unit_test_setup(test_control_unknown_command_lists_known_ones, setup),
	        cmocka_unit_test_setup(test_control_version_and_teardown, setup),
	        cmocka_unit_test_setup(test_metrics_prometheus_text, setup),
	};

	return cmocka_run_group_tests_name("render", tests, NULL, NULL);
}
