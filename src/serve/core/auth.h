/* API keys (--api-keys FILE): who may call glint serve.
 *
 * The file holds one key a line, as `NAME SHA256` — the key's name (for
 * metrics and logs) and the hex SHA-256 of the key itself, never the key
 * (make the line with `printf %s "$KEY" | sha256sum`); `#` starts a comment.
 * A request presents its key as `Authorization: Bearer KEY` or
 * `x-api-token: KEY` (what the Groundlight SDK sends). Its SHA-256 is
 * compared with every stored hash in constant time.
 *
 * Which requests need a key is the modules' say (serve_module.access): the
 * probes never, admin routes always, the rest when glint listens beyond
 * loopback. Without a file nothing is checked. The server reloads the file
 * when it changes (auth_reload); a file that no longer parses leaves the
 * keys it had. Loop thread only. */
#ifndef GLINT_SERVE_CORE_AUTH_H
#define GLINT_SERVE_CORE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "serve/core/strbuf.h"

#define AUTH_NAME_MAX 64

typedef struct auth auth;

/* Reads the keys file. NULL with the message in err on failure (unreadable,
 * a line that is not NAME and 64 hex digits, a name twice, no key). */
auth *auth_load(const char *path, char *err, size_t err_size);
void auth_free(auth *a);

/* Re-reads a's file if it changed since it was read: 1 reloaded, 0
 * unchanged, -1 it changed but does not parse (err says why; the keys stay). */
int auth_reload(auth *a, char *err, size_t err_size);

/* The index of the key `token` (len bytes) is, or -1 (counted as refused).
 * A match is counted under its name. */
int auth_check(auth *a, const char *token, size_t len);

/* Keys held now. */
int auth_count(const auth *a);

/* glint_api_key_requests_total{key} and glint_api_key_refused_total. */
void auth_metrics(const auth *a, strbuf *sb);

#endif
