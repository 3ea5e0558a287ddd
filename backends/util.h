/* util.h: allocation that aborts on exhaustion, a growable byte buffer, and small string helpers.
 */
#ifndef LABDECK_UTIL_H
#define LABDECK_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Out of memory aborts (see DESIGN.md), so callers never check for NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* xstrndup copies at most n bytes and always terminates. */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* xvasprintf is xasprintf with a va_list, which it uses up (va_end stays the caller's). */
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* A growable byte buffer that always keeps a terminating NUL after len bytes. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
void buf_finish(struct buf *b);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* buf_consume drops the first n bytes (used by the stream splitters). */
void buf_consume(struct buf *b, size_t n);
/* buf_steal hands the data to the caller (never NULL) and resets the buffer. */
char *buf_steal(struct buf *b);

/* path_expand returns a new string with a leading "~/" replaced by $HOME. */
char *path_expand(const char *path);

/* hex_digit is the value of the hexadecimal digit c (0-9, a-f, A-F), or -1 for any other. */
int hex_digit(int c);

/* str_eq is strcmp()==0 that treats NULL as distinct from every string. */
bool str_eq(const char *a, const char *b);
bool str_has_prefix(const char *s, const char *prefix);
/* str_trim trims ASCII whitespace in place and returns s. */
char *str_trim(char *s);

/* now_mono_ms: monotonic milliseconds; now_wall: seconds since the epoch. */
int64_t now_mono_ms(void);
double now_wall(void);

/* rfc3339_parse turns "2024-05-01T10:00:00Z" (or with an offset) into epoch seconds. */
bool rfc3339_parse(const char *s, double *out);

/* url_escape percent-encodes everything but unreserved characters. */
char *url_escape(const char *s);

/* base64_decode decodes standard base64 (whitespace ignored); NULL on bad input. */
unsigned char *base64_decode(const char *in, size_t *out_len);

#endif
