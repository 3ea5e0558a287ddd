/* tls.c: see tls.h. The pin is checked by an OpenSSL verify callback installed through
 * CURLOPT_SSL_CTX_FUNCTION, so a wrong certificate aborts the handshake itself: no request line,
 * header or token ever reaches an impostor. */
#include "tls.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

/* Index of our tls_state pointer in each SSL_CTX that curl creates for a connection. */
static int state_index = -1;

void tls_fingerprint_der(const unsigned char *der, size_t len, char out[97])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	out[0] = '\0';
	if (!EVP_Digest(der, len, md, &md_len, EVP_sha256(), NULL)) {
		return;
	}
	for (unsigned i = 0; i < md_len; i++) {
		snprintf(out + i * 3, 4, i + 1 < md_len ? "%02X:" : "%02X", md[i]);
	}
}

static void fingerprint_x509(X509 *cert, char out[97])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	out[0] = '\0';
	if (!X509_digest(cert, EVP_sha256(), md, &md_len)) {
		return;
	}
	for (unsigned i = 0; i < md_len; i++) {
		snprintf(out + i * 3, 4, i + 1 < md_len ? "%02X:" : "%02X", md[i]);
	}
}

static struct tls_state *state_from_store(X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	if (!ssl) {
		return NULL;
	}
	return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), state_index);
}

/* Records the leaf certificate's fingerprint and, when pinned, decides on it alone. */
static int verify_cb(int preverify_ok, X509_STORE_CTX *store)
{
	struct tls_state *st = state_from_store(store);
	if (!st) {
		return preverify_ok;
	}
	X509 *leaf = X509_STORE_CTX_get0_cert(store);
	if (leaf && !st->seen[0]) {
		fingerprint_x509(leaf, st->seen);
	}
	if (!st->pin[0]) {
		return preverify_ok;
	}
	/* Pinned: the leaf's SHA-256 is the whole decision (self-signed Proxmox certificates). */
	if (strcmp(st->seen, st->pin) == 0) {
		return 1;
	}
	st->pin_mismatch = true;
	return 0;
}

static CURLcode ssl_ctx_cb(CURL *easy, void *ssl_ctx, void *userptr)
{
	(void)easy;
	struct tls_state *st = userptr;
	SSL_CTX *ctx = ssl_ctx;
	SSL_CTX_set_ex_data(ctx, state_index, st);
	if (st->pin[0]) {
		/* curl set VERIFY_NONE because VERIFYPEER is off; turn verification back on with
		 * the callback that knows the pin. */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
	} else {
		SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), verify_cb);
	}
	return CURLE_OK;
}

void tls_apply(CURL *easy, const struct http_tls *tls, struct tls_state *st)
{
	memset(st, 0, sizeof(*st));
	if (state_index < 0) {
		state_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	}
	if (!tls) {
		curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
		curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, st);
		return;
	}
	if (tls->client_cert_pem) {
		struct curl_blob cert = {(void *)tls->client_cert_pem, strlen(tls->client_cert_pem),
		                         CURL_BLOB_COPY};
		curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &cert);
		curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (tls->client_key_pem) {
		struct curl_blob key = {(void *)tls->client_key_pem, strlen(tls->client_key_pem),
		                        CURL_BLOB_COPY};
		curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &key);
		curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (tls->insecure) {
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
		return;
	}
	if (tls->fingerprint && tls->fingerprint[0]) {
		snprintf(st->pin, sizeof(st->pin), "%s", tls->fingerprint);
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
		/* A resumed session would skip the certificate, and with it the pin check. */
		curl_easy_setopt(easy, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	} else {
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
		if (tls->ca_file) {
			curl_easy_setopt(easy, CURLOPT_CAINFO, tls->ca_file);
		}
		if (tls->ca_pem) {
			struct curl_blob ca = {(void *)tls->ca_pem, strlen(tls->ca_pem),
			                       CURL_BLOB_COPY};
			curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &ca);
		}
	}
	curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
	curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, st);
}

void tls_describe_failure(const struct tls_state *st, const char *curl_msg, char *out,
                          size_t out_size)
{
	if (st->pin_mismatch) {
		snprintf(
		        out, out_size,
		        "certificate fingerprint mismatch: the server presented %s but fingerprint "
		        "= %s is pinned; nothing was sent. If the certificate was renewed on "
		        "purpose, "
		        "put the new value in the config",
		        st->seen[0] ? st->seen : "(none)", st->pin);
	} else if (st->seen[0] && strstr(curl_msg, "target host name")) {
		/* curl's words for a certificate made out to other names */
		snprintf(
		        out, out_size,
		        "TLS certificate is not for this host name (%s): use a name it carries in "
		        "the url (with a kubeconfig: tls-server-name), or, if that is your server, "
		        "pin it with: fingerprint = %s",
		        curl_msg, st->seen);
	} else if (st->seen[0]) {
		snprintf(
		        out, out_size,
		        "TLS certificate not trusted (%s). The server's SHA-256 fingerprint is %s; "
		        "if that is your server (Proxmox shows it under Certificates), pin it "
		        "with: "
		        "fingerprint = %s",
		        curl_msg, st->seen, st->seen);
	} else {
		snprintf(out, out_size, "TLS handshake failed (%s)", curl_msg);
	}
}
