/* SPDX-License-Identifier: GPL-2.0 */
/*
 * edged's configuration: one YAML file, parsed and validated whole before anything is
 * applied. Every error carries FILE:LINE:COL so that editors jump to it.
 */
#ifndef EDGED_CONFIG_H
#define EDGED_CONFIG_H

#include <stdbool.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "dispatch_config.h"
#include "dos_config.h"
#include "egress_config.h"
#include "lb_config.h"
#include "log.h"
#include "transit_config.h"

/* Instance names become directory names under /sys/fs/bpf/edged/ and appear in metrics. */
#define CONFIG_INSTANCE_MAX  32
#define CONFIG_MAX_UPLINKS   64 /* == EDGE_MAX_UPLINKS in bpf/edge.h */
#define CONFIG_PATH_MAX      4096
#define CONFIG_SOCK_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

#define CONFIG_DEFAULT_CONTROL_SOCKET "/run/edged/%s.sock" /* %s: instance */
#define CONFIG_DEFAULT_METRICS_LISTEN "127.0.0.1:9420"

enum xdp_mode {
	XDP_MODE_NATIVE = 0, /* driver mode: the fast path on NICs with XDP support */
	XDP_MODE_GENERIC,    /* skb mode: works on every device, slower */
};

struct uplink_config {
	char name[IFNAMSIZ];
	enum xdp_mode mode;
};

/* The functions edged provides; a section absent from the file means the function is off. */
enum edged_function {
	FN_DOS = 0,
	FN_LB,
	FN_DISPATCH,
	FN_EGRESS,
	FN_TRANSIT,
	FN_COUNT,
};

struct function_config {
	bool enabled;
};

struct metrics_config {
	bool enabled;                 /* false when `metrics: {listen: off}` */
	char listen[64];              /* as written, for messages */
	struct sockaddr_storage addr; /* parsed listen address */
	socklen_t addrlen;
};

struct edged_config {
	char path[CONFIG_PATH_MAX]; /* the file it was read from */
	char instance[CONFIG_INSTANCE_MAX];
	struct uplink_config uplinks[CONFIG_MAX_UPLINKS];
	int n_uplinks;
	char control_socket[CONFIG_SOCK_PATH_MAX];
	struct metrics_config metrics;
	enum log_level log_level;
	struct function_config fn[FN_COUNT];
	struct dos_config dos;
	struct lb_config lb;
	struct dispatch_config dispatch;
	struct egress_config egress;
	struct transit_config transit;
};

/* Errors found while loading; each message is already "FILE:LINE:COL: message". */
struct config_errors {
	char **msgs;
	int n;
};

enum config_flags {
	/* Check that every uplink names an existing interface in this network namespace.
	 * edged sets it; unit tests that run without the interfaces do not. */
	CONFIG_CHECK_INTERFACES = 1 << 0,
};

/* Parse and validate PATH into CFG. Returns 0, or -1 with every problem found in ERRS (the
 * parser does not stop at the first). CFG is only meaningful on success. */
int config_load(const char *path, unsigned int flags, struct edged_config *cfg,
                struct config_errors *errs);

/* Same, from a string: NAME stands for the file in messages. For tests and `edgectl`. */
int config_load_string(const char *name, const char *text, unsigned int flags,
                       struct edged_config *cfg, struct config_errors *errs);

void config_errors_free(struct config_errors *errs);

/* Frees what a loaded config holds beyond its own struct (lists, rules). A config is moved
 * by struct copy; release exactly one of the copies. */
void config_release(struct edged_config *cfg);

const char *config_function_name(enum edged_function fn);
const char *config_xdp_mode_name(enum xdp_mode mode);

#endif
