/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Side-by-side per-packet cost of XDP programs with BPF_PROG_TEST_RUN. This machine is shared
 * and noisy (about +-15% between runs), so programs are compared in one run, alternating,
 * pinned to one CPU, median of several repetitions; results are reported as ratios.
 */
#ifndef EDGED_TESTS_BENCH_H
#define EDGED_TESTS_BENCH_H

#include <stdbool.h>
#include <stdint.h>

struct bpf_object;

/* Repetitions per program: the median of 7 shrugs off a neighbour's burst. */
#define BENCH_REPS 7
/* Packets per repetition: long enough that the ~110 ns syscall cost is amortised away. */
#define BENCH_REPEAT 200000

/* Median ns per packet of PROG_FD on FRAME over BENCH_REPS runs of BENCH_REPEAT packets;
 * negative errno on failure. Only for programs that do not rewrite the frame (repeat reuses
 * one buffer, see shared/platform.md). */
double bench_xdp_ns(int prog_fd, const void *frame, uint32_t len);

/* Runs each of N programs once per round, BENCH_REPS rounds, and stores each median. */
int bench_xdp_side_by_side(const int *prog_fds, int n, const void *frame, uint32_t len,
                           double *median_ns);

/* The same with the frames arriving on IFINDEX (0: no context, as above): a program whose
 * FIB lookup sends the frame back out of that device returns XDP_TX only there (from lo it
 * would be a redirect). */
int bench_xdp_side_by_side_on(const int *prog_fds, int n, const void *frame, uint32_t len,
                              uint32_t ifindex, double *median_ns);

/* A two-instruction `return XDP_PASS` program: the floor every XDP program pays. */
int bench_load_xdp_pass(void);
/* The same returning XDP_TX: the floor of a program that sends the frame back. */
int bench_load_xdp_tx(void);
/* Whether PROG_FD sends FRAME back with XDP_TX, unchanged, when it arrives on IFINDEX: the
 * precondition of a wrapper that undoes its program's rewrite (repeat reuses one buffer). */
bool bench_runs_tx(int prog_fd, const void *frame, uint32_t len, uint32_t ifindex);

/* The fd of OBJ's map NAME, -1 when it has none. */
int bench_map_fd(struct bpf_object *obj, const char *name);

/* Ether(02:..:01 > 02:..:02)/IPv4(SRC > DST, TTL 64)/TCP ACK or UDP (PROTO), SPORT > DPORT,
 * LEN bytes of zeroes after the headers, into F. Checksums stay 0: the programs measured do
 * not look at them. */
void bench_frame4(uint8_t *f, uint32_t len, const char *src, uint16_t sport, const char *dst,
                  uint16_t dport, int proto);

/* Pins the benchmark to one CPU so that caches and frequency stay put. */
void bench_pin_cpu(int cpu);

/* Prints the line the project's tables are made of:
 * BENCH <name> <metric> edged=<value> <peer>=<value> ratio=<edged/peer> */
void bench_line(const char *name, const char *metric, double edged, const char *peer,
                double peer_value);

#endif
