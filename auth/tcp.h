/*
 * auth/tcp.h - a TCP connection begun early, in a thread of its own, so
 * that its round trips (and a server's greeting delay, which starts when
 * the connection is accepted) overlap the caller's own start-up: loading
 * libcurl and OpenSSL, reading the keyring, preparing the message.
 *
 * mc_tcp_start() resolves host and connects to port as libcurl would: the
 * addresses in the resolver's order, families interleaved (the first
 * address's family first, then the other, as RFC 8305 asks), a next
 * attempt started when one fails or has not connected within
 * MC_TCP_NEXT_MS, the first to connect wins and the others are closed,
 * until the timeout. It uses nothing of libcurl, so it may start before
 * curl_global_init().
 *
 * mc_tcp_wait() waits for the outcome; mc_tcp_take() hands over the
 * connected socket. The thread shares only the struct mc_tcp, which is
 * freed by whichever of mc_tcp_free() and the thread ends last:
 * mc_tcp_free() on an attempt still under way tells the thread to stop
 * (within MC_TCP_POLL_MS) and returns at once.
 */
#ifndef MAILCRED_AUTH_TCP_H
#define MAILCRED_AUTH_TCP_H

#include <stdatomic.h>
#include <sys/socket.h>

#define MC_TCP_NEXT_MS 200	/* RFC 8305's connection attempt delay */
#define MC_TCP_POLL_MS 100	/* how often a waiter looks at its stop flag */
#define MC_TCP_MAX_ADDRS 16	/* addresses tried, at most */

enum mc_tcp_result {
	MC_TCP_PENDING = 0,	/* still under way (never from mc_tcp_wait) */
	MC_TCP_CONNECTED,	/* mc_tcp_take() has the socket */
	MC_TCP_NORESOLVE,	/* the name did not resolve: mc_tcp_error() */
	MC_TCP_FAILED,		/* every address refused or was unreachable:
				   mc_tcp_error() is the last errno */
	MC_TCP_TIMEOUT,		/* the timeout passed first */
	MC_TCP_CANCELLED,	/* *cancel became non-zero while waiting */
	MC_TCP_NOMEM,
};

struct mc_tcp;

/*
 * Starts connecting to host (a name, or an IPv4 or IPv6 literal without
 * brackets) and port (1-65535), for at most timeout_ms. Returns the
 * attempt, or NULL when no thread could be started or memory ran out:
 * the caller then connects the usual way. Free with mc_tcp_free().
 */
struct mc_tcp *mc_tcp_start(const char *host, int port, int timeout_ms);

/*
 * Waits until the attempt has an outcome and returns it (never
 * MC_TCP_PENDING). When cancel is not NULL and becomes non-zero, returns
 * MC_TCP_CANCELLED within MC_TCP_POLL_MS and leaves the attempt to stop.
 * May be called again; the outcome does not change once known.
 */
enum mc_tcp_result mc_tcp_wait(struct mc_tcp *t, const atomic_int *cancel);

/*
 * The attempt's deadline on auth/clock.h's clock (mc_clock_ms()): when
 * it started plus its timeout. What follows the connection (libcurl's
 * own attempt after a failure, TLS, the greeting) ends by it too, so that
 * the caller's timeout is not spent twice.
 */
long long mc_tcp_deadline(const struct mc_tcp *t);

/*
 * Once mc_tcp_wait() has returned: the errno of the last failed attempt
 * for MC_TCP_FAILED, the getaddrinfo() code for MC_TCP_NORESOLVE; 0
 * otherwise.
 */
int mc_tcp_error(const struct mc_tcp *t);

/*
 * After MC_TCP_CONNECTED: returns the connected socket (non-blocking,
 * close-on-exec; the caller closes it) and copies its peer address into
 * *addr and *len (when not NULL). Returns -1 when there is none, or when
 * it was taken already.
 */
int mc_tcp_take(struct mc_tcp *t, struct sockaddr_storage *addr,
    socklen_t *len);

/* Closes a socket not taken; stops or frees the attempt. Accepts NULL. */
void mc_tcp_free(struct mc_tcp *t);

#endif
