/* resolve.h: a host name to one address to connect to, without blocking the libevent loop.
 *
 * A numeric address (IPv4 or IPv6) is its own answer, and "localhost" is 127.0.0.1: neither
 * needs DNS. Any other name goes to libevent's evdns (/etc/hosts first, then the nameservers of
 * /etc/resolv.conf), and the first IPv4 address of the answer is picked, else the first IPv6.
 *
 * The answer always comes from the loop, never from inside resolve_start, so the caller has
 * stored the lookup before it is called. A lookup in flight may outlive its owner: evdns always
 * calls back, later, even for a cancelled lookup, so the lookup is a heap object of its own that
 * resolve_cancel detaches and that frees itself when evdns is done with it. Each lookup has its
 * own evdns_base (reading /etc/resolv.conf and /etc/hosts anew, so a changed address is seen on
 * the next connect). */
#ifndef LABDECK_RESOLVE_H
#define LABDECK_RESOLVE_H

#include <stdbool.h>

#include "err.h"

struct event_base;
struct resolve_lookup;

/* Called once, from the loop, with the address as text ("10.0.0.5", "::1") and NULL, or with
 * NULL and why: ERR_UNREACHABLE "cannot resolve HOST: REASON" or ERR_NETWORK "cannot start a
 * name lookup for HOST" (no prefix: the caller adds its own). The lookup is over and freed when
 * this runs: the caller must forget its handle and not cancel it. */
typedef void (*resolve_fn)(void *ud, const char *ip, const struct err *err);

/* resolve_start looks host up on base and calls fn(ud, ...) once, later, from the loop. host is
 * copied. Never NULL. */
struct resolve_lookup *resolve_start(struct event_base *base, const char *host, resolve_fn fn,
                                     void *ud);

/* resolve_cancel ends a lookup whose callback has not run yet: the callback never runs. What
 * evdns still holds is freed when evdns calls back, from the loop. NULL-safe. */
void resolve_cancel(struct resolve_lookup *lk);

/* resolve_is_numeric: host is an IPv4 or IPv6 address, not a name. */
bool resolve_is_numeric(const char *host);

#endif
