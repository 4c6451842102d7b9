/* auth/doctor.c - mailcred doctor: an account checked step by step. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include "auth/advice.h"
#include "auth/config.h"
#include "auth/doctor.h"
#include "auth/clock.h"
#include "auth/err.h"
#include "auth/mailbox.h"
#include "auth/oauth.h"
#include "auth/secmem.h"
#include "auth/smtp.h"
#include "auth/token.h"
#include "auth/url.h"
#include "auth/wire.h"
#include "keyring/store.h"

/* The submission ports probe: each at most this long, all at once. */
#define PORTS_PROBE_MS 2000
/* A host's addresses tried at once by a probe, at most. */
#define MAX_ADDRS 8
/* A plain greeting is looked for this long at most. */
#define GREETING_MS 3000

const char *
mc_check_state_name(enum mc_check_state state)
{
	switch (state) {
	case MC_CHECK_OK:
		return "ok";
	case MC_CHECK_FAILED:
		return "FAILED";
	default:
		return "skipped";
	}
}

const char *
mc_probe_name(enum mc_probe p)
{
	switch (p) {
	case MC_PROBE_OPEN:
		return "open";
	case MC_PROBE_REFUSED:
		return "refused";
	case MC_PROBE_TIMEOUT:
		return "timed out";
	case MC_PROBE_UNREACHABLE:
		return "unreachable";
	case MC_PROBE_NORESOLVE:
		return "no such host";
	default:
		return "failed";
	}
}

void
mc_check_clear(struct mc_check *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c->detail);
	free(c->advice);
	memset(c, 0, sizeof(*c));
}

void
mc_doctor_report_clear(struct mc_doctor_report *rep)
{
	size_t i;

	if (rep == NULL)
		return;
	for (i = 0; i < rep->n; i++)
		mc_check_clear(&rep->checks[i]);
	free(rep->checks);
	rep->checks = NULL;
	rep->n = 0;
	rep->err = MC_OK;
	rep->first_failed = 0;
}


/* ------------------------------------------------------------------ */
/* Name resolution with a deadline. */

/* One getaddrinfo_a(3) request and what it points to. */
struct gai_block {
	struct gaicb cb;
	struct addrinfo hints;
	char name[];
};

#define RESOLVE_TIMEOUT 1	/* no answer in time */

/*
 * Resolves host (for TCP) within timeout_ms into *res (freeaddrinfo).
 * Returns 0, RESOLVE_TIMEOUT, or -1 with *gai the EAI_ code. A request
 * that cannot be cancelled in time is left to the resolver's thread (a
 * few bytes, for a command about to exit).
 */
static int
resolve(const char *host, int timeout_ms, struct addrinfo **res, int *gai)
{
	struct addrinfo hints;
	struct gai_block *b;
	struct gaicb *list[1];
	struct timespec ts;
	long long deadline, left;
	size_t len = strlen(host);
	int r;

	*res = NULL;
	*gai = 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(host, NULL, &hints, res) == 0)
		return 0;
	*res = NULL;
	b = calloc(1, sizeof(*b) + len + 1);
	if (b == NULL) {
		*gai = EAI_MEMORY;
		return -1;
	}
	memcpy(b->name, host, len + 1);
	b->hints.ai_socktype = SOCK_STREAM;
	b->cb.ar_name = b->name;
	b->cb.ar_request = &b->hints;
	list[0] = &b->cb;
	r = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
	if (r != 0) {
		free(b);
		*gai = r;
		return -1;
	}
	deadline = mc_clock_ms() + timeout_ms;
	while (gai_error(&b->cb) == EAI_INPROGRESS) {
		left = deadline - mc_clock_ms();
		if (left <= 0)
			break;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		(void)gai_suspend((const struct gaicb *const *)list, 1, &ts);
	}
	r = gai_error(&b->cb);
	if (r == EAI_INPROGRESS) {
		if (gai_cancel(&b->cb) == EAI_CANCELED)
			free(b);
		return RESOLVE_TIMEOUT;
	}
	if (r != 0) {
		free(b);
		*gai = r;
		return -1;
	}
	*res = b->cb.ar_result;
	free(b);
	return 0;
}

/* ------------------------------------------------------------------ */
/* TCP probes. */

static enum mc_probe
probe_of_errno(int e)
{
	switch (e) {
	case 0:
		return MC_PROBE_OPEN;
	case ECONNREFUSED:
		return MC_PROBE_REFUSED;
	case ETIMEDOUT:
		return MC_PROBE_TIMEOUT;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
	case EADDRNOTAVAIL:
		return MC_PROBE_UNREACHABLE;
	default:
		return MC_PROBE_ERROR;
	}
}

/* Which of two outcomes for one port (over its addresses) to report. */
static int
probe_rank(enum mc_probe p)
{
	switch (p) {
	case MC_PROBE_OPEN:
		return 5;
	case MC_PROBE_TIMEOUT:
		return 4;
	case MC_PROBE_UNREACHABLE:
		return 3;
	case MC_PROBE_REFUSED:
		return 2;
	case MC_PROBE_ERROR:
		return 1;
	default:
		return 0;
	}
}

struct attempt {
	int fd;
	size_t port;		/* index into ports */
	enum mc_probe state;
	int err;
	int done;
};

static void
sockaddr_set_port(struct sockaddr_storage *ss, int port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

void
mc_probe_tcp(void *ctx, const char *host, const int *ports, size_t n,
    int timeout_ms, enum mc_probe *states, int *errnos)
{
	struct addrinfo *res = NULL, *ai;
	struct attempt *at = NULL;
	struct pollfd *pfd = NULL;
	struct sockaddr_storage ss;
	size_t naddr = 0, nat = 0, i, k, pending;
	long long deadline;
	int gai, r, e;
	socklen_t elen;

	(void)ctx;
	for (i = 0; i < n; i++) {
		states[i] = MC_PROBE_ERROR;
		errnos[i] = 0;
	}
	deadline = mc_clock_ms() + timeout_ms;
	r = resolve(host, timeout_ms, &res, &gai);
	if (r != 0) {
		for (i = 0; i < n; i++)
			states[i] = r == RESOLVE_TIMEOUT ? MC_PROBE_TIMEOUT :
			    MC_PROBE_NORESOLVE;
		return;
	}
	for (ai = res; ai != NULL && naddr < MAX_ADDRS; ai = ai->ai_next)
		if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
			naddr++;
	at = calloc(n * naddr + 1, sizeof(*at));
	pfd = calloc(n * naddr + 1, sizeof(*pfd));
	if (at == NULL || pfd == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		states[i] = MC_PROBE_NORESOLVE;
		k = 0;
		for (ai = res; ai != NULL && k < naddr; ai = ai->ai_next) {
			struct attempt *a = &at[nat];

			if (ai->ai_family != AF_INET &&
			    ai->ai_family != AF_INET6)
				continue;
			k++;
			a->port = i;
			a->fd = socket(ai->ai_family, SOCK_STREAM |
			    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			nat++;
			if (a->fd < 0) {
				a->err = errno;
				a->state = probe_of_errno(a->err);
				a->done = 1;
				continue;
			}
			memset(&ss, 0, sizeof(ss));
			memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
			sockaddr_set_port(&ss, ports[i]);
			if (connect(a->fd, (struct sockaddr *)&ss,
			    ai->ai_addrlen) == 0) {
				a->state = MC_PROBE_OPEN;
				a->done = 1;
			} else if (errno != EINPROGRESS) {
				a->err = errno;
				a->state = probe_of_errno(a->err);
				a->done = 1;
			}
		}
	}
	for (;;) {
		long long left = deadline - mc_clock_ms();

		pending = 0;
		for (k = 0; k < nat; k++) {
			pfd[k].fd = at[k].done ? -1 : at[k].fd;
			pfd[k].events = POLLOUT;
			pfd[k].revents = 0;
			if (!at[k].done)
				pending++;
		}
		if (pending == 0 || left <= 0)
			break;
		r = poll(pfd, nat, (int)left);
		if (r < 0 && errno != EINTR)
			break;
		for (k = 0; r > 0 && k < nat; k++) {
			if (at[k].done || pfd[k].revents == 0)
				continue;
			e = 0;
			elen = sizeof(e);
			if (getsockopt(at[k].fd, SOL_SOCKET, SO_ERROR, &e,
			    &elen) < 0)
				e = errno;
			at[k].err = e;
			at[k].state = probe_of_errno(e);
			at[k].done = 1;
		}
	}
	for (k = 0; k < nat; k++) {
		if (!at[k].done) {
			at[k].state = MC_PROBE_TIMEOUT;
			at[k].err = ETIMEDOUT;
		}
		i = at[k].port;
		if (states[i] == MC_PROBE_NORESOLVE ||
		    probe_rank(at[k].state) > probe_rank(states[i])) {
			states[i] = at[k].state;
			errnos[i] = at[k].state == MC_PROBE_OPEN ? 0 : at[k].err;
		}
	}
out:
	for (k = 0; at != NULL && k < nat; k++)
		if (at[k].fd >= 0)
			close(at[k].fd);
	free(at);
	free(pfd);
	freeaddrinfo(res);
}

/* ------------------------------------------------------------------ */
/* The tcp check and the submission ports. */

/* "HOST:PORT", with brackets for an IPv6 address. */
static char *
host_port(const char *host, int port)
{
	if (strchr(host, ':') != NULL)
		return mc_strdupf("[%s]:%d", host, port);
	return mc_strdupf("%s:%d", host, port);
}

static const int submission_ports[3] = { 587, 465, 25 };

/*
 * The verdict of the 587/465/25 probe (st in that order) into *detail and
 * *advice (malloc'd; *advice NULL when the probe says nothing more).
 */
static void
ports_verdict(const char *account, const char *host, const enum mc_probe *st,
    char **detail, char **advice)
{
	int open587 = st[0] == MC_PROBE_OPEN, open465 = st[1] == MC_PROBE_OPEN;
	int t587 = st[0] == MC_PROBE_TIMEOUT, t465 = st[1] == MC_PROBE_TIMEOUT;
	int t25 = st[2] == MC_PROBE_TIMEOUT;

	*detail = mc_strdupf("587 %s, 465 %s, 25 %s", mc_probe_name(st[0]),
	    mc_probe_name(st[1]), mc_probe_name(st[2]));
	*advice = NULL;
	if (t25 && t587 && t465)
		*advice = mc_strdupf("all three submission ports time out: an outbound "
		    "firewall or a proxy drops mail traffic from this network; "
		    "allow connections to %s on 587 or 465, or use another "
		    "network", host);
	else if (t25 && !t587 && !t465 && (open587 || open465))
		*advice = mc_strdupf("only port 25 is blocked, by the ISP or the cloud "
		    "provider, as is common; submission uses 587 or 465: set "
		    "smtp = %s://%s:%d in [account %s]", open587 ? "smtp" :
		    "smtps", host, open587 ? 587 : 465, account);
	else if ((t587 || t465 || t25) && (open587 || open465))
		*advice = mc_strdupf("%s%s%s time out (blocked on the way), %s "
		    "is open: set smtp = %s://%s:%d in [account %s]",
		    t587 ? "587 " : "", t465 ? "465 " : "", t25 ? "25 " : "",
		    open587 ? "587" : "465", open587 ? "smtp" : "smtps", host,
		    open587 ? 587 : 465, account);
	else if (open587 || open465)
		*advice = mc_strdupf("%s open: set smtp = %s://%s:%d in [account %s]",
		    open587 ? "port 587 is" : "port 465 is", open587 ? "smtp" :
		    "smtps", host, open587 ? 587 : 465, account);
	else if (st[0] == MC_PROBE_REFUSED && st[1] == MC_PROBE_REFUSED &&
	    st[2] == MC_PROBE_REFUSED)
		*advice = mc_strdupf("%s runs no mail submission service (or a "
		    "firewall rejects every port): check the host in smtp of "
		    "[account %s]", host, account);
}

int
mc_doctor_tcp(const struct mc_doctor_opts *opts, const char *account,
    const char *svc, const char *host, int port, struct mc_check *out)
{
	mc_probe_fn probe = opts->probe != NULL ? opts->probe : mc_probe_tcp;
	enum mc_probe st, pst[3];
	int e, perr[3], timeout = opts->timeout > 0 ? opts->timeout : 30;
	char *hp = NULL, *why = NULL, *pdetail = NULL, *padvice = NULL;
	char *advice = NULL;
	long long t0;

	memset(out, 0, sizeof(*out));
	out->name = mc_strdupf("tcp %s", svc);
	hp = host_port(host, port);
	if (out->name == NULL || hp == NULL)
		goto nomem;
	t0 = mc_clock_ms();
	probe(opts->probe_ctx, host, &port, 1, timeout * 1000, &st, &e);
	if (st == MC_PROBE_OPEN) {
		out->state = MC_CHECK_OK;
		out->detail = mc_strdupf("%s: connected in %lld ms", hp,
		    mc_clock_ms() - t0);
		free(hp);
		return out->detail != NULL ? MC_OK : MC_ERR_NOMEM;
	}
	out->state = MC_CHECK_FAILED;
	out->err = MC_ERR_NET;
	switch (st) {
	case MC_PROBE_REFUSED:
		why = mc_strdupf("%s: connection refused (nothing listens there, or a "
		    "firewall rejects it)", hp);
		advice = mc_strdupf("check the port in %s of [account %s]%s", svc,
		    account, strcmp(svc, "smtp") == 0 ? " (587 with smtp://, "
		    "465 with smtps://)" : strcmp(svc, "imap") == 0 ?
		    " (993 with imaps://)" : " (995 with pop3s://)");
		break;
	case MC_PROBE_TIMEOUT:
		why = mc_strdupf("%s: timed out after %d s (packets are dropped: a "
		    "firewall or the provider blocks the port)", hp, timeout);
		advice = mc_strdupf("allow outgoing connections to %s, or use another "
		    "port or network", hp);
		break;
	case MC_PROBE_UNREACHABLE:
		why = mc_strdupf("%s: unreachable (%s)", hp, strerror(e));
		advice = mc_strdupf("this machine has no route to %s: check the "
		    "network connection", host);
		break;
	case MC_PROBE_NORESOLVE:
		why = mc_strdupf("%s: the name does not resolve", hp);
		advice = mc_strdupf("check the host in %s of [account %s]", svc,
		    account);
		out->err = MC_ERR_CONFIG;
		break;
	default:
		why = mc_strdupf("%s: cannot connect (%s)", hp, e != 0 ? strerror(e) :
		    "unknown error");
		advice = mc_strdupf("check the network connection and any local "
		    "firewall");
		break;
	}
	if (why == NULL || advice == NULL)
		goto nomem;
	if (strcmp(svc, "smtp") == 0 && st != MC_PROBE_NORESOLVE) {
		int ptimeout = timeout * 1000 < PORTS_PROBE_MS ?
		    timeout * 1000 : PORTS_PROBE_MS;

		probe(opts->probe_ctx, host, submission_ports, 3, ptimeout, pst,
		    perr);
		ports_verdict(account, host, pst, &pdetail, &padvice);
		if (pdetail == NULL)
			goto nomem;
		out->detail = mc_strdupf("%s; probes: %s", why, pdetail);
		if (padvice != NULL) {
			free(advice);
			advice = padvice;
			padvice = NULL;
		}
	} else {
		out->detail = why;
		why = NULL;
	}
	out->advice = advice;
	advice = NULL;
	free(hp);
	free(why);
	free(pdetail);
	free(padvice);
	return out->detail != NULL ? MC_OK : MC_ERR_NOMEM;
nomem:
	free(hp);
	free(why);
	free(advice);
	free(pdetail);
	free(padvice);
	mc_check_clear(out);
	return MC_ERR_NOMEM;
}

/* ------------------------------------------------------------------ */
/* One run. */

struct svc {
	const char *label;	/* "smtp", "imap", "pop" */
	const char *url;	/* the account's, or NULL: not configured */
	enum mc_wire_proto proto;
	struct mc_url u;
	int port;
	int implicit;		/* smtps, imaps, pop3s */
	int dns_ok;
	int tcp_ok;
	struct mc_wire *w;	/* after a good tls check */
};

struct run {
	const struct mc_doctor_opts *o;
	struct mc_doctor_report *rep;
	struct mc_config *cfg;
	struct mc_account *acct;
	const char *name;	/* the account, for advice */
	int timeout;		/* seconds, each step */
	struct mc_token_set ts;	/* oauth2: what the store holds */
	int stored;		/* the store check passed */
	char *secret;		/* the token or password (wiped) */
	const char *cred_why;	/* why there is no secret */
	int nomem;
	struct svc svc[3];
	char *hosts[3];		/* DNS checked for these hosts ... */
	int host_ok[3];		/* ... with this outcome */
	size_t nhosts;
};

/*
 * Adds a check named like printf to the report: its state, err, detail
 * and advice (taken; NULL detail means no memory). Told to progress at
 * once.
 */
static void
add(struct run *r, enum mc_check_state state, int err, char *detail,
    char *advice, const char *namefmt, ...)
    __attribute__((format(printf, 6, 7)));

static void
add(struct run *r, enum mc_check_state state, int err, char *detail,
    char *advice, const char *namefmt, ...)
{
	struct mc_doctor_report *rep = r->rep;
	struct mc_check *c, *n;
	va_list ap;
	char *name = NULL;
	int k;

	va_start(ap, namefmt);
	k = vasprintf(&name, namefmt, ap);
	va_end(ap);
	if (k < 0)
		name = NULL;
	n = realloc(rep->checks, (rep->n + 1) * sizeof(*n));
	if (name == NULL || detail == NULL || n == NULL ||
	    (state == MC_CHECK_FAILED && advice == NULL)) {
		if (n != NULL)
			rep->checks = n;
		free(name);
		free(detail);
		free(advice);
		r->nomem = 1;
		return;
	}
	rep->checks = n;
	c = &rep->checks[rep->n];
	c->name = name;
	c->state = state;
	c->err = state == MC_CHECK_FAILED ? err : MC_OK;
	c->detail = detail;
	c->advice = state == MC_CHECK_FAILED ? advice : NULL;
	if (state != MC_CHECK_FAILED)
		free(advice);
	if (state == MC_CHECK_FAILED && rep->err == MC_OK) {
		rep->err = err != MC_OK ? err : MC_ERR_INTERNAL;
		rep->first_failed = rep->n;
	}
	rep->n++;
	if (r->o->progress != NULL)
		r->o->progress(r->o->progress_ctx, c);
}

/* Takes a check made elsewhere (mc_doctor_tcp). */
static void
add_made(struct run *r, struct mc_check *m)
{
	add(r, m->state, m->err, m->detail, m->advice, "%s", m->name);
	free(m->name);
	memset(m, 0, sizeof(*m));
}

static void
warn(struct run *r, const char *line)
{
	if (r->o->warn != NULL)
		r->o->warn(r->o->warn_ctx, line);
}

/* Advice for a failure the library described in msg, by its class. */
static char *
advice_for(struct run *r, int err)
{
	switch (err) {
	case MC_ERR_NOT_LOGGED_IN:
	case MC_ERR_AUTH:
	case MC_ERR_DATA:
		if (r->acct != NULL && r->acct->auth == MC_AUTH_PASSWORD)
			return mc_strdupf("store the app password with `mailcred "
			    "password set %s`", r->name);
		return mc_strdupf("run `mailcred login %s`", r->name);
	case MC_ERR_STORE:
		return mc_strdupf("unlock the keyring (log in to the desktop session, "
		    "or start the Secret Service unlocked), then try again");
	case MC_ERR_STORE_PERM:
		return mc_strdupf("make the store private as the message says");
	case MC_ERR_CONFIG:
		return mc_strdupf("correct the configuration as the message says");
	case MC_ERR_SERVICE:
		return mc_strdupf("start a Secret Service (gnome-keyring, KeePassXC) "
		    "in the session, or set store = file in [account %s]",
		    r->name);
	case MC_ERR_NET:
	case MC_ERR_TEMP:
		return mc_strdupf("check the network connection and try again; a "
		    "longer --timeout may help");
	default:
		return mc_strdupf("try again; run with -v to see more");
	}
}

/* ---- config ---- */

static int
scheme_ok(const struct svc *s, const char *scheme, int *implicit)
{
	static const char *const plain[] = { "smtp", "imap", "pop3" };
	static const char *const tls[] = { "smtps", "imaps", "pop3s" };

	*implicit = strcmp(scheme, tls[s->proto]) == 0;
	return *implicit || strcmp(scheme, plain[s->proto]) == 0;
}

static int
default_port(enum mc_wire_proto proto, int implicit)
{
	static const int plain[] = { 25, 143, 110 };
	static const int tls[] = { 465, 993, 995 };

	return implicit ? tls[proto] : plain[proto];
}

static void
check_config(struct run *r)
{
	const struct mc_doctor_opts *o = r->o;
	char *path = NULL, *msg = NULL, *problem = NULL, *advice = NULL;
	const char *why;
	struct mc_account *a;
	size_t i;
	int rc, found = 0;

	rc = mc_config_path(o->config_path, &path, &msg);
	if (rc == MC_OK)
		rc = mc_config_load(path, &r->cfg, &msg);
	if (rc != MC_OK) {
		add(r, MC_CHECK_FAILED, rc, msg != NULL ? msg :
		    mc_strdupf("cannot read the configuration"), advice_for(r, rc),
		    "config");
		free(path);
		return;
	}
	for (i = 0; i < mc_config_nwarnings(r->cfg); i++)
		warn(r, mc_config_warning(r->cfg, i));
	for (i = 0; i < mc_config_naccounts(r->cfg); i++)
		if (strcmp(mc_config_account_name(r->cfg, i), r->name) == 0)
			found = 1;
	if (!found) {
		add(r, MC_CHECK_FAILED, MC_ERR_CONFIG, mc_strdupf("%s has no "
		    "[account %s]", path, r->name), mc_strdupf("add it with "
		    "`mailcred add %s`, or check the name (`mailcred accounts` "
		    "lists them)", r->name), "config");
		free(path);
		return;
	}
	rc = mc_account_resolve(r->cfg, r->name, &r->acct, &msg);
	if (rc != MC_OK) {
		add(r, MC_CHECK_FAILED, rc, msg != NULL ? msg :
		    mc_strdupf("[account %s] cannot be used", r->name),
		    advice_for(r, rc), "config");
		free(path);
		return;
	}
	a = r->acct;
	if (o->timeout <= 0)
		r->timeout = a->timeout;
	r->svc[0].url = a->smtp;
	r->svc[1].url = a->imap;
	r->svc[2].url = a->pop;
	for (i = 0; i < 3; i++) {
		struct svc *s = &r->svc[i];

		if (s->url == NULL || s->url[0] == '\0') {
			s->url = NULL;
			continue;
		}
		if (mc_url_parse(s->url, &s->u, &why) != MC_OK ||
		    !scheme_ok(s, s->u.scheme, &s->implicit)) {
			if (problem == NULL) {
				problem = mc_strdupf("%s = %s: %s", s->label, s->url,
				    mc_url_parse(s->url, &s->u, &why) !=
				    MC_OK ? why : "not a URL of this protocol");
				advice = mc_strdupf("set %s in [account %s] to %s",
				    s->label, r->name, s->proto == MC_WIRE_SMTP ?
				    "smtp://HOST:587 (STARTTLS) or "
				    "smtps://HOST:465" : s->proto == MC_WIRE_IMAP ?
				    "imaps://HOST:993" : "pop3s://HOST:995");
			}
			s->url = NULL;
			continue;
		}
		s->port = s->u.port != 0 ? (int)s->u.port :
		    default_port(s->proto, s->implicit);
	}
	if (problem == NULL && mc_advice_provider_of(a, NULL) !=
	    MC_ADVICE_OTHER && strchr(a->user, '@') == NULL) {
		problem = mc_strdupf("user \"%s\" is not a full address, which %s "
		    "wants", a->user, a->google ? "Gmail" : "Microsoft");
		advice = mc_strdupf("set user = %s@%s in [account %s]", a->user,
		    a->google ? "gmail.com" : "<your domain>", r->name);
	}
	if (problem != NULL) {
		add(r, MC_CHECK_FAILED, MC_ERR_CONFIG, problem, advice,
		    "config");
		free(path);
		return;
	}
	add(r, MC_CHECK_OK, MC_OK, mc_strdupf("[account %s] in %s: provider %s, "
	    "auth %s, user %s, store %s", r->name, path, a->provider != NULL ?
	    a->provider : "custom", mc_auth_name(a->auth), a->user,
	    store_backend_name(a->store)), NULL, "config");
	free(path);
}

/* ---- store ---- */

static void
check_store(struct run *r)
{
	const struct mc_account *a = r->acct;
	struct store *st = NULL;
	char *msg = NULL, *smsg = NULL, *nf = NULL, *pw = NULL;
	const char *where = store_backend_name(a->store);
	int rc, serr;

	if (a->auth == MC_AUTH_OAUTH2) {
		rc = mc_token_load(a, r->o->store_timeout_ms, &r->ts, &msg);
		if (rc == MC_ERR_NOT_LOGGED_IN) {
			free(msg);
			add(r, MC_CHECK_FAILED, rc, mc_strdupf("no grant stored in the "
			    "%s for %s", where, r->name), advice_for(r, rc),
			    "store");
			r->cred_why = "no grant stored";
			return;
		}
		if (rc != MC_OK) {
			add(r, MC_CHECK_FAILED, rc, msg != NULL ? msg :
			    mc_strdupf("the %s cannot be read", where),
			    advice_for(r, rc), "store");
			r->cred_why = "the store failed";
			return;
		}
		r->stored = 1;
		add(r, MC_CHECK_OK, MC_OK, mc_strdupf("grant stored in the %s%s",
		    where, r->ts.refresh_token != NULL ? "" :
		    " (no refresh token: a new login is needed when the "
		    "access token expires)"), NULL, "store");
		return;
	}
	rc = mc_store_open(a, r->o->store_timeout_ms, &st, &msg);
	if (rc == MC_OK) {
		nf = mc_strdupf("no app password stored in the %s for %s", where,
		    r->name);
		if (nf == NULL) {
			r->nomem = 1;
			store_close(st);
			return;
		}
		serr = store_get(st, a->name, MC_KIND_PASSWORD, &pw, &smsg);
		rc = mc_store_error(serr, smsg, nf, &msg);
		free(nf);
	}
	store_close(st);
	if (rc != MC_OK) {
		add(r, MC_CHECK_FAILED, rc == MC_ERR_NOT_LOGGED_IN ||
		    rc == MC_ERR_AUTH ? MC_ERR_NOT_LOGGED_IN : rc, msg != NULL ?
		    msg : mc_strdupf("the %s cannot be read", where),
		    rc == MC_ERR_NOT_LOGGED_IN || rc == MC_ERR_AUTH ?
		    mc_strdupf("store the app password with `mailcred password set "
		    "%s`", r->name) : advice_for(r, rc), "store");
		r->cred_why = "no app password";
		return;
	}
	r->secret = mc_strdup(pw);
	store_secret_free(pw);
	if (r->secret == NULL) {
		r->nomem = 1;
		return;
	}
	r->stored = 1;
	add(r, MC_CHECK_OK, MC_OK, mc_strdupf("app password stored in the %s", where),
	    NULL, "store");
}

/* ---- token ---- */

/* The grant's scope cannot serve mail at this provider: why, or NULL. */
static const char *
scope_problem(const struct mc_account *a, const char *scope)
{
	if (scope == NULL || scope[0] == '\0')
		return NULL;
	if (a->google && strstr(scope, "https://mail.google.com/") == NULL)
		return "https://mail.google.com/";
	if (a->provider != NULL && strcmp(a->provider, "microsoft") == 0 &&
	    strstr(scope, "outlook.office.com") == NULL)
		return "https://outlook.office.com/SMTP.Send (and IMAP, POP)";
	return NULL;
}

static void
token_warn(void *ctx, const char *line)
{
	warn(ctx, line);
}

static void
check_token(struct run *r)
{
	const struct mc_account *a = r->acct;
	struct mc_http_opts http = MC_HTTP_OPTS_INIT;
	struct mc_token_opts to = MC_TOKEN_OPTS_INIT;
	struct mc_token_set fresh = MC_TOKEN_SET_INIT;
	const struct mc_token_set *use;
	char *msg = NULL, *detail;
	const char *want;
	time_t now = time(NULL);
	int rc, refreshed = 0;

	if (mc_token_usable(&r->ts, now, 60)) {
		use = &r->ts;
	} else {
		http.timeout = r->timeout;
		http.ca_file = a->ca_file;
		http.trace = r->o->trace;
		http.trace_ctx = r->o->trace_ctx;
		to.store_timeout_ms = r->o->store_timeout_ms;
		to.warn = token_warn;
		to.warn_ctx = r;
		rc = mc_token_get(a, &http, &to, &fresh, &msg);
		if (rc != MC_OK) {
			add(r, MC_CHECK_FAILED, rc, msg != NULL ? msg :
			    mc_strdupf("no access token"), advice_for(r, rc),
			    "token");
			r->cred_why = "no access token";
			return;
		}
		use = &fresh;
		refreshed = fresh.refreshed;
	}
	want = scope_problem(a, use->scope);
	if (want != NULL) {
		add(r, MC_CHECK_FAILED, MC_ERR_AUTH, mc_strdupf("the grant's scope "
		    "\"%s\" lacks %s", use->scope, want), mc_strdupf("set scope in "
		    "[account %s] to include %s (or remove it for the default) "
		    "and run `mailcred login %s`", r->name, want, r->name),
		    "token");
		r->cred_why = "the token's scope is wrong";
		mc_token_set_clear(&fresh);
		return;
	}
	r->secret = mc_strdup(use->access_token);
	if (r->secret == NULL) {
		r->nomem = 1;
		mc_token_set_clear(&fresh);
		return;
	}
	if (use->expires_at > 0)
		detail = mc_strdupf("%s access token, valid for %lld more minutes",
		    refreshed ? "refreshed: a new" : "the cached",
		    (use->expires_at - (long long)now) / 60);
	else
		detail = mc_strdupf("%s access token", refreshed ?
		    "refreshed: a new" : "the cached");
	add(r, MC_CHECK_OK, MC_OK, detail, NULL, "token");
	mc_token_set_clear(&fresh);
}

/* ---- dns ---- */

/* Looks host up once per run; the result of the check for it. */
static int
check_dns(struct run *r, const char *host)
{
	struct addrinfo *res = NULL, *ai;
	char addrs[200], buf[INET6_ADDRSTRLEN];
	size_t i, used = 0;
	int rc, gai, n = 0;
	long long t0 = mc_clock_ms();

	for (i = 0; i < r->nhosts; i++)
		if (strcasecmp(r->hosts[i], host) == 0)
			return r->host_ok[i];
	if (r->nhosts < 3) {
		r->hosts[r->nhosts] = mc_strdup(host);
		if (r->hosts[r->nhosts] == NULL) {
			r->nomem = 1;
			return 0;
		}
	}
	rc = resolve(host, r->timeout * 1000, &res, &gai);
	if (rc == RESOLVE_TIMEOUT) {
		add(r, MC_CHECK_FAILED, MC_ERR_NET, mc_strdupf("%s: the resolver did "
		    "not answer within %d s", host, r->timeout),
		    mc_strdupf("check the network connection and the resolver "
		    "(/etc/resolv.conf)"), "dns %s", host);
	} else if (rc != 0) {
		int noname = gai == EAI_NONAME
#ifdef EAI_NODATA
		    || gai == EAI_NODATA
#endif
		    ;

		add(r, MC_CHECK_FAILED, noname ? MC_ERR_CONFIG : MC_ERR_NET,
		    mc_strdupf("%s: %s", host, gai_strerror(gai)), noname ?
		    mc_strdupf("check the host name in the URLs of [account %s]",
		    r->name) : mc_strdupf("check the network connection and the "
		    "resolver (/etc/resolv.conf)"), "dns %s", host);
	} else {
		addrs[0] = '\0';
		for (ai = res; ai != NULL; ai = ai->ai_next) {
			const void *p;
			int k;

			if (ai->ai_family == AF_INET)
				p = &((struct sockaddr_in *)ai->ai_addr)->
				    sin_addr;
			else if (ai->ai_family == AF_INET6)
				p = &((struct sockaddr_in6 *)ai->ai_addr)->
				    sin6_addr;
			else
				continue;
			if (inet_ntop(ai->ai_family, p, buf, sizeof(buf)) ==
			    NULL || strstr(addrs, buf) != NULL)
				continue;
			if (n == 3) {
				k = snprintf(addrs + used, sizeof(addrs) - used,
				    ", ...");
				if (k > 0 && (size_t)k < sizeof(addrs) - used)
					used += (size_t)k;
				break;
			}
			k = snprintf(addrs + used, sizeof(addrs) - used, "%s%s",
			    n > 0 ? ", " : "", buf);
			if (k < 0 || (size_t)k >= sizeof(addrs) - used) {
				addrs[used] = '\0';
				break;
			}
			used += (size_t)k;
			n++;
		}
		freeaddrinfo(res);
		add(r, MC_CHECK_OK, MC_OK, mc_strdupf("%s (%lld ms)", addrs,
		    mc_clock_ms() - t0), NULL, "dns %s", host);
		rc = 0;
	}
	if (r->nhosts < 3)
		r->host_ok[r->nhosts++] = rc == 0;
	return rc == 0;
}

/* ---- tls ---- */

static void
wire_opts(struct run *r, struct mc_wire_opts *wo, int timeout)
{
	wo->timeout = timeout;
	wo->ca_file = r->acct->ca_file;
	wo->ehlo = NULL;
	wo->trace = r->o->trace;
	wo->trace_ctx = r->o->trace_ctx;
}

/* The URL of s with the other kind of TLS, same host and port. */
static char *
other_url(const struct svc *s)
{
	static const char *const plain[] = { "smtp", "imap", "pop3" };
	static const char *const tls[] = { "smtps", "imaps", "pop3s" };
	char *hp = host_port(s->u.host, s->port), *u;

	if (hp == NULL)
		return NULL;
	u = mc_strdupf("%s://%s", s->implicit ? plain[s->proto] : tls[s->proto], hp);
	free(hp);
	return u;
}

/*
 * Connects in plain text and reads the first line within ms: does the
 * port speak this protocol in clear first? 1 yes, 0 no.
 */
static int
speaks_plain(const struct svc *s, int ms)
{
	static const char *const hello[] = { "220", "* OK", "+OK" };
	struct addrinfo *res = NULL, *ai;
	struct sockaddr_storage ss;
	struct pollfd pfd;
	char buf[64];
	size_t got = 0;
	long long deadline = mc_clock_ms() + ms, left;
	int fd = -1, gai, yes = 0, e;
	socklen_t elen;
	ssize_t k;

	if (resolve(s->u.host, ms, &res, &gai) != 0)
		return 0;
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		sockaddr_set_port(&ss, s->port);
		if (connect(fd, (struct sockaddr *)&ss, ai->ai_addrlen) < 0 &&
		    errno != EINPROGRESS) {
			close(fd);
			fd = -1;
			continue;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		left = deadline - mc_clock_ms();
		e = -1;
		elen = sizeof(e);
		if (left <= 0 || poll(&pfd, 1, (int)left) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0 ||
		    e != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return 0;
	while (got < sizeof(buf) - 1) {
		left = deadline - mc_clock_ms();
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
			break;
		k = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (k <= 0)
			break;
		got += (size_t)k;
		if (memchr(buf, '\n', got) != NULL)
			break;
	}
	close(fd);
	buf[got] = '\0';
	if (got >= strlen(hello[s->proto]) && strncmp(buf, hello[s->proto],
	    strlen(hello[s->proto])) == 0)
		yes = 1;
	return yes;
}

/* What an X509 verify result means here, and its fix. */
static void
tls_verify_verdict(struct run *r, const struct svc *s, long v, char **detail,
    char **advice)
{
	const char *host = s->u.host;
	const char *ca = r->acct->ca_file;

	switch (v) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		*detail = mc_strdupf("the certificate of %s has expired", host);
		*advice = mc_strdupf("the server's administrator must renew it; if "
		    "this machine's clock is wrong (see `date`), correct it");
		return;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		*detail = mc_strdupf("the certificate of %s is not valid yet", host);
		*advice = mc_strdupf("check this machine's clock (see `date`)");
		return;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		*detail = mc_strdupf("the certificate of %s is %s (verify error %ld)",
		    host, v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ?
		    "self-signed" : v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ?
		    "issued by a self-signed CA that is not trusted" :
		    "issued by an unknown CA", v);
		if (ca != NULL)
			*advice = mc_strdupf("ca_file %s does not vouch for it: set "
			    "ca_file in [account %s] to the CA that issued "
			    "the server's certificate", ca, r->name);
		else
			*advice = mc_strdupf("if %s uses a private CA (or its own "
			    "certificate), set ca_file = /path/to/ca.pem in "
			    "[account %s]; otherwise do not trust it", host,
			    r->name);
		return;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		*detail = mc_strdupf("the certificate of %s is issued for another "
		    "name", host);
		*advice = mc_strdupf("use the host name the certificate names in %s "
		    "of [account %s]", s->label, r->name);
		return;
	default:
		*detail = mc_strdupf("the certificate of %s does not verify: %s "
		    "(verify error %ld)", host, X509_verify_cert_error_string(v),
		    v);
		*advice = mc_strdupf("the server's administrator must fix its "
		    "certificate; for a private CA set ca_file in [account %s]",
		    r->name);
		return;
	}
}

/*
 * A STARTTLS URL whose server said nothing before the deadline: does the
 * port speak implicit TLS instead? 1 when a TLS connection to it works
 * (*alt: that URL, malloc'd), else 0.
 */
static int
speaks_implicit(struct run *r, const struct svc *s,
    const struct mc_wire_fail *fail, char **alt)
{
	struct mc_wire_opts wo = MC_WIRE_OPTS_INIT;
	struct mc_wire *w = NULL;

	*alt = NULL;
	if (s->implicit || !fail->timed_out || (fail->reply != NULL &&
	    fail->reply[0] != '\0') || (fail->stage != MC_WIRE_STAGE_GREETING &&
	    fail->stage != MC_WIRE_STAGE_CONNECT))
		return 0;
	*alt = other_url(s);
	if (*alt == NULL)
		return 0;
	wire_opts(r, &wo, r->timeout < 5 ? r->timeout : 5);
	if (mc_wire_open(&wo, *alt, &w, NULL, NULL) != MC_OK) {
		free(*alt);
		*alt = NULL;
		return 0;
	}
	mc_wire_close(w);
	return 1;
}

static void
check_tls(struct run *r, struct svc *s)
{
	struct mc_wire_opts wo = MC_WIRE_OPTS_INIT;
	struct mc_wire_fail fail = MC_WIRE_FAIL_INIT;
	char *msg = NULL, *detail = NULL, *advice = NULL, *alt = NULL;
	char *hp = NULL;
	int rc, err = MC_ERR_NET;

	wire_opts(r, &wo, r->timeout);
	rc = mc_wire_open(&wo, s->url, &s->w, &fail, &msg);
	hp = host_port(s->u.host, s->port);
	if (hp == NULL) {
		r->nomem = 1;
		goto out;
	}
	if (rc == MC_OK) {
		add(r, MC_CHECK_OK, MC_OK, mc_strdupf("%s: %s, certificate verified",
		    hp, s->implicit ? "implicit TLS" : "STARTTLS"), NULL,
		    "tls %s", s->label);
		goto out;
	}
	/*
	 * A certificate that does not verify: a real X509 error, or an
	 * unspecified one (1) that the wire calls a trust failure.
	 */
	if (fail.stage == MC_WIRE_STAGE_TLS && (fail.tls_verify > 1 ||
	    (fail.tls_verify == 1 && rc == MC_ERR_SERVICE))) {
		tls_verify_verdict(r, s, fail.tls_verify, &detail, &advice);
		err = MC_ERR_SERVICE;
	} else if (fail.stage == MC_WIRE_STAGE_TLS && s->implicit &&
	    speaks_plain(s, GREETING_MS)) {
		detail = mc_strdupf("%s speaks plain %s first, not implicit TLS: it "
		    "is a STARTTLS port", hp, s->proto == MC_WIRE_SMTP ?
		    "SMTP" : s->proto == MC_WIRE_IMAP ? "IMAP" : "POP3");
		alt = other_url(s);
		advice = mc_strdupf("set %s = %s in [account %s]%s", s->label,
		    alt != NULL ? alt : "", r->name, s->proto == MC_WIRE_SMTP ?
		    " (STARTTLS), or use port 465 with smtps://" : "");
		err = MC_ERR_CONFIG;
	} else if (speaks_implicit(r, s, &fail, &alt)) {
		detail = mc_strdupf("%s says nothing in clear: it speaks implicit "
		    "TLS from the first byte, not STARTTLS", hp);
		advice = mc_strdupf("set %s = %s in [account %s]", s->label, alt,
		    r->name);
		err = MC_ERR_CONFIG;
	} else if (fail.stage == MC_WIRE_STAGE_TLS) {
		detail = mc_strdupf("TLS handshake with %s failed: %s", hp,
		    msg != NULL ? msg : "no reason given");
		advice = mc_strdupf("check that %s speaks %s (smtps/imaps/pop3s: "
		    "implicit TLS; smtp/imap/pop3: STARTTLS)", hp,
		    s->implicit ? "implicit TLS" : "STARTTLS");
	} else if (fail.stage == MC_WIRE_STAGE_GREETING && fail.reply != NULL &&
	    s->proto == MC_WIRE_SMTP && fail.reply[0] >= '2' &&
	    fail.reply[0] <= '5') {
		struct mc_advice_in in = MC_ADVICE_IN_INIT;
		struct mc_advice adv = MC_ADVICE_INIT;
		long code;
		char *end;

		errno = 0;
		code = strtol(fail.reply, &end, 10);
		in.proto = MC_ADVICE_SMTP;
		in.provider = mc_advice_provider_of(r->acct, s->u.host);
		in.auth = r->acct->auth;
		in.account = r->name;
		in.user = r->acct->user;
		in.code = errno == 0 && code >= 200 && code <= 599 ?
		    (int)code : 554;
		in.text = end;
		while (*in.text == ' ' || *in.text == '-')
			in.text++;
		if (mc_advice_explain(&in, &adv) != MC_OK) {
			r->nomem = 1;
			goto out;
		}
		detail = mc_strdupf("%s: %s", hp, msg != NULL ? msg : adv.explain);
		advice = adv.advice;
		adv.advice = NULL;
		err = adv.err != MC_OK ? adv.err : MC_ERR_SERVICE;
		mc_advice_clear(&adv);
	} else {
		detail = mc_strdupf("%s", msg != NULL ? msg : "cannot connect");
		advice = mc_strdupf(fail.timed_out ? "the server did not answer in "
		    "time: try again, or a longer --timeout" : "check the URL "
		    "and the server");
		if (rc == MC_ERR_SERVICE)
			err = MC_ERR_SERVICE;
		else if (rc == MC_ERR_CONFIG)
			err = MC_ERR_CONFIG;
		else if (rc == MC_ERR_TEMP)
			err = MC_ERR_TEMP;
	}
	add(r, MC_CHECK_FAILED, err, detail, advice, "tls %s", s->label);
out:
	free(hp);
	free(alt);
	free(msg);
	mc_wire_fail_clear(&fail);
}

/* ---- logins ---- */

/* The account's smtp_mech, as a login mechanism. */
static enum mc_login_mech
bearer_mech(const struct mc_account *a)
{
	return a->smtp_mech == MC_SASL_OAUTHBEARER ? MC_LOGIN_OAUTHBEARER :
	    MC_LOGIN_XOAUTH2;
}

/*
 * The mechanism for s: *mech, 0; or -1 with *detail and *advice saying
 * why none fits. strict: the account's bearer mechanism or nothing (SMTP,
 * where mailcred send uses exactly that one).
 */
static int
choose_mech(struct run *r, struct svc *s, int strict, enum mc_login_mech *mech,
    char **note, char **detail, char **advice)
{
	const struct mc_account *a = r->acct;
	enum mc_login_mech want, other;
	struct mc_wire *w = s->w;

	*note = NULL;
	if (a->auth == MC_AUTH_PASSWORD) {
		if (mc_wire_has_mech(w, "PLAIN")) {
			*mech = MC_LOGIN_PLAIN;
			return 0;
		}
		if (s->proto != MC_WIRE_SMTP || mc_wire_has_mech(w, "LOGIN")) {
			*mech = MC_LOGIN_LOGIN;
			return 0;
		}
		*detail = mc_strdupf("the server offers neither PLAIN nor LOGIN");
		*advice = mc_strdupf("this server does not take passwords: use OAuth "
		    "(auth = oauth2 in [account %s])", r->name);
		return -1;
	}
	want = bearer_mech(a);
	other = want == MC_LOGIN_XOAUTH2 ? MC_LOGIN_OAUTHBEARER :
	    MC_LOGIN_XOAUTH2;
	if (mc_wire_has_mech(w, mc_login_mech_name(want))) {
		*mech = want;
		return 0;
	}
	if (mc_wire_has_mech(w, mc_login_mech_name(other))) {
		if (strict) {
			*detail = mc_strdupf("the server offers %s, not %s",
			    mc_login_mech_name(other), mc_login_mech_name(want));
			*advice = mc_strdupf("set smtp_mech = %s in [account %s]",
			    other == MC_LOGIN_XOAUTH2 ? "xoauth2" :
			    "oauthbearer", r->name);
			return -1;
		}
		*mech = other;
		*note = mc_strdupf(" (%s is not offered)", mc_login_mech_name(want));
		return 0;
	}
	*detail = mc_strdupf("the server offers neither XOAUTH2 nor OAUTHBEARER");
	*advice = mc_strdupf("this server does not take OAuth tokens: use an app "
	    "password (auth = password in [account %s])", r->name);
	return -1;
}

/* Joins the server's capabilities for a detail ("AUTH ..." for SMTP). */
static char *
auth_offered(const struct svc *s)
{
	const char *auth;

	if (s->proto == MC_WIRE_SMTP) {
		auth = mc_wire_cap_find(s->w, "AUTH");
		return auth != NULL ? mc_strdupf("AUTH %s", auth) : NULL;
	}
	return NULL;
}

static void
check_ehlo(struct run *r, struct svc *s, int *ok)
{
	enum mc_login_mech mech;
	char *note = NULL, *detail = NULL, *advice = NULL, *auth;

	*ok = 0;
	auth = auth_offered(s);
	if (auth == NULL) {
		add(r, MC_CHECK_FAILED, MC_ERR_SERVICE, mc_strdupf("the server offers "
		    "no AUTH after %s", s->implicit ? "TLS" : "STARTTLS"),
		    mc_strdupf("this is not a submission port that takes logins: "
		    "check smtp in [account %s] (Gmail: smtp://smtp.gmail.com:"
		    "587)", r->name), "smtp ehlo");
		return;
	}
	if (choose_mech(r, s, 1, &mech, &note, &detail, &advice) != 0) {
		char *d = mc_strdupf("%s; %s", auth, detail != NULL ? detail : "");

		free(detail);
		add(r, MC_CHECK_FAILED, MC_ERR_CONFIG, d, advice, "smtp ehlo");
		free(auth);
		return;
	}
	free(note);
	*ok = 1;
	add(r, MC_CHECK_OK, MC_OK, mc_strdupf("%s; %s will be used", auth,
	    mc_login_mech_name(mech)), NULL, "smtp ehlo");
	free(auth);
}

/*
 * A refused login (or the command after it) as a failed check: what the
 * server said through auth/advice.h, else the library's message.
 */
static void
login_failed(struct run *r, const struct svc *s, const char *check, int rc,
    const struct mc_login_result *res, int after_login, char *msg)
{
	struct mc_advice_in in = MC_ADVICE_IN_INIT;
	struct mc_advice adv = MC_ADVICE_INIT;
	int have;

	have = s->proto == MC_WIRE_SMTP ? res->reply.code != 0 :
	    res->line != NULL;
	if (!have || rc == MC_ERR_NET || rc == MC_ERR_NOMEM) {
		add(r, MC_CHECK_FAILED, rc, msg != NULL ? msg :
		    mc_strdupf("the login failed"), rc == MC_ERR_SERVICE ?
		    mc_strdupf("the server does not offer a way for [account "
		    "%s] to log in, or does not answer as the protocol says: "
		    "check the %s URL (host, port) and, for oauth2, smtp_mech",
		    r->name, s->proto == MC_WIRE_SMTP ? "smtp" :
		    s->proto == MC_WIRE_IMAP ? "imap" : "pop") :
		    rc == MC_ERR_NET ? mc_strdupf("the server stopped answering "
		    "or sent something too long; try again, and a longer "
		    "--timeout may help") : advice_for(r, rc), "%s", check);
		return;
	}
	in.proto = (enum mc_advice_proto)s->proto;
	in.provider = mc_advice_provider_of(r->acct, s->u.host);
	in.auth = r->acct->auth;
	in.account = r->name;
	in.user = r->acct->user;
	in.after_login = after_login;
	in.challenge = res->have_challenge ? &res->challenge : NULL;
	if (s->proto == MC_WIRE_SMTP) {
		in.code = res->reply.code;
		in.enh = res->reply.enh;
		in.text = res->reply.text;
	} else {
		in.text = res->line;
	}
	if (mc_advice_explain(&in, &adv) != MC_OK) {
		free(msg);
		r->nomem = 1;
		return;
	}
	free(msg);
	add(r, MC_CHECK_FAILED, adv.err != MC_OK ? adv.err : rc, adv.explain,
	    adv.advice, "%s", check);
	adv.explain = NULL;
	adv.advice = NULL;
	mc_advice_clear(&adv);
}

static void
check_smtp_login(struct run *r, struct svc *s)
{
	struct mc_login_result res = MC_LOGIN_RESULT_INIT;
	enum mc_login_mech mech;
	char *msg = NULL, *note = NULL, *detail = NULL, *advice = NULL;
	int rc;

	if (choose_mech(r, s, 1, &mech, &note, &detail, &advice) != 0) {
		/* smtp ehlo said so already. */
		free(detail);
		free(advice);
		return;
	}
	free(note);
	rc = mc_smtp_login(s->w, mech, r->acct->user, r->secret, &res, &msg);
	if (rc == MC_OK) {
		free(msg);
		add(r, MC_CHECK_OK, MC_OK, mc_strdupf("logged in as %s with %s (%d%s%s)",
		    r->acct->user, mc_login_mech_name(mech), res.reply.code,
		    res.reply.enh[0] != '\0' ? " " : "", res.reply.enh), NULL,
		    "smtp login");
		mc_smtp_quit(s->w);
	} else {
		login_failed(r, s, "smtp login", rc, &res, 0, msg);
	}
	mc_login_result_clear(&res);
}

static void
check_mailbox_login(struct run *r, struct svc *s)
{
	struct mc_login_result res = MC_LOGIN_RESULT_INIT;
	enum mc_login_mech mech;
	char *msg = NULL, *note = NULL, *detail = NULL, *advice = NULL;
	const char *check = s->proto == MC_WIRE_IMAP ? "imap login" :
	    "pop login";
	long count = -1;
	int rc;

	if (choose_mech(r, s, 0, &mech, &note, &detail, &advice) != 0) {
		add(r, MC_CHECK_FAILED, MC_ERR_SERVICE, detail, advice, "%s",
		    check);
		return;
	}
	if (s->proto == MC_WIRE_IMAP)
		rc = mc_imap_login(s->w, mech, r->acct->user, r->secret, &res,
		    &msg);
	else
		rc = mc_pop3_login(s->w, mech, r->acct->user, r->secret, &res,
		    &msg);
	if (rc != MC_OK) {
		login_failed(r, s, check, rc, &res, 0, msg);
		goto out;
	}
	free(msg);
	msg = NULL;
	if (s->proto == MC_WIRE_IMAP)
		rc = mc_imap_list(s->w, &res, &msg);
	else
		rc = mc_pop3_stat(s->w, &count, &res, &msg);
	if (rc != MC_OK) {
		login_failed(r, s, check, rc, &res, 1, msg);
		goto out;
	}
	free(msg);
	if (s->proto == MC_WIRE_IMAP) {
		add(r, MC_CHECK_OK, MC_OK, mc_strdupf("logged in as %s with %s%s; "
		    "LIST INBOX answered", r->acct->user,
		    mech == MC_LOGIN_LOGIN ? "LOGIN" : mc_login_mech_name(mech),
		    note != NULL ? note : ""), NULL, "%s", check);
		mc_imap_logout(s->w);
	} else {
		add(r, MC_CHECK_OK, MC_OK, mc_strdupf("logged in as %s with %s%s; "
		    "STAT: %ld messages", r->acct->user,
		    mech == MC_LOGIN_LOGIN ? "USER/PASS" :
		    mc_login_mech_name(mech), note != NULL ? note : "", count),
		    NULL, "%s", check);
		mc_pop3_quit(s->w);
	}
out:
	free(note);
	mc_login_result_clear(&res);
}

/* ---- one service: dns, tcp, tls, (ehlo), login ---- */

static void
skip(struct run *r, const char *why, const char *namefmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
skip(struct run *r, const char *why, const char *namefmt, ...)
{
	va_list ap;
	char *name = NULL;
	int k;

	va_start(ap, namefmt);
	k = vasprintf(&name, namefmt, ap);
	va_end(ap);
	if (k < 0) {
		r->nomem = 1;
		return;
	}
	add(r, MC_CHECK_SKIPPED, MC_OK, mc_strdupf("%s", why), NULL, "%s",
	    name);
	free(name);
}

static void
check_service(struct run *r, struct svc *s)
{
	struct mc_doctor_opts o = *r->o;
	struct mc_check c;
	int ehlo_ok = 1;
	const char *login = s->proto == MC_WIRE_SMTP ? "smtp login" :
	    s->proto == MC_WIRE_IMAP ? "imap login" : "pop login";

	if (!check_dns(r, s->u.host)) {
		skip(r, "the host does not resolve", "tcp %s", s->label);
		skip(r, "no connection", "tls %s", s->label);
		if (s->proto == MC_WIRE_SMTP)
			skip(r, "no connection", "%s", "smtp ehlo");
		skip(r, "no connection", "%s", login);
		return;
	}
	o.timeout = r->timeout;
	if (mc_doctor_tcp(&o, r->name, s->label, s->u.host, s->port, &c) !=
	    MC_OK) {
		r->nomem = 1;
		return;
	}
	s->tcp_ok = c.state == MC_CHECK_OK;
	add_made(r, &c);
	if (!s->tcp_ok) {
		skip(r, "no TCP connection", "tls %s", s->label);
		if (s->proto == MC_WIRE_SMTP)
			skip(r, "no connection", "%s", "smtp ehlo");
		skip(r, "no connection", "%s", login);
		return;
	}
	check_tls(r, s);
	if (s->w == NULL) {
		if (s->proto == MC_WIRE_SMTP)
			skip(r, "no TLS connection", "%s", "smtp ehlo");
		skip(r, "no TLS connection", "%s", login);
		return;
	}
	if (s->proto == MC_WIRE_SMTP)
		check_ehlo(r, s, &ehlo_ok);
	if (!ehlo_ok)
		skip(r, "no usable AUTH mechanism", "%s", login);
	else if (r->secret == NULL)
		skip(r, r->cred_why != NULL ? r->cred_why : "no credential",
		    "%s", login);
	else if (s->proto == MC_WIRE_SMTP)
		check_smtp_login(r, s);
	else
		check_mailbox_login(r, s);
	mc_wire_close(s->w);
	s->w = NULL;
}

int
mc_doctor_run(const struct mc_doctor_opts *opts, struct mc_doctor_report *rep,
    char **errmsg)
{
	struct run r;
	size_t i;
	int rc = MC_OK;

	rep->checks = NULL;
	rep->n = 0;
	rep->err = MC_OK;
	rep->first_failed = 0;
	memset(&r, 0, sizeof(r));
	r.o = opts;
	r.rep = rep;
	r.name = opts->account;
	r.timeout = opts->timeout > 0 ? opts->timeout : 30;
	r.svc[0].label = "smtp";
	r.svc[0].proto = MC_WIRE_SMTP;
	r.svc[1].label = "imap";
	r.svc[1].proto = MC_WIRE_IMAP;
	r.svc[2].label = "pop";
	r.svc[2].proto = MC_WIRE_POP3;

	check_config(&r);
	if (r.acct == NULL) {
		skip(&r, "the account does not resolve", "%s", "store");
		goto out;
	}
	if (!r.nomem)
		check_store(&r);
	if (r.acct->auth == MC_AUTH_OAUTH2 && !r.nomem) {
		if (r.stored)
			check_token(&r);
		else
			skip(&r, "nothing usable in the store", "%s", "token");
	}
	for (i = 0; i < 3 && !r.nomem; i++)
		if (r.svc[i].url != NULL)
			check_service(&r, &r.svc[i]);
out:
	if (r.nomem) {
		rc = mc_fail(MC_ERR_NOMEM, errmsg, "out of memory");
		mc_doctor_report_clear(rep);
	}
	for (i = 0; i < 3; i++) {
		mc_wire_close(r.svc[i].w);
		free(r.hosts[i]);
	}
	mc_free_secret(r.secret);
	mc_token_set_clear(&r.ts);
	mc_account_free(r.acct);
	mc_config_free(r.cfg);
	return rc;
}
