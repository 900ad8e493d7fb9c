/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The XDP data path: loading the edge program, attaching it to the uplinks through bpf_links,
 * pinning all of it under /sys/fs/bpf/edged/<instance>/ and adopting what a previous edged
 * pinned, so that restarts and upgrades never interrupt forwarding.
 */
#ifndef EDGED_DATAPATH_H
#define EDGED_DATAPATH_H

#include <stdbool.h>
#include <linux/limits.h>

#include "config.h"
#include "nic.h"
#include "edge.h"

#define DATAPATH_PIN_ROOT "/sys/fs/bpf/edged"

struct edge_bpf;

struct datapath_uplink {
	char name[IFNAMSIZ];
	int ifindex;
	enum xdp_mode mode;
	char driver[NIC_DRIVER_MAX]; /* the NIC driver (nic.h): what the mode means in practice */
	int link_fd;
	__u32 link_id;
	__u32 slot;   /* counter slot in uplink_stats, 1..EDGE_MAX_UPLINKS */
	bool adopted; /* found pinned at start: the data path never stopped */
};

struct datapath {
	char instance[CONFIG_INSTANCE_MAX];
	char pin_dir[64];           /* DATAPATH_PIN_ROOT "/" instance */
	int lock_fd;                /* flock on the pin dir: one edged per instance */
	struct edge_bpf *skel;      /* the program the links run */
	struct edge_bpf *next_skel; /* loaded by datapath_prepare, not yet running */
	bool fn_loaded[FN_COUNT];   /* the rodata switches the loaded program was built with */
	bool share_loaded;          /* ... and the IP-sharing stage's */
	__u32 prog_id;
	struct datapath_uplink uplinks[CONFIG_MAX_UPLINKS];
	int n_uplinks;
};

/*
 * Makes the data path match CFG, in two steps so that other functions can prepare their maps
 * in between and a failure anywhere changes nothing that runs:
 *   datapath_prepare  takes the instance (first call), loads a new program when needed
 *                     (always on the first call, so an upgraded binary's program replaces
 *                     the old one); maps are the pinned ones, shared with the running program
 *   datapath_commit   adopts pinned links, attaches new uplinks, detaches removed ones, swaps
 *                     the new program in under every link (bpf_link_update: atomic)
 *   datapath_abort    drops a prepared program (commit does it too when it fails)
 * A struct datapath starts zeroed with lock_fd = -1.
 */
int datapath_prepare(struct datapath *dp, const struct edged_config *cfg);
int datapath_commit(struct datapath *dp, const struct edged_config *cfg);
void datapath_abort(struct datapath *dp);
/* Both steps at once. */
int datapath_apply(struct datapath *dp, const struct edged_config *cfg);

/* A map of the newest loaded program (the prepared one, else the running one) by name; the
 * fd is borrowed. -1 when no program is loaded or it has no such map. */
int datapath_map_fd(const struct datapath *dp, const char *name);

/* Closes edged's handles; pinned programs, maps and links stay and keep forwarding. */
void datapath_close(struct datapath *dp);

/* Removes everything pinned for INSTANCE (detaching the XDP programs once no process holds
 * them) and the instance's directory. DP may be NULL when edged is not running. */
int datapath_teardown(struct datapath *dp, const char *instance);

/* Counters of one uplink (by its slot), summed over CPUs. Returns 0 or -errno. */
int datapath_read_stats(const struct datapath *dp, __u32 slot, struct edge_uplink_stats *out);

/* Sets entry KEY of the per-CPU map MAP_FD to zero on every CPU: the counters a new owner of
 * a slot starts from. Returns 0 or -errno. */
int datapath_zero_percpu(int map_fd, __u32 key, size_t value_size);

const char *datapath_stage_name(int stage);
const char *datapath_verdict_name(int verdict);

#endif
