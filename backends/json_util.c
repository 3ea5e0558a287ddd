/* json_util.c: see json_util.h. */
#include "json_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *json_str(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

bool json_num(const json_t *obj, const char *key, double *out)
{
	json_t *v = json_object_get(obj, key);
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return isfinite(*out);
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		double d = strtod(s, &end);
		if (end != s && *end == '\0' && isfinite(d)) {
			*out = d;
			return true;
		}
	}
	return false;
}

bool json_int(const json_t *obj, const char *key, int64_t *out)
{
	double d;
	if (!json_num(obj, key, &d) || d > 9.2e18 || d < -9.2e18) {
		return false;
	}
	*out = (int64_t)d;
	return true;
}

json_t *json_path(const json_t *obj, ...)
{
	va_list ap;
	va_start(ap, obj);
	const json_t *cur = obj;
	const char *key;
	while (cur && (key = va_arg(ap, const char *)) != NULL) {
		cur = json_object_get(cur, key);
	}
	va_end(ap);
	return (json_t *)cur;
}

json_t *json_load_body(const char *body, size_t len, char *errbuf, size_t errbuf_size)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
	if (!root && errbuf) {
		snprintf(errbuf, errbuf_size, "%s at byte %d", jerr.text, jerr.position);
	}
	return root;
}
