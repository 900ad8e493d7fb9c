/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The config parser's toolkit, for the modules that parse their own section (dos_config.c,
 * ...): positioned errors, typed getters that report what is wrong where, and the table-driven
 * mapping walk that handles unknown, duplicate and missing keys the same way everywhere.
 */
#ifndef EDGED_CONFIG_PARSE_H
#define EDGED_CONFIG_PARSE_H

#include <stdbool.h>
#include <stdint.h>
#include <yaml.h>

#include "addr.h"
#include "config.h"

/* Longest key path in messages, "dos.rules[1023].payload.mask" and the like, with room. */
#define KEY_PATH_MAX 128

struct parser {
	const char *name; /* the file, as messages name it */
	const char *text; /* the whole input, to place reader errors that carry only an offset */
	size_t len;
	yaml_document_t *doc;
	unsigned int flags;
	struct edged_config *cfg;
	struct config_errors *errs; /* may be NULL: then errors are only counted */
	int n_errors;
	bool have_control_socket;
	yaml_mark_t uplink_marks[CONFIG_MAX_UPLINKS]; /* where each uplink's name was written */
};

/* Handles the value VAL of one key; PATH names it in messages ("uplinks[0].xdp_mode"), OBJ is
 * the struct the enclosing mapping fills. */
typedef void (*key_fn)(struct parser *p, yaml_node_t *val, const char *path, void *obj);

struct key_handler {
	const char *key;
	key_fn fn;
	const char *required; /* non-NULL: the key must be present; an example of it */
};

/* "FILE:LINE:COL: PATH: message", the 0-based MARK printed 1-based as editors expect. */
void cfg_err_at(struct parser *p, yaml_mark_t mark, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* An error without a position (unreadable file and the like). */
void cfg_push_error(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

yaml_node_t *cfg_node(struct parser *p, int index);
const char *cfg_scalar(const yaml_node_t *n);
/* `key:`, `key: ~` and `key: null` all mean "nothing"; a quoted "" is a string. */
bool cfg_is_null(const yaml_node_t *n);
/* "a scalar", "a list", ... for messages. */
const char *cfg_kind(const yaml_node_t *n);

/* Typed values: each returns NULL/-1 after reporting why N is not one. */
const char *cfg_string(struct parser *p, yaml_node_t *n, const char *path);
int cfg_bool(struct parser *p, yaml_node_t *n, const char *path, bool *out);
/* An unsigned integer in [MIN, MAX]; SI suffixes k, M, G (x1000) when SI is true. */
int cfg_u64(struct parser *p, yaml_node_t *n, const char *path, uint64_t min, uint64_t max, bool si,
            uint64_t *out);
/* "A" or "A-B" (inclusive, A <= B), each in [MIN, MAX]. */
int cfg_range(struct parser *p, yaml_node_t *n, const char *path, uint64_t min, uint64_t max,
              uint64_t *lo, uint64_t *hi);
/* An IPv4 or IPv6 prefix ("198.51.100.0/24", a bare address = /32 or /128). */
int cfg_prefix(struct parser *p, yaml_node_t *n, const char *path, struct prefix *out);

/* Whether S is a name of 1 to MAX-1 characters: letters, digits and those in EXTRA (such as
 * "-_"), starting with a letter or digit. */
bool cfg_name_ok(const char *s, size_t max, const char *extra);
/* Appends one zeroed element of SIZE bytes to the array *ARR_PTR of *N elements and counts
 * it in *N; returns it, or NULL when out of memory (*ARR_PTR and *N unchanged). */
void *cfg_grow(void *arr_ptr, int *n, size_t size);

/* Dispatches every pair of MAP to its handler in KEYS, then reports missing required keys. */
void cfg_walk(struct parser *p, yaml_node_t *map, const char *path, const struct key_handler *keys,
              size_t n_keys, void *obj);

/* KEYS is an array, not a pointer; `seen` in cfg_walk() is a 64-bit mask. */
#define CFG_WALK(p, map, path, keys, obj)                                                          \
	do {                                                                                       \
		_Static_assert(sizeof(keys) / sizeof(keys[0]) <= 64, "too many keys");             \
		cfg_walk(p, map, path, keys, sizeof(keys) / sizeof(keys[0]), obj);                 \
	} while (0)

/* Calls FN for every item of the list V (path "PATH[i]"); reports V if it is not a list. */
void cfg_each(struct parser *p, yaml_node_t *v, const char *path,
              void (*fn)(struct parser *p, yaml_node_t *item, const char *path, int i, void *obj),
              void *obj);

#endif
