/* auth/wire.c - a line conversation on a connection libcurl set up. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/x509.h>

#include "auth/clock.h"
#include "auth/err.h"
#include "auth/http.h"
#include "auth/secmem.h"
#include "auth/url.h"
#include "auth/wire.h"

#define MAX_CAPS 64
#define RBUF_SIZE 16384

struct mc_wire {
	CURL *curl;
	enum mc_wire_proto proto;
	char host[MC_URL_HOST_MAX + 1];
	int port;
	int timeout;
	mc_trace_fn trace;
	void *trace_ctx;
	/* What libcurl's connection phase read (the debug callback). */
	char *greeting;
	char *last_in;		/* the last line the server said */
	char *caps[MAX_CAPS];
	size_t ncaps;
	int collecting;		/* the lines coming are capabilities */
	int tcp_up;		/* libcurl said the TCP connection is up */
	int failed_alloc;
	/* libcurl writes its messages here for as long as the handle lives:
	 * never a buffer on a stack that is gone. */
	char errbuf[CURL_ERROR_SIZE];
	/* Our own reading. */
	char rbuf[RBUF_SIZE];
	size_t rlen;
	int closed;		/* the server closed: nothing more to read */
	int wfailed;		/* a write failed: nothing more can be sent,
				   but what the server said may still be read */
	const atomic_int *cancel;	/* mc_wire_opts.cancel */
	/* The connection auth/tcp.h made, until libcurl takes it. */
	int early_fd;
	int early_given;		/* the socket libcurl took, or -1 */
	struct sockaddr_storage early_addr;
	socklen_t early_len;
	struct curl_slist *resolve;	/* CURLOPT_RESOLVE: that address */
};

void
mc_wire_fail_clear(struct mc_wire_fail *f)
{
	if (f == NULL)
		return;
	free(f->reply);
	f->reply = NULL;
	f->stage = MC_WIRE_STAGE_NONE;
	f->curl_code = 0;
	f->tls_verify = 0;
	f->os_errno = 0;
	f->timed_out = 0;
}

void
mc_wire_printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static void
trace_line(const struct mc_wire *w, const char *prefix, const char *p,
    size_t len)
{
	char line[600];
	size_t pl = strlen(prefix);

	if (w->trace == NULL)
		return;
	memcpy(line, prefix, pl);
	mc_http_redact_line(line + pl, sizeof(line) - pl, p, len);
	mc_wire_printable(line);
	w->trace(w->trace_ctx, line);
}

static void
caps_clear(struct mc_wire *w)
{
	size_t i;

	for (i = 0; i < w->ncaps; i++)
		free(w->caps[i]);
	w->ncaps = 0;
}

static void
cap_add(struct mc_wire *w, const char *p, size_t len)
{
	while (len > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len == 0 || w->ncaps >= MAX_CAPS)
		return;
	if ((w->caps[w->ncaps] = strndup(p, len)) == NULL) {
		w->failed_alloc = 1;
		return;
	}
	w->ncaps++;
}

/* IMAP: the atoms after "CAPABILITY", each a capability. */
static void
imap_caps(struct mc_wire *w, const char *p, size_t len)
{
	const char *end = p + len, *q;

	caps_clear(w);
	while (p < end) {
		while (p < end && *p == ' ')
			p++;
		q = p;
		while (q < end && *q != ' ' && *q != ']')
			q++;
		if (q > p)
			cap_add(w, p, (size_t)(q - p));
		if (q < end && *q == ']')
			break;
		p = q;
	}
}

static const char *
find_word(const char *p, size_t len, const char *word)
{
	size_t n = strlen(word);
	const char *end = p + len;

	for (; p + n <= end; p++)
		if (strncasecmp(p, word, n) == 0 &&
		    (p + n == end || p[n] == ' ' || p[n] == ']'))
			return p + n;
	return NULL;
}

/* One line the server said during libcurl's connection phase. */
static void
server_line(struct mc_wire *w, const char *p, size_t len)
{
	const char *c;

	free(w->last_in);
	if ((w->last_in = strndup(p, len)) == NULL)
		w->failed_alloc = 1;
	else
		mc_wire_printable(w->last_in);	/* quoted in messages */
	if (w->greeting == NULL && w->last_in != NULL &&
	    (w->greeting = strdup(w->last_in)) == NULL)
		w->failed_alloc = 1;
	switch (w->proto) {
	case MC_WIRE_SMTP:
		/* The EHLO answer: "250-KEYWORD params" ... "250 KEYWORD". */
		if (w->collecting && len >= 4 && memcmp(p, "250", 3) == 0) {
			if (w->collecting == 1)
				w->collecting = 2;	/* the first: a greeting */
			else
				cap_add(w, p + 4, len - 4);
			if (p[3] == ' ')
				w->collecting = 0;
		}
		break;
	case MC_WIRE_IMAP:
		if (len > 2 && p[0] == '*' &&
		    (c = find_word(p, len, "CAPABILITY")) != NULL)
			imap_caps(w, c, len - (size_t)(c - p));
		break;
	case MC_WIRE_POP3:
		if (w->collecting == 1) {
			/* "+OK" opens the list; "-ERR": none */
			w->collecting = len >= 3 && memcmp(p, "+OK", 3) == 0 ?
			    2 : 0;
		} else if (w->collecting == 2) {
			if (len == 1 && p[0] == '.')
				w->collecting = 0;
			else
				cap_add(w, p, len);
		}
		break;
	}
}

/* A command libcurl sent: EHLO and CAPA start a new capability list. */
static void
client_line(struct mc_wire *w, const char *p, size_t len)
{
	if ((w->proto == MC_WIRE_SMTP && len >= 4 &&
	    strncasecmp(p, "EHLO", 4) == 0) ||
	    (w->proto == MC_WIRE_POP3 && len >= 4 &&
	    strncasecmp(p, "CAPA", 4) == 0)) {
		caps_clear(w);
		w->collecting = 1;
	}
}

/* One line of libcurl's connection phase: what the server and we said. */
static void
debug_line(void *arg, int type, const char *prefix, const char *p,
    size_t len)
{
	struct mc_wire *w = arg;

	if (type == CURLINFO_TEXT && len > 12 &&
	    memcmp(p, "Connected to", 12) == 0)
		w->tcp_up = 1;
	if (type == CURLINFO_HEADER_IN)
		server_line(w, p, len);
	else if (type == CURLINFO_HEADER_OUT)
		client_line(w, p, len);
	trace_line(w, prefix, p, len);
}

static int
debug_cb(CURL *curl, curl_infotype type, char *data, size_t size, void *arg)
{
	(void)curl;
	mc_http_debug_lines((int)type, data, size, debug_line, arg);
	return 0;
}

/* Only letters, digits, '-' and '.', with a letter or digit somewhere. */
static int
host_name_ok(const char *s)
{
	size_t i;
	int alnum = 0;

	if (s == NULL || s[0] == '\0' || strlen(s) > 253 || s[0] == '-' ||
	    s[0] == '.')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9'))
			alnum = 1;
		else if (s[i] != '-' && s[i] != '.')
			return 0;
	}
	return alnum;
}

const char *
mc_wire_hostname(void)
{
	static char name[256];
	static int done;
	struct addrinfo hints, *ai = NULL;
	char host[256];

	if (done)
		return name;
	done = 1;
	/* Fits: a literal of 21 bytes in 256. */
	(void)snprintf(name, sizeof(name), "localhost.localdomain");
	if (gethostname(host, sizeof(host)) != 0)
		return name;
	host[sizeof(host) - 1] = '\0';
	if (!host_name_ok(host))
		return name;
	/* Fits: host_name_ok() takes 253 bytes at most, name has 256. */
	(void)snprintf(name, sizeof(name), "%s", host);
	if (strchr(host, '.') != NULL)
		return name;
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_CANONNAME;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &ai) == 0 && ai != NULL &&
	    ai->ai_canonname != NULL && strchr(ai->ai_canonname, '.') != NULL &&
	    host_name_ok(ai->ai_canonname))
		/* Fits, as above. */
		(void)snprintf(name, sizeof(name), "%s", ai->ai_canonname);
	if (ai != NULL)
		freeaddrinfo(ai);
	return name;
}

static const struct {
	const char *scheme;
	enum mc_wire_proto proto;
	int tls;		/* implicit TLS */
	int port;
} schemes[] = {
	{ "smtp", MC_WIRE_SMTP, 0, 587 },
	{ "smtps", MC_WIRE_SMTP, 1, 465 },
	{ "imap", MC_WIRE_IMAP, 0, 143 },
	{ "imaps", MC_WIRE_IMAP, 1, 993 },
	{ "pop3", MC_WIRE_POP3, 0, 110 },
	{ "pop3s", MC_WIRE_POP3, 1, 995 },
};

/* What a failed connection phase was, in words, into *fail and errmsg. */
static int
open_failed(struct mc_wire *w, CURLcode cc, const char *errbuf, size_t scheme,
    struct mc_wire_fail *fail, char **errmsg)
{
	curl_off_t tconn = 0, tapp = 0;
	long verify = 0, oserr = 0;
	const char *why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc);
	const char *last = w->last_in != NULL ? w->last_in : "";
	struct mc_wire_fail f = MC_WIRE_FAIL_INIT;
	int rc = MC_ERR_NET, tls = schemes[scheme].tls;

	curl_easy_getinfo(w->curl, CURLINFO_CONNECT_TIME_T, &tconn);
	curl_easy_getinfo(w->curl, CURLINFO_APPCONNECT_TIME_T, &tapp);
	curl_easy_getinfo(w->curl, CURLINFO_SSL_VERIFYRESULT, &verify);
	curl_easy_getinfo(w->curl, CURLINFO_OS_ERRNO, &oserr);
	f.curl_code = (int)cc;
	f.os_errno = (int)oserr;
	f.timed_out = cc == CURLE_OPERATION_TIMEDOUT;
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		f.stage = MC_WIRE_STAGE_RESOLVE;
		rc = mc_fail(MC_ERR_NET, errmsg, "cannot resolve %s: %s",
		    w->host, why);
		break;
	case CURLE_COULDNT_CONNECT:
		f.stage = MC_WIRE_STAGE_CONNECT;
		rc = mc_fail(MC_ERR_NET, errmsg, "cannot connect to %s port "
		    "%d: %s", w->host, w->port, oserr != 0 ?
		    strerror((int)oserr) : why);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		f.stage = MC_WIRE_STAGE_TLS;
		/*
		 * libcurl checks the name itself, after OpenSSL accepted the
		 * chain: then only its message says what failed.
		 */
		if ((verify == X509_V_OK || verify == X509_V_ERR_UNSPECIFIED) &&
		    (strstr(why, "subject name") != NULL ||
		    strstr(why, "host name") != NULL)) {
			verify = X509_V_ERR_HOSTNAME_MISMATCH;
			why = "the certificate is for another host name";
		}
		f.tls_verify = verify;
		if (verify == X509_V_ERR_HOSTNAME_MISMATCH) {
			rc = mc_fail(MC_ERR_SERVICE, errmsg, "the certificate "
			    "of %s port %d is issued for another host name: "
			    "use the name it is issued for in the URL",
			    w->host, w->port);
			break;
		}
		/* Not temporary: trying again meets the same certificate. */
		rc = mc_fail(MC_ERR_SERVICE, errmsg, "the certificate of %s "
		    "port %d is not trusted: %s; if the server uses a private "
		    "CA, set ca_file = /path/to/its-ca.pem in the account",
		    w->host, w->port, verify != X509_V_OK &&
		    verify != X509_V_ERR_HOSTNAME_MISMATCH ?
		    X509_verify_cert_error_string(verify) : why);
		break;
	case CURLE_SSL_CONNECT_ERROR:
		if (tls && strstr(why, "wrong version number") != NULL) {
			/* The port spoke first, in plain text: 587, 25. */
			f.stage = MC_WIRE_STAGE_TLS;
			rc = mc_fail(MC_ERR_CONFIG, errmsg, "%s port %d does not "
			    "speak TLS from the start (%s:// wants that): it "
			    "looks like a STARTTLS port: use %.4s://%s:%d",
			    w->host, w->port, schemes[scheme].scheme,
			    schemes[scheme].scheme, w->host, w->port);
			break;
		}
		if (mc_http_tls_too_old(why)) {
			f.stage = MC_WIRE_STAGE_TLS;
			/* Permanent (69): retrying meets the same server. */
			rc = mc_fail(MC_ERR_SERVICE, errmsg, "TLS with %s port %d "
			    "failed: %s: the server offers no TLS 1.2 or "
			    "newer, which mailcred requires: the server must be "
			    "upgraded", w->host, w->port, why);
			break;
		}
		/* FALLTHROUGH */
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
		f.stage = MC_WIRE_STAGE_TLS;
		f.tls_verify = verify;
		rc = mc_fail(MC_ERR_NET, errmsg, "TLS with %s port %d failed: "
		    "%s", w->host, w->port, why);
		break;
	case CURLE_USE_SSL_FAILED:
		f.stage = MC_WIRE_STAGE_GREETING;
		if (mc_wire_cap_find(w, "STARTTLS") != NULL &&
		    (last[0] == '4' || last[0] == '5')) {
			/* Offered, then refused: the server's words decide. */
			rc = mc_fail(last[0] == '4' ? MC_ERR_TEMP :
			    MC_ERR_SERVICE, errmsg, "%s port %d refused "
			    "STARTTLS: %s", w->host, w->port, last);
			break;
		}
		rc = mc_fail(MC_ERR_SERVICE, errmsg, "%s port %d does not offer "
		    "STARTTLS, and mailcred never talks without TLS: use the "
		    "server's TLS port (smtps://, imaps://, pop3s://)", w->host,
		    w->port);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		if (tconn == 0 && !w->tcp_up) {
			f.stage = MC_WIRE_STAGE_CONNECT;
			rc = mc_fail(MC_ERR_NET, errmsg, "connecting to %s port "
			    "%d timed out after %d s", w->host, w->port,
			    w->timeout);
		} else if (tls && tapp == 0) {
			f.stage = MC_WIRE_STAGE_TLS;
			rc = mc_fail(MC_ERR_NET, errmsg, "the TLS handshake with "
			    "%s port %d timed out after %d s", w->host, w->port,
			    w->timeout);
		} else {
			f.stage = MC_WIRE_STAGE_GREETING;
			rc = mc_fail(MC_ERR_NET, errmsg, "%s port %d did not "
			    "answer within %d s%s%s", w->host, w->port,
			    w->timeout, last[0] != '\0' ? "; last: " :
			    !tls ? " (a port that wants TLS from the start, "
			    "such as 465, needs smtps://, imaps:// or "
			    "pop3s://)" : "", last);
		}
		break;
	default:
		f.stage = tls && tapp == 0 ? MC_WIRE_STAGE_TLS :
		    MC_WIRE_STAGE_GREETING;
		if (w->proto == MC_WIRE_SMTP &&
		    (last[0] == '4' || last[0] == '5')) {
			/*
			 * An SMTP refusal of the greeting or of EHLO: the
			 * server's words, not libcurl's ("Got unexpected
			 * smtp-server response", "Remote access denied").
			 */
			rc = mc_fail(last[0] == '4' ? MC_ERR_TEMP :
			    MC_ERR_SERVICE, errmsg, "%s port %d refused the "
			    "session: %s", w->host, w->port, last);
			break;
		}
		rc = mc_fail(rc, errmsg, "%s port %d: %s%s%s", w->host, w->port,
		    why, last[0] != '\0' ? "; the server said: " : "", last);
		break;
	}
	if (fail != NULL) {
		mc_wire_fail_clear(fail);
		*fail = f;
		if (w->last_in != NULL)
			fail->reply = strdup(w->last_in);
	}
	return rc;
}

/* libcurl asks about once a second while it connects: still wanted? */
static int
progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	const struct mc_wire *w = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return w->cancel != NULL && atomic_load(w->cancel) != 0;
}

#define NSCHEMES (sizeof(schemes) / sizeof(schemes[0]))

/* The schemes[] entry of a URL's scheme, or NSCHEMES. */
static size_t
scheme_index(const char *scheme)
{
	size_t i;

	for (i = 0; i < NSCHEMES; i++)
		if (strcmp(scheme, schemes[i].scheme) == 0)
			break;
	return i;
}

/*
 * Would libcurl go through a proxy from the environment for scheme? It
 * reads SCHEME_proxy (either case) and all_proxy (either case), then
 * no_proxy. Any of the first set and non-empty counts, whatever no_proxy
 * says: a direct connection, and a local name lookup, must never be made
 * behind the back of a proxy the user set (socks5h:// resolves remotely).
 */
static int
proxy_set(const char *scheme)
{
	char name[32];
	const char *v;
	size_t i;
	int k;

	for (k = 0; k < 4; k++) {
		/* Fits: a scheme of at most six letters and "_proxy". */
		(void)snprintf(name, sizeof(name), "%s_proxy", k < 2 ? scheme :
		    "all");
		if (k % 2 == 1)
			for (i = 0; name[i] != '\0'; i++)
				name[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ?
				    name[i] - 'a' + 'A' : name[i]);
		if ((v = getenv(name)) != NULL && v[0] != '\0')
			return 1;
	}
	return 0;
}

struct mc_tcp *
mc_wire_preconnect(const char *url, int timeout)
{
	struct mc_url u;
	const char *why;
	size_t i;

	if (mc_url_parse(url, &u, &why) != MC_OK ||
	    (i = scheme_index(u.scheme)) == NSCHEMES ||
	    proxy_set(u.scheme))
		return NULL;
	return mc_tcp_start(u.host, u.port != 0 ? (int)u.port :
	    schemes[i].port, (timeout > 0 ? timeout : 30) * 1000);
}

static int
given_up(const struct mc_wire *w, char **errmsg)
{
	return mc_fail(MC_ERR_TEMP, errmsg, "%s port %d: given up, the "
	    "connection is not needed", w->host, w->port);
}

/* Is a the address b (family, address, port, IPv6 scope)? */
static int
same_peer(const struct sockaddr *a, socklen_t alen,
    const struct sockaddr_storage *b, socklen_t blen)
{
	const struct sockaddr_in *a4, *b4;
	const struct sockaddr_in6 *a6, *b6;

	if (a->sa_family != b->ss_family)
		return 0;
	if (a->sa_family == AF_INET && alen >= sizeof(*a4) &&
	    blen >= sizeof(*b4)) {
		a4 = (const struct sockaddr_in *)(const void *)a;
		b4 = (const struct sockaddr_in *)(const void *)b;
		return a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6 && alen >= sizeof(*a6) &&
	    blen >= sizeof(*b6)) {
		a6 = (const struct sockaddr_in6 *)(const void *)a;
		b6 = (const struct sockaddr_in6 *)(const void *)b;
		return a6->sin6_port == b6->sin6_port &&
		    a6->sin6_scope_id == b6->sin6_scope_id &&
		    memcmp(&a6->sin6_addr, &b6->sin6_addr,
		    sizeof(a6->sin6_addr)) == 0;
	}
	return 0;
}

/*
 * libcurl wants a socket for address a: the early connection when it is
 * to that address, else a new socket (close-on-exec, as all of ours).
 */
static curl_socket_t
open_socket_cb(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct mc_wire *w = arg;
	int fd;

	if (purpose == CURLSOCKTYPE_IPCXN && w->early_fd >= 0 &&
	    same_peer(&a->addr, a->addrlen, &w->early_addr, w->early_len)) {
		w->early_given = w->early_fd;
		w->early_fd = -1;
		return w->early_given;
	}
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

/*
 * The early connection is connected already: libcurl must not connect.
 * (libcurl 7.88 calls connect() on it all the same; Linux answers 0 to
 * the first connect() after a non-blocking one completed, so that works
 * too, and a connection reset meanwhile is then a connect failure.)
 */
static int
sockopt_cb(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	const struct mc_wire *w = arg;

	return purpose == CURLSOCKTYPE_IPCXN && fd == w->early_given ?
	    CURL_SOCKOPT_ALREADY_CONNECTED : CURL_SOCKOPT_OK;
}

/*
 * Waits for the connection opts->tcp began and hands it to libcurl, as
 * wire.h says. For a host name, CURLOPT_RESOLVE names only the address
 * that connected, so that libcurl asks for that one (and does not ask
 * the resolver again, which may answer in another order).
 */
static int
use_early(struct mc_wire *w, struct mc_tcp *t, const struct mc_url *u,
    struct mc_wire_fail *fail, char **errmsg)
{
	char ip[INET6_ADDRSTRLEN], entry[MC_URL_HOST_MAX + INET6_ADDRSTRLEN +
	    16];
	const void *a;
	enum mc_tcp_result r;
	long long left;
	int n, v6;

	r = mc_tcp_wait(t, w->cancel);
	left = mc_tcp_deadline(t) - mc_clock_ms();
	if (r != MC_TCP_CANCELLED && r != MC_TCP_NOMEM) {
		/* The timeout began with the early attempt: what is left. */
		if (left <= 0)
			r = MC_TCP_TIMEOUT;
		curl_easy_setopt(w->curl, CURLOPT_TIMEOUT_MS, left > 0 ?
		    (long)left : 1L);
		curl_easy_setopt(w->curl, CURLOPT_CONNECTTIMEOUT_MS, left > 0 ?
		    (long)left : 1L);
	}
	switch (r) {
	case MC_TCP_CONNECTED:
		break;
	case MC_TCP_TIMEOUT:
		if (fail != NULL) {
			fail->stage = MC_WIRE_STAGE_CONNECT;
			fail->curl_code = CURLE_OPERATION_TIMEDOUT;
			fail->timed_out = 1;
		}
		return mc_fail(MC_ERR_NET, errmsg, "connecting to %s port %d "
		    "timed out after %d s", w->host, w->port, w->timeout);
	case MC_TCP_CANCELLED:
		return given_up(w, errmsg);
	case MC_TCP_NOMEM:
		return MC_ERR_NOMEM;
	default:
		/* libcurl tries, in the time left, and says what failed. */
		return MC_OK;
	}
	if ((w->early_fd = mc_tcp_take(t, &w->early_addr,
	    &w->early_len)) < 0)
		return MC_OK;
	if (u->host_type == MC_URL_HOST_NAME) {
		v6 = w->early_addr.ss_family == AF_INET6;
		a = v6 ? (const void *)&((const struct sockaddr_in6 *)(const void *)
		    &w->early_addr)->sin6_addr :
		    (const void *)&((const struct sockaddr_in *)(const void *)
		    &w->early_addr)->sin_addr;
		if (inet_ntop(w->early_addr.ss_family, a, ip, sizeof(ip)) ==
		    NULL)
			return MC_OK;
		n = snprintf(entry, sizeof(entry), "%s:%d:%s%s%s", u->host,
		    w->port, v6 ? "[" : "", ip, v6 ? "]" : "");
		if (n < 0 || (size_t)n >= sizeof(entry))
			return MC_OK;
		if ((w->resolve = curl_slist_append(NULL, entry)) == NULL)
			return MC_ERR_NOMEM;
		curl_easy_setopt(w->curl, CURLOPT_RESOLVE, w->resolve);
	}
	curl_easy_setopt(w->curl, CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
	curl_easy_setopt(w->curl, CURLOPT_OPENSOCKETDATA, w);
	curl_easy_setopt(w->curl, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
	curl_easy_setopt(w->curl, CURLOPT_SOCKOPTDATA, w);
	return MC_OK;
}

int
mc_wire_open(const struct mc_wire_opts *opts, const char *url,
    struct mc_wire **out, struct mc_wire_fail *fail, char **errmsg)
{
	struct mc_wire *w = NULL;
	struct mc_url u;
	char curlurl[600];
	const char *why, *ehlo;
	size_t i;
	int rc, n;
	CURLcode cc;

	*out = NULL;
	if (fail != NULL)
		mc_wire_fail_clear(fail);
	if (mc_url_parse(url, &u, &why) != MC_OK) {
		if (fail != NULL)
			fail->stage = MC_WIRE_STAGE_URL;
		return mc_fail(MC_ERR_CONFIG, errmsg, "%s is not a valid URL: "
		    "%s", url, why);
	}
	if ((i = scheme_index(u.scheme)) == NSCHEMES) {
		if (fail != NULL)
			fail->stage = MC_WIRE_STAGE_URL;
		return mc_fail(MC_ERR_CONFIG, errmsg, "%s: the scheme must be "
		    "smtp, smtps, imap, imaps, pop3 or pop3s", url);
	}
	if ((rc = mc_http_global_init(errmsg)) != MC_OK)
		return rc;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return MC_ERR_NOMEM;
	w->early_fd = -1;
	w->early_given = -1;
	w->proto = schemes[i].proto;
	n = snprintf(w->host, sizeof(w->host), "%s", u.host);
	if (n < 0 || (size_t)n >= sizeof(w->host)) {
		rc = mc_fail(MC_ERR_CONFIG, errmsg, "%s: the host name is too "
		    "long", url);
		goto out;
	}
	w->port = u.port != 0 ? (int)u.port : schemes[i].port;
	w->timeout = opts->timeout > 0 ? opts->timeout : 30;
	w->trace = opts->trace;
	w->trace_ctx = opts->trace_ctx;
	w->cancel = opts->cancel;
	ehlo = opts->ehlo != NULL ? opts->ehlo : mc_wire_hostname();
	if (!host_name_ok(ehlo))
		ehlo = "localhost.localdomain";
	n = snprintf(curlurl, sizeof(curlurl), "%s://%s%s%s:%d/%s",
	    u.scheme, u.host_type == MC_URL_HOST_IPV6 ? "[" : "", u.host,
	    u.host_type == MC_URL_HOST_IPV6 ? "]" : "", w->port,
	    w->proto == MC_WIRE_SMTP ? ehlo : "");
	if (n < 0 || (size_t)n >= sizeof(curlurl)) {
		rc = mc_fail(MC_ERR_CONFIG, errmsg, "%s: too long", url);
		goto out;
	}
	if ((w->curl = curl_easy_init()) == NULL) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	w->errbuf[0] = '\0';
	if (curl_easy_setopt(w->curl, CURLOPT_URL, curlurl) != CURLE_OK ||
	    curl_easy_setopt(w->curl, CURLOPT_PROTOCOLS_STR, u.scheme) !=
	    CURLE_OK) {
		rc = mc_fail(MC_ERR_SERVICE, errmsg, "this libcurl cannot speak "
		    "%s", u.scheme);
		goto out;
	}
	curl_easy_setopt(w->curl, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(w->curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->curl, CURLOPT_TIMEOUT, (long)w->timeout);
	curl_easy_setopt(w->curl, CURLOPT_CONNECTTIMEOUT, (long)w->timeout);
	curl_easy_setopt(w->curl, CURLOPT_SERVER_RESPONSE_TIMEOUT,
	    (long)w->timeout);
	curl_easy_setopt(w->curl, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(w->curl, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	curl_easy_setopt(w->curl, CURLOPT_ERRORBUFFER, w->errbuf);
	/* The debug callback reads the greeting and capabilities. */
	curl_easy_setopt(w->curl, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(w->curl, CURLOPT_DEBUGFUNCTION, debug_cb);
	curl_easy_setopt(w->curl, CURLOPT_DEBUGDATA, w);
	if ((rc = mc_http_apply_tls(w->curl, opts->ca_file, errmsg)) != MC_OK)
		goto out;
	if (w->cancel != NULL) {
		curl_easy_setopt(w->curl, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(w->curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
		curl_easy_setopt(w->curl, CURLOPT_XFERINFODATA, w);
	}
	if (opts->tcp != NULL &&
	    (rc = use_early(w, opts->tcp, &u, fail, errmsg)) != MC_OK)
		goto out;
	cc = curl_easy_perform(w->curl);
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		rc = given_up(w, errmsg);
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = open_failed(w, cc, w->errbuf, i, fail, errmsg);
		goto out;
	}
	if (w->failed_alloc) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	/* From here on our reads and writes are traced by us. */
	curl_easy_setopt(w->curl, CURLOPT_VERBOSE, 0L);
	*out = w;
	w = NULL;
	rc = MC_OK;
out:
	mc_wire_close(w);
	return rc;
}

static curl_socket_t
wire_socket(const struct mc_wire *w)
{
	curl_socket_t s = CURL_SOCKET_BAD;

	if (curl_easy_getinfo(w->curl, CURLINFO_ACTIVESOCKET, &s) != CURLE_OK)
		return CURL_SOCKET_BAD;
	return s;
}

void
mc_wire_close(struct mc_wire *w)
{
	curl_socket_t s;

	if (w == NULL)
		return;
	if (w->curl != NULL) {
		/*
		 * libcurl says QUIT itself when it closes a connection it set
		 * up and waits for the answer; a connection we dropped (in
		 * the middle of DATA) must carry no more bytes, and one we
		 * ended ourselves needs no second QUIT: shut the socket first.
		 */
		s = wire_socket(w);
		if (s != CURL_SOCKET_BAD)
			shutdown(s, SHUT_RDWR);
		curl_easy_cleanup(w->curl);
	}
	if (w->early_fd >= 0)
		close(w->early_fd);
	curl_slist_free_all(w->resolve);
	caps_clear(w);
	free(w->greeting);
	free(w->last_in);
	mc_wipe(w->rbuf, sizeof(w->rbuf));
	free(w);
}

enum mc_wire_proto
mc_wire_protocol(const struct mc_wire *w)
{
	return w->proto;
}

const char *
mc_wire_host(const struct mc_wire *w)
{
	return w->host;
}

int
mc_wire_port(const struct mc_wire *w)
{
	return w->port;
}

size_t
mc_wire_ncaps(const struct mc_wire *w)
{
	return w->ncaps;
}

const char *
mc_wire_cap(const struct mc_wire *w, size_t i)
{
	return i < w->ncaps ? w->caps[i] : NULL;
}

const char *
mc_wire_cap_find(const struct mc_wire *w, const char *name)
{
	size_t i, n = strlen(name);
	const char *c;

	for (i = 0; i < w->ncaps; i++) {
		c = w->caps[i];
		if (strncasecmp(c, name, n) != 0)
			continue;
		if (c[n] == '\0')
			return c + n;
		if (c[n] == ' ' || (w->proto != MC_WIRE_IMAP && c[n] == '='))
			return c + n + 1;
	}
	return NULL;
}

/* Is word among the space-separated words of list (any case)? */
static int
has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while (p != NULL && *p != '\0') {
		while (*p == ' ')
			p++;
		if (strncasecmp(p, word, n) == 0 && (p[n] == ' ' || p[n] == '\0'))
			return 1;
		p = strchr(p, ' ');
	}
	return 0;
}

int
mc_wire_has_mech(const struct mc_wire *w, const char *mech)
{
	char atom[64];
	size_t i;
	int n;

	switch (w->proto) {
	case MC_WIRE_SMTP:
		/* Old servers also say "AUTH=LOGIN PLAIN". */
		for (i = 0; i < w->ncaps; i++)
			if ((strncasecmp(w->caps[i], "AUTH ", 5) == 0 ||
			    strncasecmp(w->caps[i], "AUTH=", 5) == 0) &&
			    has_word(w->caps[i] + 5, mech))
				return 1;
		return 0;
	case MC_WIRE_IMAP:
		n = snprintf(atom, sizeof(atom), "AUTH=%s", mech);
		if (n < 0 || (size_t)n >= sizeof(atom))
			return 0;	/* no mechanism has so long a name */
		for (i = 0; i < w->ncaps; i++)
			if (strcasecmp(w->caps[i], atom) == 0)
				return 1;
		return 0;
	case MC_WIRE_POP3:
		for (i = 0; i < w->ncaps; i++)
			if (strncasecmp(w->caps[i], "SASL ", 5) == 0 &&
			    has_word(w->caps[i] + 5, mech))
				return 1;
		return 0;
	}
	return 0;
}

const char *
mc_wire_greeting(const struct mc_wire *w)
{
	return w->greeting != NULL ? w->greeting : "";
}


/* Waits until the socket is ready for events or the deadline passes. */
static int
wait_socket(const struct mc_wire *w, short events, long long deadline)
{
	struct pollfd p;
	long long left;
	int r;

	p.fd = wire_socket(w);
	if (p.fd == CURL_SOCKET_BAD)
		return -1;
	p.events = events;
	for (;;) {
		left = deadline - mc_clock_ms();
		if (left <= 0)
			return 0;
		r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static int
timed_out(const struct mc_wire *w, const char *what, char **errmsg)
{
	return mc_fail(MC_ERR_NET, errmsg, "%s port %d: no %s within %d s",
	    w->host, w->port, what, w->timeout);
}

int
mc_wire_write(struct mc_wire *w, const void *buf, size_t len, char **errmsg)
{
	const char *p = buf;
	long long deadline = mc_clock_ms() + (long long)w->timeout * 1000;
	size_t n;
	CURLcode cc;
	int r;

	if (w->closed || w->wfailed)
		return mc_fail(MC_ERR_NET, errmsg, "%s port %d closed the "
		    "connection", w->host, w->port);
	while (len > 0) {
		cc = curl_easy_send(w->curl, p, len, &n);
		if (cc == CURLE_OK) {
			p += n;
			len -= n;
			continue;
		}
		if (cc != CURLE_AGAIN) {
			w->wfailed = 1;
			return mc_fail(MC_ERR_NET, errmsg, "%s port %d: the "
			    "connection broke while sending (%s)", w->host,
			    w->port, curl_easy_strerror(cc));
		}
		if ((r = wait_socket(w, POLLOUT, deadline)) == 0)
			return timed_out(w, "room to send", errmsg);
		if (r < 0)
			return mc_fail(MC_ERR_NET, errmsg, "%s port %d: the "
			    "connection is gone", w->host, w->port);
	}
	return MC_OK;
}

int
mc_wire_send_line(struct mc_wire *w, const char *line, int secret,
    char **errmsg)
{
	size_t len = strlen(line), keep, i;
	char *buf;
	int rc, words;

	if (strpbrk(line, "\r\n") != NULL)
		return mc_fail(MC_ERR_DATA, errmsg, "a line to send holds CR or "
		    "LF");
	if (w->trace != NULL) {
		if (!secret) {
			trace_line(w, "> ", line, len);
		} else {
			/* Keep the first 3 - secret words, if there are more. */
			words = 3 - secret;
			keep = 0;
			for (i = 0; i < len && words > 0; i++)
				if (line[i] == ' ' && --words == 0)
					keep = i;
			if (words > 0)
				keep = 0;
			buf = NULL;
			if (asprintf(&buf, "> %.*s%s[redacted]", (int)keep, line,
			    keep > 0 ? " " : "") >= 0) {
				w->trace(w->trace_ctx, buf);
				free(buf);
			}
		}
	}
	if ((buf = malloc(len + 3)) == NULL)
		return MC_ERR_NOMEM;
	memcpy(buf, line, len);
	memcpy(buf + len, "\r\n", 3);
	rc = mc_wire_write(w, buf, len + 2, errmsg);
	mc_wipe(buf, len + 2);
	free(buf);
	return rc;
}

int
mc_wire_send_lines(struct mc_wire *w, const char *buf, size_t len,
    char **errmsg)
{
	const char *p = buf, *end = buf + len, *nl;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL || nl == p || nl[-1] != '\r' ||
		    memchr(p, '\r', (size_t)(nl - 1 - p)) != NULL)
			return mc_fail(MC_ERR_DATA, errmsg, "lines to send must "
			    "each end in CRLF");
		trace_line(w, "> ", p, (size_t)(nl - 1 - p));
		p = nl + 1;
	}
	return mc_wire_write(w, buf, len, errmsg);
}

int
mc_wire_timeout(const struct mc_wire *w)
{
	return w->timeout;
}

void
mc_wire_set_timeout(struct mc_wire *w, int seconds)
{
	if (seconds > 0)
		w->timeout = seconds;
}

int
mc_wire_read_line(struct mc_wire *w, char **line, int secret, char **errmsg)
{
	return mc_wire_read_line_until(w, mc_clock_ms() +
	    (long long)w->timeout * 1000, line, secret, errmsg);
}

int
mc_wire_read_line_until(struct mc_wire *w, long long deadline, char **line,
    int secret, char **errmsg)
{
	char *nl;
	size_t n, len;
	CURLcode cc;
	int r;

	*line = NULL;
	for (;;) {
		nl = memchr(w->rbuf, '\n', w->rlen);
		if (nl != NULL)
			break;
		if (w->rlen > MC_WIRE_MAX_LINE)
			return mc_fail(MC_ERR_NET, errmsg, "%s port %d sent a "
			    "line longer than %d bytes", w->host, w->port,
			    MC_WIRE_MAX_LINE);
		if (w->closed)
			return mc_fail(MC_ERR_NET, errmsg, "%s port %d closed the "
			    "connection", w->host, w->port);
		cc = curl_easy_recv(w->curl, w->rbuf + w->rlen,
		    sizeof(w->rbuf) - w->rlen, &n);
		if (cc == CURLE_OK && n == 0) {
			w->closed = 1;
			continue;
		}
		if (cc == CURLE_OK) {
			w->rlen += n;
			continue;
		}
		if (cc != CURLE_AGAIN) {
			w->closed = 1;
			return mc_fail(MC_ERR_NET, errmsg, "%s port %d: the "
			    "connection broke (%s)", w->host, w->port,
			    curl_easy_strerror(cc));
		}
		if ((r = wait_socket(w, POLLIN, deadline)) == 0)
			return timed_out(w, "answer", errmsg);
		if (r < 0)
			return mc_fail(MC_ERR_NET, errmsg, "%s port %d: the "
			    "connection is gone", w->host, w->port);
	}
	len = (size_t)(nl - w->rbuf);
	n = len > 0 && w->rbuf[len - 1] == '\r' ? len - 1 : len;
	if (len > MC_WIRE_MAX_LINE)
		return mc_fail(MC_ERR_NET, errmsg, "%s port %d sent a line "
		    "longer than %d bytes", w->host, w->port, MC_WIRE_MAX_LINE);
	if (memchr(w->rbuf, '\0', n) != NULL) {
		r = MC_ERR_DATA;
		mc_fail(r, errmsg, "%s port %d sent a NUL byte", w->host,
		    w->port);
	} else if ((*line = strndup(w->rbuf, n)) == NULL) {
		r = MC_ERR_NOMEM;
	} else {
		r = MC_OK;
		if (secret)
			trace_line(w, "< ", "[redacted]", 10);
		else
			trace_line(w, "< ", *line, n);
	}
	len++;
	memmove(w->rbuf, w->rbuf + len, w->rlen - len);
	w->rlen -= len;
	mc_wipe(w->rbuf + w->rlen, len);
	return r;
}
