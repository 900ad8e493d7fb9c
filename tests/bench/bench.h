/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Side-by-side per-packet cost of XDP programs with BPF_PROG_TEST_RUN. This machine is shared
 * and noisy (about +-15% between runs), so programs are compared in one run, alternating,
 * pinned to one CPU, median of several repetitions; results are reported as ratios.
 */
#ifndef EDGED_TESTS_BENCH_H
#define EDGED_TESTS_BENCH_H

#include <stdint.h>

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

/* A two-instruction `return XDP_PASS` program: the floor every XDP program pays. */
int bench_load_xdp_pass(void);

/* Pins the benchmark to one CPU so that caches and frequency stay put. */
void bench_pin_cpu(int cpu);

/* Prints the line the project's tables are made of:
 * BENCH <name> <metric> edged=<value> <peer>=<value> ratio=<edged/peer> */
void bench_line(const char *name, const char *metric, double edged, const char *peer,
                double peer_value);

#endif
