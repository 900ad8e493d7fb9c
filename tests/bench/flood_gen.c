// SPDX-License-Identifier: GPL-2.0
/*
 * A bounded packet generator for the lab's flood benchmarks: BPF_PROG_TEST_RUN in live-frame
 * mode runs a `return XDP_TX` program COUNT times on one frame, as if received on IFACE, so
 * each copy leaves IFACE for its veth peer at kernel speed, with no pktgen module needed.
 *
 *   flood_gen IFACE COUNT SRC_IP DST_IP [DST_MAC]
 *
 * Prints "sent COUNT in SECONDS". Run it inside the sender's network namespace only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf.h>

/* One bpf_prog_test_run call sends at most this many: bounded work per syscall, and the
 * flood as a whole is bounded by COUNT. */
#define FLOOD_CHUNK 1000000u

struct frame {
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
	unsigned char payload[18]; /* a 60-byte frame: the smallest on the wire */
} __attribute__((packed));

static unsigned short ip_checksum(const void *hdr, int len)
{
	const unsigned short *p = hdr;
	unsigned long sum = 0;

	for (; len > 1; len -= 2)
		sum += *p++;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (unsigned short)~sum;
}

static int build_frame(struct frame *f, const char *src, const char *dst)
{
	memset(f, 0, sizeof(*f));
	memset(f->eth.h_dest, 0xff, ETH_ALEN);
	memcpy(f->eth.h_source, "\x02\x00\x00\x00\x00\x66", ETH_ALEN);
	f->eth.h_proto = htons(ETH_P_IP);
	f->ip.version = 4;
	f->ip.ihl = 5;
	f->ip.ttl = 64;
	f->ip.protocol = IPPROTO_UDP;
	f->ip.tot_len = htons(sizeof(*f) - sizeof(f->eth));
	if (inet_pton(AF_INET, src, &f->ip.saddr) != 1 || inet_pton(AF_INET, dst, &f->ip.daddr) != 1)
		return -1;
	f->ip.check = ip_checksum(&f->ip, sizeof(f->ip));
	f->udp.source = htons(40000);
	f->udp.dest = htons(7);
	f->udp.len = htons(sizeof(f->udp) + sizeof(f->payload));
	return 0;
}

static int load_xdp_tx(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_TX },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "flood_tx", "GPL", insns, 2, NULL);
}

int main(int argc, char **argv)
{
	struct xdp_md ctx = {};
	struct frame f;
	struct timespec a, b;
	unsigned long count, left;
	int prog;

	if (argc != 5) {
		fprintf(stderr, "usage: flood_gen IFACE COUNT SRC_IP DST_IP\n");
		return 2;
	}
	ctx.ingress_ifindex = if_nametoindex(argv[1]);
	count = strtoul(argv[2], NULL, 10);
	if (!ctx.ingress_ifindex || !count || build_frame(&f, argv[3], argv[4])) {
		fprintf(stderr, "flood_gen: bad interface '%s', count or addresses\n", argv[1]);
		return 2;
	}
	ctx.data_end = sizeof(f); /* the kernel checks ctx against the frame it is given */
	prog = load_xdp_tx();
	if (prog < 0) {
		fprintf(stderr, "flood_gen: cannot load the XDP_TX program: %s\n", strerror(errno));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (left = count; left;) {
		unsigned int n = left > FLOOD_CHUNK ? FLOOD_CHUNK : (unsigned int)left;
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = &f, .data_size_in = sizeof(f),
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = n,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);

		if (bpf_prog_test_run_opts(prog, &opts)) {
			fprintf(stderr, "flood_gen: live-frame test run failed: %s\n", strerror(errno));
			return 1;
		}
		left -= n;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("sent %lu in %.3f\n", count, (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
	close(prog);
	return 0;
}
