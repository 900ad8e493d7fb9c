// SPDX-License-Identifier: GPL-2.0
/*
 * One netlink request and its replies (see netlink_talk.h).
 */
#include <errno.h>
#include <stdlib.h>

#include "netlink_talk.h"

int nl_talk(struct mnl_socket *nl, unsigned int portid, const struct nlmsghdr *nlh,
            size_t recv_size, mnl_cb_t cb, void *arg)
{
	char *buf = malloc(recv_size);
	unsigned int seq = nlh->nlmsg_seq;
	int ret = MNL_CB_OK;
	ssize_t len;

	if (!buf)
		return -ENOMEM;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		free(buf);
		return -errno;
	}
	while (ret == MNL_CB_OK) {
		len = mnl_socket_recvfrom(nl, buf, recv_size);
		if (len < 0) {
			ret = -errno;
			break;
		}
		ret = mnl_cb_run(buf, len, seq, portid, cb, arg);
	}
	free(buf);
	if (ret == MNL_CB_ERROR)
		return errno ? -errno : -EPROTO;
	return ret < 0 ? ret : 0;
}
