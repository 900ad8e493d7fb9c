// SPDX-License-Identifier: GPL-2.0
/*
 * config.c: what a user sees when loading edged's YAML. Happy paths check the values and the
 * defaults the daemon will run with; error paths check the exact FILE:LINE:COL of each message
 * (so that an editor jumps to the right place) and the words that tell the user the fix.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_fixture.h"

#define EXAMPLE_CONFIG "packaging/edge.example.yaml" /* tests run from the repo root */

static void print_errors(const struct config_errors *errs)
{
	for (int i = 0; i < errs->n; i++)
		print_error("  [%d] %s\n", i, errs->msgs[i]);
}

#define assert_n_errors(f, n) assert_n_errors_(f, n, __FILE__, __LINE__)
static void assert_n_errors_(struct fx *f, int n, const char *file, int line)
{
	if (f->errs.n == n)
		return;
	print_error("expected %d error(s), got %d:\n", n, f->errs.n);
	print_errors(&f->errs);
	_fail(file, line);
}

/* Error I starts with PREFIX ("t.yaml:LINE:COL: ") and contains each of the following words. */
#define assert_error(f, i, prefix, ...)                                                            \
	assert_error_(f, i, __FILE__, __LINE__, prefix, __VA_ARGS__, (const char *)NULL)
static void assert_error_(struct fx *f, int i, const char *file, int line, const char *prefix, ...)
{
	const char *msg = i < f->errs.n ? f->errs.msgs[i] : "(no such error)";
	const char *word;
	bool ok = strncmp(msg, prefix, strlen(prefix)) == 0;
	va_list ap;

	va_start(ap, prefix);
	while (ok && (word = va_arg(ap, const char *)))
		ok = strstr(msg, word) != NULL;
	va_end(ap);
	if (ok)
		return;
	print_error("error [%d] does not match '%s' and its words; all errors:\n", i, prefix);
	print_errors(&f->errs);
	_fail(file, line);
}

/* Loads TEXT, expecting exactly one error that matches. */
#define assert_load_fail(f, text, prefix, ...)                                                     \
	do {                                                                                       \
		assert_int_equal(load(f, text), -1);                                               \
		assert_n_errors(f, 1);                                                             \
		assert_error(f, 0, prefix, __VA_ARGS__);                                           \
	} while (0)

#define MINIMAL "instance: edge1\nuplinks: [eth0]\n"

/* ---- happy paths ---- */

static void test_minimal_config_gets_defaults(void **state)
{
	struct fx *f = *state;
	struct sockaddr_in *sin = (struct sockaddr_in *)&f->cfg.metrics.addr;

	assert_int_equal(load(f, MINIMAL), 0);
	assert_n_errors(f, 0);
	assert_string_equal(f->cfg.path, "t.yaml");
	assert_string_equal(f->cfg.instance, "edge1");
	assert_int_equal(f->cfg.n_uplinks, 1);
	assert_string_equal(f->cfg.uplinks[0].name, "eth0");
	assert_int_equal(f->cfg.uplinks[0].mode, XDP_MODE_NATIVE);
	assert_string_equal(f->cfg.control_socket, "/run/edged/edge1.sock");
	assert_true(f->cfg.metrics.enabled);
	assert_string_equal(f->cfg.metrics.listen, CONFIG_DEFAULT_METRICS_LISTEN);
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 9420);
	assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	assert_int_equal(f->cfg.metrics.addrlen, sizeof(struct sockaddr_in));
	assert_int_equal(f->cfg.log_level, LOG_LVL_INFO);
	for (int fn = 0; fn < FN_COUNT; fn++)
		assert_false(f->cfg.fn[fn].enabled);
}

static void test_every_key_set(void **state)
{
	struct fx *f = *state;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&f->cfg.metrics.addr;

	assert_int_equal(load(f, "instance: pop-07_a\n"
	                         "uplinks:\n"
	                         "  - name: eth0\n"
	                         "    xdp_mode: generic\n"
	                         "  - name: eth1\n"
	                         "    xdp_mode: native\n"
	                         "control_socket: /run/custom/ctl.sock\n"
	                         "metrics:\n"
	                         "  listen: \"[2001:db8::5]:9100\"\n"
	                         "log_level: debug\n"
	                         "dos: {enabled: true}\n"
	                         "lb: {}\n"
	                         "dispatch:\n"
	                         "egress: {enabled: false}\n"
	                         "transit: ~\n"),
	                 0);
	assert_string_equal(f->cfg.instance, "pop-07_a");
	assert_int_equal(f->cfg.n_uplinks, 2);
	assert_int_equal(f->cfg.uplinks[0].mode, XDP_MODE_GENERIC);
	assert_string_equal(f->cfg.uplinks[1].name, "eth1");
	assert_int_equal(f->cfg.uplinks[1].mode, XDP_MODE_NATIVE);
	assert_string_equal(f->cfg.control_socket, "/run/custom/ctl.sock");
	assert_string_equal(f->cfg.metrics.listen, "[2001:db8::5]:9100");
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 9100);
	assert_int_equal(f->cfg.metrics.addrlen, sizeof(struct sockaddr_in6));
	assert_int_equal(f->cfg.log_level, LOG_LVL_DEBUG);
	assert_true(f->cfg.fn[FN_DOS].enabled);
	assert_true(f->cfg.fn[FN_LB].enabled);
	assert_true(f->cfg.fn[FN_DISPATCH].enabled);
	assert_false(f->cfg.fn[FN_EGRESS].enabled);
	assert_true(f->cfg.fn[FN_TRANSIT].enabled);
}

static void test_shorthand_uplinks_mix_with_mappings(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "instance: e1\n"
	                         "uplinks:\n"
	                         "  - eth0\n"
	                         "  - {name: eth1, xdp_mode: generic}\n"
	                         "  - \"eth2\"\n"),
	                 0);
	assert_int_equal(f->cfg.n_uplinks, 3);
	assert_string_equal(f->cfg.uplinks[0].name, "eth0");
	assert_int_equal(f->cfg.uplinks[0].mode, XDP_MODE_NATIVE);
	assert_string_equal(f->cfg.uplinks[1].name, "eth1");
	assert_int_equal(f->cfg.uplinks[1].mode, XDP_MODE_GENERIC);
	assert_string_equal(f->cfg.uplinks[2].name, "eth2");
	assert_int_equal(f->cfg.uplinks[2].mode, XDP_MODE_NATIVE);
}

/* Each spelling of "present" turns its function on; absent ones stay off. */
static void test_sections_present_are_on(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, MINIMAL "dos:\nlb: {}\ndispatch: null\n"), 0);
	assert_true(f->cfg.fn[FN_DOS].enabled);
	assert_true(f->cfg.fn[FN_LB].enabled);
	assert_true(f->cfg.fn[FN_DISPATCH].enabled);
	assert_false(f->cfg.fn[FN_EGRESS].enabled);
	assert_false(f->cfg.fn[FN_TRANSIT].enabled);
}

static void test_enabled_false_turns_section_off(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, MINIMAL "dos: {enabled: false}\n"
	                                 "lb: {enabled: no}\n"
	                                 "egress: {enabled: no}\n"
	                                 "transit:\n  enabled: true\n"),
	                 0);
	assert_false(f->cfg.fn[FN_DOS].enabled);
	assert_false(f->cfg.fn[FN_LB].enabled);
	assert_false(f->cfg.fn[FN_DISPATCH].enabled);
	assert_false(f->cfg.fn[FN_EGRESS].enabled);
	assert_true(f->cfg.fn[FN_TRANSIT].enabled);
}

static void test_metrics_off(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, MINIMAL "metrics: {listen: off}\n"), 0);
	assert_false(f->cfg.metrics.enabled);
	assert_string_equal(f->cfg.metrics.listen, "off");
}

static void test_metrics_empty_keeps_default(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, MINIMAL "metrics:\n"), 0);
	assert_true(f->cfg.metrics.enabled);
	assert_string_equal(f->cfg.metrics.listen, "127.0.0.1:9420");
}

static void test_log_levels(void **state)
{
	static const struct {
		const char *yaml;
		enum log_level level;
	} cases[] = {
	        {MINIMAL "log_level: error\n", LOG_LVL_ERROR},
	        {MINIMAL "log_level: warn\n", LOG_LVL_WARN},
	        {MINIMAL "log_level: info\n", LOG_LVL_INFO},
	        {MINIMAL "log_level: debug\n", LOG_LVL_DEBUG},
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(load(f, cases[i].yaml), 0);
		assert_int_equal(f->cfg.log_level, cases[i].level);
	}
}

/* Builds "instance: e\nuplinks:\n  - u0\n ... - u<N-1>\n" (caller frees). */
static char *config_with_uplinks(int n)
{
	size_t size = 64 + (size_t)n * 16, used;
	char *s = malloc(size);

	assert_non_null(s);
	used = snprintf(s, size, "instance: e\nuplinks:\n");
	for (int i = 0; i < n; i++)
		used += snprintf(s + used, size - used, "  - u%d\n", i);
	return s;
}

static void test_max_uplinks_accepted(void **state)
{
	struct fx *f = *state;
	char *yaml = config_with_uplinks(CONFIG_MAX_UPLINKS);

	assert_int_equal(load(f, yaml), 0);
	assert_int_equal(f->cfg.n_uplinks, CONFIG_MAX_UPLINKS);
	assert_string_equal(f->cfg.uplinks[CONFIG_MAX_UPLINKS - 1].name, "u63");
	free(yaml);
}

static void test_longest_instance_accepted(void **state)
{
	struct fx *f = *state;

	/* 31 characters: the directory name and the default socket path both fit */
	assert_int_equal(load(f, "instance: a234567890123456789012345678901\nuplinks: [e]\n"), 0);
	assert_string_equal(f->cfg.control_socket,
	                    "/run/edged/a234567890123456789012345678901.sock");
}

static void test_example_config_loads(void **state)
{
	struct fx *f = *state;
	int rc = config_load(EXAMPLE_CONFIG, 0, &f->cfg, &f->errs);

	f->loaded = rc == 0;
	print_errors(&f->errs);
	assert_int_equal(rc, 0);
	assert_string_equal(f->cfg.path, EXAMPLE_CONFIG);
	assert_string_equal(f->cfg.instance, "edge1");
	assert_true(f->cfg.n_uplinks >= 1);
}

static void test_load_from_file(void **state)
{
	struct fx *f = *state;
	char path[] = "/tmp/edged-test-config-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, MINIMAL, strlen(MINIMAL)), strlen(MINIMAL));
	close(fd);
	assert_int_equal(config_load(path, 0, &f->cfg, &f->errs), 0);
	f->loaded = true;
	assert_string_equal(f->cfg.path, path);
	assert_string_equal(f->cfg.uplinks[0].name, "eth0");
	unlink(path);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(config_function_name(FN_DOS), "dos");
	assert_string_equal(config_function_name(FN_LB), "lb");
	assert_string_equal(config_function_name(FN_DISPATCH), "dispatch");
	assert_string_equal(config_function_name(FN_EGRESS), "egress");
	assert_string_equal(config_function_name(FN_TRANSIT), "transit");
	assert_string_equal(config_function_name(FN_COUNT), "?");
	assert_string_equal(config_xdp_mode_name(XDP_MODE_NATIVE), "native");
	assert_string_equal(config_xdp_mode_name(XDP_MODE_GENERIC), "generic");
}

/* ---- YAML itself ---- */

static void test_yaml_syntax_error(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, "instance: e\nuplinks: [eth0\nlog_level: info\n",
	                 "t.yaml:3:10: ", "YAML syntax error",
	                 "while parsing a flow sequence at 2:10");
	assert_load_fail(f, "instance: e\n\tuplinks: [eth0]\n", "t.yaml:2:1: ", "YAML syntax error",
	                 "tab");
}

static void test_invalid_utf8_is_placed(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, "instance: e\nuplinks: [et\xff]\n",
	                 "t.yaml:2:13: ", "YAML syntax error", "UTF-8", "0xff");
}

static void test_empty_file(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, "", "t.yaml:1:1: ", "empty", "instance", "uplinks");
	assert_load_fail(f, "# nothing but a comment\n\n", "t.yaml:1:1: ", "empty");
	assert_load_fail(f, "---\n", "t.yaml:1:1: ", "empty");
}

static void test_top_level_not_a_mapping(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, "- instance: e\n", "t.yaml:1:1: ", "expected a mapping", "got a list");
	assert_load_fail(f, "edge1\n", "t.yaml:1:1: ", "expected a mapping", "got a scalar");
}

static void test_second_document_rejected(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, MINIMAL "---\ninstance: other\n",
	                 "t.yaml:3:1: ", "second YAML document");
}

/* ---- keys ---- */

static void test_unknown_key_suggests_close_one(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "instance: e\nuplink: [eth0]\nlog_levle: info\n"), -1);
	assert_n_errors(f, 3);
	assert_error(f, 0, "t.yaml:2:1: ", "unknown key 'uplink'", "did you mean 'uplinks'?");
	assert_error(f, 1, "t.yaml:3:1: ", "unknown key 'log_levle'", "did you mean 'log_level'?");
	/* the misspelt key does not count as the required one */
	assert_error(f, 2, "t.yaml:1:1: ", "missing required key 'uplinks'");
	/* keys are lower case; another case is a typo too */
	assert_load_fail(f, MINIMAL "Log_Level: info\n", "t.yaml:3:1: ", "unknown key 'Log_Level'",
	                 "did you mean 'log_level'?");
}

static void test_unknown_key_lists_allowed(void **state)
{
	struct fx *f = *state;

	/* "foo" is two edits from "dos", too far for a three-letter key */
	assert_load_fail(
	        f, MINIMAL "foo: 1\n", "t.yaml:3:1: ", "unknown key 'foo'",
	        "allowed keys: instance, uplinks, control_socket, metrics, log_level, dos, "
	        "lb, dispatch, egress, transit");
}

static void test_unknown_nested_keys(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "instance: e\n"
	                         "uplinks:\n"
	                         "  - name: eth0\n"
	                         "    xdpmode: generic\n"
	                         "metrics:\n"
	                         "  lisen: 127.0.0.1:1\n"
	                         "dos:\n"
	                         "  rate: 5\n"),
	                 -1);
	assert_n_errors(f, 3);
	assert_error(f, 0, "t.yaml:4:5: ", "uplinks[0]: unknown key 'xdpmode'",
	             "did you mean 'xdp_mode'?");
	assert_error(f, 1, "t.yaml:6:3: ", "metrics: unknown key 'lisen'",
	             "did you mean 'listen'?");
	assert_error(f, 2, "t.yaml:8:3: ", "dos: unknown key 'rate'", "allowed keys: enabled");
}

static void test_key_must_be_a_scalar(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, MINIMAL "? [a, b]\n: 1\n", "t.yaml:3:3: ", "expected a key name",
	                 "got a list");
}

static void test_missing_required_keys(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "\n\nlog_level: info\n"), -1);
	assert_n_errors(f, 2);
	assert_error(f, 0, "t.yaml:3:1: ", "missing required key 'instance'");
	assert_error(f, 1, "t.yaml:3:1: ", "missing required key 'uplinks'", "uplinks: [eth0]");
}

static void test_missing_uplink_name(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, "instance: e\nuplinks:\n  - eth0\n  - xdp_mode: generic\n",
	                 "t.yaml:4:5: ", "uplinks[1]: missing required key 'name'");
}

static void test_duplicate_keys(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "instance: e\n"
	                         "uplinks: [eth0]\n"
	                         "log_level: info\n"
	                         "log_level: debug\n"
	                         "metrics: {listen: off, listen: 127.0.0.1:1}\n"),
	                 -1);
	assert_n_errors(f, 2);
	assert_error(f, 0, "t.yaml:4:1: ", "duplicate key 'log_level'", "first at 3:1");
	assert_error(f, 1, "t.yaml:5:24: ", "metrics: duplicate key 'listen'", "first at 5:11");
}

/* ---- types ---- */

static void test_uplinks_wrong_type(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, "instance: e\nuplinks: eth0\n",
	                 "t.yaml:2:10: ", "uplinks: expected a list, got a scalar");
	assert_load_fail(f, "instance: e\nuplinks: {name: eth0}\n",
	                 "t.yaml:2:10: ", "uplinks: expected a list, got a mapping");
}

static void test_instance_wrong_type(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, "instance: {name: e}\nuplinks: [eth0]\n",
	                 "t.yaml:1:11: ", "instance: expected a string, got a mapping");
	assert_load_fail(f, "instance:\nuplinks: [eth0]\n",
	                 "t.yaml:1:10: ", "instance: expected a string, got an empty value");
}

static void test_uplink_entry_wrong_type(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, "instance: e\nuplinks:\n  - eth0\n  - [eth1]\n",
	                 "t.yaml:4:5: ", "uplinks[1]: expected an interface name or a mapping",
	                 "got a list");
}

static void test_boolean_strict(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, MINIMAL "dos: {enabled: maybe}\n",
	                 "t.yaml:3:16: ", "dos.enabled: expected true or false", "'maybe'");
	assert_load_fail(f, MINIMAL "lb: {enabled: 1}\n",
	                 "t.yaml:3:15: ", "lb.enabled: expected true or false", "'1'");
	assert_load_fail(f, MINIMAL "lb: {enabled: \"true\"}\n",
	                 "t.yaml:3:15: ", "lb.enabled: expected true or false", "quoted",
	                 "remove the quotes");
	assert_load_fail(f, MINIMAL "lb:\n  enabled:\n",
	                 "t.yaml:4:11: ", "lb.enabled: expected true or false, got an empty value");
}

static void test_section_wrong_type(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, MINIMAL "dos: true\n", "t.yaml:3:6: ", "dos: expected a mapping",
	                 "got a scalar", "`dos: {enabled: false}`");
	assert_load_fail(f, MINIMAL "transit: [a]\n",
	                 "t.yaml:3:10: ", "transit: expected a mapping", "got a list");
}

static void test_metrics_wrong_type(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, MINIMAL "metrics: off\n",
	                 "t.yaml:3:10: ", "metrics: expected a mapping", "got a scalar",
	                 "`metrics: {listen: off}`");
}

/* ---- values ---- */

static void test_instance_bad_values(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, "instance: Edge1\nuplinks: [e]\n", "t.yaml:1:11: ", "instance: 'Edge1'",
	                 "'E'", "a-z, 0-9, '_' and '-'");
	assert_load_fail(f, "instance: edge.1\nuplinks: [e]\n",
	                 "t.yaml:1:11: ", "the character '.' at position 5");
	assert_load_fail(f, "instance: \"e\\t1\"\nuplinks: [e]\n",
	                 "t.yaml:1:11: ", "the byte 0x09 at position 2");
	assert_load_fail(f, "instance: -edge\nuplinks: [e]\n",
	                 "t.yaml:1:11: ", "must start with a letter or digit");
	assert_load_fail(f, "instance: \"\"\nuplinks: [e]\n",
	                 "t.yaml:1:11: ", "instance: must not be empty");
	assert_load_fail(f, "instance: a2345678901234567890123456789012\nuplinks: [e]\n",
	                 "t.yaml:1:11: ", "is 32 characters long", "maximum is 31");
}

static void test_xdp_mode_bad_value(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, "instance: e\nuplinks:\n  - name: eth0\n    xdp_mode: offload\n",
	                 "t.yaml:4:15: ", "uplinks[0].xdp_mode: 'offload'", "native", "generic");
}

static void test_log_level_bad_value(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, MINIMAL "log_level: verbose\n",
	                 "t.yaml:3:12: ", "log_level: 'verbose' is not a log level",
	                 "error, warn, info or debug");
}

static void test_listen_bad_address(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, MINIMAL "metrics: {listen: localhost:9420}\n",
	                 "t.yaml:3:19: ", "metrics.listen: 'localhost:9420'",
	                 "expected ADDR:PORT such as 127.0.0.1:9420 or [::1]:9420");
	assert_load_fail(f, MINIMAL "metrics: {listen: 127.0.0.1}\n",
	                 "t.yaml:3:19: ", "expected ADDR:PORT");
	assert_load_fail(f, MINIMAL "metrics: {listen: \"::1:9420\"}\n",
	                 "t.yaml:3:19: ", "IPv6 address needs brackets");
}

static void test_listen_port_out_of_range(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, MINIMAL "metrics:\n  listen: 127.0.0.1:70000\n",
	                 "t.yaml:4:11: ", "metrics.listen: '127.0.0.1:70000'",
	                 "port out of range (1-65535)");
	assert_load_fail(f, MINIMAL "metrics:\n  listen: \"[::1]:0\"\n",
	                 "t.yaml:4:11: ", "port out of range");
}

static void test_control_socket_bad_paths(void **state)
{
	struct fx *f = *state;
	char yaml[512];

	assert_load_fail(f, MINIMAL "control_socket: run/edged.sock\n",
	                 "t.yaml:3:17: ", "control_socket: 'run/edged.sock' is a relative path",
	                 "absolute");
	snprintf(yaml, sizeof(yaml), MINIMAL "control_socket: /run/%0*d.sock\n", 100, 0);
	assert_load_fail(f, yaml, "t.yaml:3:17: ", "control_socket: the path is 110 characters",
	                 "at most 107");
}

static void test_too_many_uplinks(void **state)
{
	struct fx *f = *state;
	char *yaml = config_with_uplinks(CONFIG_MAX_UPLINKS + 2);

	/* the error points at the first entry too many: line 3 holds entry 0 */
	assert_load_fail(f, yaml, "t.yaml:67:5: ", "uplinks: 66 entries", "out of range",
	                 "maximum is 64");
	free(yaml);
}

static void test_empty_uplinks(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, "instance: e\nuplinks: []\n",
	                 "t.yaml:2:10: ", "uplinks: the list is empty");
}

static void test_duplicate_uplink_says_where_first(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, "instance: e\nuplinks:\n  - eth0\n  - eth1\n  - name: eth0\n",
	                 "t.yaml:5:11: ", "uplinks[2].name: duplicate uplink 'eth0'",
	                 "first at 3:5");
}

static void test_interface_name_invalid(void **state)
{
	struct fx *f = *state;

	assert_load_fail(f, "instance: e\nuplinks: [averyveryverylongname]\n",
	                 "t.yaml:2:11: ", "uplinks[0].name: 'averyveryverylongname' is too long",
	                 "15");
	assert_load_fail(f, "instance: e\nuplinks: [eth0, \"a/b\"]\n",
	                 "t.yaml:2:17: ", "uplinks[1].name: 'a/b' is not an interface name");
}

/* Every network namespace has lo; nothing will ever be called edged-none9. */
static void test_check_interfaces(void **state)
{
	struct fx *f = *state;

	assert_int_equal(
	        load_flags(f, "instance: e\nuplinks: [lo, edged-none9]\n", CONFIG_CHECK_INTERFACES),
	        -1);
	assert_n_errors(f, 1);
	assert_error(f, 0, "t.yaml:2:15: ",
	             "uplinks[1].name: no interface 'edged-none9' in this network namespace "
	             "(see `ip link`)");
	/* without the flag the same file loads: unit tests and edgectl need no interfaces */
	assert_int_equal(load(f, "instance: e\nuplinks: [lo, edged-none9]\n"), 0);
	assert_int_equal(load_flags(f, "instance: e\nuplinks: [lo]\n", CONFIG_CHECK_INTERFACES), 0);
}

/* ---- collection and files ---- */

static void test_all_errors_reported_in_order(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "instance: Bad\n"
	                         "uplinks:\n"
	                         "  - name: eth0\n"
	                         "    xdp_mode: turbo\n"
	                         "log_level: loud\n"
	                         "metrics: {listen: nowhere}\n"),
	                 -1);
	assert_n_errors(f, 4);
	assert_error(f, 0, "t.yaml:1:11: ", "instance:");
	assert_error(f, 1, "t.yaml:4:15: ", "xdp_mode:");
	assert_error(f, 2, "t.yaml:5:12: ", "log_level:");
	assert_error(f, 3, "t.yaml:6:19: ", "metrics.listen:");
}

static void test_unreadable_file(void **state)
{
	struct fx *f = *state;

	assert_int_equal(config_load("/nonexistent/edge.yaml", 0, &f->cfg, &f->errs), -1);
	assert_n_errors(f, 1);
	assert_string_equal(f->errs.msgs[0],
	                    "/nonexistent/edge.yaml: cannot read: No such file or directory");
	config_errors_free(&f->errs);
	assert_int_equal(config_load("/", 0, &f->cfg, &f->errs), -1);
	assert_n_errors(f, 1);
	assert_string_equal(f->errs.msgs[0], "/: cannot read: Is a directory");
}

static void test_errors_free_resets(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "foo: 1\n"), -1);
	assert_true(f->errs.n > 0);
	config_errors_free(&f->errs);
	assert_null(f->errs.msgs);
	assert_int_equal(f->errs.n, 0);
	config_errors_free(&f->errs); /* twice is harmless */
	/* a NULL errs still fails the load: the daemon may only want the verdict */
	assert_int_equal(config_load_string("t.yaml", "foo: 1\n", 0, &f->cfg, NULL), -1);
	assert_int_equal(config_load_string("t.yaml", MINIMAL, 0, &f->cfg, NULL), 0);
	f->loaded = true;
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        T(test_minimal_config_gets_defaults),
	        T(test_every_key_set),
	        T(test_shorthand_uplinks_mix_with_mappings),
	        T(test_sections_present_are_on),
	        T(test_enabled_false_turns_section_off),
	        T(test_metrics_off),
	        T(test_metrics_empty_keeps_default),
	        T(test_log_levels),
	        T(test_max_uplinks_accepted),
	        T(test_longest_instance_accepted),
	        T(test_example_config_loads),
	        T(test_load_from_file),
	        T(test_names),
	        T(test_yaml_syntax_error),
	        T(test_invalid_utf8_is_placed),
	        T(test_empty_file),
	        T(test_top_level_not_a_mapping),
	        T(test_second_document_rejected),
	        T(test_unknown_key_suggests_close_one),
	        T(test_unknown_key_lists_allowed),
	        T(test_unknown_nested_keys),
	        T(test_key_must_be_a_scalar),
	        T(test_missing_required_keys),
	        T(test_missing_uplink_name),
	        T(test_duplicate_keys),
	        T(test_uplinks_wrong_type),
	        T(test_instance_wrong_type),
	        T(test_uplink_entry_wrong_type),
	        T(test_boolean_strict),
	        T(test_section_wrong_type),
	        T(test_metrics_wrong_type),
	        T(test_instance_bad_values),
	        T(test_xdp_mode_bad_value),
	        T(test_log_level_bad_value),
	        T(test_listen_bad_address),
	        T(test_listen_port_out_of_range),
	        T(test_control_socket_bad_paths),
	        T(test_too_many_uplinks),
	        T(test_empty_uplinks),
	        T(test_duplicate_uplink_says_where_first),
	        T(test_interface_name_invalid),
	        T(test_check_interfaces),
	        T(test_all_errors_reported_in_order),
	        T(test_unreadable_file),
	        T(test_errors_free_resets),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
