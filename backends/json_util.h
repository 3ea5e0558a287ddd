/* json_util.h: tolerant getters over jansson, for API answers whose types drift between versions
 * (Proxmox sends numbers as strings, LXC vmid as a string, ...). */
#ifndef LABDECK_JSON_UTIL_H
#define LABDECK_JSON_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* json_str: the string at key, or NULL when absent or not a string. */
const char *json_str(const json_t *obj, const char *key);
/* json_num: a number or a numeric string at key into *out; false when absent/unusable. */
bool json_num(const json_t *obj, const char *key, double *out);
/* json_int: like json_num, truncated to int64. */
bool json_int(const json_t *obj, const char *key, int64_t *out);
/* json_path: obj["a"]["b"]... for a NULL-terminated list of keys. */
json_t *json_path(const json_t *obj, ...);
/* json_load_body parses len bytes; NULL on error with the parse error in errbuf (size 160). */
json_t *json_load_body(const char *body, size_t len, char *errbuf, size_t errbuf_size);

/* json_strip_key removes every member named key (at any depth) from the JSON text in buf, in
 * place, and returns the new length. Strings and escapes are respected, so the name inside a
 * string value is left alone. Used to drop Kubernetes' managedFields before parsing: they are
 * most of a pod's metadata and nothing we show. Text that is not well-formed is returned with
 * whatever was removed before the problem; the parser then reports it. */
size_t json_strip_key(char *buf, size_t len, const char *key);

/* json_arena_begin switches jansson to a bump allocator until json_arena_end, which releases
 * everything allocated in between at once. For big answers parsed, read and dropped in one go (a
 * page of 500 pods is ~2 MB of JSON and ~100,000 small allocations): malloc and free of the tree
 * were half the time of `labdeck pods`. Every json_t made in between must be decref'd before
 * json_arena_end, and no json_t made before may be freed in between. Not nestable. */
void json_arena_begin(void);
void json_arena_end(void);

#endif
