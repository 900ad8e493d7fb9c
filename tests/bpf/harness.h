/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test harness for the BPF programs of edged: read pcap fixtures, load a skeleton without
 * pinning anything, run frames through a program with BPF_PROG_TEST_RUN, and check each
 * packet against an expectation file (see tests/bpf/README.md for the format).
 *
 * Nothing here attaches a program to an interface: every packet goes through the kernel's
 * test-run path only.
 */
#ifndef EDGED_TESTS_BPF_HARNESS_H
#define EDGED_TESTS_BPF_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include <bpf/libbpf.h>

#include "edge.h"

/* ---- pcap ---------------------------------------------------------------------------- */

struct pcap_pkt {
	uint32_t len;
	uint8_t *data;
};

struct pcap_file {
	unsigned int n;
	struct pcap_pkt *pkts;
};

/*
 * Reads a classic pcap (either byte order, micro- or nanosecond timestamps) of Ethernet
 * frames. On error prints what is wrong with which file and how to fix it, and returns a
 * negative errno.
 */
int pcap_read(const char *path, struct pcap_file *pf);
/* Writes frames as a little-endian classic pcap with zero timestamps. */
int pcap_write(const char *path, const struct pcap_pkt *pkts, unsigned int n);
void pcap_free(struct pcap_file *pf);

/* ---- loading ------------------------------------------------------------------------- */

/*
 * Clears the pin path of every map of an opened (not yet loaded) object, so that maps
 * declared with LIBBPF_PIN_BY_NAME are neither pinned under /sys/fs/bpf nor reused from a
 * running edged's pins. Call between <name>_bpf__open() and <name>_bpf__load().
 */
int harness_unpin_maps(struct bpf_object *obj);

/* ---- running one frame --------------------------------------------------------------- */

/* Output buffer: the largest frame a test sends (multi-buffer included) plus headroom. */
#define HARNESS_MAX_FRAME 16384u

struct xdp_result {
	int retval;       /* the program's XDP action, or HARNESS_REFUSED */
	uint32_t out_len; /* length of the frame the program left (after any rewrite) */
	uint8_t out[HARNESS_MAX_FRAME];
};

/* The loopback device: present in every network namespace, and its rx queue is registered,
 * which BPF_PROG_TEST_RUN requires of the ingress device it is given. */
#define HARNESS_IFINDEX_LO 1

/*
 * Runs one frame through an XDP program as if received on `ifindex`; frames longer than the
 * first buffer (about 3.5 KB) arrive as multi-buffer packets, as on a jumbo-MTU uplink.
 * Returns 0, or a negative errno after printing why the kernel refused the run. Frames
 * shorter than an Ethernet header get -EINVAL silently: the kernel never runs XDP on them.
 */
int harness_xdp_run(int prog_fd, uint32_t ifindex, const void *frame, uint32_t len,
                    struct xdp_result *res);

/*
 * Runs one frame through a TC (sched_cls) program as if it arrived on `ifindex` (which must
 * exist in the current network namespace; helpers such as bpf_fib_lookup see it as the
 * skb's device). res->retval is HARNESS_TC(TC_ACT_*): TC verdicts share numbers with XDP's.
 */
#define HARNESS_TC(act) (100 + (act))
int harness_tc_run(int prog_fd, uint32_t ifindex, const void *frame, uint32_t len,
                   struct xdp_result *res);

/* ---- frames built by a test ---------------------------------------------------------- */

/* The Internet checksum (RFC 1071) of frames a test builds: harness_csum_add() adds N bytes
 * at P as big-endian 16-bit words (an odd last byte padded with zero) to SUM, and
 * harness_csum_fold() folds the carries in. A header's checksum field is the complement of the
 * fold; a header whose field is right folds to 0xffff. */
uint32_t harness_csum_add(uint32_t sum, const void *p, size_t n);
uint16_t harness_csum_fold(uint32_t sum);

/* ---- expectation-driven runs --------------------------------------------------------- */

/*
 * Expected "action" of a frame the kernel will not run the program on (shorter than an
 * Ethernet header); written REFUSED in .expect files.
 */
#define HARNESS_REFUSED        -1
#define HARNESS_ACTION_UNKNOWN -2

/* Directory of the fixtures: $EDGED_FIXTURES, else traffic/fixtures (run from the repo root). */
const char *harness_fixture_dir(void);

/* One line of a <set>.expect file. */
struct fixture_line {
	const char *file;    /* the .expect file, for messages */
	unsigned int lineno; /* its line */
	unsigned int index;  /* the packet in <set>.pcap, from 0 */
	int action;          /* expected XDP action, or HARNESS_REFUSED */
	char stage[48];      /* which stage decides; the program's test interprets it */
	int out;             /* packet of <set>.out.pcap expected as output; -1: the input */
	char xfail[32];      /* known bug that makes the program get this packet wrong, or "" */
	char how[200];       /* the comment: how the packet was made */
};

struct fixture_hooks {
	void *arg;
	/* Called before each packet runs, e.g. to snapshot counters. May be NULL. */
	void (*before)(void *arg, const struct fixture_line *fl);
	/*
	 * Called after a packet whose action and output were as expected, for the program's
	 * own checks (e.g. which counter moved); for a REFUSED frame res->retval is
	 * HARNESS_REFUSED. Returns false after reporting the mismatch with fixture_report().
	 * Not called for xfail lines. May be NULL.
	 */
	bool (*check)(void *arg, const struct fixture_line *fl, const struct pcap_pkt *in,
	              const struct xdp_result *res);
};

/*
 * Runs every packet of <dir>/<set>.pcap through the program and checks it against
 * <dir>/<set>.expect (and <set>.out.pcap when a line names an output packet). Reports every
 * mismatch and continues, so one run shows all of them. Returns the number of packets that
 * were not as expected, or a negative errno when the fixtures cannot be read or the kernel
 * refuses a run (e.g. -EPERM when not root).
 */
int harness_run_fixtures(int prog_fd, uint32_t ifindex, const char *set,
                         const struct fixture_hooks *hooks);
/* Same for a TC program: actions TC_ACT_OK, TC_ACT_SHOT, TC_ACT_REDIRECT in the .expect. */
int harness_run_fixtures_tc(int prog_fd, uint32_t ifindex, const char *set,
                            const struct fixture_hooks *hooks);
/* Same, reading the fixture files from `dir` instead of harness_fixture_dir(). */
int harness_run_fixtures_in(const char *dir, int prog_fd, uint32_t ifindex, const char *set,
                            const struct fixture_hooks *hooks);

/* Prints "<file>:<line>: packet N (<how>): <message>" to stderr. */
void fixture_report(const struct fixture_line *fl, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Prints a side-by-side hex dump of two frames, marking the rows that differ. */
void harness_hexdump_diff(const uint8_t *want, uint32_t want_len, const uint8_t *got,
                          uint32_t got_len);

/* "XDP_PASS" etc. or "REFUSED", NULL for an unknown value; and back, HARNESS_ACTION_UNKNOWN
 * for an unknown name. */
const char *harness_action_name(int action);
int harness_action_parse(const char *name);

/* ---- a network namespace of the test's own -------------------------------------------- */

/* Runs CMD through the shell, its output discarded: 0 when it exits 0, else -1. */
int harness_sh(const char *cmd);
/* Runs each of N commands with harness_sh, in order; stops at the first that fails, after
 * printing "<who>: `<cmd>` failed". Returns 0 or -1. */
int harness_sh_all(const char *who, const char *const *cmds, size_t n);
/*
 * Moves the process into a network namespace of its own and brings its lo up, so that
 * nothing the test does reaches the machine's interfaces. Returns 0, or -1 after printing
 * why (not root; no iproute2).
 */
int harness_netns_enter(const char *who);
/* Writes each {path, value} of N /proc/sys settings. Returns 0, or -1 after naming the file. */
int harness_sysctls(const char *who, const char *const (*sysctls)[2], size_t n);
/*
 * The veths of a test: runs N commands, unless the environment variable NO_VETH_ENV is set
 * (to test the guest's way on a host) or the first fails (no veth driver: the Debian 6.1
 * guest of tests/e2e/core_6_1.sh has no modules); *MADE says which. Returns 0, or -1 after
 * printing which later command failed.
 */
int harness_veths(const char *who, const char *no_veth_env, const char *const *cmds, size_t n,
                  bool *made);

/* ---- edged's counters ---------------------------------------------------------------- */

/* Makes ifindex an uplink counted in `slot`, as edged does: zeroes uplink_stats[slot] (every
 * CPU's value) and sets uplink_slots[ifindex] = slot. Slot EDGE_SLOT_OTHER unregisters. */
int harness_uplink_register(int slots_fd, int stats_fd, uint32_t ifindex, uint32_t slot);
/* Writes the DoS stage's dos_active word (bpf/dos.h): tests put their inner maps into the
 * slots of generation 0 themselves, and say with WORD's DOS_HAS_* bits which steps run. */
int harness_dos_active(int active_fd, uint32_t word);
/* Reads uplink_stats[slot] summed over all CPUs. */
int harness_uplink_stats_read(int map_fd, uint32_t slot, struct edge_uplink_stats *sum);

/* The verdict column of uplink_stats an XDP action is counted in: the inverse of the
 * program's verdict_action(). */
int harness_verdict_of_action(int action);
/* The stage of a .expect stage word ("parse", "dos", ...: datapath_stage_name()), or -1. */
int harness_stage_parse(const char *name);
/*
 * Exactly c[stage][verdict] moved from BEFORE to AFTER, by one packet and LEN bytes; no
 * counter at all for STAGE -1. Reports every counter that moved otherwise, and returns
 * whether none did.
 */
bool harness_uplink_moved_once(const struct fixture_line *fl,
                               const struct edge_uplink_stats *before,
                               const struct edge_uplink_stats *after, int stage, int verdict,
                               uint32_t len);

/* One uplink's counters around each fixture packet: the `arg` of the hooks below. */
struct harness_uplink_check {
	int stats_fd;
	uint32_t slot;
	struct edge_uplink_stats before;
};

/* A `before` hook: reads uplink_stats[slot] into uc->before (uc: the hooks' arg). */
void harness_uplink_snapshot(void *uc, const struct fixture_line *fl);
/* The stage the line names moved by the packet (harness_uplink_moved_once, from the
 * snapshot), nothing for a REFUSED frame. Reports and returns false on any other move. */
bool harness_uplink_check_stage(struct harness_uplink_check *uc, const struct fixture_line *fl,
                                const char *stage, const struct pcap_pkt *in,
                                const struct xdp_result *res);
/* A `check` hook for .expect files whose stage column is the stage word alone. */
bool harness_uplink_check(void *uc, const struct fixture_line *fl, const struct pcap_pkt *in,
                          const struct xdp_result *res);

#endif
