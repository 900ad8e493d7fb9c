/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One netlink request and its replies (libmnl), for every family edged speaks: rtnetlink
 * (netlink_route.c), ctnetlink (conntrack.c) and generic netlink (wg_genl.c).
 */
#ifndef EDGED_NETLINK_TALK_H
#define EDGED_NETLINK_TALK_H

#include <stddef.h>
#include <libmnl/libmnl.h>

/* Sends NLH on NL (bound, port PORTID) and reads the replies into a RECV_SIZE-byte buffer
 * until the kernel's ack, the end of a dump, or CB says stop; each data message goes to CB
 * (may be NULL). A dump's parts can be large: RECV_SIZE must hold the biggest the kernel
 * sends (32 KiB is the kernel's usual). Returns 0, CB's error, -errno from the kernel's ack
 * or the socket, or -ENOMEM. */
int nl_talk(struct mnl_socket *nl, unsigned int portid, const struct nlmsghdr *nlh,
            size_t recv_size, mnl_cb_t cb, void *arg);

#endif
