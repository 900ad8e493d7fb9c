/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fixture of the config tests: load a YAML text as "t.yaml", keep the result for the
 * test's assertions, print every error the loader reported (so a failing test shows them),
 * and release it all afterwards. Include after <cmocka.h>.
 */
#ifndef EDGED_TESTS_CONFIG_FIXTURE_H
#define EDGED_TESTS_CONFIG_FIXTURE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* The two keys every config needs, for tests about another section. */
#define HEAD "instance: e1\nuplinks: [eth0]\n"

struct fx {
	struct edged_config cfg;
	struct config_errors errs;
	bool loaded;
};

static inline int setup(void **state)
{
	*state = calloc(1, sizeof(struct fx));
	return *state ? 0 : -1;
}

static inline int teardown(void **state)
{
	struct fx *f = *state;

	if (f->loaded)
		config_release(&f->cfg);
	config_errors_free(&f->errs);
	free(f);
	return 0;
}

/* Loads TEXT with config_load_string's FLAGS; the previous load's result is released first. */
static inline int load_flags(struct fx *f, const char *text, unsigned int flags)
{
	int err;

	if (f->loaded)
		config_release(&f->cfg);
	config_errors_free(&f->errs);
	err = config_load_string("t.yaml", text, flags, &f->cfg, &f->errs);
	f->loaded = err == 0;
	for (int i = 0; i < f->errs.n; i++)
		print_message("  %s\n", f->errs.msgs[i]);
	return err;
}

/* Loads TEXT without the interface check. */
static inline int load(struct fx *f, const char *text)
{
	return load_flags(f, text, 0);
}

/* Some error message contains every one of the NULL-terminated words. */
static inline bool has_error(const struct fx *f, ...)
{
	for (int i = 0; i < f->errs.n; i++) {
		bool all = true;
		va_list ap;
		const char *w;

		va_start(ap, f);
		while ((w = va_arg(ap, const char *)))
			all &= strstr(f->errs.msgs[i], w) != NULL;
		va_end(ap);
		if (all)
			return true;
	}
	return false;
}

/* Exactly one error, starting with PREFIX ("t.yaml:L:C: path: ") and containing WORDS. */
static inline void assert_one_error(struct fx *f, const char *prefix, const char *words)
{
	assert_int_equal(f->errs.n, 1);
	if (strncmp(f->errs.msgs[0], prefix, strlen(prefix)) || !strstr(f->errs.msgs[0], words))
		fail_msg("expected '%s...%s', got '%s'", prefix, words, f->errs.msgs[0]);
}

#endif
