// SPDX-License-Identifier: GPL-2.0
/*
 * The driver behind an uplink. It decides which XDP mode is real: virtio_net and veth run
 * XDP in the driver (native), e1000 only through the generic skb path. Operators reading
 * `edgectl status` and the lab's report need to see it next to the mode edged asked for.
 */
#include "nic.h"

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int nic_driver(const char *ifname, char *out, size_t n)
{
	struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
	struct ifreq ifr = {0};
	int fd, err = 0;

	snprintf(out, n, "unknown");
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&info;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, SIOCETHTOOL, &ifr))
		err = -errno;
	else if (info.driver[0])
		snprintf(out, n, "%.*s", (int)sizeof(info.driver), info.driver);
	close(fd);
	return err;
}
