// SPDX-License-Identifier: GPL-2.0
/*
 * edged-proxy's /metrics text: every counter of struct proxy_stats appears under its name and
 * labels with its own value (each counter gets a distinct value, so a swapped pair fails),
 * and every sample's metric has its HELP and TYPE lines.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proxy.h"
#include "strbuf.h"

static struct proxy p; /* 64 KiB buffer inside */

static void assert_line(const struct strbuf *sb, const char *line)
{
	char want[256];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(sb->buf, want)) {
		print_error("missing line: %s\n---\n%s", line, sb->buf);
		fail();
	}
}

static void test_every_counter_rendered(void **state)
{
	struct strbuf sb = {};

	(void)state;
	p.service = "spectrum";
	p.st = (struct proxy_stats){
	        .tcp_accepted = 101,
	        .tcp_active = 102,
	        .tcp_closed = 103,
	        .tcp_no_origin = 104,
	        .tcp_origin_failed = 105,
	        .tcp_idle_closed = 106,
	        .tcp_pp2_sent = 107,
	        .udp_flows = 201,
	        .udp_active = 202,
	        .udp_closed = 203,
	        .udp_no_origin = 204,
	        .udp_errors = 205,
	        .udp_idle_closed = 206,
	        .udp_pp2_sent = 207,
	        .bytes_to_origin = 301,
	        .bytes_to_client = 302,
	};
	proxy_metrics_render(&p, &sb);
	assert_false(sb.oom);
	assert_line(
	        &sb,
	        "edged_proxy_connections_accepted_total{service=\"spectrum\",proto=\"tcp\"} 101");
	assert_line(
	        &sb,
	        "edged_proxy_connections_accepted_total{service=\"spectrum\",proto=\"udp\"} 201");
	assert_line(&sb, "edged_proxy_connections_active{service=\"spectrum\",proto=\"tcp\"} 102");
	assert_line(&sb, "edged_proxy_connections_active{service=\"spectrum\",proto=\"udp\"} 202");
	assert_line(&sb,
	            "edged_proxy_connections_closed_total{service=\"spectrum\",proto=\"tcp\"} 103");
	assert_line(&sb,
	            "edged_proxy_connections_closed_total{service=\"spectrum\",proto=\"udp\"} 203");
	assert_line(&sb, "edged_proxy_no_origin_total{service=\"spectrum\",proto=\"tcp\"} 104");
	assert_line(&sb, "edged_proxy_no_origin_total{service=\"spectrum\",proto=\"udp\"} 204");
	assert_line(&sb, "edged_proxy_origin_connect_failures_total{service=\"spectrum\"} 105");
	assert_line(&sb, "edged_proxy_idle_timeouts_total{service=\"spectrum\",proto=\"tcp\"} 106");
	assert_line(&sb, "edged_proxy_idle_timeouts_total{service=\"spectrum\",proto=\"udp\"} 206");
	assert_line(&sb,
	            "edged_proxy_proxy_headers_sent_total{service=\"spectrum\",proto=\"tcp\"} 107");
	assert_line(&sb,
	            "edged_proxy_proxy_headers_sent_total{service=\"spectrum\",proto=\"udp\"} 207");
	assert_line(&sb, "edged_proxy_udp_errors_total{service=\"spectrum\"} 205");
	assert_line(&sb,
	            "edged_proxy_bytes_total{service=\"spectrum\",direction=\"to_origin\"} 301");
	assert_line(&sb,
	            "edged_proxy_bytes_total{service=\"spectrum\",direction=\"to_client\"} 302");
	sb_free(&sb);
}

/* Each sample's metric name has "# HELP name" and "# TYPE name counter|gauge" before it. */
static void test_help_and_type_for_every_sample(void **state)
{
	struct strbuf sb = {};
	char *save = NULL, *line, name[128];
	int samples = 0;

	(void)state;
	p.service = "spectrum";
	proxy_metrics_render(&p, &sb);
	for (line = strtok_r(sb.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char help[160], type[160];

		if (line[0] == '#')
			continue;
		assert_int_equal(sscanf(line, "%127[a-z_]{", name), 1);
		snprintf(help, sizeof(help), "# HELP %s ", name);
		snprintf(type, sizeof(type), "# TYPE %s ", name);
		samples++;
		/* strtok_r cut the buffer: look in the lines before this one. */
		for (char *q = sb.buf; q < line; q += strlen(q) + 1) {
			if (!strncmp(q, help, strlen(help)))
				help[0] = 0;
			if (!strncmp(q, type, strlen(type)))
				type[0] = 0;
		}
		assert_int_equal(help[0], 0);
		assert_int_equal(type[0], 0);
	}
	assert_int_equal(samples, 16);
	sb_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_every_counter_rendered),
	        cmocka_unit_test(test_help_and_type_for_every_sample),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
