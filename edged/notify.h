/* SPDX-License-Identifier: GPL-2.0 */
/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. */
#ifndef EDGED_NOTIFY_H
#define EDGED_NOTIFY_H

/* Sends STATE ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...") to systemd when edged
 * runs under it; a no-op otherwise. */
void notify_systemd(const char *state);

#endif
