/* tls.h: certificate trust for libcurl's OpenSSL backend — CA files and blobs, client
 * certificates, and SHA-256 pinning checked inside the TLS handshake, before a single request
 * byte (or token) is sent. */
#ifndef LABDECK_TLS_H
#define LABDECK_TLS_H

#include <curl/curl.h>
#include <stdbool.h>

#include "http.h"

/* Per-request TLS state; lives as long as the request. */
struct tls_state {
	char pin[97];      /* the configured pin, normalised, or "" */
	char seen[97];     /* SHA-256 of the leaf certificate the server presented, or "" */
	bool pin_mismatch; /* the handshake was refused because the pin did not match */
};

/* tls_apply sets every TLS option on the easy handle for these settings. */
void tls_apply(CURL *easy, const struct http_tls *tls, struct tls_state *st);

/* tls_describe_failure writes a person-readable explanation of a failed TLS handshake into out:
 * for a pin mismatch both fingerprints; for an unverifiable certificate its fingerprint and the
 * exact `fingerprint = ...` line that would pin it. */
void tls_describe_failure(const struct tls_state *st, const char *curl_msg, char *out,
                          size_t out_size);

/* tls_fingerprint_der computes the upper-case colon-hex SHA-256 of a DER certificate. */
void tls_fingerprint_der(const unsigned char *der, size_t len, char out[97]);

#endif
