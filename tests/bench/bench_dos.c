// SPDX-License-Identifier: GPL-2.0
/*
 * The DoS stage's block list against xdp-filter's (xdp-tools 1.3.1, xdpfilt_alw_ip.o: drops
 * packets whose source or destination is in filter_ipv4, a per-CPU hash of __u32 address ->
 * __u64 flags, MAP_FLAG_SRC = 1). Both get the same N random /32s and see a TCP SYN from a
 * source that is not listed (the whole path runs: for edged the allow and block lookups and
 * the rule and ceiling checks; for xdp-filter its destination and source lookups), and one
 * from a listed source (dropped).
 *
 *   xdp_edge (dos on) x 3 -- the block list of the first 1k, 100k, 1M /32s, loaded by edged's
 *                            own dos_prepare + dos_commit (edged/dos_maps.c): a hash of the
 *                            exact addresses (dos_exact_v4) beside the prefix trie
 *   xdpfilt_alw_ip.o  x 3 -- filter_ipv4 = hash of the same addresses (raised max_entries),
 *                            one bpf_map_update_elem each (its CLI adds one per call)
 *   all six: BPF_PROG_TEST_RUN side by side in one run, pinned to CPU 0, median of 7
 *
 * Then the cost growth with a mix of /16../32 prefixes (what real block lists hold, which a
 * hash cannot), the time to load 1M entries, and where edged's time goes (chassis, stage,
 * lookups, rules). Nothing is attached or pinned.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench.h"
#include "datapath.h"
#include "dos.h"
#include "dos_maps.h"
#include "edge.skel.h"
#include "harness.h"

/* E/IP(src="198.51.100.7", dst="192.0.2.2")/TCP(sport=40000, dport=443, flags="S") */
#include "bench_frames.h"

#define XDPFILT_OBJ      "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_ip.o"
#define XDPFILT_PROG     "xdpfilt_alw_ip"
#define XDPFILT_SRC_FLAG 1ULL /* MAP_FLAG_SRC of xdp-filter's common_kern_user.h */
/* filter_ipv4's size in the object; raised before load for bigger lists. */
#define XDPFILT_DEFAULT_ENTRIES 10000

static const unsigned int sizes[] = {1000, 100000, 1000000};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* The source of frame_ipv4_tcp_syn, which no generated prefix may cover. */
static const unsigned char miss_src[4] = {198, 51, 100, 7};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* xorshift64*: the same lists on every run. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static bool covers(const struct dos_lpm_v4 *k, const unsigned char *addr)
{
	uint32_t a = (uint32_t)addr[0] << 24 | addr[1] << 16 | addr[2] << 8 | addr[3];
	uint32_t p = (uint32_t)k->addr[0] << 24 | k->addr[1] << 16 | k->addr[2] << 8 | k->addr[3];
	uint32_t mask = k->prefixlen ? ~0u << (32 - k->prefixlen) : 0;

	return ((a ^ p) & mask) == 0;
}

/*
 * A random prefix: a /32, or with MIX the shape of published block lists: 60% /32, 25%
 * /24, 10% /25../31, 5% /16../23. Never one covering the miss source.
 */
static struct dos_lpm_v4 random_prefix(uint64_t *s, bool mix)
{
	struct dos_lpm_v4 k;

	do {
		uint64_t r = rnd(s);
		uint32_t a = (uint32_t)r, pick = (r >> 32) % 100, len = 32;

		if (mix && pick >= 95)
			len = 16 + (r >> 48) % 8;
		else if (mix && pick >= 85)
			len = 25 + (r >> 48) % 7;
		else if (mix && pick >= 60)
			len = 24;
		a &= ~0u << (32 - len);
		k.prefixlen = len;
		k.addr[0] = a >> 24;
		k.addr[1] = a >> 16;
		k.addr[2] = a >> 8;
		k.addr[3] = a;
	} while (covers(&k, miss_src));
	return k;
}

/* frame_ipv4_tcp_syn with the source set to A (the programs ignore the IP checksum). */
static void frame_from(unsigned char *frame, const unsigned char *a)
{
	memcpy(frame, frame_ipv4_tcp_syn, sizeof(frame_ipv4_tcp_syn));
	memcpy(frame + 26, a, 4);
}

/* ---- edged ------------------------------------------------------------------------------ */

static struct edge_bpf *edge_load(bool dos)
{
	struct edge_bpf *skel = edge_bpf__open();

	if (!skel)
		return NULL;
	harness_unpin_maps(skel->obj);
	skel->rodata->enable_dos = dos;
	if (edge_bpf__load(skel) || harness_dos_active(bpf_map__fd(skel->maps.dos_active), 0) ||
	    harness_uplink_register(bpf_map__fd(skel->maps.uplink_slots),
	                            bpf_map__fd(skel->maps.uplink_stats), HARNESS_IFINDEX_LO, 1)) {
		edge_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

/* Puts INNER into SLOT of EDGE's map OUTER (the swap edged does) and closes our fd. */
static int slot_set(struct bpf_map *outer, __u32 slot, int inner)
{
	int err;

	if (inner < 0)
		return -1;
	err = bpf_map_update_elem(bpf_map__fd(outer), &slot, &inner, BPF_ANY);
	close(inner);
	return err;
}

/* Adds BITS to the program's dos_active word (generation 0), as edged's commit sets them. */
static int active_add(struct edge_bpf *skel, __u32 bits)
{
	int fd = bpf_map__fd(skel->maps.dos_active);
	__u32 zero = 0, w = 0;

	bpf_map_lookup_elem(fd, &zero, &w);
	return harness_dos_active(fd, w | bits);
}

/* An inner LPM trie with exactly the template's parameters (bpf/dos.bpf.h). */
static int trie_create(__u32 value_size, __u32 max_entries)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);

	return bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "bench_trie", sizeof(struct dos_lpm_v4),
	                      value_size, max_entries, &opts);
}

/*
 * Makes the first N keys the block list of SKEL the way edged does, through its own
 * dos_prepare + dos_commit (the config's prefixes, already parsed; sorting, deduplication,
 * the exact hash and the trie, batch loads, the generation flip); *SECONDS: how long that
 * took. The rule-name map it pins goes into a directory of this run's, removed after.
 */
static int list_load(struct edge_bpf *skel, const struct dos_lpm_v4 *keys, unsigned int n,
                     double *seconds)
{
	struct datapath dp = {.skel = skel};
	struct dos_state *st = calloc(1, sizeof(*st));
	struct prefix *pfx = calloc(n, sizeof(*pfx));
	struct dos_config dc = {};
	char path[PATH_MAX];
	double t0;
	int err = -1;

	snprintf(dp.pin_dir, sizeof(dp.pin_dir), "/sys/fs/bpf/edged-bench-dos-%d", getpid());
	if (!st || !pfx || (mkdir(dp.pin_dir, 0700) && errno != EEXIST))
		goto out;
	for (unsigned int i = 0; i < n; i++) {
		pfx[i].family = AF_INET;
		pfx[i].len = keys[i].prefixlen;
		memcpy(&pfx[i].addr.v4, keys[i].addr, 4);
	}
	dc.lists[DOS_LIST_BLOCK].prefixes = pfx;
	dc.lists[DOS_LIST_BLOCK].n = n;
	dos_state_init(st);
	t0 = now_s();
	if (dos_prepare(st, &dp, &dc))
		goto out;
	dos_commit(st, &dp);
	*seconds = now_s() - t0;
	dos_state_close(st);
	err = 0;
out:
	snprintf(path, sizeof(path), "%s/dos_rule_names", dp.pin_dir);
	unlink(path);
	rmdir(dp.pin_dir);
	free(st);
	free(pfx);
	return err;
}

/* 8 rules for UDP to ports 53..60 (a TCP SYN matches none), or 32 with WIDE. */
static int rules_nomatch(bool wide)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "bench_rules", sizeof(__u32),
	                        sizeof(struct dos_rule), DOS_MAX_RULES, NULL);
	__u32 n = wide ? 32 : 8;

	for (__u32 i = 0; fd >= 0 && i <= n; i++) {
		struct dos_rule r = {.id = i,
		                     .action = i < n ? DOS_ACT_DROP : DOS_ACT_END,
		                     .match = DOS_M_L4 | DOS_M_DPORT,
		                     .l4_proto = 17,
		                     .dport_min = 53 + i,
		                     .dport_max = 53 + i};

		bpf_map_update_elem(fd, &i, &r, BPF_ANY);
	}
	return fd;
}

/* ---- xdp-filter ------------------------------------------------------------------------- */

struct xdpfilt {
	struct bpf_object *obj;
	int prog_fd, map_fd;
};

/* xdpfilt_alw_ip.o with filter_ipv4 sized for N entries, its pins cleared (it pins by name
 * under /sys/fs/bpf/xdp-filter otherwise), loaded, not attached. */
static int xdpfilt_load(struct xdpfilt *xf, unsigned int n)
{
	struct bpf_program *prog;
	struct bpf_map *map;

	xf->obj = bpf_object__open_file(XDPFILT_OBJ, NULL);
	if (!xf->obj) {
		fprintf(stderr, "bench_dos: cannot open %s: %s (apt-get install xdp-tools)\n",
		        XDPFILT_OBJ, strerror(errno));
		return -1;
	}
	bpf_object__for_each_map(map, xf->obj) bpf_map__set_pin_path(map, NULL);
	map = bpf_object__find_map_by_name(xf->obj, "filter_ipv4");
	prog = bpf_object__find_program_by_name(xf->obj, XDPFILT_PROG);
	if (!map || !prog ||
	    bpf_map__set_max_entries(map,
	                             n > XDPFILT_DEFAULT_ENTRIES ? n : XDPFILT_DEFAULT_ENTRIES) ||
	    bpf_object__load(xf->obj)) {
		fprintf(stderr, "bench_dos: cannot load %s\n", XDPFILT_OBJ);
		return -1;
	}
	xf->prog_fd = bpf_program__fd(prog);
	xf->map_fd = bpf_map__fd(map);
	return 0;
}

static int xdpfilt_fill(const struct xdpfilt *xf, const struct dos_lpm_v4 *keys, unsigned int n,
                        int ncpus, double *seconds)
{
	__u64 *v = calloc(ncpus, sizeof(*v));
	double t0 = now_s();
	int err = 0;

	if (!v)
		return -1;
	for (int c = 0; c < ncpus; c++)
		v[c] = XDPFILT_SRC_FLAG;
	for (unsigned int i = 0; i < n && !err; i++) {
		__u32 addr;

		memcpy(&addr, keys[i].addr, 4);
		err = bpf_map_update_elem(xf->map_fd, &addr, v, BPF_ANY);
		if (err)
			fprintf(stderr, "bench_dos: filter_ipv4 insert %u: %s\n", i,
			        strerror(errno));
	}
	free(v);
	*seconds = now_s() - t0;
	return err;
}

/* ---- the runs --------------------------------------------------------------------------- */

struct bench {
	int ncpus;
	struct dos_lpm_v4 *l32, *mix; /* sizes[NSIZES - 1] keys each; smaller lists: prefixes */
	struct edge_bpf *edge[NSIZES];
	struct xdpfilt xf[NSIZES];
	double load_l32, load_mix, load_xf;
};

static const char *size_tag(unsigned int i)
{
	return sizes[i] == 1000 ? "1k" : sizes[i] == 100000 ? "100k" : "1M";
}

/* Loads the six programs and their lists of /32s. */
static int setup_sizes(struct bench *b)
{
	for (unsigned int i = 0; i < NSIZES; i++) {
		bool last = i == NSIZES - 1;
		double t, tx;

		b->edge[i] = edge_load(true);
		if (!b->edge[i] || list_load(b->edge[i], b->l32, sizes[i], &t) ||
		    xdpfilt_load(&b->xf[i], sizes[i]) ||
		    xdpfilt_fill(&b->xf[i], b->l32, sizes[i], b->ncpus, &tx))
			return -1;
		if (last) {
			b->load_l32 = t;
			b->load_xf = tx;
		}
	}
	return 0;
}

/* Side by side: edged at each size, then xdp-filter at each size, on FRAME. */
static int run_sizes(const struct bench *b, const unsigned char *frame, double *ns)
{
	int fds[2 * NSIZES];

	for (unsigned int i = 0; i < NSIZES; i++) {
		fds[i] = bpf_program__fd(b->edge[i]->progs.xdp_edge);
		fds[NSIZES + i] = b->xf[i].prog_fd;
	}
	return bench_xdp_side_by_side(fds, 2 * NSIZES, frame, sizeof(frame_ipv4_tcp_syn), ns);
}

static int bench_sizes(struct bench *b)
{
	unsigned char listed[sizeof(frame_ipv4_tcp_syn)];
	double miss[2 * NSIZES], hit[2 * NSIZES];
	char name[64];

	frame_from(listed, b->l32[sizes[0] / 2].addr); /* in every list */
	if (run_sizes(b, frame_ipv4_tcp_syn, miss) || run_sizes(b, listed, hit))
		return -1;
	printf("%-9s %12s %12s %12s %12s   (ns/pkt, TCP SYN, median of %d x %d)\n", "entries",
	       "edged", "xdp-filter", "edged", "xdp-filter", BENCH_REPS, BENCH_REPEAT);
	printf("%-9s %25s %25s\n", "", "source not listed", "source listed");
	for (unsigned int i = 0; i < NSIZES; i++)
		printf("%-9u %9.1f ns %9.1f ns %9.1f ns %9.1f ns\n", sizes[i], miss[i],
		       miss[NSIZES + i], hit[i], hit[NSIZES + i]);
	for (unsigned int i = 0; i < NSIZES; i++) {
		snprintf(name, sizeof(name), "dos_blocklist_%s", size_tag(i));
		bench_line(name, "ns_per_pkt", miss[i], "xdp-filter", miss[NSIZES + i]);
		snprintf(name, sizeof(name), "dos_blocklist_%s_listed", size_tag(i));
		bench_line(name, "ns_per_pkt", hit[i], "xdp-filter", hit[NSIZES + i]);
	}
	for (unsigned int i = 1; i < NSIZES; i++) {
		snprintf(name, sizeof(name), "dos_blocklist_growth_%s", size_tag(i));
		bench_line(name, "ns_per_pkt", miss[i], "edged@1k", miss[0]);
	}
	return 0;
}

/* The prefix mix in the 1k and 1M programs (their /32 lists swapped out), side by side. */
static int bench_mix(struct bench *b)
{
	struct edge_bpf *small = b->edge[0], *big = b->edge[NSIZES - 1];
	int fds[2] = {bpf_program__fd(big->progs.xdp_edge), bpf_program__fd(small->progs.xdp_edge)};
	double ns[2], t;

	if (list_load(small, b->mix, sizes[0], &t) ||
	    list_load(big, b->mix, sizes[NSIZES - 1], &b->load_mix) ||
	    bench_xdp_side_by_side(fds, 2, frame_ipv4_tcp_syn, sizeof(frame_ipv4_tcp_syn), ns))
		return -1;
	bench_line("dos_blocklist_growth_1M_mix", "ns_per_pkt", ns[0], "edged@1k_mix", ns[1]);
	bench_line("dos_blocklist_load_1M", "seconds", b->load_l32, "xdp-filter", b->load_xf);
	bench_line("dos_blocklist_load_1M_mix", "seconds", b->load_mix, "xdp-filter", b->load_xf);
	return 0;
}

/*
 * Where edged's time goes, on the unlisted source, side by side: xdp_pass; the chassis
 * alone (dos compiled out); the stage with no map installed; the 100k block list; that plus
 * every other DoS feature configured (an allow list prefix, 8 rules that do not match, a
 * ceiling table that does not cover the destination, SYN cookies on: the destination lookup
 * runs for the SYN); 32 non-matching rules alone; and xdp-filter with the 100k list.
 */
static int bench_breakdown(struct bench *b)
{
	static const char *const names[] = {
	        "xdp_pass",        "chassis (dos off)",         "dos on, no maps",
	        "block list 100k", "+ allow, 8 rules, ceiling", "32 rules, no lists",
	        "xdp-filter 100k",
	};
	enum { N = sizeof(names) / sizeof(names[0]) };
	struct edge_bpf *off = edge_load(false), *empty = edge_load(true), *all = edge_load(true),
	                *rules32 = edge_load(true);
	struct dos_lpm_v4 k = {.prefixlen = 24, .addr = {203, 0, 113, 0}};
	struct dos_dest_policy pol = {.ceiling_pps = 1000000};
	struct dos_list_entry e = {};
	int allow = trie_create(sizeof(e), DOS_MAX_LIST_ENTRIES);
	int dest = trie_create(sizeof(pol), DOS_MAX_DEST_PREFIXES);
	int fds[N] = {-1}, err = -1;
	double ns[N], t;

	if (!off || !empty || !all || !rules32 || allow < 0 || dest < 0)
		goto out;
	bpf_map_update_elem(allow, &k, &e, BPF_ANY);
	bpf_map_update_elem(dest, &k, &pol, BPF_ANY);
	/* slot_set() closes what it is given, whatever happens */
	/* edged's flip first (to generation 1), then the rest into generation 1's slots */
	err = list_load(all, b->l32, sizes[1], &t);
	err |= slot_set(all->maps.dos_lists_v4, DOS_LIST_SLOT(1, DOS_LIST_ALLOW), allow);
	err |= slot_set(all->maps.dos_dest_v4, 1, dest);
	allow = dest = -1;
	err |= slot_set(all->maps.dos_rules, 1, rules_nomatch(false));
	err |= slot_set(rules32->maps.dos_rules, 0, rules_nomatch(true));
	err |= active_add(all, DOS_HAS_PREFIX(DOS_LIST_ALLOW, 0) | DOS_HAS_RULES |
	                               DOS_HAS_CEILINGS | DOS_HAS_SYN_COOKIES);
	err |= active_add(rules32, DOS_HAS_RULES);
	if (err)
		goto out;
	err = -1;
	fds[0] = bench_load_xdp_pass();
	fds[1] = bpf_program__fd(off->progs.xdp_edge);
	fds[2] = bpf_program__fd(empty->progs.xdp_edge);
	fds[3] = bpf_program__fd(b->edge[1]->progs.xdp_edge); /* the 100k /32s */
	fds[4] = bpf_program__fd(all->progs.xdp_edge);
	fds[5] = bpf_program__fd(rules32->progs.xdp_edge);
	fds[6] = b->xf[1].prog_fd;
	if (fds[0] < 0 ||
	    bench_xdp_side_by_side(fds, N, frame_ipv4_tcp_syn, sizeof(frame_ipv4_tcp_syn), ns))
		goto out;
	printf("\nwhere edged's time goes (TCP SYN from an unlisted source, side by side):\n");
	for (int i = 0; i < N; i++)
		printf("  %-28s %7.1f ns\n", names[i], ns[i]);
	bench_line("dos_stage_empty", "ns_per_pkt", ns[2], "dos_off", ns[1]);
	bench_line("dos_all_maps_100k", "ns_per_pkt", ns[4], "dos_off", ns[1]);
	bench_line("dos_rules_32", "ns_per_pkt", ns[5], "dos_off", ns[1]);
	bench_line("dos_all_features_100k", "ns_per_pkt", ns[4], "xdp-filter", ns[6]);
	err = 0;
out:
	if (fds[0] >= 0)
		close(fds[0]);
	close(allow);
	close(dest);
	edge_bpf__destroy(off);
	edge_bpf__destroy(empty);
	edge_bpf__destroy(all);
	edge_bpf__destroy(rules32);
	return err;
}

/* libbpf's warnings, less the two about xdp-filter's own sections (features,
 * .xdp_run_config), which libbpf skips on every open. */
static int print_warnings(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_WARN || strstr(fmt, "skipping unrecognized data section"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static struct dos_lpm_v4 *keys_make(unsigned int n, bool mix, uint64_t seed)
{
	struct dos_lpm_v4 *keys = calloc(n, sizeof(*keys));

	for (unsigned int i = 0; keys && i < n; i++)
		keys[i] = random_prefix(&seed, mix);
	return keys;
}

int main(void)
{
	struct bench b = {.ncpus = libbpf_num_possible_cpus()};
	int ret = 1;

	libbpf_set_print(print_warnings);
	b.l32 = keys_make(sizes[NSIZES - 1], false, 0x5eed);
	b.mix = keys_make(sizes[NSIZES - 1], true, 0xb10c);
	if (!b.l32 || !b.mix || b.ncpus < 1) {
		fprintf(stderr, "bench_dos: out of memory\n");
		goto out;
	}
	if (setup_sizes(&b)) {
		fprintf(stderr, "bench_dos: couldn't load the programs and lists (root needed)\n");
		goto out;
	}
	bench_pin_cpu(0);
	if (bench_sizes(&b) || bench_mix(&b) || bench_breakdown(&b)) {
		fprintf(stderr, "bench_dos: a test run failed\n");
		goto out;
	}
	ret = 0;
out:
	for (unsigned int i = 0; i < NSIZES; i++) {
		edge_bpf__destroy(b.edge[i]);
		bpf_object__close(b.xf[i].obj);
	}
	free(b.l32);
	free(b.mix);
	return ret;
}
