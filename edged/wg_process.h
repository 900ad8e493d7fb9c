/* SPDX-License-Identifier: GPL-2.0 */
/*
 * wireguard-go, the userspace WireGuard, as a supervised child of edged: started in the
 * foreground (WG_PROCESS_FOREGROUND=1) in edged's network namespace, it creates the TUN
 * device and serves the UAPI socket; when it exits, edged starts it again and configures the
 * new one (the tunnel's state is in the process: peers must be set again).
 *
 * A wireguard-go that already serves the interface's socket when edged starts is adopted
 * (edged restarted, the tunnel did not): it is watched through its socket instead of
 * waitpid, and replaced if it stops answering.
 */
#ifndef EDGED_WG_PROCESS_H
#define EDGED_WG_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

/* Restarts back off from 1 s to this, so that a wireguard-go that dies at once (a bad
 * binary, no /dev/net/tun) does not spin; a run that lasts resets it. */
#define WG_PROCESS_BACKOFF_MAX_S 30
/* How long a start waits for the UAPI socket: wireguard-go creates it within ~100 ms. */
#define WG_PROCESS_START_WAIT_MS 5000

struct wg_process {
	char ifname[16];
	pid_t pid;    /* our child; 0: none (or adopted) */
	bool adopted; /* serving, started by an earlier edged */
	unsigned int restarts;
	unsigned int backoff_s;
	time_t next_try; /* a failed start waits until then */
	time_t started_at;
};

/* Starts wireguard-go for IFNAME, or adopts one that serves its socket. Returns 0 once the
 * socket answers, or -1 after logging why. */
int wg_process_start(struct wg_process *wp, const char *ifname);

/* Whether the process serves the interface now. Called once a second: reaps a dead child,
 * and starts a new one (after the backoff). Returns 1 when a new process was started (the
 * caller configures it), 0 when nothing changed, -1 when it is down. */
int wg_process_tick(struct wg_process *wp);

/* Stops our child (SIGTERM, then SIGKILL) and forgets the process. An adopted one is
 * stopped by deleting its interface (the caller does that). */
void wg_process_stop(struct wg_process *wp);

/* Whether something answers on IFNAME's UAPI socket. */
bool wg_process_serving(const char *ifname);

#endif
