/*
 * auth/listener.h - the browser flow's loopback redirect listener (RFC
 * 8252 section 7.3).
 *
 * It listens where redirect_uri points: http://127.0.0.1/ on 127.0.0.1,
 * http://[::1]/ on ::1, http://localhost/ on both 127.0.0.1 and ::1 at one
 * port (browsers resolve localhost either way; where the machine has no
 * ::1, on 127.0.0.1 alone). The port is the kernel's choice unless one is
 * pinned.
 *
 * It serves one thing: GET on the path of redirect_uri. Anything else
 * (/favicon.ico, another path, another method) is answered 404 or 405 and
 * the wait goes on. A request head is capped at MC_LISTENER_MAX_REQUEST
 * bytes (larger: 431) and a connection at MC_LISTENER_CONN_TIMEOUT
 * seconds; up to MC_LISTENER_MAX_CONNS connections are served at once, one
 * step at a time with poll(2), requests under way before newcomers, one
 * newcomer a round. When all are taken, the oldest connection that has
 * sent nothing for 250 ms, or nothing more of its request for a second,
 * makes room; when there is none, newcomers wait in the kernel's queue
 * until there is. So silent or slow connections do not keep the redirect
 * out, and a request that is arriving is never dropped for a newcomer.
 * (A local process that keeps the slots busy on purpose can still delay
 * the redirect, at most until the login's timeout: any port on the
 * loopback address can be flooded so.)
 *
 * A redirect whose state or iss does not match (mc_redirect_parse()'s
 * MC_ERR_DATA) is answered with a failure page and reported through the
 * warn callback, and the wait goes on: a local process that does not
 * know state can neither cancel nor hijack the login, and such a request
 * never leads to a token request. (state travels in the authorization URL:
 * whoever can read that URL, e.g. from the argv of a browser started with
 * it, which other users can read in /proc, can answer in its place.) A
 * redirect with error= (and our state) ends the wait with MC_ERR_AUTH, the
 * browser being told what failed. The library prints nothing.
 *
 * Pages are small HTML documents (Content-Type: text/html;
 * charset=utf-8, Cache-Control: no-store, Connection: close) whose
 * <title> and <h1> are "mailcred: logged in" (naming the account and
 * saying "You can close this tab.") or "mailcred: login failed" (and what
 * failed, e.g. "The provider said: access_denied (...)"). Everything that
 * came from outside is HTML-escaped. The good redirect's own browser tab
 * is answered last, by mc_listener_reply(), once the caller knows whether
 * the code exchange and the store worked.
 */
#ifndef MAILCRED_AUTH_LISTENER_H
#define MAILCRED_AUTH_LISTENER_H

#include "auth/oauth.h"

#define MC_LISTENER_MAX_REQUEST	8192	/* bytes of request head */
#define MC_LISTENER_CONN_TIMEOUT 10	/* seconds per connection */
#define MC_LISTENER_MAX_CONNS	8	/* served at once */

struct mc_listener;

/*
 * Opens the listening sockets for redirect_uri (http:// to 127.0.0.1,
 * [::1] or localhost; any other host, or another scheme, is MC_ERR_CONFIG)
 * at port (0: the kernel chooses). A pinned port that is taken is
 * MC_ERR_CONFIG ("port N is in use on 127.0.0.1: pick another --port or
 * leave it out"); other socket failures MC_ERR_IO. *out is freed with
 * mc_listener_free().
 */
int mc_listener_open(const char *redirect_uri, unsigned int port,
    struct mc_listener **out, char **errmsg);

/* The port listened on. */
unsigned int mc_listener_port(const struct mc_listener *l);

/* How many listening sockets (1, or 2 for localhost with ::1). */
int mc_listener_nsockets(const struct mc_listener *l);

/*
 * Closes the sockets and every connection; a held redirect connection is
 * first told the login did not finish. Accepts NULL.
 */
void mc_listener_free(struct mc_listener *l);

/*
 * Answers the browser tab of the redirect mc_listener_wait() returned and
 * closes it: failure NULL, the page "mailcred: logged in" naming account;
 * else "mailcred: login failed" saying failure (escaped). No-op when there
 * is no such connection (or l is NULL).
 */
void mc_listener_reply(struct mc_listener *l, const char *account,
    const char *failure);

/*
 * For a signal handler while that tab waits (async-signal-safe: one
 * send(2) of a page made beforehand, then close(2)): tells it the login
 * was interrupted. No-op when there is no such connection.
 */
void mc_listener_interrupted(struct mc_listener *l);

/* What the listener tells its caller while it waits. */
struct mc_listener_cb {
	/* At the start and then about once a second: seconds left. */
	void (*tick)(void *ctx, int seconds_left);
	/* A refused request (forged, mismatched): one line. */
	void (*warn)(void *ctx, const char *line);
	void *ctx;
};

/*
 * Waits up to timeout seconds for the redirect of the login whose state is
 * state (authz_endpoint for the iss check; account is named on the
 * success page). cb and its members may be NULL.
 *
 * MC_OK: *out holds the checked redirect (out->code set); its connection
 * is held open, unanswered, for mc_listener_reply(). MC_ERR_AUTH: the
 * provider sent error= (message "the provider said: ..."), the browser was
 * told. MC_ERR_TEMP: the time ran out ("no redirect came from the browser
 * within N s"). MC_ERR_IO: poll(2) failed. *out is empty on error.
 */
int mc_listener_wait(struct mc_listener *l, int timeout, const char *state,
    const char *authz_endpoint, const char *account,
    const struct mc_listener_cb *cb, struct mc_redirect *out,
    char **errmsg);

/* What a request head asks for (mc_listener_parse_head()). */
enum mc_listener_req {
	MC_LISTENER_REQ_INCOMPLETE,	/* no empty line yet: read more */
	MC_LISTENER_REQ_BAD,		/* not "METHOD TARGET HTTP/1.x": 400 */
	MC_LISTENER_REQ_NOT_FOUND,	/* another path: 404 */
	MC_LISTENER_REQ_METHOD,		/* the path, not with GET: 405 */
	MC_LISTENER_REQ_GET,		/* GET on the path: *target is set */
};

/*
 * Reads the request head the listener received so far: buf holds len
 * bytes and a NUL at buf[len] (a NUL byte inside ends the text there).
 * The head is complete at its empty line ("\r\n\r\n" or "\n\n");
 * until then MC_LISTENER_REQ_INCOMPLETE, and buf is untouched. Once
 * complete, the request line (up to its CR or LF) is split in place and
 * its target ("/path?query#fragment", what mc_redirect_parse() reads)
 * compared with path: the part before '?' or '#' must equal it. *target
 * points into buf when the answer is MC_LISTENER_REQ_GET, else it is
 * NULL. Pure: no I/O, no allocation (the listener's own parser; also the
 * fuzz target's, fuzz/fuzz_listener.c).
 */
enum mc_listener_req mc_listener_parse_head(char *buf, size_t len,
    const char *path, char **target);

#endif
