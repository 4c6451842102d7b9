/* auth/tcp.c - a TCP connection begun early, in a thread of its own. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/clock.h"
#include "auth/tcp.h"

struct mc_tcp {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;			/* the caller, and the thread while it runs */
	atomic_int stop;		/* the caller needs no more */
	long long deadline;		/* mc_clock_ms() */
	/* The outcome, under mu; set once. */
	enum mc_tcp_result result;
	int err;
	int fd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char port[8];
	char host[];
};

/* Drops one reference (mu held); frees at the last, closing a socket. */
static void
tcp_unref_locked(struct mc_tcp *t)
{
	if (--t->refs > 0) {
		pthread_mutex_unlock(&t->mu);
		return;
	}
	pthread_mutex_unlock(&t->mu);
	if (t->fd >= 0)
		close(t->fd);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

/*
 * The addresses in the order to try them: the first one's family first,
 * then the other family, alternating (RFC 8305 section 4). At most
 * MC_TCP_MAX_ADDRS; only IPv4 and IPv6.
 */
static size_t
interleave(const struct addrinfo *res, const struct addrinfo **out)
{
	const struct addrinfo *first[MC_TCP_MAX_ADDRS], *other[MC_TCP_MAX_ADDRS];
	const struct addrinfo *ai;
	size_t nf = 0, no = 0, i = 0, j = 0, n = 0;
	int fam = 0;

	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (fam == 0)
			fam = ai->ai_family;
		if (ai->ai_family == fam && nf < MC_TCP_MAX_ADDRS)
			first[nf++] = ai;
		else if (ai->ai_family != fam && no < MC_TCP_MAX_ADDRS)
			other[no++] = ai;
	}
	while (n < MC_TCP_MAX_ADDRS && (i < nf || j < no)) {
		if (i < nf)
			out[n++] = first[i++];
		if (n < MC_TCP_MAX_ADDRS && j < no)
			out[n++] = other[j++];
	}
	return n;
}

/*
 * Connects to the first of the n addresses that answers, as the header
 * says. Returns the outcome; *fd and t->addr (not yet published: the
 * caller does that under mu) on MC_TCP_CONNECTED, *err the errno of the
 * last failed attempt.
 */
static enum mc_tcp_result
race(struct mc_tcp *t, const struct addrinfo **order, size_t n, int *fd,
    int *err, struct sockaddr_storage *addr, socklen_t *addrlen)
{
	struct pollfd pf[MC_TCP_MAX_ADDRS];
	size_t who[MC_TCP_MAX_ADDRS];
	size_t next = 0, npend = 0, i, k, wi = 0;
	long long now, next_at = 0, wait;
	enum mc_tcp_result r = MC_TCP_FAILED;
	int s, e, won = -1;
	socklen_t elen;

	*fd = -1;
	*err = 0;
	for (;;) {
		now = mc_clock_ms();
		if (atomic_load(&t->stop)) {
			r = MC_TCP_CANCELLED;
			break;
		}
		if (now >= t->deadline) {
			r = MC_TCP_TIMEOUT;
			break;
		}
		/* Start the next attempt: at once, or after the delay. */
		if (next < n && (npend == 0 || now >= next_at)) {
			const struct addrinfo *ai = order[next++];

			s = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
			    SOCK_CLOEXEC, ai->ai_protocol);
			if (s < 0) {
				*err = errno;
				continue;
			}
			if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0) {
				won = s;
				wi = next - 1;
				break;
			}
			if (errno != EINPROGRESS) {
				*err = errno;
				close(s);
				continue;
			}
			pf[npend].fd = s;
			pf[npend].events = POLLOUT;
			pf[npend].revents = 0;
			who[npend++] = next - 1;
			next_at = now + MC_TCP_NEXT_MS;
			continue;
		}
		if (npend == 0)
			break;		/* every address failed */
		wait = t->deadline - now;
		if (wait > MC_TCP_POLL_MS)
			wait = MC_TCP_POLL_MS;
		if (next < n && next_at - now < wait)
			wait = next_at - now;
		if (poll(pf, npend, (int)(wait > 0 ? wait : 0)) < 0 &&
		    errno != EINTR) {
			*err = errno;
			break;
		}
		for (i = 0; i < npend && won < 0; ) {
			if (pf[i].revents == 0) {
				i++;
				continue;
			}
			e = 0;
			elen = sizeof(e);
			if (getsockopt(pf[i].fd, SOL_SOCKET, SO_ERROR, &e,
			    &elen) != 0)
				e = errno;
			if (e == 0 && (pf[i].revents & POLLOUT) != 0) {
				won = pf[i].fd;
				wi = who[i];
				pf[i].fd = -1;
				break;
			}
			/* This one failed: drop it, and start the next now. */
			*err = e != 0 ? e : ECONNREFUSED;
			close(pf[i].fd);
			for (k = i; k + 1 < npend; k++) {
				pf[k] = pf[k + 1];
				who[k] = who[k + 1];
			}
			npend--;
			next_at = now;
		}
		if (won >= 0)
			break;
	}
	for (i = 0; i < npend; i++)
		if (pf[i].fd >= 0)
			close(pf[i].fd);
	if (won < 0)
		return r;
	memcpy(addr, order[wi]->ai_addr, order[wi]->ai_addrlen);
	*addrlen = order[wi]->ai_addrlen;
	*fd = won;
	*err = 0;
	return MC_TCP_CONNECTED;
}

static void *
tcp_main(void *arg)
{
	struct mc_tcp *t = arg;
	const struct addrinfo *order[MC_TCP_MAX_ADDRS];
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage addr;
	socklen_t addrlen = 0;
	enum mc_tcp_result r;
	int gai, fd = -1, err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	gai = getaddrinfo(t->host, t->port, &hints, &res);
	if (gai != 0) {
		r = gai == EAI_MEMORY ? MC_TCP_NOMEM : MC_TCP_NORESOLVE;
		err = gai;
		res = NULL;
	} else if (mc_clock_ms() >= t->deadline) {
		r = MC_TCP_TIMEOUT;
	} else {
		r = race(t, order, interleave(res, order), &fd, &err, &addr,
		    &addrlen);
	}
	if (res != NULL)
		freeaddrinfo(res);
	pthread_mutex_lock(&t->mu);
	if (t->result == MC_TCP_PENDING) {
		t->result = r;
		t->err = err;
		if (fd >= 0) {
			t->fd = fd;
			memcpy(&t->addr, &addr, addrlen);
			t->addrlen = addrlen;
			fd = -1;
		}
	}
	pthread_cond_broadcast(&t->cv);
	tcp_unref_locked(t);
	if (fd >= 0)
		close(fd);	/* the waiter had given up already */
	return NULL;
}

struct mc_tcp *
mc_tcp_start(const char *host, int port, int timeout_ms)
{
	struct mc_tcp *t;
	pthread_condattr_t ca;
	pthread_attr_t ta;
	pthread_t thr;
	size_t len = strlen(host);
	int ok;

	if (port < 1 || port > 65535 || timeout_ms <= 0 ||
	    (t = calloc(1, sizeof(*t) + len + 1)) == NULL)
		return NULL;
	memcpy(t->host, host, len + 1);
	/* Fits: at most five digits in eight bytes. */
	(void)snprintf(t->port, sizeof(t->port), "%d", port);
	t->fd = -1;
	t->refs = 2;
	t->deadline = mc_clock_ms() + timeout_ms;
	atomic_init(&t->stop, 0);
	if (pthread_condattr_init(&ca) != 0) {
		free(t);
		return NULL;
	}
	ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	    pthread_cond_init(&t->cv, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok) {
		free(t);
		return NULL;
	}
	if (pthread_mutex_init(&t->mu, NULL) != 0) {
		pthread_cond_destroy(&t->cv);
		free(t);
		return NULL;
	}
	ok = pthread_attr_init(&ta) == 0;
	if (ok) {
		ok = pthread_attr_setdetachstate(&ta,
		    PTHREAD_CREATE_DETACHED) == 0 &&
		    pthread_create(&thr, &ta, tcp_main, t) == 0;
		pthread_attr_destroy(&ta);
	}
	if (!ok) {
		pthread_mutex_destroy(&t->mu);
		pthread_cond_destroy(&t->cv);
		free(t);
		return NULL;
	}
	return t;
}

enum mc_tcp_result
mc_tcp_wait(struct mc_tcp *t, const atomic_int *cancel)
{
	struct timespec ts;
	enum mc_tcp_result r;
	long long now, until;

	pthread_mutex_lock(&t->mu);
	while (t->result == MC_TCP_PENDING) {
		now = mc_clock_ms();
		if (cancel != NULL && atomic_load(cancel) != 0) {
			t->result = MC_TCP_CANCELLED;
			break;
		}
		if (now >= t->deadline) {
			/* getaddrinfo() may outlive the deadline; we do not. */
			t->result = MC_TCP_TIMEOUT;
			break;
		}
		until = t->deadline < now + MC_TCP_POLL_MS ? t->deadline :
		    now + MC_TCP_POLL_MS;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (until - now) / 1000;
		ts.tv_nsec += (long)((until - now) % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		(void)pthread_cond_timedwait(&t->cv, &t->mu, &ts);
	}
	r = t->result;
	if (r != MC_TCP_CONNECTED)
		atomic_store(&t->stop, 1);
	pthread_mutex_unlock(&t->mu);
	return r;
}

long long
mc_tcp_deadline(const struct mc_tcp *t)
{
	return t->deadline;	/* set before the thread starts, never changed */
}

int
mc_tcp_error(const struct mc_tcp *t)
{
	return t->err;
}

int
mc_tcp_take(struct mc_tcp *t, struct sockaddr_storage *addr, socklen_t *len)
{
	int fd;

	pthread_mutex_lock(&t->mu);
	fd = t->result == MC_TCP_CONNECTED ? t->fd : -1;
	if (fd >= 0) {
		t->fd = -1;
		if (addr != NULL)
			memcpy(addr, &t->addr, sizeof(*addr));
		if (len != NULL)
			*len = t->addrlen;
	}
	pthread_mutex_unlock(&t->mu);
	return fd;
}

void
mc_tcp_free(struct mc_tcp *t)
{
	if (t == NULL)
		return;
	atomic_store(&t->stop, 1);
	pthread_mutex_lock(&t->mu);
	if (t->result == MC_TCP_PENDING)
		t->result = MC_TCP_CANCELLED;
	if (t->fd >= 0) {
		close(t->fd);
		t->fd = -1;
	}
	tcp_unref_locked(t);
}
