/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The `dos:` section: allow/block lists, signature rules and per-destination ceilings, as
 * the config states them. edged/dos.c turns them into the maps of bpf/dos.h.
 */
#ifndef EDGED_DOS_CONFIG_H
#define EDGED_DOS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "dos.h"
#include "syncookie_config.h"

#define DOS_NAME_MAX  32
#define DOS_MAX_FILES 16

/* A list: prefixes written in the file plus files of one prefix per line. */
struct dos_list_config {
	struct prefix *prefixes;
	int n;
	char *files[DOS_MAX_FILES];
	int n_files;
};

struct dos_rule_config {
	char name[DOS_NAME_MAX];
	struct dos_rule rule; /* id is assigned by dos.c, stable per name */
};

struct dos_ceiling_config {
	struct prefix dst;
	uint64_t pps;
	uint64_t burst;
};

struct dos_config {
	struct dos_list_config lists[DOS_NLISTS];
	struct dos_rule_config *rules;
	int n_rules;
	struct dos_ceiling_config *ceilings;
	int n_ceilings;
	struct dos_syncookie_config *syn_cookies; /* edged/syncookie_config.c */
	int n_syn_cookies;
};

struct parser;
struct yaml_node_s;
/* Parses the `dos:` mapping V into p->cfg->dos (config.c calls it). */
void dos_config_parse(struct parser *p, struct yaml_node_s *v, const char *path);

/* Releases what the parser allocated; the struct can be parsed into again. */
void dos_config_release(struct dos_config *dc);

/* Reads a list file: one prefix per line, '#' starts a comment, blank lines ignored. Calls
 * FN for each prefix; on a bad line writes "FILE:LINE: why" into ERR and returns -1. */
int dos_list_file_read(const char *path, int (*fn)(const struct prefix *p, void *arg), void *arg,
                       char *err, size_t errlen);

#endif
