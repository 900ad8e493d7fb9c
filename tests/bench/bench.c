// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>

#include "bench.h"
#include "harness.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* PROG_FD on FRAME, BENCH_REPEAT times, arriving on IFINDEX (0: without a context). */
static double run_once(int prog_fd, const void *frame, uint32_t len, uint32_t ifindex)
{
	struct xdp_md ctx = {.data_end = len, .ingress_ifindex = ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
	            .repeat = BENCH_REPEAT);

	if (ifindex) {
		opts.ctx_in = &ctx;
		opts.ctx_size_in = sizeof(ctx);
	}
	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	return opts.duration; /* the kernel's own average, ns per run */
}

int bench_xdp_side_by_side_on(const int *prog_fds, int n, const void *frame, uint32_t len,
                              uint32_t ifindex, double *median_ns)
{
	double(*samples)[BENCH_REPS] = calloc(n, sizeof(*samples));

	if (!samples)
		return -ENOMEM;
	for (int r = 0; r < BENCH_REPS; r++)
		for (int i = 0; i < n; i++) {
			samples[i][r] = run_once(prog_fds[i], frame, len, ifindex);
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

int bench_xdp_side_by_side(const int *prog_fds, int n, const void *frame, uint32_t len,
                           double *median_ns)
{
	return bench_xdp_side_by_side_on(prog_fds, n, frame, len, 0, median_ns);
}

double bench_xdp_ns(int prog_fd, const void *frame, uint32_t len)
{
	double median;
	int err = bench_xdp_side_by_side(&prog_fd, 1, frame, len, &median);

	return err ? err : median;
}

static int load_xdp_return(int action, const char *name)
{
	struct bpf_insn insns[] = {
	        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = action},
	        {.code = BPF_JMP | BPF_EXIT},
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, name, "GPL", insns, 2, NULL);
}

int bench_load_xdp_pass(void)
{
	return load_xdp_return(XDP_PASS, "xdp_pass");
}

int bench_load_xdp_tx(void)
{
	return load_xdp_return(XDP_TX, "xdp_tx");
}

bool bench_runs_tx(int prog_fd, const void *frame, uint32_t len, uint32_t ifindex)
{
	struct xdp_result *res = malloc(sizeof(*res));
	bool ok = res && !harness_xdp_run(prog_fd, ifindex, frame, len, res) &&
	          res->retval == XDP_TX && res->out_len == len && !memcmp(res->out, frame, len);

	free(res);
	return ok;
}

int bench_map_fd(struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	return m ? bpf_map__fd(m) : -1;
}

void bench_frame4(uint8_t *f, uint32_t len, const char *src, uint16_t sport, const char *dst,
                  uint16_t dport, int proto)
{
	static const uint8_t eth[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0};
	uint8_t *ip = f + 14, *l4 = ip + 20;

	memset(f, 0, len);
	memcpy(f, eth, 14);
	ip[0] = 0x45;
	ip[2] = (len - 14) >> 8;
	ip[3] = (len - 14) & 0xff;
	ip[8] = 64;
	ip[9] = proto;
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	l4[0] = sport >> 8;
	l4[1] = sport & 0xff;
	l4[2] = dport >> 8;
	l4[3] = dport & 0xff;
	if (proto == IPPROTO_TCP) {
		l4[12] = 5 << 4;
		l4[13] = 0x10; /* ACK */
	} else {
		l4[4] = (len - 34) >> 8;
		l4[5] = (len - 34) & 0xff;
	}
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
