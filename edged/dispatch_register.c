// SPDX-License-Identifier: GPL-2.0
/*
 * Services hand their sockets to edged, two ways:
 *   - over the control socket, the descriptor itself in an SCM_RIGHTS message
 *     (lib/edged_dispatch.c; control.c receives it);
 *   - `edgectl dispatch register SERVICE --pid PID --fd N`: edged takes descriptor N of
 *     process PID with pidfd_getfd(2) (needs ptrace rights over it: edged runs as root).
 *
 * Either way edged checks the socket can take lookups (a listening TCP socket, a bound and
 * unconnected UDP one), sets IP_TRANSPARENT on it (so the binding may switch to TPROXY at any
 * time: edged keeps no copy to set it later), puts it into dispatch_sockets and then closes
 * its own copy. Keeping none is what makes a dead service visible: when the service's last
 * descriptor closes, the kernel drops the socket from the map and lookups count misses.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <bpf/bpf.h>

#include "dispatch.skel.h"
#include "dispatch_maps.h"
#include "log.h"

/* What a descriptor turned out to be. */
struct sock_facts {
	int family, protocol;
	struct sockaddr_storage local;
	__u64 cookie;
};

static const char *family_name(int family)
{
	return family == AF_INET ? "ipv4" : family == AF_INET6 ? "ipv6" : "?";
}

static int sockopt_int(int fd, int level, int name, int *out)
{
	socklen_t len = sizeof(*out);

	return getsockopt(fd, level, name, out, &len);
}

/* Checks FD can take lookups; explains in OUT when it cannot. */
static int inspect(int fd, struct sock_facts *f, struct strbuf *out)
{
	socklen_t len = sizeof(f->local);
	struct sockaddr_storage peer;
	int listening = 0;

	if (sockopt_int(fd, SOL_SOCKET, SO_DOMAIN, &f->family) ||
	    sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, &f->protocol)) {
		sb_printf(out,
		          "the descriptor is not a socket (%s): pass a listening TCP or a "
		          "bound UDP socket\n",
		          strerror(errno));
		return -1;
	}
	if ((f->family != AF_INET && f->family != AF_INET6) ||
	    (f->protocol != IPPROTO_TCP && f->protocol != IPPROTO_UDP)) {
		sb_printf(out,
		          "the socket is not TCP or UDP over IPv4 or IPv6 (family %d, "
		          "protocol %d)\n",
		          f->family, f->protocol);
		return -1;
	}
	getsockname(fd, (struct sockaddr *)&f->local, &len);
	if (f->protocol == IPPROTO_TCP &&
	    (sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening) || !listening)) {
		sb_printf(out, "the TCP socket is not listening: call listen() before "
		               "registering it\n");
		return -1;
	}
	len = sizeof(peer);
	if (f->protocol == IPPROTO_UDP && getpeername(fd, (struct sockaddr *)&peer, &len) == 0) {
		sb_printf(out, "the UDP socket is connected: a dispatch socket must receive from "
		               "anyone (do not connect() it)\n");
		return -1;
	}
	len = sizeof(f->cookie);
	getsockopt(fd, SOL_SOCKET, SO_COOKIE, &f->cookie, &len);
	return 0;
}

/* Where TPROXY finds the socket: its bound address, loopback for a wildcard bind. */
static void tproxy_target(const struct sock_facts *f, struct dispatch_dest_info *info)
{
	if (f->family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&f->local;
		struct in_addr a = sin->sin_addr;

		if (a.s_addr == htonl(INADDR_ANY))
			a.s_addr = htonl(INADDR_LOOPBACK);
		memcpy(info->addr, &a, sizeof(a));
		info->port = ntohs(sin->sin_port);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&f->local;
		struct in6_addr a = sin6->sin6_addr;

		if (IN6_IS_ADDR_UNSPECIFIED(&a))
			a = in6addr_loopback;
		memcpy(info->addr, &a, sizeof(a));
		info->port = ntohs(sin6->sin6_port);
	}
}

/* TPROXY hands packets only to transparent sockets; set here, once, whatever the binding's
 * mechanism is today (see the top of the file). An IPv6 socket also gets IPV6_FREEBIND: the
 * kernel does not count AnyIP IPv6 addresses as local, and a UDP service replying from one
 * (IPV6_PKTINFO) needs either option; the service should not have to know. */
static void make_transparent(int fd, int family)
{
	int one = 1;

	if (family == AF_INET ? setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one))
	                      : setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)))
		pr_warn("dispatch: cannot make a registered socket transparent (%s): TPROXY "
		        "bindings will not reach it",
		        strerror(errno));
	if (family == AF_INET6)
		setsockopt(fd, SOL_IPV6, IPV6_FREEBIND, &one, sizeof(one));
}

static bool service_uses(const struct dispatch_config *dc, int service, int family, int protocol)
{
	for (int i = 0; i < dc->n_bindings; i++)
		if (dc->bindings[i].service == service && dc->bindings[i].protocol == protocol &&
		    dc->bindings[i].prefix.family == family)
			return true;
	return false;
}

static int record(struct dispatch_state *st, __u32 slot, __u32 dest, const struct sock_facts *f,
                  pid_t pid)
{
	int sfd = bpf_map__fd(st->skel->maps.dispatch_services);
	struct dispatch_service_slot v;
	struct dispatch_dest_info *info;

	if (bpf_map_lookup_elem(sfd, &slot, &v))
		return -errno;
	info = &v.dest[dest % DISPATCH_DESTS_PER_SERVICE];
	memset(info, 0, sizeof(*info));
	info->cookie = f->cookie;
	info->pid = pid;
	info->family = f->family;
	tproxy_target(f, info);
	return bpf_map_update_elem(sfd, &slot, &v, BPF_ANY) ? -errno : 0;
}

int dispatch_register(struct dispatch_state *st, const struct edged_config *cfg,
                      const char *service, int fd, pid_t pid, struct strbuf *out)
{
	const struct dispatch_config *dc = &cfg->dispatch;
	int idx = dispatch_service_index(dc, service);
	struct sock_facts f = {};
	__u64 value = fd;
	__u32 slot, dest;

	if (!st->live.enabled || !st->skel) {
		sb_printf(out, "dispatch is off: add a `dispatch:` section to %s and reload\n",
		          cfg->path);
		return -1;
	}
	if (idx < 0) {
		sb_printf(out, "no service '%s' in %s: add it under dispatch.services and reload\n",
		          service, cfg->path);
		return -1;
	}
	if (inspect(fd, &f, out))
		return -1;
	slot = st->live.service_slot[idx];
	dest = dispatch_dest(slot, f.family == AF_INET ? DISPATCH_FAM_V4 : DISPATCH_FAM_V6,
	                     f.protocol == IPPROTO_UDP);
	make_transparent(fd, f.family);
	if (bpf_map_update_elem(bpf_map__fd(st->skel->maps.dispatch_sockets), &dest, &value,
	                        BPF_ANY)) {
		sb_printf(out, "the kernel refused the socket for the socket map: %s\n",
		          strerror(errno));
		return -1;
	}
	if (record(st, slot, dest, &f, pid))
		pr_warn("dispatch: cannot record the socket of '%s': %s", service, strerror(errno));
	dispatch_tproxy_refresh(st, cfg);
	pr_info("dispatch: service '%s' registered its %s/%s socket (pid %d, cookie %llu)", service,
	        dispatch_proto_name(f.protocol), family_name(f.family), (int)pid,
	        (unsigned long long)f.cookie);
	sb_printf(out, "service %s: %s/%s socket registered (cookie %llu)%s\n", service,
	          dispatch_proto_name(f.protocol), family_name(f.family),
	          (unsigned long long)f.cookie,
	          service_uses(dc, idx, f.family, f.protocol)
	                  ? ""
	                  : "; no binding of this service uses this family and protocol yet");
	return 0;
}

int dispatch_register_pidfd(struct dispatch_state *st, const struct edged_config *cfg,
                            const char *service, pid_t pid, int target_fd, struct strbuf *out)
{
	int pidfd = syscall(SYS_pidfd_open, pid, 0), fd, err;

	if (pidfd < 0) {
		sb_printf(out, "--pid %d: %s\n", (int)pid,
		          errno == ESRCH ? "no such process" : strerror(errno));
		return -1;
	}
	fd = syscall(SYS_pidfd_getfd, pidfd, target_fd, 0);
	err = errno;
	close(pidfd);
	if (fd < 0) {
		sb_printf(out, "--fd %d of pid %d: %s\n", target_fd, (int)pid,
		          err == EBADF   ? "the process has no such descriptor (see /proc/PID/fd)"
		          : err == EPERM ? "not allowed (edged needs ptrace rights over it)"
		                         : strerror(err));
		return -1;
	}
	err = dispatch_register(st, cfg, service, fd, pid, out);
	close(fd);
	return err;
}
