/* resolve.c: see resolve.h.
 *
 * Every answer, whether evdns gave it, gave it at once (a name from /etc/hosts), or no DNS was
 * needed, is first stored in the lookup, then delivered by a loop event of the lookup's own
 * (`deliver`). That event is also where the evdns_base is freed: never inside an evdns
 * callback. A lookup cancelled while evdns still holds it only loses its callback; it is freed
 * when evdns calls back (with EVUTIL_EAI_CANCEL) and `deliver` runs. */
#include "resolve.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "util.h"

struct resolve_lookup {
	struct evdns_base *dns;
	struct evdns_getaddrinfo_request *req; /* evdns has not called back yet, or NULL */
	struct event *deliver;
	resolve_fn fn; /* NULL once cancelled */
	void *ud;
	char *host;
	bool waiting; /* evdns holds the lookup: it will call on_evdns */
	bool ok;
	char ip[INET6_ADDRSTRLEN];
	struct err err;
};

bool resolve_is_numeric(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static bool is_localhost(const char *host)
{
	return strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0;
}

static void lookup_free(struct resolve_lookup *lk)
{
	if (lk->dns) {
		evdns_base_free(lk->dns, 0);
	}
	event_free(lk->deliver);
	free(lk->host);
	free(lk);
}

static void on_deliver(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct resolve_lookup *lk = arg;
	resolve_fn fn = lk->fn;
	void *ud = lk->ud;
	bool ok = lk->ok;
	char ip[sizeof(lk->ip)];
	memcpy(ip, lk->ip, sizeof(ip));
	struct err err = lk->err;
	lookup_free(lk); /* the callback may start another lookup, or free its owner */
	if (fn) {
		fn(ud, ok ? ip : NULL, ok ? NULL : &err);
	}
}

static void answer_ip(struct resolve_lookup *lk, const char *ip)
{
	lk->ok = true;
	snprintf(lk->ip, sizeof(lk->ip), "%s", ip);
	event_active(lk->deliver, 0, 0);
}

static void answer_err(struct resolve_lookup *lk)
{
	lk->ok = false;
	event_active(lk->deliver, 0, 0);
}

static void on_evdns(int result, struct evutil_addrinfo *res, void *arg)
{
	struct resolve_lookup *lk = arg;
	lk->waiting = false;
	lk->req = NULL;
	struct evutil_addrinfo *pick = NULL;
	for (struct evutil_addrinfo *ai = res; ai && result == 0; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			pick = ai;
			break;
		}
		if (ai->ai_family == AF_INET6 && !pick) {
			pick = ai;
		}
	}
	if (pick) {
		char ip[INET6_ADDRSTRLEN];
		const void *addr =
		        pick->ai_family == AF_INET
		                ? (const void *)&((struct sockaddr_in *)pick->ai_addr)->sin_addr
		                : (const void *)&((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr;
		inet_ntop(pick->ai_family, addr, ip, sizeof(ip));
		answer_ip(lk, ip);
	} else {
		err_set(&lk->err, ERR_UNREACHABLE, 0, "cannot resolve %s: %s", lk->host,
		        result ? evutil_gai_strerror(result) : "no address");
		answer_err(lk);
	}
	if (res) {
		evutil_freeaddrinfo(res);
	}
}

struct resolve_lookup *resolve_start(struct event_base *base, const char *host, resolve_fn fn,
                                     void *ud)
{
	struct resolve_lookup *lk = xcalloc(1, sizeof(*lk));
	lk->fn = fn;
	lk->ud = ud;
	lk->host = xstrdup(host);
	lk->deliver = event_new(base, -1, 0, on_deliver, lk);
	if (resolve_is_numeric(host)) {
		answer_ip(lk, host);
		return lk;
	}
	if (is_localhost(host)) {
		answer_ip(lk, "127.0.0.1");
		return lk;
	}
	lk->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	                                       EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!lk->dns) {
		err_set(&lk->err, ERR_NETWORK, 0, "cannot start a name lookup for %s", host);
		answer_err(lk);
		return lk;
	}
	struct evutil_addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	lk->waiting = true;
	/* Calls on_evdns before it returns when it can answer at once (a name from /etc/hosts),
	 * and then returns NULL. */
	struct evdns_getaddrinfo_request *req =
	        evdns_getaddrinfo(lk->dns, host, NULL, &hints, on_evdns, lk);
	if (lk->waiting) {
		lk->req = req;
	}
	return lk;
}

void resolve_cancel(struct resolve_lookup *lk)
{
	if (!lk) {
		return;
	}
	if (!lk->waiting) {
		lookup_free(lk); /* the answer was not delivered yet: it never will be */
		return;
	}
	lk->fn = NULL;
	if (lk->req) {
		/* evdns calls back with EVUTIL_EAI_CANCEL, from the loop; `deliver` then frees. */
		evdns_getaddrinfo_cancel(lk->req);
		lk->req = NULL;
	}
}
