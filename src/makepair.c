/* makepair.c: `sheath --make-pair DIR`. Everything (keys, certificates,
 * configs) is made in memory first and checked; only then is DIR written,
 * each file with O_EXCL and its final mode, so a failure leaves nothing
 * behind and a key is never readable by others, not even for a moment. */
#include "autoconfig.h"
#include "makepair.h"
#include "addr.h"
#include "util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 1000
#define MAX_DAYS 36500
#define MAX_FILES (8 + 4 * MAX_CLIENTS)

struct pair_opts {
	const char *dir, *name, *server_name, *server_accept, *backend;
	const char *client_accept, *server_connect, *etc_arg;
	char *etc;		/* etc_arg absolute, no trailing slash */
	char *connect;		/* --server-connect or its default */
	int days, clients;
};

/* A file or directory to create, in order. */
struct entry {
	char *path;
	char *data;		/* NULL: a directory */
	size_t len;
	mode_t mode;
	int done;
};

static struct entry ents[MAX_FILES];
static size_t nents;
static int export_failed;

static void
add_entry(const char *dir, const char *rel, char *data, size_t len,
    mode_t mode)
{
	struct entry *e = &ents[nents++];
	size_t n = strlen(dir) + strlen(rel) + 2;

	e->path = xmalloc(n);
	snprintf(e->path, n, "%s%s%s", dir, *rel ? "/" : "", rel);
	e->data = data;
	e->len = len;
	e->mode = mode;
}

static void
add_text(const char *dir, const char *rel, char *text, mode_t mode)
{
	if (text == NULL)
		export_failed = 1;
	else
		add_entry(dir, rel, text, strlen(text), mode);
}

static void
add_dir(const char *dir, const char *rel, mode_t mode)
{
	add_entry(dir, rel, NULL, 0, mode);
}

/* Undo what was created, newest first (directories are empty by then). */
static void
undo(void)
{
	for (size_t i = nents; i-- > 0;)
		if (ents[i].done)
			(void)(ents[i].data ? unlink(ents[i].path) :
			    rmdir(ents[i].path));
}

static int
write_all(void)
{
	struct entry *e = NULL;

	for (size_t i = 0; i < nents; i++) {
		ssize_t w = 0;
		int fd;

		e = &ents[i];
		if (e->data == NULL) {
			/* mkdir() is subject to the umask: set the mode
			 * after, while the directory is still empty. */
			if (mkdir(e->path, 0700) == -1)
				goto fail;
			e->done = 1;
			if (chmod(e->path, e->mode) == -1)
				goto fail;
			continue;
		}
		fd = open(e->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, e->mode & 0600);
		if (fd == -1)
			goto fail;
		e->done = 1;
		for (size_t off = 0; off < e->len; off += (size_t)w)
			if ((w = write(fd, e->data + off, e->len - off)) <= 0)
				break;
		/* 0644 files are widened only once they are complete. */
		if (w < 0 || fchmod(fd, e->mode) == -1 || fsync(fd) == -1) {
			close(fd);
			goto fail;
		}
		if (close(fd) == -1)
			goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "sheath: --make-pair: %s: %s; nothing written\n",
	    e->path, strerror(errno));
	undo();
	return -1;
}

/* ---- X.509 ------------------------------------------------------------ */

struct ident {
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
};

static void
ident_free(struct ident *id)
{
	if (id->crt)
		gnutls_x509_crt_deinit(id->crt);
	if (id->key)
		gnutls_x509_privkey_deinit(id->key);
	id->crt = NULL;
	id->key = NULL;
}

enum role { R_CA, R_SERVER, R_CLIENT };

/* One key and certificate: the CA self-signed, the others signed by ca. */
static int
make_ident(struct ident *id, enum role role, const char *cn,
    const char *san, int days, const struct ident *ca)
{
	unsigned char serial[16], kid[64];
	size_t kidlen = sizeof(kid);
	time_t now = time(NULL);
	int r;

	if ((r = gnutls_x509_privkey_init(&id->key)) < 0 ||
	    (r = gnutls_x509_privkey_generate2(id->key, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, NULL,
	    0)) < 0 ||
	    (r = gnutls_x509_crt_init(&id->crt)) < 0 ||
	    (r = gnutls_x509_crt_set_version(id->crt, 3)) < 0 ||
	    (r = gnutls_x509_crt_set_key(id->crt, id->key)) < 0 ||
	    (r = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
		goto err;
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
	/* An hour back: the other host's clock may run a little behind. */
	if ((r = gnutls_x509_crt_set_serial(id->crt, serial,
	    sizeof(serial))) < 0 ||
	    (r = gnutls_x509_crt_set_activation_time(id->crt,
	    now - 3600)) < 0 ||
	    (r = gnutls_x509_crt_set_expiration_time(id->crt,
	    now + (time_t)days * 86400)) < 0 ||
	    (r = gnutls_x509_crt_set_dn_by_oid(id->crt,
	    GNUTLS_OID_X520_COMMON_NAME, 0, cn, (unsigned)strlen(cn))) < 0 ||
	    (r = gnutls_x509_crt_get_key_id(id->crt, GNUTLS_KEYID_USE_SHA1,
	    kid, &kidlen)) < 0 ||
	    (r = gnutls_x509_crt_set_subject_key_id(id->crt, kid,
	    kidlen)) < 0)
		goto err;
	if (role == R_CA) {
		if ((r = gnutls_x509_crt_set_basic_constraints(id->crt, 1,
		    0)) < 0 ||
		    (r = gnutls_x509_crt_set_key_usage(id->crt,
		    GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN)) < 0 ||
		    (r = gnutls_x509_crt_sign2(id->crt, id->crt, id->key,
		    GNUTLS_DIG_SHA256, 0)) < 0)
			goto err;
		return 0;
	}
	kidlen = sizeof(kid);
	if ((r = gnutls_x509_crt_set_basic_constraints(id->crt, 0, -1)) < 0 ||
	    (r = gnutls_x509_crt_set_key_usage(id->crt,
	    GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
	    (r = gnutls_x509_crt_set_key_purpose_oid(id->crt, role ==
	    R_SERVER ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT,
	    0)) < 0 ||
	    (r = gnutls_x509_crt_get_subject_key_id(ca->crt, kid, &kidlen,
	    NULL)) < 0 ||
	    (r = gnutls_x509_crt_set_authority_key_id(id->crt, kid,
	    kidlen)) < 0)
		goto err;
	if (san != NULL) {
		unsigned char ip[16];
		int af = strchr(san, ':') ? AF_INET6 : AF_INET;

		if (inet_pton(af, san, ip) == 1)
			r = gnutls_x509_crt_set_subject_alt_name(id->crt,
			    GNUTLS_SAN_IPADDRESS, ip, af == AF_INET ? 4 : 16,
			    GNUTLS_FSAN_APPEND);
		else
			r = gnutls_x509_crt_set_subject_alt_name(id->crt,
			    GNUTLS_SAN_DNSNAME, san, (unsigned)strlen(san),
			    GNUTLS_FSAN_APPEND);
		if (r < 0)
			goto err;
	}
	if ((r = gnutls_x509_crt_sign2(id->crt, ca->crt, ca->key,
	    GNUTLS_DIG_SHA256, 0)) < 0)
		goto err;
	return 0;
err:
	fprintf(stderr, "sheath: --make-pair: cannot make the certificate for "
	    "%s: %s\n", cn, gnutls_strerror(r));
	ident_free(id);
	return -1;
}

/* PEM of a certificate or (PKCS#8, unencrypted) key, as a C string. */
static char *
pem(const struct ident *id, int key)
{
	gnutls_datum_t d = { NULL, 0 };
	char *s;

	if ((key ? gnutls_x509_privkey_export2_pkcs8(id->key,
	    GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &d) :
	    gnutls_x509_crt_export2(id->crt, GNUTLS_X509_FMT_PEM, &d)) < 0)
		return NULL;
	s = xmalloc(d.size + 1);
	memcpy(s, d.data, d.size);
	s[d.size] = '\0';
	gnutls_free(d.data);
	return s;
}

/* ---- configs ------------------------------------------------------------ */

/* The text so far, grown by cat(). */
struct text {
	char *s;
	size_t len;
};

static void
cat(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
cat(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	t->s = xrealloc(t->s, t->len + (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* A libconfig string literal's body, in one of 8 rotating buffers (a
 * printf takes at most 8; values were checked to hold no
 * control characters). */
static const char *
q(const char *s)
{
	static char buf[8][2 * PATH_MAX];
	static int i;
	char *o = buf[i = (i + 1) % 8];
	size_t n = 0;

	for (; *s && n + 2 < sizeof(buf[0]); s++) {
		if (*s == '"' || *s == '\\')
			o[n++] = '\\';
		o[n++] = *s;
	}
	o[n] = '\0';
	return o;
}

static char *
server_conf(const struct pair_opts *o)
{
	struct text t = { NULL, 0 };

	cat(&t, "# %s-server: the server end of the tunnel pair \"%s\", "
	    "written by\n# sheath --make-pair. It accepts TLS on %s from "
	    "clients whose certificate\n# the CA in ca.crt signed and whose CN "
	    "is in allow_cn, and forwards\n# them to %s. More clients: add "
	    "their CN to allow_cn, then\n# systemctl reload sheath. See "
	    "sheath.conf(5).\n", o->name, o->name, o->server_accept,
	    o->backend);
	cat(&t, "services = (\n  {\n    name = \"%s-server\";\n"
	    "    mode = \"server\";\n    accept = \"%s\";\n"
	    "    connect = \"%s\";\n", q(o->name), q(o->server_accept),
	    q(o->backend));
	cat(&t, "    cert = \"%s/tls/%s-server.crt\";\n"
	    "    key = \"%s/tls/%s-server.key\";\n"
	    "    ca = \"%s/tls/ca.crt\";\n    allow_cn = [ ", q(o->etc),
	    q(o->name), q(o->etc), q(o->name), q(o->etc));
	for (int k = 1; k <= o->clients; k++)
		cat(&t, "%s\"%s-client%d\"", k > 1 ? ", " : "", q(o->name), k);
	cat(&t, " ];\n  }\n);\n");
	return t.s;
}

static char *
client_conf(const struct pair_opts *o, int k)
{
	struct text t = { NULL, 0 };

	cat(&t, "# %s-client%d: a client end of the tunnel pair \"%s\", "
	    "written by\n# sheath --make-pair. Plaintext accepted on %s "
	    "goes in TLS to the\n# server at %s, whose certificate must "
	    "name %s\n# and be signed by the CA in ca.crt. See "
	    "sheath.conf(5).\n", o->name, k, o->name, o->client_accept,
	    o->connect, o->server_name);
	cat(&t, "services = (\n  {\n    name = \"%s-client%d\";\n"
	    "    mode = \"client\";\n    accept = \"%s\";\n"
	    "    connect = \"%s\";\n", q(o->name), k, q(o->client_accept),
	    q(o->connect));
	cat(&t, "    cert = \"%s/tls/%s-client%d.crt\";\n"
	    "    key = \"%s/tls/%s-client%d.key\";\n"
	    "    ca = \"%s/tls/ca.crt\";\n    verify_name = \"%s\";\n"
	    "  }\n);\n", q(o->etc), q(o->name), k, q(o->etc), q(o->name), k,
	    q(o->etc), q(o->server_name));
	return t.s;
}

/* ---- options ------------------------------------------------------------ */

enum { O_MAKE_PAIR = 300, O_NAME, O_SERVER_NAME, O_SERVER_ACCEPT, O_BACKEND,
	O_CLIENT_ACCEPT, O_SERVER_CONNECT, O_DAYS, O_CLIENTS, O_ETC, O_HELP };

static const struct option pair_longopts[] = {
	{ "make-pair", required_argument, NULL, O_MAKE_PAIR },
	{ "name", required_argument, NULL, O_NAME },
	{ "server-name", required_argument, NULL, O_SERVER_NAME },
	{ "server-accept", required_argument, NULL, O_SERVER_ACCEPT },
	{ "backend", required_argument, NULL, O_BACKEND },
	{ "client-accept", required_argument, NULL, O_CLIENT_ACCEPT },
	{ "server-connect", required_argument, NULL, O_SERVER_CONNECT },
	{ "days", required_argument, NULL, O_DAYS },
	{ "clients", required_argument, NULL, O_CLIENTS },
	{ "etc", required_argument, NULL, O_ETC },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 }
};

int
makepair_wanted(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--make-pair") == 0 ||
		    strncmp(argv[i], "--make-pair=", 12) == 0)
			return 1;
	}
	return 0;
}

static void
pair_usage(FILE *out)
{
	fputs("usage: sheath --make-pair DIR --backend ADDR [--name NAME]\n"
	    "           [--server-name DNS] [--server-accept ADDR] "
	    "[--client-accept ADDR]\n"
	    "           [--server-connect ADDR] [--days N] [--clients N] "
	    "[--etc PATH]\n"
	    "See sheath(8).\n", out);
}

static int
parse_int(const char *flag, const char *v, int min, int max, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno || n < min || n > max) {
		fprintf(stderr, "sheath: --make-pair: --%s: \"%s\" is not an "
		    "integer from %d to %d\n", flag, v, min, max);
		return -1;
	}
	*out = (int)n;
	return 0;
}

/* Values go into configs and certificates: no control characters. */
static int
printable(const char *flag, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(stderr, "sheath: --make-pair: --%s: control "
			    "characters are not allowed\n", flag);
			return 0;
		}
	if (*v == '\0') {
		fprintf(stderr, "sheath: --make-pair: --%s: must not be "
		    "empty\n", flag);
		return 0;
	}
	return 1;
}

static int
check_addr(const char *flag, const char *v, struct addr_spec *a)
{
	char why[256];

	if (!printable(flag, v))
		return -1;
	if (addr_parse(v, a, why, sizeof(why)) == -1) {
		fprintf(stderr, "sheath: --make-pair: --%s: %s\n", flag, why);
		return -1;
	}
	return 0;
}

/* Returns 0, 1 (bad value) or 2 (bad command line). */
static int
parse_pair_args(int argc, char **argv, struct pair_opts *o)
{
	struct addr_spec a;
	int ch, bad = 0;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":", pair_longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case O_MAKE_PAIR: o->dir = optarg; break;
		case O_NAME: o->name = optarg; break;
		case O_SERVER_NAME: o->server_name = optarg; break;
		case O_SERVER_ACCEPT: o->server_accept = optarg; break;
		case O_BACKEND: o->backend = optarg; break;
		case O_CLIENT_ACCEPT: o->client_accept = optarg; break;
		case O_SERVER_CONNECT: o->server_connect = optarg; break;
		case O_ETC: o->etc_arg = optarg; break;
		case O_DAYS:
			bad |= parse_int("days", optarg, 1, MAX_DAYS,
			    &o->days);
			break;
		case O_CLIENTS:
			bad |= parse_int("clients", optarg, 1, MAX_CLIENTS,
			    &o->clients);
			break;
		case O_HELP:
			pair_usage(stdout);
			exit(0);
		case ':':
			fprintf(stderr, "sheath: option %s needs a value\n",
			    argv[optind - 1]);
			pair_usage(stderr);
			return 2;
		default:
			fprintf(stderr, "sheath: %s is not an option of "
			    "--make-pair\n", argv[optind - 1]);
			pair_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sheath: unexpected argument \"%s\"\n",
		    argv[optind]);
		pair_usage(stderr);
		return 2;
	}
	if (bad)
		return 1;
	if (o->backend == NULL) {
		fprintf(stderr, "sheath: --make-pair: --backend ADDR is "
		    "required (the plaintext service the server end forwards "
		    "to)\n");
		return 1;
	}
	if (!printable("make-pair", o->dir) || !printable("name", o->name) ||
	    !printable("server-name", o->server_name) ||
	    !printable("etc", o->etc_arg))
		return 1;
	if (strlen(o->name) > 50 || strspn(o->name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != strlen(o->name)) {
		fprintf(stderr, "sheath: --make-pair: --name: \"%s\": use at "
		    "most 50 letters, digits, '-', '_', '.'\n", o->name);
		return 1;
	}
	if (strlen(o->server_name) > 253 || strchr(o->server_name, '"') ||
	    strchr(o->server_name, '\\') || strchr(o->server_name, ' ')) {
		fprintf(stderr, "sheath: --make-pair: --server-name: \"%s\" "
		    "is not a host name or address\n", o->server_name);
		return 1;
	}
	if (check_addr("backend", o->backend, &a) == -1 ||
	    check_addr("client-accept", o->client_accept, &a) == -1 ||
	    check_addr("server-accept", o->server_accept, &a) == -1)
		return 1;
	if (o->server_connect != NULL) {
		if (check_addr("server-connect", o->server_connect, &a) == -1)
			return 1;
		o->connect = xstrdup(o->server_connect);
	} else if (a.kind == ADDR_UNIX) {
		fprintf(stderr, "sheath: --make-pair: --server-accept is a "
		    "unix socket: give --server-connect\n");
		return 1;
	} else {
		size_t n = strlen(o->server_name) + 16;
		int v6 = strchr(o->server_name, ':') != NULL;

		o->connect = xmalloc(n);
		snprintf(o->connect, n, "%s%s%s:%d", v6 ? "[" : "",
		    o->server_name, v6 ? "]" : "", a.port);
	}
	return 0;
}

/* PATH made absolute, without trailing slashes. */
static char *
absolute(const char *path)
{
	char cwd[PATH_MAX], *r;
	size_t n;

	if (path[0] == '/') {
		r = xstrdup(path);
	} else {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return NULL;
		n = strlen(cwd) + strlen(path) + 2;
		r = xmalloc(n);
		snprintf(r, n, "%s/%s", strcmp(cwd, "/") ? cwd : "", path);
	}
	for (n = strlen(r); n > 1 && r[n - 1] == '/'; n--)
		r[n - 1] = '\0';
	return r;
}

/* 0: DIR is missing (it is created), 1: an empty directory, -1: neither. */
static int
dir_state(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "sheath: --make-pair: %s: %s\n", dir,
		    strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			closedir(d);
			fprintf(stderr, "sheath: --make-pair: %s exists and is "
			    "not empty: nothing written\n", dir);
			return -1;
		}
	closedir(d);
	return 1;
}

/* ---- main ------------------------------------------------------------- */

static void
print_next(const struct pair_opts *o, const char *dir)
{
	printf("sheath: wrote the tunnel pair \"%s\" into %s/:\n"
	    "  ca/          the private CA; keep ca/ca.key off the hosts "
	    "(it signs new clients)\n"
	    "  server/      for the server host: accepts TLS on %s, "
	    "forwards to %s\n", o->name, dir, o->server_accept, o->backend);
	for (int k = 1; k <= o->clients; k++)
		printf("  client%d/%*s for client host %d: accepts %s, "
		    "connects to %s\n", k, k < 10 ? 4 : k < 100 ? 3 : 2, "",
		    k, o->client_accept, o->connect);
	printf("\nEach host directory holds conf.d/ and tls/ for %s/ on that "
	    "host.\n"
	    "On the server host (%s), as root:\n"
	    "  cp -r %s/server/. %s/\n"
	    "  chown sheath:sheath %s/tls/%s-server.key\n"
	    "  sheath -t -c %s/conf.d/%s-server.conf\n"
	    "  systemctl enable --now sheath\n", o->etc, o->server_name, dir,
	    o->etc, o->etc, o->name, o->etc, o->name);
	if (o->clients == 1)
		printf("On the client host, as root:\n"
		    "  cp -r %s/client1/. %s/\n"
		    "  chown sheath:sheath %s/tls/%s-client1.key\n"
		    "  sheath -t -c %s/conf.d/%s-client1.conf\n"
		    "  systemctl enable --now sheath\n", dir, o->etc, o->etc,
		    o->name, o->etc, o->name);
	else
		printf("On each client host K (1..%d), as root:\n"
		    "  cp -r %s/clientK/. %s/\n"
		    "  chown sheath:sheath %s/tls/%s-clientK.key\n"
		    "  sheath -t -c %s/conf.d/%s-clientK.conf\n"
		    "  systemctl enable --now sheath\n", o->clients, dir,
		    o->etc, o->etc, o->name, o->etc, o->name);
	printf("Then the clients' programs connect to %s instead of to %s.\n",
	    o->client_accept, o->backend);
}

int
makepair_main(int argc, char **argv, const char *etc_default)
{
	struct pair_opts o = { .name = "tunnel", .server_name = "localhost",
		.server_accept = ":8443", .client_accept = "127.0.0.1:8080",
		.days = 825, .clients = 1 };
	struct ident ca = { 0 }, srv = { 0 };
	char *dir = NULL, rel[PATH_MAX], cn[128];
	int rc, state;

	o.etc_arg = etc_default;
	if ((rc = parse_pair_args(argc, argv, &o)) != 0)
		goto out;
	rc = 1;
	if ((o.etc = absolute(o.etc_arg)) == NULL ||
	    (dir = absolute(o.dir)) == NULL) {
		fprintf(stderr, "sheath: --make-pair: cannot find the current "
		    "directory: %s\n", strerror(errno));
		goto out;
	}
	if ((state = dir_state(dir)) == -1)
		goto out;
	if (gnutls_global_init() < 0)
		goto out;

	snprintf(cn, sizeof(cn), "%s CA", o.name);
	if (make_ident(&ca, R_CA, cn, NULL, o.days, NULL) == -1)
		goto out_tls;
	snprintf(cn, sizeof(cn), "%s-server", o.name);
	if (make_ident(&srv, R_SERVER, cn, o.server_name, o.days, &ca) == -1)
		goto out_tls;

	if (state == 0)
		add_dir(dir, "", 0755);
	add_dir(dir, "ca", 0700);
	add_text(dir, "ca/ca.crt", pem(&ca, 0), 0644);
	add_text(dir, "ca/ca.key", pem(&ca, 1), 0600);
	add_dir(dir, "server", 0755);
	add_dir(dir, "server/conf.d", 0755);
	add_dir(dir, "server/tls", 0750);
	snprintf(rel, sizeof(rel), "server/conf.d/%s-server.conf", o.name);
	add_text(dir, rel, server_conf(&o), 0644);
	add_text(dir, "server/tls/ca.crt", pem(&ca, 0), 0644);
	snprintf(rel, sizeof(rel), "server/tls/%s-server.crt", o.name);
	add_text(dir, rel, pem(&srv, 0), 0644);
	snprintf(rel, sizeof(rel), "server/tls/%s-server.key", o.name);
	add_text(dir, rel, pem(&srv, 1), 0600);
	for (int k = 1; k <= o.clients; k++) {
		struct ident cl = { 0 };
		char sub[64];

		snprintf(cn, sizeof(cn), "%s-client%d", o.name, k);
		if (make_ident(&cl, R_CLIENT, cn, NULL, o.days, &ca) == -1)
			goto out_tls;
		snprintf(sub, sizeof(sub), "client%d", k);
		add_dir(dir, sub, 0755);
		snprintf(rel, sizeof(rel), "%s/conf.d", sub);
		add_dir(dir, rel, 0755);
		snprintf(rel, sizeof(rel), "%s/tls", sub);
		add_dir(dir, rel, 0750);
		snprintf(rel, sizeof(rel), "%s/conf.d/%s.conf", sub, cn);
		add_text(dir, rel, client_conf(&o, k), 0644);
		snprintf(rel, sizeof(rel), "%s/tls/ca.crt", sub);
		add_text(dir, rel, pem(&ca, 0), 0644);
		snprintf(rel, sizeof(rel), "%s/tls/%s.crt", sub, cn);
		add_text(dir, rel, pem(&cl, 0), 0644);
		snprintf(rel, sizeof(rel), "%s/tls/%s.key", sub, cn);
		add_text(dir, rel, pem(&cl, 1), 0600);
		ident_free(&cl);
	}
	if (export_failed) {
		fprintf(stderr, "sheath: --make-pair: cannot export a key or "
		    "certificate\n");
		goto out_tls;
	}
	if (write_all() == 0) {
		print_next(&o, dir);
		rc = 0;
	}
out_tls:
	ident_free(&srv);
	ident_free(&ca);
	gnutls_global_deinit();
out:
	for (size_t i = 0; i < nents; i++) {
		free(ents[i].path);
		free(ents[i].data);
	}
	nents = 0;
	free(o.etc);
	free(o.connect);
	free(dir);
	return rc;
}
