/* util.c: see util.h. */
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void out_of_memory(void)
{
	fputs("labdeck: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		out_of_memory();
	}
	return p;
}

void *xcalloc(size_t count, size_t n)
{
	void *p = calloc(count ? count : 1, n ? n : 1);
	if (!p) {
		out_of_memory();
	}
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		out_of_memory();
	}
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* format is vasprintf that aborts on exhaustion; *len (when not NULL) is the length, which a
 * %c of NUL makes longer than strlen. */
static char *format(const char *fmt, va_list ap, size_t *len)
{
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	if (n < 0) {
		out_of_memory();
	}
	if (len) {
		*len = (size_t)n;
	}
	return s;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	return format(fmt, ap, NULL);
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_finish(struct buf *b)
{
	if (!b) {
		return;
	}
	free(b->data);
	buf_init(b);
}

static void buf_reserve(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (need <= b->cap) {
		return;
	}
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need) {
		cap *= 2;
	}
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void buf_append(struct buf *b, const void *data, size_t n)
{
	buf_reserve(b, n);
	if (n) {
		memcpy(b->data + b->len, data, n);
	}
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n;
	char *s = format(fmt, ap, &n);
	va_end(ap);
	buf_append(b, s, n);
	free(s);
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data) {
		b->data[b->len] = '\0';
	}
}

char *buf_steal(struct buf *b)
{
	char *p = b->data ? b->data : xstrdup("");
	buf_init(b);
	return p;
}

char *path_expand(const char *path)
{
	if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
		const char *home = getenv("HOME");
		return xasprintf("%s%s", home ? home : "", path + 1);
	}
	return xstrdup(path);
}

int hex_digit(int c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

char *str_trim(char *s)
{
	char *start = s;
	while (*start && isspace((unsigned char)*start)) {
		start++;
	}
	size_t len = strlen(start);
	while (len && isspace((unsigned char)start[len - 1])) {
		len--;
	}
	memmove(s, start, len);
	s[len] = '\0';
	return s;
}

int64_t now_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double now_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

bool rfc3339_parse(const char *s, double *out)
{
	if (!s) {
		return false;
	}
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p) {
		return false;
	}
	/* Fraction and offset by hand: strtod depends on LC_NUMERIC (a ',' locale rejects ".5") and
	 * accepts exponents; the offset must be exactly "+hh:mm". */
	double frac = 0;
	if (*p == '.') {
		double scale = 0.1;
		p++;
		if (!isdigit((unsigned char)*p)) {
			return false;
		}
		while (isdigit((unsigned char)*p)) {
			frac += (*p - '0') * scale;
			scale /= 10;
			p++;
		}
	}
	long offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		const char *o = p + 1;
		for (int i = 0; i < 5; i++) {
			if (i == 2 ? o[i] != ':' : !isdigit((unsigned char)o[i])) {
				return false;
			}
		}
		int hh = (o[0] - '0') * 10 + (o[1] - '0');
		int mm = (o[3] - '0') * 10 + (o[4] - '0');
		if (hh > 23 || mm > 59) {
			return false;
		}
		offset = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return false;
	}
	if (*p) {
		return false;
	}
	time_t t = timegm(&tm);
	*out = (double)t - (double)offset + frac;
	return true;
}

char *url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b;
	buf_init(&b);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		/* ASCII only: isalnum() would pass bytes >= 0x80 through in an 8-bit locale */
		bool unreserved = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		                  (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' ||
		                  *p == '~';
		if (unreserved) {
			buf_append(&b, p, 1);
		} else {
			char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			buf_append(&b, enc, 3);
		}
	}
	return buf_steal(&b);
}

static int b64_value(int c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	if (c == '+' || c == '-') {
		return 62;
	}
	if (c == '/' || c == '_') {
		return 63;
	}
	return -1;
}

unsigned char *base64_decode(const char *in, size_t *out_len)
{
	size_t n = strlen(in);
	unsigned char *out = xmalloc(n / 4 * 3 + 4);
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	bool padding = false;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)in[i];
		if (isspace(c)) {
			continue;
		}
		if (c == '=') {
			padding = true;
			continue;
		}
		int v = b64_value(c);
		if (v < 0 || padding) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (bits == 6) {
		/* one dangling character carries less than a byte: truncated input */
		free(out);
		return NULL;
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}
