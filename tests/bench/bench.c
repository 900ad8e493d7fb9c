// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>

#include "bench.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double run_once(int prog_fd, const void *frame, uint32_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
	            .repeat = BENCH_REPEAT);

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	return opts.duration; /* the kernel's own average, ns per run */
}

int bench_xdp_side_by_side(const int *prog_fds, int n, const void *frame, uint32_t len,
                           double *median_ns)
{
	double(*samples)[BENCH_REPS] = calloc(n, sizeof(*samples));

	if (!samples)
		return -ENOMEM;
	for (int r = 0; r < BENCH_REPS; r++)
		for (int i = 0; i < n; i++) {
			samples[i][r] = run_once(prog_fds[i], frame, len);
			if (samples[i][r] < 0) {
				int err = (int)samples[i][r];

				free(samples);
				return err;
			}
		}
	for (int i = 0; i < n; i++) {
		qsort(samples[i], BENCH_REPS, sizeof(double), cmp_double);
		median_ns[i] = samples[i][BENCH_REPS / 2];
	}
	free(samples);
	return 0;
}

double bench_xdp_ns(int prog_fd, const void *frame, uint32_t len)
{
	double median;
	int err = bench_xdp_side_by_side(&prog_fd, 1, frame, len, &median);

	return err ? err : median;
}

int bench_load_xdp_pass(void)
{
	struct bpf_insn insns[] = {
	        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS},
	        {.code = BPF_JMP | BPF_EXIT},
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "xdp_pass", "GPL", insns, 2, NULL);
}

void bench_pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		perror("bench: sched_setaffinity (figures will be noisier)");
}

void bench_line(const char *name, const char *metric, double edged, const char *peer,
                double peer_value)
{
	printf("BENCH %s %s edged=%.1f %s=%.1f ratio=%.2f\n", name, metric, edged, peer, peer_value,
	       peer_value > 0 ? edged / peer_value : 0.0);
}
