// SPDX-License-Identifier: GPL-2.0
/*
 * Starting, watching and restarting wireguard-go (see wg_process.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "wg_process.h"
#include "wg_uapi.h"

/* A run that lasted this long was healthy: the next failure restarts at once. */
#define WG_PROCESS_HEALTHY_S    60
#define WG_PROCESS_STOP_WAIT_MS 2000

bool wg_process_serving(const char *ifname)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	wg_uapi_path(ifname, sa.sun_path, sizeof(sa.sun_path));
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void child_exec(const char *ifname)
{
	sigset_t none;

	/* edged blocks its signals for the signalfd; wireguard-go must get SIGTERM. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setenv("WG_PROCESS_FOREGROUND", "1", 1);
	if (!getenv("LOG_LEVEL"))
		setenv("LOG_LEVEL", "error", 1);
	/* Its own process group: a terminal's Ctrl-C to edged's group does not reach it. */
	setpgid(0, 0);
	execlp("wireguard-go", "wireguard-go", ifname, (char *)NULL);
	fprintf(stderr, "edged: cannot run wireguard-go: %s (install the wireguard-go package)\n",
	        strerror(errno));
	_exit(127);
}

/* Waits for the socket, or for the child to die. Returns 0 when it serves. */
static int wait_serving(struct wg_process *wp)
{
	int status;

	for (int waited = 0; waited < WG_PROCESS_START_WAIT_MS; waited += 20) {
		if (wg_process_serving(wp->ifname))
			return 0;
		if (waitpid(wp->pid, &status, WNOHANG) == wp->pid) {
			pr_err("egress: wireguard-go for %s exited at start (status %d); see its "
			       "messages above",
			       wp->ifname, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			wp->pid = 0;
			return -1;
		}
		sleep_ms(20);
	}
	pr_err("egress: wireguard-go for %s did not open %s/%s.sock within %d ms", wp->ifname,
	       WG_UAPI_DIR, wp->ifname, WG_PROCESS_START_WAIT_MS);
	wg_process_stop(wp);
	return -1;
}

static int spawn(struct wg_process *wp)
{
	pid_t pid;

	mkdir(WG_UAPI_DIR, 0755); /* wireguard-go makes it too; EEXIST is fine */
	pid = fork();
	if (pid < 0) {
		pr_err("egress: cannot fork for wireguard-go: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
		child_exec(wp->ifname);
	wp->pid = pid;
	wp->adopted = false;
	wp->started_at = time(NULL);
	if (wait_serving(wp))
		return -1;
	pr_info("egress: wireguard-go serves %s (pid %d)", wp->ifname, (int)pid);
	return 0;
}

int wg_process_start(struct wg_process *wp, const char *ifname)
{
	snprintf(wp->ifname, sizeof(wp->ifname), "%s", ifname);
	if (wp->pid > 0 || wp->adopted)
		return 0;
	if (wg_process_serving(ifname)) {
		pr_info("egress: adopting the wireguard-go that serves %s", ifname);
		wp->adopted = true;
		return 0;
	}
	return spawn(wp);
}

/* Whether our process is gone (reaped now, or an adopted one stopped answering). */
static bool gone(struct wg_process *wp)
{
	int status;

	if (wp->pid > 0) {
		if (waitpid(wp->pid, &status, WNOHANG) != wp->pid)
			return false;
		pr_warn("egress: wireguard-go for %s (pid %d) exited (%s %d); restarting",
		        wp->ifname, (int)wp->pid, WIFSIGNALED(status) ? "signal" : "status",
		        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		wp->pid = 0;
		return true;
	}
	if (wp->adopted && !wg_process_serving(wp->ifname)) {
		pr_warn("egress: the adopted wireguard-go for %s stopped answering; starting one",
		        wp->ifname);
		wp->adopted = false;
		return true;
	}
	return !wp->adopted && wp->pid == 0;
}

int wg_process_tick(struct wg_process *wp)
{
	time_t now = time(NULL);

	if (!gone(wp))
		return 0;
	if (now < wp->next_try)
		return -1;
	if (wp->started_at && now - wp->started_at >= WG_PROCESS_HEALTHY_S)
		wp->backoff_s = 0;
	wp->restarts++;
	if (spawn(wp) == 0)
		return 1;
	wp->backoff_s = wp->backoff_s ? wp->backoff_s * 2 : 1;
	if (wp->backoff_s > WG_PROCESS_BACKOFF_MAX_S)
		wp->backoff_s = WG_PROCESS_BACKOFF_MAX_S;
	wp->next_try = now + wp->backoff_s;
	return -1;
}

void wg_process_stop(struct wg_process *wp)
{
	int status;

	wp->adopted = false;
	if (wp->pid <= 0)
		return;
	kill(wp->pid, SIGTERM);
	for (int waited = 0; waited < WG_PROCESS_STOP_WAIT_MS; waited += 20) {
		if (waitpid(wp->pid, &status, WNOHANG) == wp->pid) {
			wp->pid = 0;
			return;
		}
		sleep_ms(20);
	}
	kill(wp->pid, SIGKILL);
	waitpid(wp->pid, &status, 0);
	wp->pid = 0;
}
