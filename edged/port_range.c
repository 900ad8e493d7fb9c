// SPDX-License-Identifier: GPL-2.0
/*
 * Splits a shared egress address's port range among its members. Equal slices of
 * floor(size / n) ports in list order, the last one up to HI: a remainder of at most n - 1
 * ports is not worth an uneven rule that operators would have to reproduce by hand.
 */
#include <string.h>
#include <sys/socket.h>

#include "egress_config.h"
#include "port_range.h"

static int slice_size(uint16_t lo, uint16_t hi, int n, uint32_t *size)
{
	uint32_t total;

	if (lo == 0 || lo > hi)
		return PORT_RANGE_ERR_RANGE;
	total = (uint32_t)hi - lo + 1;
	if (n <= 0 || (uint32_t)n > total)
		return PORT_RANGE_ERR_MEMBERS;
	*size = total / (uint32_t)n;
	return 0;
}

int port_range_split(uint16_t lo, uint16_t hi, int n, int index, struct port_slice *out)
{
	uint32_t size;
	int err = slice_size(lo, hi, n, &size);

	if (err)
		return err;
	if (index < 0 || index >= n)
		return PORT_RANGE_ERR_INDEX;
	out->lo = (uint16_t)(lo + (uint32_t)index * size);
	out->hi = index == n - 1 ? hi : (uint16_t)(out->lo + size - 1);
	return 0;
}

int port_range_owner(uint16_t lo, uint16_t hi, int n, uint16_t port)
{
	uint32_t size, idx;
	int err = slice_size(lo, hi, n, &size);

	if (err)
		return err;
	if (port < lo || port > hi)
		return PORT_RANGE_ERR_PORT;
	idx = ((uint32_t)port - lo) / size;
	return idx >= (uint32_t)n ? n - 1 : (int)idx; /* the remainder is the last member's */
}

int port_range_member_index(const struct prefix *members, int n, const struct prefix *self)
{
	size_t len = self->family == AF_INET ? 4 : 16;

	for (int i = 0; i < n; i++)
		if (members[i].family == self->family &&
		    memcmp(&members[i].addr, &self->addr, len) == 0)
			return i;
	return -1;
}

int port_range_slice(const struct egress_snat_config *s, int member, struct port_slice *out)
{
	return port_range_split(s->port_lo, s->port_hi, s->n_share ? s->n_share : 1, member, out);
}

const char *port_range_strerror(int err)
{
	switch (err) {
	case PORT_RANGE_ERR_RANGE:
		return "the port range is empty or starts at 0";
	case PORT_RANGE_ERR_MEMBERS:
		return "more members than ports in the range";
	case PORT_RANGE_ERR_INDEX:
		return "not a member of the share list";
	case PORT_RANGE_ERR_PORT:
		return "the port is outside the range";
	}
	return "unknown error";
}
