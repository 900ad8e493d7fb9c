/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What every BPF program of edged includes: the kernel's types from vmlinux.h (CO-RE), the
 * libbpf helpers, and the UAPI macros that vmlinux.h cannot carry (it holds types, not
 * #defines).
 */
#ifndef EDGED_BPF_DEFS_H
#define EDGED_BPF_DEFS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_HLEN     14
#define ETH_P_IP     0x0800
#define ETH_P_IPV6   0x86DD
#define ETH_P_ARP    0x0806
#define ETH_P_8021Q  0x8100
#define ETH_P_8021AD 0x88A8

/* IPv6 next-header values: #defines in linux/in6.h, so absent from vmlinux.h. */
#define IPPROTO_HOPOPTS  0
#define IPPROTO_ROUTING  43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_ICMPV6   58
#define IPPROTO_DSTOPTS  60

/* RFC 8200 fragment header; the kernel's struct frag_hdr is internal, not UAPI. */
struct ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

#define IP_MF      0x2000
#define IP_OFFSET  0x1FFF
#define IP6_OFFSET 0xFFF8

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_ACK 0x10
#define TCP_FLAG_URG 0x20

#define TC_ACT_OK   0
#define TC_ACT_SHOT 2

#ifndef barrier_var
#define barrier_var(var) asm volatile("" : "+r"(var))
#endif

#endif
