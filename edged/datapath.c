// SPDX-License-Identifier: GPL-2.0
/*
 * Pinned layout, under /sys/fs/bpf/edged/<instance>/:
 *   prog_xdp_edge        the program the links run (replaced on upgrade/reload)
 *   link_xdp_<ifname>    one bpf_link per uplink: the attachment itself
 *   uplink_stats, ...    maps, pinned by libbpf (LIBBPF_PIN_BY_NAME) and reused on load
 *   uplink_slots         ifindex -> counter slot of each uplink
 *
 * A bpf_link keeps its program attached for as long as it is pinned, whether or not edged
 * runs; bpf_link_update() swaps the program under a link atomically. So start, reload and
 * upgrade all take the same path: load a program, point every link at it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "datapath.h"
#include "edge.skel.h"
#include "egress_share.h"
#include "log.h"

static const char *const stage_names[EDGE_NSTAGES] = {
        [EDGE_STAGE_PARSE] = "parse",   [EDGE_STAGE_DOS] = "dos", [EDGE_STAGE_TRANSIT] = "transit",
        [EDGE_STAGE_EGRESS] = "egress", [EDGE_STAGE_LB] = "lb",   [EDGE_STAGE_END] = "end",
};

static const char *const verdict_names[EDGE_NVERDICTS] = {
        [EDGE_VERDICT_PASS] = "pass",       [EDGE_VERDICT_DROP] = "drop",
        [EDGE_VERDICT_TX] = "tx",           [EDGE_VERDICT_REDIRECT] = "redirect",
        [EDGE_VERDICT_ABORTED] = "aborted",
};

const char *datapath_stage_name(int stage)
{
	return stage >= 0 && stage < EDGE_NSTAGES ? stage_names[stage] : "?";
}

const char *datapath_verdict_name(int verdict)
{
	return verdict >= 0 && verdict < EDGE_NVERDICTS ? verdict_names[verdict] : "?";
}

/* True when edged runs in a mount namespace of its own, as under `ip netns exec`, which
 * remounts /sys privately: a bpffs mounted there vanishes with that namespace. */
static bool private_mount_ns(void)
{
	char self[64] = "", init[64] = "";

	if (readlink("/proc/self/ns/mnt", self, sizeof(self) - 1) < 0 ||
	    readlink("/proc/1/ns/mnt", init, sizeof(init) - 1) < 0)
		return false;
	return strcmp(self, init) != 0;
}

static int mount_bpffs(void)
{
	struct statfs st;

	if (statfs("/sys/fs/bpf", &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (private_mount_ns())
		pr_warn("/sys/fs/bpf is not mounted in this mount namespace (`ip netns exec` "
		        "remounts /sys): pins made here vanish when edged exits, so restarts "
		        "cannot adopt the data path. Run edged in a network namespace with "
		        "`nsenter --net=/run/netns/NAME` instead, after mounting bpffs once");
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
		pr_err("Couldn't mount bpffs on /sys/fs/bpf: %s; edged needs root (CAP_SYS_ADMIN)",
		       strerror(errno));
		return -errno;
	}
	pr_info("mounted bpffs on /sys/fs/bpf");
	return 0;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) && errno != EEXIST) {
		pr_err("Couldn't create %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Takes the instance's pin directory and its lock: two edged on one instance would fight
 * over the same links. The lock dies with the process, so kill -9 never leaves it stale. */
static int open_instance(struct datapath *dp, const char *instance)
{
	int err;

	snprintf(dp->instance, sizeof(dp->instance), "%s", instance);
	snprintf(dp->pin_dir, sizeof(dp->pin_dir), "%s/%s", DATAPATH_PIN_ROOT, instance);
	err = mount_bpffs();
	if (!err)
		err = make_dir(DATAPATH_PIN_ROOT);
	if (!err)
		err = make_dir(dp->pin_dir);
	if (err)
		return err;

	dp->lock_fd = open(dp->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dp->lock_fd < 0) {
		pr_err("Couldn't open %s: %s", dp->pin_dir, strerror(errno));
		return -errno;
	}
	if (flock(dp->lock_fd, LOCK_EX | LOCK_NB)) {
		pr_err("instance '%s' is already run by another edged (lock on %s): stop it, or "
		       "give this config another instance name",
		       instance, dp->pin_dir);
		close(dp->lock_fd);
		dp->lock_fd = -1;
		return -EBUSY;
	}
	return 0;
}

static void pin_path(const struct datapath *dp, char *buf, size_t len, const char *prefix,
                     const char *name)
{
	snprintf(buf, len, "%s/%s%s", dp->pin_dir, prefix, name);
}

/* Loads a fresh edge program with the config's stage switches; its maps are the pinned ones
 * when they exist (libbpf reuses them by name), so counters and state survive. */
static int load_program(const struct datapath *dp, const struct edged_config *cfg,
                        struct edge_bpf **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = dp->pin_dir);
	struct edge_bpf *skel;
	int err;

	skel = edge_bpf__open_opts(&opts);
	if (!skel) {
		err = -errno;
		pr_err("Couldn't open the edge BPF object: %s", strerror(-err));
		return err;
	}
	skel->rodata->enable_dos = cfg->fn[FN_DOS].enabled;
	skel->rodata->enable_transit = cfg->fn[FN_TRANSIT].enabled;
	skel->rodata->enable_lb = cfg->fn[FN_LB].enabled;
	skel->rodata->enable_egress_share = egress_share_wanted(cfg);

	err = edge_bpf__load(skel);
	if (err) {
		pr_err("Couldn't load the edge BPF program: %s(%d). If a map pinned under %s "
		       "is from an incompatible edged version, run `edged --teardown -c FILE` "
		       "(this detaches the data path) and start again",
		       strerror(-err), err, dp->pin_dir);
		edge_bpf__destroy(skel);
		return err;
	}
	*out = skel;
	return 0;
}

static bool program_matches(const struct datapath *dp, const struct edged_config *cfg)
{
	return dp->skel && dp->fn_loaded[FN_DOS] == cfg->fn[FN_DOS].enabled &&
	       dp->fn_loaded[FN_TRANSIT] == cfg->fn[FN_TRANSIT].enabled &&
	       dp->fn_loaded[FN_LB] == cfg->fn[FN_LB].enabled &&
	       dp->share_loaded == egress_share_wanted(cfg);
}

static __u32 fd_object_id(int fd)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

/* The XDP attach mode the kernel reports for IFINDEX, as a config xdp_mode; -1 if none. */
static int attached_mode(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q))
		return -1;
	if (q.attach_mode == XDP_ATTACHED_DRV)
		return XDP_MODE_NATIVE;
	if (q.attach_mode == XDP_ATTACHED_SKB)
		return XDP_MODE_GENERIC;
	return -1;
}

/*
 * Detaches the XDP link FD now, then drops its pin and the fd. Explicitly: when the last
 * reference to a link is its pin, unlinking the pin releases the link from a workqueue, later,
 * and attaching to the same interface in the other mode meanwhile fails with EEXIST.
 */
static void detach_link(int fd, const char *pin)
{
	if (bpf_link_detach(fd) && errno != ENOLINK)
		pr_warn("Couldn't detach the XDP link pinned at %s: %s", pin, strerror(errno));
	unlink(pin);
	close(fd);
}

/* Opens the link a previous edged pinned for this uplink, if it is still attached to the
 * same interface in the same mode. Anything else (interface recreated, mode changed) is
 * unpinned so that a fresh attach replaces it. Returns a link fd or -1. */
static int adopt_link(const struct datapath *dp, const struct uplink_config *up, int ifindex)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd;

	pin_path(dp, path, sizeof(path), EDGE_PIN_LINK_PREFIX, up->name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == BPF_LINK_TYPE_XDP &&
	    (int)info.xdp.ifindex == ifindex && attached_mode(ifindex) == (int)up->mode)
		return fd;

	pr_info("uplink %s: pinned link no longer matches (interface recreated or xdp_mode "
	        "changed): replacing it",
	        up->name);
	detach_link(fd, path);
	return -1;
}

static int attach_link(const struct datapath *dp, const struct uplink_config *up, int ifindex,
                       int prog_fd)
{
	__u32 flags = up->mode == XDP_MODE_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
	char path[PATH_MAX];
	int fd, err;

	fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts);
	if (fd < 0) {
		err = fd;
		pr_err("Couldn't attach XDP in %s mode on '%s': %s(%d)%s",
		       config_xdp_mode_name(up->mode), up->name, strerror(-err), err,
		       err == -EBUSY ? "; another XDP program is attached there: detach it "
		                       "(`ip link set dev IFACE xdp off`) or teardown its owner"
		       : up->mode == XDP_MODE_NATIVE
		               ? "; if the driver has no native XDP, set xdp_mode: generic"
		               : "");
		return err;
	}
	pin_path(dp, path, sizeof(path), EDGE_PIN_LINK_PREFIX, up->name);
	unlink(path);
	if (bpf_obj_pin(fd, path)) {
		err = -errno;
		pr_err("Couldn't pin the XDP link of '%s' at %s: %s", up->name, path,
		       strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

static struct datapath_uplink *find_uplink(struct datapath *dp, const char *name)
{
	for (int i = 0; i < dp->n_uplinks; i++)
		if (strcmp(dp->uplinks[i].name, name) == 0)
			return &dp->uplinks[i];
	return NULL;
}

static bool config_has_uplink(const struct edged_config *cfg, const char *name)
{
	for (int i = 0; i < cfg->n_uplinks; i++)
		if (strcmp(cfg->uplinks[i].name, name) == 0)
			return true;
	return false;
}

/* The state an uplink will have after this apply, built before anything is committed. */
struct plan_uplink {
	struct datapath_uplink u;
	bool is_new; /* attached or adopted in this apply: undo on failure */
};

static void plan_undo(struct plan_uplink *plan, int n, const struct datapath *dp)
{
	char path[PATH_MAX];

	for (int i = 0; i < n; i++) {
		if (!plan[i].is_new || plan[i].u.adopted)
			continue;
		pin_path(dp, path, sizeof(path), EDGE_PIN_LINK_PREFIX, plan[i].u.name);
		unlink(path);
		close(plan[i].u.link_fd);
	}
}

static int set_slot(struct edge_bpf *skel, int ifindex, __u32 slot)
{
	__u32 key = ifindex;

	if (bpf_map_update_elem(bpf_map__fd(skel->maps.uplink_slots), &key, &slot, BPF_ANY)) {
		pr_err("Couldn't set the counter slot of ifindex %d: %s", ifindex, strerror(errno));
		return -errno;
	}
	return 0;
}

int datapath_zero_percpu(int map_fd, __u32 key, size_t value_size)
{
	int ncpus = libbpf_num_possible_cpus();
	/* The kernel lays per-CPU values out one per possible CPU, each rounded up to 8. */
	size_t stride = (value_size + 7) & ~(size_t)7;
	void *zero;
	int err = 0;

	if (map_fd < 0)
		return -EBADF;
	if (ncpus < 0)
		return ncpus;
	zero = calloc(ncpus, stride);
	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(map_fd, &key, zero, BPF_ANY))
		err = -errno;
	free(zero);
	return err;
}

static int zero_slot(struct edge_bpf *skel, __u32 slot)
{
	return datapath_zero_percpu(bpf_map__fd(skel->maps.uplink_stats), slot,
	                            sizeof(struct edge_uplink_stats));
}

/* The slot an adopted uplink had, so that its counters carry on; 0 if it has none. */
static __u32 pinned_slot(struct edge_bpf *skel, int ifindex)
{
	__u32 key = ifindex, slot = 0;

	bpf_map_lookup_elem(bpf_map__fd(skel->maps.uplink_slots), &key, &slot);
	return slot <= EDGE_MAX_UPLINKS ? slot : 0;
}

/* Gives every planned uplink a counter slot: kept and adopted ones keep theirs, new ones get
 * a free slot with zeroed counters. Only then is the ifindex -> slot entry written, so a
 * packet never counts into a slot that still holds another uplink's numbers. */
static int assign_slots(struct edge_bpf *skel, struct plan_uplink *plan, int n)
{
	bool used[EDGE_NSLOTS] = {[EDGE_SLOT_OTHER] = true};
	int err = 0;

	for (int i = 0; i < n; i++) {
		if (plan[i].u.adopted && !plan[i].u.slot)
			plan[i].u.slot = pinned_slot(skel, plan[i].u.ifindex);
		if (plan[i].u.slot && used[plan[i].u.slot])
			plan[i].u.slot = 0; /* two claims on one slot: the later one moves */
		used[plan[i].u.slot] = true;
	}
	for (int i = 0; i < n && !err; i++) {
		__u32 s = 1;

		if (plan[i].u.slot)
			continue;
		while (used[s])
			s++; /* n <= EDGE_MAX_UPLINKS: a free slot exists */
		used[s] = true;
		plan[i].u.slot = s;
		err = zero_slot(skel, s);
	}
	for (int i = 0; i < n && !err; i++)
		err = set_slot(skel, plan[i].u.ifindex, plan[i].u.slot);
	return err;
}

/* Detaches an uplink: without its pin and fd, the kernel releases the link. */
static void drop_link(const struct datapath *dp, struct datapath_uplink *u)
{
	char path[PATH_MAX];

	pin_path(dp, path, sizeof(path), EDGE_PIN_LINK_PREFIX, u->name);
	if (u->link_fd >= 0)
		detach_link(u->link_fd, path);
	else
		unlink(path);
	u->link_fd = -1;
}

/* Finds or makes the link of every configured uplink; PROG_FD runs on new links. An uplink
 * whose xdp_mode changed is re-attached: the kernel allows one mode at a time per device,
 * so that uplink sees a short interruption (logged). */
static int plan_uplinks(struct datapath *dp, const struct edged_config *cfg, int prog_fd,
                        struct plan_uplink *plan)
{
	for (int i = 0; i < cfg->n_uplinks; i++) {
		const struct uplink_config *up = &cfg->uplinks[i];
		struct datapath_uplink *cur = find_uplink(dp, up->name);
		int ifindex = if_nametoindex(up->name);
		struct plan_uplink *p = &plan[i];

		memset(p, 0, sizeof(*p));
		if (!ifindex || ifindex >= EDGE_MAX_IFINDEX) {
			pr_err(!ifindex
			               ? "uplink '%s': no such interface in this network namespace "
			                 "(see `ip link`)"
			               : "uplink '%s': ifindex %d is beyond the %d edged's "
			                 "counters "
			                 "can index; recreate the interface to get a lower one",
			       up->name, ifindex, EDGE_MAX_IFINDEX);
			plan_undo(plan, i, dp);
			return !ifindex ? -ENODEV : -ERANGE;
		}
		if (cur && cur->link_fd >= 0 && cur->ifindex == ifindex && cur->mode == up->mode) {
			p->u = *cur;
			continue;
		}
		if (cur && cur->link_fd >= 0) {
			pr_warn("uplink %s: re-attaching in %s mode", up->name,
			        config_xdp_mode_name(up->mode));
			drop_link(dp, cur);
		}
		snprintf(p->u.name, sizeof(p->u.name), "%s", up->name);
		p->u.ifindex = ifindex;
		/* A re-attach in another mode keeps its counters. */
		p->u.slot = cur && cur->ifindex == ifindex ? cur->slot : 0;
		p->u.mode = up->mode;
		p->is_new = true;
		p->u.link_fd = adopt_link(dp, up, ifindex);
		p->u.adopted = p->u.link_fd >= 0;
		if (!p->u.adopted)
			p->u.link_fd = attach_link(dp, up, ifindex, prog_fd);
		if (p->u.link_fd < 0) {
			int err = p->u.link_fd;

			plan_undo(plan, i, dp);
			return err;
		}
		p->u.link_id = fd_object_id(p->u.link_fd);
	}
	return 0;
}

/* Removes pinned links of uplinks the config no longer has, including ones a previous edged
 * left behind before it was stopped. */
static void drop_stale_links(struct datapath *dp, const struct edged_config *cfg,
                             struct edge_bpf *skel)
{
	size_t plen = strlen(EDGE_PIN_LINK_PREFIX);
	struct dirent *de;
	DIR *dir;

	for (int i = 0; i < dp->n_uplinks; i++) {
		struct datapath_uplink *u = &dp->uplinks[i];
		__u32 key = u->ifindex;

		if (config_has_uplink(cfg, u->name))
			continue;
		pr_info("uplink %s: detaching (removed from the config)", u->name);
		drop_link(dp, u);
		set_slot(skel, key, EDGE_SLOT_OTHER);
	}

	dir = opendir(dp->pin_dir);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		const char *name = de->d_name + plen;

		if (strncmp(de->d_name, EDGE_PIN_LINK_PREFIX, plen) || config_has_uplink(cfg, name))
			continue;
		pr_info("uplink %s: removing the link a previous edged pinned (not in the config)",
		        name);
		unlinkat(dirfd(dir), de->d_name, 0);
	}
	closedir(dir);
}

static int pin_program(const struct datapath *dp, struct edge_bpf *skel)
{
	char path[PATH_MAX];

	pin_path(dp, path, sizeof(path), "", EDGE_PIN_PROG);
	unlink(path);
	if (bpf_obj_pin(bpf_program__fd(skel->progs.xdp_edge), path)) {
		pr_err("Couldn't pin the edge program at %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Points every kept link at the new program: bpf_link_update swaps it atomically, so not a
 * packet goes unprocessed. */
static int swap_program(struct plan_uplink *plan, int n, int prog_fd)
{
	for (int i = 0; i < n; i++) {
		if (plan[i].is_new && !plan[i].u.adopted)
			continue; /* attached with the new program already */
		if (bpf_link_update(plan[i].u.link_fd, prog_fd, NULL)) {
			pr_err("Couldn't switch uplink %s to the new program: %s", plan[i].u.name,
			       strerror(errno));
			return -errno;
		}
	}
	return 0;
}

int datapath_prepare(struct datapath *dp, const struct edged_config *cfg)
{
	int err;

	datapath_abort(dp);
	if (dp->lock_fd < 0) {
		err = open_instance(dp, cfg->instance);
		if (err)
			return err;
	}
	if (program_matches(dp, cfg))
		return 0;
	return load_program(dp, cfg, &dp->next_skel);
}

void datapath_abort(struct datapath *dp)
{
	if (dp->next_skel)
		edge_bpf__destroy(dp->next_skel);
	dp->next_skel = NULL;
}

int datapath_map_fd(const struct datapath *dp, const char *name)
{
	struct edge_bpf *skel = dp->next_skel ? dp->next_skel : dp->skel;
	struct bpf_map *m = skel ? bpf_object__find_map_by_name(skel->obj, name) : NULL;

	return m ? bpf_map__fd(m) : -1;
}

int datapath_commit(struct datapath *dp, const struct edged_config *cfg)
{
	struct plan_uplink plan[CONFIG_MAX_UPLINKS];
	struct edge_bpf *skel = dp->next_skel ? dp->next_skel : dp->skel;
	int err, prog_fd = bpf_program__fd(skel->progs.xdp_edge);

	err = plan_uplinks(dp, cfg, prog_fd, plan);
	if (!err && skel != dp->skel)
		err = swap_program(plan, cfg->n_uplinks, prog_fd);
	if (!err)
		err = assign_slots(skel, plan, cfg->n_uplinks);
	if (!err && skel != dp->skel)
		err = pin_program(dp, skel);
	if (err) {
		plan_undo(plan, cfg->n_uplinks, dp);
		datapath_abort(dp);
		return err;
	}

	/* Nothing below can fail. */
	drop_stale_links(dp, cfg, skel);
	for (int i = 0; i < cfg->n_uplinks; i++) {
		dp->uplinks[i] = plan[i].u;
		nic_driver(plan[i].u.name, dp->uplinks[i].driver, sizeof(dp->uplinks[i].driver));
		if (plan[i].is_new)
			pr_info("uplink %s (ifindex %d, driver %s): %s in %s mode, link id %u",
			        plan[i].u.name, plan[i].u.ifindex, dp->uplinks[i].driver,
			        plan[i].u.adopted ? "adopted" : "attached",
			        config_xdp_mode_name(plan[i].u.mode), plan[i].u.link_id);
	}
	dp->n_uplinks = cfg->n_uplinks;
	if (skel != dp->skel) {
		if (dp->skel)
			edge_bpf__destroy(dp->skel);
		dp->skel = skel;
		dp->next_skel = NULL;
		dp->fn_loaded[FN_DOS] = cfg->fn[FN_DOS].enabled;
		dp->fn_loaded[FN_TRANSIT] = cfg->fn[FN_TRANSIT].enabled;
		dp->fn_loaded[FN_LB] = cfg->fn[FN_LB].enabled;
		dp->share_loaded = egress_share_wanted(cfg);
		dp->prog_id = fd_object_id(prog_fd);
		pr_info("edge program id %u loaded (dos=%d transit=%d egress_share=%d lb=%d)",
		        dp->prog_id, dp->fn_loaded[FN_DOS], dp->fn_loaded[FN_TRANSIT],
		        dp->share_loaded, dp->fn_loaded[FN_LB]);
	}
	return 0;
}

int datapath_apply(struct datapath *dp, const struct edged_config *cfg)
{
	int err = datapath_prepare(dp, cfg);

	return err ? err : datapath_commit(dp, cfg);
}

void datapath_close(struct datapath *dp)
{
	datapath_abort(dp);
	for (int i = 0; i < dp->n_uplinks; i++)
		if (dp->uplinks[i].link_fd >= 0)
			close(dp->uplinks[i].link_fd);
	dp->n_uplinks = 0;
	if (dp->skel)
		edge_bpf__destroy(dp->skel);
	dp->skel = NULL;
	if (dp->lock_fd >= 0)
		close(dp->lock_fd);
	dp->lock_fd = -1;
}

static int open_pinned(const char *dir, const char *name)
{
	char path[PATH_MAX + NAME_MAX + 2];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return bpf_obj_get(path);
}

int datapath_teardown(struct datapath *dp, const char *instance)
{
	char dirpath[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	int err = 0;

	if (dp)
		datapath_close(dp);
	snprintf(dirpath, sizeof(dirpath), "%s/%s", DATAPATH_PIN_ROOT, instance);
	dir = opendir(dirpath);
	if (!dir) {
		if (errno == ENOENT)
			return 0;
		pr_err("Couldn't open %s: %s", dirpath, strerror(errno));
		return -errno;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (!strncmp(de->d_name, EDGE_PIN_LINK_PREFIX, strlen(EDGE_PIN_LINK_PREFIX))) {
			int fd = open_pinned(dirpath, de->d_name);

			/* Detached now, not whenever the pin's release runs (see detach_link). */
			if (fd >= 0 && bpf_link_detach(fd) && errno != ENOLINK)
				pr_warn("Couldn't detach %s/%s: %s", dirpath, de->d_name,
				        strerror(errno));
			if (fd >= 0)
				close(fd);
		}
		if (unlinkat(dirfd(dir), de->d_name, 0)) {
			pr_err("Couldn't remove %s/%s: %s", dirpath, de->d_name, strerror(errno));
			err = -errno;
		}
	}
	closedir(dir);
	if (rmdir(dirpath) && errno != ENOENT) {
		pr_err("Couldn't remove %s: %s", dirpath, strerror(errno));
		err = -errno;
	}
	/* The root stays when other instances live there; removing it empty is tidy. */
	rmdir(DATAPATH_PIN_ROOT);
	if (!err)
		pr_info("instance '%s': data path detached, pins removed", instance);
	return err;
}

int datapath_read_stats(const struct datapath *dp, __u32 slot, struct edge_uplink_stats *out)
{
	int ncpus = libbpf_num_possible_cpus();
	struct edge_uplink_stats *percpu;
	__u32 key = slot;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!dp->skel)
		return -ENOENT;
	if (ncpus < 0)
		return ncpus;
	percpu = calloc(ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.uplink_stats), &key, percpu)) {
		err = -errno;
		goto out;
	}
	for (int cpu = 0; cpu < ncpus; cpu++)
		for (int s = 0; s < EDGE_NSTAGES; s++)
			for (int v = 0; v < EDGE_NVERDICTS; v++) {
				out->c[s][v].packets += percpu[cpu].c[s][v].packets;
				out->c[s][v].bytes += percpu[cpu].c[s][v].bytes;
			}
out:
	free(percpu);
	return err;
}
