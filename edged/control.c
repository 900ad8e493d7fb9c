// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "dispatch_control.h"
#include "dos_control.h"
#include "egress_control.h"
#include "lb_control.h"
#include "log.h"
#include "sockio.h"
#include "stats.h"
#include "transit_control.h"

/* A client that connects and says nothing must not stall the daemon's loop for long. */
#define CONTROL_IO_TIMEOUT_S 2

static int sockaddr_for(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

static void set_timeouts(int fd)
{
	struct timeval tv = {.tv_sec = CONTROL_IO_TIMEOUT_S};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int make_parent_dir(const char *path)
{
	char *copy = strdup(path);
	int err = 0;

	if (!copy)
		return -ENOMEM;
	if (mkdir(dirname(copy), 0755) && errno != EEXIST)
		err = -errno;
	free(copy);
	return err;
}

int control_listen(struct edged *e)
{
	const char *path = e->cfg.control_socket;
	struct sockaddr_un sa;
	mode_t old_umask;
	int fd, err;

	if (sockaddr_for(path, &sa) || make_parent_dir(path)) {
		pr_err("Couldn't prepare the control socket %s: %s", path, strerror(errno));
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* A socket file nobody listens on is a leftover of a killed edged: replace it. One
	 * that answers belongs to a running edged: refuse, rather than steal its socket. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		pr_err("another edged answers on %s: stop it, or set another control_socket", path);
		close(fd);
		return -1;
	}
	unlink(path);
	old_umask = umask(0177); /* the socket is born 0600: no window where others may connect */
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_umask);
	if (err || listen(fd, 16)) {
		pr_err("Couldn't listen on the control socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	e->ctl_fd = fd;
	return fd;
}

void control_close(struct edged *e)
{
	if (e->ctl_fd < 0)
		return;
	close(e->ctl_fd);
	e->ctl_fd = -1;
	unlink(e->cfg.control_socket);
}

static bool cmd_version(struct edged *e, const struct request *rq, struct strbuf *out)
{
	bool json = rq->json;

	(void)e;
	if (json)
		sb_printf(out, "{\"version\":\"%s\"}\n", EDGED_VERSION);
	else
		sb_printf(out, "edged %s\n", EDGED_VERSION);
	return true;
}

static bool cmd_status(struct edged *e, const struct request *rq, struct strbuf *out)
{
	bool json = rq->json;

	status_render(e, out, json);
	return true;
}

static bool cmd_stats(struct edged *e, const struct request *rq, struct strbuf *out)
{
	bool json = rq->json;

	stats_render(e, out, json);
	return true;
}

static bool cmd_reload(struct edged *e, const struct request *rq, struct strbuf *out)
{
	bool json = rq->json;

	struct strbuf errs = {};
	bool ok = edged_reload(e, &errs) == 0;

	if (json) {
		sb_printf(out, "{\"ok\":%s,\"generation\":%lu,\"errors\":", ok ? "true" : "false",
		          e->generation);
		sb_json_str(out, errs.buf ? errs.buf : "");
		sb_printf(out, "}\n");
	} else if (ok) {
		sb_printf(out, "reloaded %s: generation %lu\n", e->cfg.path, e->generation);
	} else {
		sb_printf(out, "%sreload rejected: the running config is unchanged\n",
		          errs.buf ? errs.buf : "");
	}
	sb_free(&errs);
	return ok;
}

static bool cmd_teardown(struct edged *e, const struct request *rq, struct strbuf *out)
{
	bool json = rq->json;

	e->teardown = true;
	e->stopping = true;
	if (json)
		sb_printf(out, "{\"ok\":true}\n");
	else
		sb_printf(out, "edged is detaching the data path of '%s' and exiting\n",
		          e->cfg.instance);
	return true;
}

static const struct command {
	const char *name;
	bool (*run)(struct edged *e, const struct request *rq, struct strbuf *out);
	const char *help;
} commands[] = {
        {"status", cmd_status, "instance, config generation, uplinks and attachments"},
        {"stats", cmd_stats, "packet and byte counters per uplink, stage and verdict"},
        {"reload", cmd_reload, "re-read the config file; an invalid file changes nothing"},
        {"version", cmd_version, "edged's version"},
        {"teardown", cmd_teardown, "detach and unpin everything, then exit"},
        {"dos", dos_command, "DoS rules and lists: dos rules | dos block|allow add|del|list|flush"},
        {"dispatch", dispatch_command,
         "socket dispatch: dispatch bindings | dispatch services | dispatch register SERVICE"},
        {"lb", lb_command,
         "load balancer: lb list | lb servers | lb drain|undrain SERVER | lb weight SERVER N"},
        {"egress", egress_command,
         "VPN egress: egress peers | egress addresses | egress peer add|del"},
        {"transit", transit_command,
         "anycast GRE transit: transit customers | tunnels | rules CUSTOMER | add FILE | "
         "remove CUSTOMER"},
        {"capture", NULL, "stream sampled packets as pcap (edgectl capture -w FILE)"},
};

static void unknown_command(const char *cmd, struct strbuf *out)
{
	sb_printf(out, "unknown command '%s'; edged knows:", cmd);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		sb_printf(out, " %s", commands[i].name);
	sb_printf(out, "\n");
}

/* Splits LINE into words, in place. Returns false when there are too many. */
static bool split_words(char *line, struct request *rq)
{
	char *save, *w;

	rq->argc = 0;
	for (w = strtok_r(line, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (rq->argc == CONTROL_MAX_ARGS)
			return false;
		rq->argv[rq->argc++] = w;
	}
	return true;
}

/* Splits LINE (copied into BUF) into RQ; on a malformed line explains in OUT. */
static bool parse_line(const char *line, char *buf, size_t size, struct request *rq,
                       struct strbuf *out)
{
	snprintf(buf, size, "%s", line);
	if (!split_words(buf, rq) || rq->argc < 2 ||
	    (strcmp(rq->argv[0], "json") && strcmp(rq->argv[0], "text"))) {
		sb_printf(out,
		          "malformed request '%.64s': expected '<json|text> <command> [args]'\n",
		          line);
		return false;
	}
	rq->json = strcmp(rq->argv[0], "json") == 0;
	rq->argc--; /* argv[0] is the command from here on */
	memmove(rq->argv, rq->argv + 1, rq->argc * sizeof(rq->argv[0]));
	return true;
}

static bool run(struct edged *e, const struct request *rq, struct strbuf *out)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(rq->argv[0], commands[i].name) == 0 && commands[i].run)
			return commands[i].run(e, rq, out);
	unknown_command(rq->argv[0], out);
	return false;
}

bool control_dispatch(struct edged *e, const char *line, struct strbuf *out)
{
	char buf[CONTROL_MAX_REQUEST];
	struct request rq = {};

	return parse_line(line, buf, sizeof(buf), &rq, out) && run(e, &rq, out);
}

static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return false;
	if (cred.uid == 0 || cred.uid == geteuid())
		return true;
	pr_warn("control socket: refused pid %d uid %u (root only)", cred.pid, cred.uid);
	return false;
}

static pid_t peer_pid(int fd)
{
	struct ucred cred = {};
	socklen_t len = sizeof(cred);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ? 0 : cred.pid;
}

/* Reads the request line. A descriptor sent along with it (SCM_RIGHTS: `dispatch register`
 * from lib/edged_dispatch.c) lands in *PASSED_FD; extra ones are closed. */
static ssize_t read_line(int fd, char *buf, size_t size, int *passed_fd)
{
	union { /* aligned for struct cmsghdr */
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	size_t len = 0;

	while (len + 1 < size) {
		struct iovec iov = {.iov_base = buf + len, .iov_len = size - 1 - len};
		struct msghdr msg = {.msg_iov = &iov,
		                     .msg_iovlen = 1,
		                     .msg_control = cbuf.buf,
		                     .msg_controllen = sizeof(cbuf.buf)};
		ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

		if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int))) {
			if (*passed_fd >= 0)
				close(*passed_fd);
			memcpy(passed_fd, CMSG_DATA(c), sizeof(int));
		}
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	buf[len] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return (ssize_t)len;
}

void control_serve(struct edged *e)
{
	char line[CONTROL_MAX_REQUEST], buf[CONTROL_MAX_REQUEST];
	struct request rq = {};
	struct strbuf out = {};
	int fd, passed_fd = -1;
	bool ok;

	fd = accept4(e->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	set_timeouts(fd);
	if (!peer_allowed(fd) || read_line(fd, line, sizeof(line), &passed_fd) <= 0) {
		if (passed_fd >= 0)
			close(passed_fd);
		close(fd);
		return;
	}
	pr_debug("control: %s", line);
	ok = parse_line(line, buf, sizeof(buf), &rq, &out);
	rq.has_fd = passed_fd >= 0;
	rq.fd = passed_fd;
	rq.peer_pid = peer_pid(fd);
	/* A capture streams from the event loop: it keeps the connection. */
	if (ok && strcmp(rq.argv[0], "capture") == 0) {
		ok = capture_start(e, fd, &rq, &out);
		if (ok) {
			if (passed_fd >= 0)
				close(passed_fd);
			sb_free(&out);
			return;
		}
	} else if (ok) {
		ok = run(e, &rq, &out);
	}
	if (passed_fd >= 0)
		close(passed_fd); /* edged keeps no copy (see dispatch_register.c) */
	sock_send_all(fd, ok ? "ok\n" : "error\n", ok ? 3 : 6);
	if (out.buf)
		sock_send_all(fd, out.buf, out.len);
	sb_free(&out);
	close(fd);
}
