/* auth/listener.c - the loopback redirect listener of the browser flow. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/clock.h"
#include "auth/err.h"
#include "auth/listener.h"
#include "auth/secmem.h"
#include "auth/url.h"

struct conn {
	int fd;			/* -1: free */
	long long deadline;	/* monotonic ms */
	long long since;	/* when accepted, for dropping the oldest */
	long long last;		/* when its last bytes came */
	size_t len;
	char buf[MC_LISTENER_MAX_REQUEST + 1];
};

struct mc_listener {
	int fd[2];
	int nfd;
	unsigned int port;
	char *path;		/* the redirect path: "/" or as in redirect_uri */
	int held;		/* the redirect's connection, not yet answered */
	char *interrupted;	/* the answer for it if we are interrupted */
	size_t interrupted_len;
	struct conn conns[MC_LISTENER_MAX_CONNS];
};


/* Binds and listens on addr (AF_INET or AF_INET6) at port; -errno. */
static int
bind_one(int family, const char *addr, unsigned int port, int *fdp,
    unsigned int *bound)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, e;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((unsigned short)port);
		if (inet_pton(AF_INET, addr, &in->sin_addr) != 1)
			return -EINVAL;
		sl = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((unsigned short)port);
		if (inet_pton(AF_INET6, addr, &in6->sin6_addr) != 1)
			return -EINVAL;
		sl = sizeof(*in6);
	}
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 ||
	    listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		e = errno;
		close(fd);
		return -e;
	}
	*bound = family == AF_INET ?
	    ntohs(((struct sockaddr_in *)&ss)->sin_port) :
	    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	*fdp = fd;
	return 0;
}

static int
bind_failed(int e, const char *addr, unsigned int port, char **errmsg)
{
	if (e == EADDRINUSE)
		return mc_fail(MC_ERR_CONFIG, errmsg, "port %u is in use on %s:"
		    " pick another --port, or leave it out to let the system "
		    "choose", port, addr);
	if (e == EACCES)
		return mc_fail(MC_ERR_CONFIG, errmsg, "port %u on %s needs "
		    "privileges: pick a --port above 1023, or leave it out",
		    port, addr);
	return mc_fail(MC_ERR_IO, errmsg, "cannot listen on %s port %u for "
	    "the browser's redirect: %s", addr, port, strerror(e));
}

int
mc_listener_open(const char *redirect_uri, unsigned int port,
    struct mc_listener **out, char **errmsg)
{
	struct mc_listener *l = NULL;
	struct mc_url u;
	const char *why = NULL, *v4 = NULL, *v6 = NULL;
	unsigned int got;
	size_t plen;
	int rc, e, tries, i;

	*out = NULL;
	if (mc_url_parse(redirect_uri, &u, &why) != MC_OK ||
	    strcmp(u.scheme, "http") != 0 || !mc_url_is_loopback(&u))
		return mc_fail(MC_ERR_CONFIG, errmsg, "redirect_uri %s is not "
		    "http:// to a loopback address: use http://127.0.0.1/ or "
		    "http://localhost/", redirect_uri);
	if (port > 65535)
		return mc_fail(MC_ERR_CONFIG, errmsg, "port %u is not a port",
		    port);
	if (u.host_type == MC_URL_HOST_IPV4)
		v4 = u.host;
	else if (u.host_type == MC_URL_HOST_IPV6)
		v6 = u.host;
	else {
		v4 = "127.0.0.1";
		v6 = "::1";
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return MC_ERR_NOMEM;
	l->fd[0] = l->fd[1] = l->held = -1;
	for (i = 0; i < MC_LISTENER_MAX_CONNS; i++)
		l->conns[i].fd = -1;
	plen = strcspn(u.path, "?#");
	l->path = plen == 0 ? strdup("/") : strndup(u.path, plen);
	if (l->path == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	for (tries = 0; tries < 8; tries++) {
		if (v4 != NULL) {
			e = -bind_one(AF_INET, v4, port, &l->fd[0], &l->port);
			if (e != 0) {
				rc = bind_failed(e, v4, port, errmsg);
				goto out;
			}
			l->nfd = 1;
		}
		if (v6 == NULL)
			break;
		e = -bind_one(AF_INET6, v6, v4 != NULL ? l->port : port,
		    &l->fd[v4 != NULL], &got);
		if (e == 0) {
			l->port = got;
			l->nfd++;
			break;
		}
		/* localhost on a machine without ::1: 127.0.0.1 alone. */
		if (v4 != NULL && (e == EADDRNOTAVAIL || e == EAFNOSUPPORT))
			break;
		/* The kernel's port for 127.0.0.1 is taken on ::1: again. */
		if (v4 != NULL && e == EADDRINUSE && port == 0) {
			close(l->fd[0]);
			l->fd[0] = -1;
			l->nfd = 0;
			continue;
		}
		rc = bind_failed(e, v6, v4 != NULL ? l->port : port, errmsg);
		goto out;
	}
	if (l->nfd == 0) {
		rc = mc_fail(MC_ERR_IO, errmsg, "cannot find a free port on "
		    "both 127.0.0.1 and ::1: pick one with --port");
		goto out;
	}
	*out = l;
	l = NULL;
	rc = MC_OK;
out:
	mc_listener_free(l);
	return rc;
}

unsigned int
mc_listener_port(const struct mc_listener *l)
{
	return l->port;
}

int
mc_listener_nsockets(const struct mc_listener *l)
{
	return l->nfd;
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	mc_wipe(c->buf, c->len);
	c->fd = -1;
	c->len = 0;
}

void
mc_listener_free(struct mc_listener *l)
{
	int i;

	if (l == NULL)
		return;
	if (l->held >= 0)
		mc_listener_reply(l, NULL, "mailcred stopped before it could "
		    "finish the login: see the terminal for why");
	for (i = 0; i < 2; i++)
		if (l->fd[i] >= 0)
			close(l->fd[i]);
	for (i = 0; i < MC_LISTENER_MAX_CONNS; i++)
		conn_close(&l->conns[i]);
	free(l->interrupted);
	free(l->path);
	free(l);
}

/* Appends s to *buf HTML-escaped; -1 when out of memory. */
static int
html_append(char **buf, const char *s)
{
	size_t n = strlen(*buf), i, j;
	char *nb;

	nb = realloc(*buf, n + 6 * strlen(s) + 1);
	if (nb == NULL)
		return -1;
	*buf = nb;
	for (i = 0, j = n; s[i] != '\0'; i++) {
		const char *rep = NULL;

		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		}
		if (rep != NULL) {
			memcpy(nb + j, rep, strlen(rep));
			j += strlen(rep);
		} else {
			nb[j++] = s[i];
		}
	}
	nb[j] = '\0';
	return 0;
}

/* Writes all of p (n bytes), waiting at most a second for room. */
static void
send_all(int fd, const char *p, size_t n)
{
	long long until = mc_clock_ms() + 1000;
	struct pollfd pfd;
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    mc_clock_ms() < until) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			poll(&pfd, 1, 100);
			continue;
		}
		return;
	}
}

/*
 * Answers on fd: status line, then a page titled title whose paragraph is
 * the concatenation of parts (NULL-terminated; odd ones, the 2nd, 4th...,
 * come from outside and are escaped; even ones are ours).
 */
static char *
build_answer(const char *status, const char *title,
    const char *const *parts, size_t *len)
{
	char *para = strdup(""), *page = NULL, *resp = NULL, *np;
	size_t i;
	int n;

	if (para == NULL)
		goto out;
	for (i = 0; parts[i] != NULL; i++) {
		if (i % 2 == 1) {
			if (html_append(&para, parts[i]) != 0)
				goto out;
			continue;
		}
		if (asprintf(&np, "%s%s", para, parts[i]) < 0)
			goto out;
		free(para);
		para = np;
	}
	n = asprintf(&page, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><title>%s</title></head>\n"
	    "<body><h1>%s</h1>\n<p>%s</p></body></html>\n", title, title,
	    para);
	if (n < 0) {
		page = NULL;
		goto out;
	}
	n = asprintf(&resp, "HTTP/1.1 %s\r\nContent-Type: text/html; "
	    "charset=utf-8\r\nContent-Length: %zu\r\nCache-Control: no-store"
	    "\r\nConnection: close\r\n\r\n%s", status, strlen(page), page);
	if (n < 0) {
		resp = NULL;
		goto out;
	}
	*len = (size_t)n;
out:
	free(para);
	free(page);
	return resp;
}

static void
answer_fd(int fd, const char *status, const char *title,
    const char *const *parts)
{
	size_t len = 0;
	char *resp = build_answer(status, title, parts, &len);

	if (resp == NULL)
		return;
	send_all(fd, resp, len);
	shutdown(fd, SHUT_WR);
	free(resp);
}

/* As answer_fd() on c's connection, which is then closed. */
static void
answer(struct conn *c, const char *status, const char *title,
    const char *const *parts)
{
	answer_fd(c->fd, status, title, parts);
	conn_close(c);
}

void
mc_listener_reply(struct mc_listener *l, const char *account,
    const char *failure)
{
	int fd;

	if (l == NULL || l->held < 0)
		return;
	fd = l->held;
	l->held = -1;	/* no longer for mc_listener_interrupted() */
	if (failure == NULL)
		answer_fd(fd, "200 OK", "mailcred: logged in",
		    (const char *const[]){ "mailcred now keeps the tokens for ",
		    account != NULL ? account : "", ". You can close this tab.",
		    NULL });
	else
		answer_fd(fd, "200 OK", "mailcred: login failed",
		    (const char *const[]){ "The login did not finish: ",
		    failure, "", NULL });
	close(fd);
}

void
mc_listener_interrupted(struct mc_listener *l)
{
	int fd;

	if (l == NULL || l->held < 0)
		return;
	fd = l->held;
	l->held = -1;
	if (l->interrupted != NULL)
		(void)send(fd, l->interrupted, l->interrupted_len,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(fd, SHUT_WR);
	close(fd);
}

/* The outcome of one request. */
enum served {
	SERVED_AGAIN,		/* answered; keep waiting */
	SERVED_DONE,		/* the wait is over: *rc says how */
};

struct wait_args {
	const char *state;
	const char *authz_endpoint;
	const char *account;
	const struct mc_listener_cb *cb;
	struct mc_redirect *out;
	char **errmsg;
	int rc;
};

static void
warn(const struct wait_args *w, const char *what, const char *msg)
{
	char *line = NULL;

	if (w->cb == NULL || w->cb->warn == NULL)
		return;
	if (asprintf(&line, "%s%s; still waiting for the real redirect",
	    what, msg != NULL ? msg : "") < 0)
		return;
	mc_sanitize_text(line, 400);
	w->cb->warn(w->cb->ctx, line);
	free(line);
}

enum mc_listener_req
mc_listener_parse_head(char *buf, size_t len, const char *path,
    char **target)
{
	char *sp1, *sp2;
	size_t plen;

	*target = NULL;
	buf[len] = '\0';
	if (strstr(buf, "\r\n\r\n") == NULL && strstr(buf, "\n\n") == NULL)
		return MC_LISTENER_REQ_INCOMPLETE;
	buf[strcspn(buf, "\r\n")] = '\0';
	sp1 = strchr(buf, ' ');
	sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
	if (sp2 == NULL || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return MC_LISTENER_REQ_BAD;
	*sp1 = '\0';
	*sp2 = '\0';
	plen = strcspn(sp1 + 1, "?#");
	if (plen != strlen(path) || strncmp(sp1 + 1, path, plen) != 0)
		return MC_LISTENER_REQ_NOT_FOUND;
	if (strcmp(buf, "GET") != 0)
		return MC_LISTENER_REQ_METHOD;
	*target = sp1 + 1;
	return MC_LISTENER_REQ_GET;
}

/* Serves the complete request head in c, which req says what it asks. */
static enum served
serve(struct mc_listener *l, struct conn *c, enum mc_listener_req req,
    char *target, struct wait_args *w)
{
	char *msg = NULL;
	int rc;

	if (req == MC_LISTENER_REQ_BAD) {
		answer(c, "400 Bad Request", "mailcred: login failed",
		    (const char *const[]){ "Not an HTTP request.", NULL });
		return SERVED_AGAIN;
	}
	if (req == MC_LISTENER_REQ_NOT_FOUND) {
		answer(c, "404 Not Found", "mailcred: not found",
		    (const char *const[]){ "Nothing here.", NULL });
		return SERVED_AGAIN;
	}
	if (req == MC_LISTENER_REQ_METHOD) {
		answer(c, "405 Method Not Allowed", "mailcred: login failed",
		    (const char *const[]){ "Only GET is served here.", NULL });
		return SERVED_AGAIN;
	}
	rc = mc_redirect_parse(target, w->state, w->authz_endpoint, w->out,
	    &msg);
	if (rc == MC_OK) {
		/* Answered by mc_listener_reply(), once the login is done. */
		mc_wipe(c->buf, c->len);
		c->len = 0;
		l->held = c->fd;
		c->fd = -1;
		free(l->interrupted);
		l->interrupted = build_answer("200 OK", "mailcred: login failed",
		    (const char *const[]){ "The login did not finish: mailcred "
		    "was interrupted before it stored the tokens. Run mailcred "
		    "login again.", NULL }, &l->interrupted_len);
		free(msg);
		w->rc = MC_OK;
		return SERVED_DONE;
	}
	if (rc == MC_ERR_AUTH) {
		const char *d = w->out->error_description;

		answer(c, "200 OK", "mailcred: login failed",
		    (const char *const[]){ "The provider said: ",
		    w->out->error != NULL ? w->out->error : "", d != NULL ?
		    " (" : "", d != NULL ? d : "", d != NULL ? ")" : "", "",
		    ". Nothing was stored; run mailcred login again to retry.",
		    NULL });
		mc_redirect_clear(w->out);
		w->rc = rc;
		if (w->errmsg != NULL && *w->errmsg == NULL)
			*w->errmsg = msg;
		else
			free(msg);
		return SERVED_DONE;
	}
	mc_redirect_clear(w->out);
	if (rc != MC_ERR_DATA) {
		answer(c, "500 Internal Server Error", "mailcred: login failed",
		    (const char *const[]){ "mailcred failed: ", msg != NULL ?
		    msg : "out of memory", NULL });
		w->rc = rc;
		if (w->errmsg != NULL && *w->errmsg == NULL)
			*w->errmsg = msg;
		else
			free(msg);
		return SERVED_DONE;
	}
	answer(c, "400 Bad Request", "mailcred: login failed",
	    (const char *const[]){ "This request was refused: ",
	    msg != NULL ? msg : "it does not belong to this login", ". The "
	    "login goes on: finish it in the browser window mailcred opened.",
	    NULL });
	warn(w, "refused a request to the redirect listener: ", msg);
	free(msg);
	return SERVED_AGAIN;
}

/* Reads what c has; serves it once the head is complete. */
static enum served
read_conn(struct mc_listener *l, struct conn *c, struct wait_args *w)
{
	enum mc_listener_req req;
	char *target;
	ssize_t n;

	n = recv(c->fd, c->buf + c->len, MC_LISTENER_MAX_REQUEST - c->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return SERVED_AGAIN;
	if (n <= 0) {
		conn_close(c);
		return SERVED_AGAIN;
	}
	c->len += (size_t)n;
	c->last = mc_clock_ms();
	req = mc_listener_parse_head(c->buf, c->len, l->path, &target);
	if (req != MC_LISTENER_REQ_INCOMPLETE)
		return serve(l, c, req, target, w);
	if (c->len >= MC_LISTENER_MAX_REQUEST)
		answer(c, "431 Request Header Fields Too Large",
		    "mailcred: login failed", (const char *const[]){
		    "The request is too large.", NULL });
	return SERVED_AGAIN;
}

/* How long a connection is spared: idle after accept, stalled mid-request. */
#define IDLE_GRACE_MS	250
#define STALL_GRACE_MS	1000

/* When c's slot may be given to a newcomer (monotonic ms). */
static long long
free_at(const struct conn *c)
{
	long long t;

	if (c->fd < 0)
		return 0;
	t = c->len == 0 ? c->since + IDLE_GRACE_MS : c->last + STALL_GRACE_MS;
	return t < c->deadline ? t : c->deadline;
}

/* The slot a newcomer may take at now (the oldest one free by then). */
static struct conn *
room(struct mc_listener *l, long long now)
{
	struct conn *slot = NULL;
	int i;

	for (i = 0; i < MC_LISTENER_MAX_CONNS; i++) {
		struct conn *k = &l->conns[i];

		if (k->fd < 0)
			return k;
		if (free_at(k) <= now && (slot == NULL || k->since < slot->since))
			slot = k;
	}
	return slot;
}

/*
 * Takes one waiting connection on fd into the slot room() gives (the
 * caller polls fd only when there is one).
 */
static void
accept_one(struct mc_listener *l, int fd, long long now)
{
	struct conn *slot = room(l, now);
	int c;

	if (slot == NULL)
		return;
	c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0)
		return;
	conn_close(slot);
	slot->fd = c;
	slot->since = slot->last = now;
	slot->deadline = now + MC_LISTENER_CONN_TIMEOUT * 1000LL;
}

int
mc_listener_wait(struct mc_listener *l, int timeout, const char *state,
    const char *authz_endpoint, const char *account,
    const struct mc_listener_cb *cb, struct mc_redirect *out,
    char **errmsg)
{
	struct pollfd pfd[2 + MC_LISTENER_MAX_CONNS];
	int idx[2 + MC_LISTENER_MAX_CONNS];
	struct wait_args w;
	long long deadline, now, wait, left, last = -1, next;
	int i, n, np;

	memset(out, 0, sizeof(*out));
	w.state = state;
	w.authz_endpoint = authz_endpoint;
	w.account = account;
	w.cb = cb;
	w.out = out;
	w.errmsg = errmsg;
	w.rc = MC_OK;
	deadline = mc_clock_ms() + (long long)timeout * 1000;
	for (;;) {
		now = mc_clock_ms();
		if (now >= deadline)
			return mc_fail(MC_ERR_TEMP, errmsg, "no redirect came "
			    "from the browser within %d s: run 'mailcred login "
			    "%s' again (--timeout gives more time)", timeout,
			    account);
		left = (deadline - now + 999) / 1000;
		if (left != last && cb != NULL && cb->tick != NULL)
			cb->tick(cb->ctx, (int)left);
		last = left;
		/* Wake for the next second, or the nearest connection end. */
		wait = (deadline - now) % 1000;
		if (wait == 0)
			wait = 1000;
		np = 0;
		for (i = 0; i < MC_LISTENER_MAX_CONNS; i++)
			if (l->conns[i].fd >= 0 && l->conns[i].deadline <= now)
				conn_close(&l->conns[i]);	/* too slow */
		/*
		 * Newcomers only when a slot is free or can be freed; else
		 * they wait in the kernel's queue until one can.
		 */
		if (room(l, now) != NULL) {
			for (i = 0; i < l->nfd; i++) {
				pfd[np].fd = l->fd[i];
				pfd[np].events = POLLIN;
				idx[np++] = -1;
			}
		} else {
			for (next = -1, i = 0; i < MC_LISTENER_MAX_CONNS; i++)
				if (next < 0 || free_at(&l->conns[i]) < next)
					next = free_at(&l->conns[i]);
			if (next - now < wait)
				wait = next - now > 0 ? next - now : 1;
		}
		for (i = 0; i < MC_LISTENER_MAX_CONNS; i++) {
			struct conn *c = &l->conns[i];

			if (c->fd < 0)
				continue;
			if (c->deadline - now < wait)
				wait = c->deadline - now;
			pfd[np].fd = c->fd;
			pfd[np].events = POLLIN;
			idx[np++] = i;
		}
		n = poll(pfd, (nfds_t)np, (int)wait);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return mc_fail(MC_ERR_IO, errmsg, "waiting for the "
			    "browser failed: %s", strerror(errno));
		if (n <= 0)
			continue;
		/* Requests under way first, then newcomers. */
		for (i = 0; i < np; i++) {
			if (pfd[i].revents == 0 || idx[i] < 0)
				continue;
			if (l->conns[idx[i]].fd != pfd[i].fd)
				continue;
			if (read_conn(l, &l->conns[idx[i]], &w) == SERVED_DONE)
				return w.rc;
		}
		for (i = 0; i < np; i++)
			if (pfd[i].revents != 0 && idx[i] < 0)
				accept_one(l, pfd[i].fd, mc_clock_ms());
	}
}
