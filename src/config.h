/* config.h: the parsed, validated configuration. A struct conf is built once
 * per (re)load and never changed afterwards. */
#ifndef SHEATH_CONFIG_H
#define SHEATH_CONFIG_H

#include <stdio.h>

#include "addr.h"
#include "keys.h"
#include "util.h"

enum mode { MODE_CLIENT, MODE_SERVER, MODE_BRIDGE };
enum verify_mode { VERIFY_REQUIRE, VERIFY_OPTIONAL, VERIFY_NONE };
enum proxy_version { PROXY_OFF, PROXY_V1, PROXY_V2 };

/* NORMAL's ciphers and groups, TLS 1.2 and 1.3 only, in another order.
 * AES-128-GCM first (RFC 8446's mandatory suite, first in Mozilla's
 * recommendation): 128-bit strength like the X25519 and P-256 key exchange,
 * fewer AES rounds, and a SHA-256 key schedule instead of SHA-384. X25519
 * first: with nettle it is a third of the cost of SECP256R1 per handshake,
 * and it is what OpenSSL peers prefer too. */
#define DEFAULT_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:" \
	"-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:" \
	"+AES-128-CCM:+AES-256-CCM:+AES-128-CBC:+AES-256-CBC:" \
	"-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:" \
	"+GROUP-SECP521R1:+GROUP-X448:+GROUP-FFDHE2048:+GROUP-FFDHE3072:" \
	"+GROUP-FFDHE4096:+GROUP-FFDHE6144:+GROUP-FFDHE8192"
#define MAX_CONNECT_ADDRS 16
#define WORKERS_AUTO (-1)
#define WORKERS_MAX 64

/* TLS settings of one side of a service (the service itself, or its
 * bridge-mode `upstream` group). */
struct tls_conf {
	char *cert, *key, *ca, *crl;
	int verify;
	char *verify_name, *sni, *priority;
	struct strlist allow_cn, allow_dns, allow_uri, allow_ou;
	struct strlist pin_sha256, alpn;
	char *psk_file, *psk_identity;
	int line[KEYS_COUNT];	/* where each key was set; 0 = not set */
};

struct service_conf {
	char *name;
	int mode;
	char *accept;
	struct strlist connect;
	struct tls_conf tls;		/* accept side (server/bridge) or
					 * connect side (client) */
	struct tls_conf upstream;	/* bridge: connect side */
	int has_upstream;
	char *ocsp_response, *ticket_key_file;
	int proxy_protocol;
	int accept_proxy;
	struct strlist accept_proxy_from;
	double timeout_connect, timeout_handshake, timeout_idle;
	int tcp_keepalive;		/* s of silence before probes; 0 off */
	int max_connections;		/* 0 = only the global cap */
	int session_resumption;		/* tickets (server), cache (client) */
	char *unix_mode, *unix_group;	/* of an `accept` unix: socket */
	char *file;
	int line[KEYS_COUNT];
	int def_line;			/* line of the service group */
	int invalid;			/* conf_validate found errors */

	/* Derived by validation. */
	struct addr_spec accept_addr;
	struct unix_perm unix_perm;
	struct addr_spec connect_addr[MAX_CONNECT_ADDRS];
	int nconnect;
	struct addr_prefix *proxy_from;	/* accept_proxy_from, parsed */
	size_t nproxy_from;
};

struct conf {
	char *file;		/* main file, or NULL for the ad-hoc form */
	char *log;
	int log_level;
	char *pid_file, *user, *group, *chroot, *include_dir, *metrics;
	char *unix_mode, *unix_group;	/* of a unix: `metrics` socket */
	struct unix_perm metrics_perm;	/* derived by validation */
	int max_connections;
	int workers;		/* WORKERS_AUTO: one per usable CPU */
	double shutdown_timeout;
	int sandbox;		/* seccomp filter in serving processes */
	int line[KEYS_COUNT];
	struct service_conf *svc;
	size_t nsvc;
	int errors;		/* problems conf_read found (and printed) */
	int syntax_error;	/* a file libconfig could not parse */
};

/** conf_new(): a conf with every global default filled in. */
struct conf *conf_new(void);
/** conf_free(c): free a conf; NULL is a no-op. */
void conf_free(struct conf *c);

/** conf_add_service(c, file, line): append a service with defaults. */
struct service_conf *conf_add_service(struct conf *c, const char *file,
    int line);

/** conf_read(path, foreground, err): parse the main file and include_dir
 * into a new conf, without conf_validate (the caller may add services
 * first). Returns NULL only when a file could not be parsed at all;
 * otherwise c->errors counts what was printed (to err: stderr, or a buffer
 * on reload). */
struct conf *conf_read(const char *path, int foreground, FILE *err);

/** conf_parse_string(text, name, c, err): parse libconfig text as a main
 * file into c without include_dir (used by tests and fuzzing). Returns the
 * number of errors printed. */
int conf_parse_string(const char *text, const char *name, struct conf *c,
    FILE *err);

/** conf_validate(c, err): cross-key checks; returns the number of errors. */
int conf_validate(struct conf *c, FILE *err);

/** conf_workers(c): the number of processes to run: `workers`, or for
 * "auto" the CPUs this process may run on (sched_getaffinity), 1 to
 * WORKERS_MAX. */
int conf_workers(const struct conf *c);

/** conf_dump(c, out): the effective configuration in libconfig syntax. */
void conf_dump(const struct conf *c, FILE *out);

/** conf_report(err, file, line, key, fmt, ...): one error line in the
 * "sheath: FILE:LINE: KEY: message" form. */
void conf_report(FILE *err, const char *file, int line, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

const char *mode_name(int mode);

/* ---- the command line ----------------------------------------------------
 * Every service and TLS key is also an option, --KEY VALUE (--upstream-KEY
 * for a bridge's upstream side); they make one service, `cli`. */

struct option;

/* The val of the first key option in conf_cli_options()'s table. */
#define CONF_CLI_OPT_BASE 512

/* One --KEY VALUE. */
struct conf_cli_kv {
	const struct key *k;
	int upstream;
	const char *value;
	const char *flag;	/* the option's name, for errors */
};

/* What the command line says about the configuration. */
struct conf_cli {
	const char *config;		/* -c FILE, or NULL */
	const char *default_config;	/* read when neither -c nor a key */
	int foreground, test;
	const char *log_level;		/* -l LEVEL, or NULL */
	struct conf_cli_kv *kv;
	size_t nkv;
};

/** conf_cli_options(fixed, nfixed): getopt_long()'s table: an option with a
 * required argument per key (val CONF_CLI_OPT_BASE and up), then the nfixed
 * options of fixed, then the terminating zero entry. A static table. */
const struct option *conf_cli_options(const struct option *fixed,
    size_t nfixed);

/** conf_cli_add_kv(cli, val, value): record the key option val (as
 * getopt_long() returned it) with its value, which must outlive cli. */
void conf_cli_add_kv(struct conf_cli *cli, int val, const char *value);

/** conf_add_cli_service(c, kv, nkv, err): append the `cli` service made of
 * the options kv. Returns the number of errors printed to err. */
int conf_add_cli_service(struct conf *c, const struct conf_cli_kv *kv,
    size_t nkv, FILE *err);

/** conf_build(cli, err): the configuration from the file and/or the key
 * options of cli, validated; problems go to err and give NULL. What start-up
 * and a reload call. */
struct conf *conf_build(const struct conf_cli *cli, FILE *err);

#endif
