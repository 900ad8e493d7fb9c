// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>

#include "wg_device.h"

struct wg_peer *wg_device_find(const struct wg_device *d, const uint8_t key[WG_KEY_LEN])
{
	for (int i = 0; i < d->n_peers; i++)
		if (memcmp(d->peers[i].public_key, key, WG_KEY_LEN) == 0)
			return &d->peers[i];
	return NULL;
}

struct wg_peer *wg_device_add_peer(struct wg_device *d)
{
	struct wg_peer *g = realloc(d->peers, (d->n_peers + 1) * sizeof(*g));

	if (!g)
		return NULL;
	d->peers = g;
	memset(&g[d->n_peers], 0, sizeof(*g));
	return &g[d->n_peers++];
}

void wg_device_free(struct wg_device *d)
{
	free(d->peers);
	d->peers = NULL;
	d->n_peers = 0;
}
