/* keys.h: the one table of configuration keys. It drives the libconfig
 * parser, the ad-hoc command-line form, the -T dump and --list-keys, so the
 * four can never drift apart. */
#ifndef SHEATH_KEYS_H
#define SHEATH_KEYS_H

#include <stddef.h>
#include <stdio.h>

enum key_id {
	/* global */
	K_LOG, K_LOG_LEVEL, K_PID_FILE, K_USER, K_GROUP, K_CHROOT,
	K_INCLUDE_DIR, K_GMAX_CONNECTIONS, K_WORKERS, K_SHUTDOWN_TIMEOUT,
	K_METRICS, K_SANDBOX, K_GUNIX_MODE, K_GUNIX_GROUP,
	/* service */
	K_NAME, K_MODE, K_ACCEPT, K_CONNECT, K_OCSP_RESPONSE,
	K_TICKET_KEY_FILE, K_PROXY_PROTOCOL, K_ACCEPT_PROXY, K_ACCEPT_PROXY_FROM,
	K_TIMEOUT_CONNECT, K_TIMEOUT_HANDSHAKE, K_TIMEOUT_IDLE, K_TCP_KEEPALIVE,
	K_MAX_CONNECTIONS, K_SESSION_RESUMPTION, K_UNIX_MODE, K_UNIX_GROUP,
	K_UPSTREAM,
	/* TLS side: valid in a service and in its upstream group */
	K_CERT, K_KEY, K_CA, K_CRL, K_VERIFY, K_VERIFY_NAME, K_SNI,
	K_ALLOW_CN, K_ALLOW_DNS, K_ALLOW_URI, K_ALLOW_OU, K_PIN_SHA256,
	K_PRIORITY, K_ALPN, K_PSK_FILE, K_PSK_IDENTITY,
	KEYS_COUNT
};

enum key_type { KT_STRING, KT_STRLIST, KT_INT, KT_NUMBER, KT_BOOL, KT_ENUM,
	KT_GROUP };
enum key_scope { KS_GLOBAL, KS_SERVICE, KS_TLS };

/* Modes a key applies to (bit per enum mode). */
#define M_CLIENT 1u
#define M_SERVER 2u
#define M_BRIDGE 4u
#define M_ALL (M_CLIENT | M_SERVER | M_BRIDGE)

struct key {
	enum key_id id;
	const char *name;
	enum key_type type;
	enum key_scope scope;
	size_t off;			/* into conf, service_conf or tls_conf */
	const char *const *choices;	/* KT_ENUM: NULL-terminated */
	double min, max;		/* KT_INT, KT_NUMBER */
	unsigned modes;
};

extern const struct key keys[KEYS_COUNT];

/** key_find(name, scope): the key of that name usable in scope (a KS_TLS key
 * is usable in KS_SERVICE), or NULL. */
const struct key *key_find(const char *name, enum key_scope scope);

/** key_suggest(name, scope): the key usable in scope (or `services` at the
 * top level) whose name is closest to an unknown name, when it is close
 * enough to be a typo (dashes and case aside); NULL otherwise. */
const char *key_suggest(const char *name, enum key_scope scope);

/** key_set_string(k, base, value, err, errlen): set k in the struct at base
 * from a command-line string (lists append). Returns 0 or -1 with a reason. */
int key_set_string(const struct key *k, void *base, const char *value,
    char *err, size_t errlen);

struct config_setting_t;
/** key_set_setting(k, base, s, err, errlen): set k from a libconfig
 * setting, checking its type. Returns 0 or -1 with a reason. */
int key_set_setting(const struct key *k, void *base,
    const struct config_setting_t *s, char *err, size_t errlen);

/** key_is_set(k, base): whether a string/list key holds a value. */
int key_is_set(const struct key *k, const void *base);

/** key_dump(k, base, out, indent): print "name = value;" in libconfig syntax,
 * nothing for unset strings/lists. */
void key_dump(const struct key *k, const void *base, FILE *out,
    const char *indent);

/** key_list(out): every key, one per line: "name<TAB>scope<TAB>type". */
void key_list(FILE *out);

#endif
