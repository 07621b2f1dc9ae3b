/* fuzz_conn.c: libFuzzer harness for the connection state machine, fed
 * arbitrary bytes on the TLS side of a server-mode service.
 *
 * Once per process: tls_global_init(), an ECDSA P-256 CA and a server
 * certificate made with GnuTLS's API into a mkdtemp directory, a config
 * for server-mode services (accept 127.0.0.1:N, never listened on; connect
 * unix:/nonexistent/..., so a client that got through would meet a backend
 * error), parsed, validated and built with generation_new(). The
 * credential files are deleted as soon as they are loaded.
 *
 * Two services: "fuzz" (plain TLS accept side) gets every input, except
 * that an input starting with 'P' or '\r' (a PROXY protocol v1 or v2
 * signature; a TLS record never starts so) goes to "fuzzproxy", which has
 * accept_proxy = true and so reads a PROXY header before the handshake.
 *
 * Per input: socketpair(), conn_start() on one end, and the input written to
 * the other end one TLS record at a time (by the 5-byte record headers; the
 * rest in one piece when a header makes no sense; for "fuzzproxy" the first
 * 8 bytes go alone, and when the input's length is odd the next 16 bytes
 * too, so the PROXY header arrives in pieces, before or after its length
 * is known), with loop_once(0) passes in between, reading and discarding
 * whatever sheath sends back. Then a write shutdown, more passes, close,
 * more passes, and conn_abort_all() if the connection is still open, so
 * nothing outlives the input.
 *
 * FUZZ_CONN_VERBOSE=1 in the environment logs connections to stderr
 * (otherwise the log goes to /dev/null, formatted all the same).
 * FUZZ_CONN_STRICT=1 logs into a memfd instead and aborts when a connection
 * ended with "reading the PROXY header failed": over a socketpair, with
 * nobody else reading, that means sheath tried to consume more than it had
 * peeked (see crashes/README). Off by default until that bug is fixed, so
 * that it does not stop every run within seconds. */
#include "autoconfig.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "service.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PASSES 50

static struct generation *gen;
static struct service *svc, *svc_proxy;
static int logfd = -1;		/* FUZZ_CONN_STRICT: the memfd log */

static void
die(const char *what, int r)
{
	fprintf(stderr, "fuzz_conn: set-up: %s: %s\n", what,
	    r < 0 ? gnutls_strerror(r) : strerror(errno));
	abort();
}

#define G(call) do { int g_r = (call); if (g_r < 0) die(#call, g_r); } while (0)

static gnutls_x509_privkey_t
make_key(void)
{
	gnutls_x509_privkey_t k;

	G(gnutls_x509_privkey_init(&k));
	G(gnutls_x509_privkey_generate(k, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0));
	return k;
}

/* A certificate for key k named cn, signed by (issuer, ikey), or self-signed
 * when issuer is NULL (a CA). */
static gnutls_x509_crt_t
make_crt(gnutls_x509_privkey_t k, const char *cn, unsigned char serial,
    gnutls_x509_crt_t issuer, gnutls_x509_privkey_t ikey)
{
	gnutls_x509_crt_t c;
	unsigned char id[64];
	size_t idlen = sizeof(id);
	time_t now = time(NULL);

	G(gnutls_x509_crt_init(&c));
	G(gnutls_x509_crt_set_version(c, 3));
	G(gnutls_x509_crt_set_serial(c, &serial, 1));
	G(gnutls_x509_crt_set_activation_time(c, now - 86400));
	G(gnutls_x509_crt_set_expiration_time(c, now + 10 * 365 * 86400L));
	G(gnutls_x509_crt_set_dn_by_oid(c, GNUTLS_OID_X520_ORGANIZATION_NAME, 0,
	    "sheath fuzz", 11));
	G(gnutls_x509_crt_set_dn_by_oid(c, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
	    (unsigned)strlen(cn)));
	G(gnutls_x509_crt_set_key(c, k));
	G(gnutls_x509_crt_get_key_id(c, 0, id, &idlen));
	G(gnutls_x509_crt_set_subject_key_id(c, id, idlen));
	if (issuer == NULL) {
		G(gnutls_x509_crt_set_basic_constraints(c, 1, -1));
		G(gnutls_x509_crt_set_key_usage(c, GNUTLS_KEY_KEY_CERT_SIGN |
		    GNUTLS_KEY_CRL_SIGN));
		issuer = c;
		ikey = k;
	} else {
		G(gnutls_x509_crt_set_basic_constraints(c, 0, -1));
		G(gnutls_x509_crt_set_key_usage(c,
		    GNUTLS_KEY_DIGITAL_SIGNATURE));
		G(gnutls_x509_crt_set_key_purpose_oid(c, GNUTLS_KP_TLS_WWW_SERVER,
		    0));
		G(gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_DNSNAME,
		    "localhost", 9, GNUTLS_FSAN_SET));
		idlen = sizeof(id);
		G(gnutls_x509_crt_get_subject_key_id(issuer, id, &idlen, NULL));
		G(gnutls_x509_crt_set_authority_key_id(c, id, idlen));
	}
	G(gnutls_x509_crt_sign2(c, issuer, ikey, GNUTLS_DIG_SHA256, 0));
	return c;
}

static void
write_file(const char *path, const gnutls_datum_t *d)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fwrite(d->data, 1, d->size, f) != d->size ||
	    fclose(f) != 0)
		die(path, 0);
}

static void
save_crt(gnutls_x509_crt_t c, const char *path)
{
	gnutls_datum_t d;

	G(gnutls_x509_crt_export2(c, GNUTLS_X509_FMT_PEM, &d));
	write_file(path, &d);
	gnutls_free(d.data);
}

static void
save_key(gnutls_x509_privkey_t k, const char *path)
{
	gnutls_datum_t d;

	G(gnutls_x509_privkey_export2(k, GNUTLS_X509_FMT_PEM, &d));
	write_file(path, &d);
	gnutls_free(d.data);
}

static void
setup(void)
{
	char dir[1024], ca[1100], crt[1100], key[1100], text[8192];
	const char *tmpdir = getenv("TMPDIR");
	gnutls_x509_privkey_t cakey, srvkey;
	gnutls_x509_crt_t cacrt, srvcrt;
	const char *verbose = getenv("FUZZ_CONN_VERBOSE");
	const char *strict = getenv("FUZZ_CONN_STRICT");
	struct conf *c;
	char *errs = NULL;
	size_t errlen = 0;
	FILE *err;
	mode_t old_mask;

	if (tls_global_init() != 0)
		die("tls_global_init", 0);
	if (strict != NULL && *strict == '1') {
		char path[64];

		if ((logfd = memfd_create("fuzz_conn.log", MFD_CLOEXEC)) == -1)
			die("memfd_create", 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", logfd);
		if (log_open(path, LOG_DEBUG) == -1)
			die(path, 0);
	} else if (verbose != NULL && *verbose == '1') {
		log_open("stderr", LOG_DEBUG);
	} else if (log_open("/dev/null", LOG_DEBUG) == -1) {
		die("log_open /dev/null", 0);
	}

	if (metrics_init() == -1)	/* as main() does: counters are updated */
		die("metrics_init", 0);

	snprintf(dir, sizeof(dir), "%s/sheath-fuzz-conn.XXXXXX",
	    tmpdir != NULL && *tmpdir == '/' && strlen(tmpdir) < 900 ?
	    tmpdir : "/tmp");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", 0);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(crt, sizeof(crt), "%s/server.crt", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	cakey = make_key();
	cacrt = make_crt(cakey, "sheath fuzz CA", 1, NULL, NULL);
	srvkey = make_key();
	srvcrt = make_crt(srvkey, "localhost", 2, cacrt, cakey);
	old_mask = umask(077);	/* as a key file should be */
	save_crt(cacrt, ca);
	save_crt(srvcrt, crt);
	save_key(srvkey, key);
	umask(old_mask);
	gnutls_x509_crt_deinit(srvcrt);
	gnutls_x509_crt_deinit(cacrt);
	gnutls_x509_privkey_deinit(srvkey);
	gnutls_x509_privkey_deinit(cakey);

	snprintf(text, sizeof(text),
	    "services = ( {\n"
	    "  name = \"fuzz\";\n"
	    "  mode = \"server\";\n"
	    "  accept = \"127.0.0.1:1\";\n"
	    "  connect = \"unix:/nonexistent/sheath-fuzz.sock\";\n"
	    "  cert = \"%s\";\n"
	    "  key = \"%s\";\n"
	    "  ca = \"%s\";\n"
	    "  allow_cn = [ \"client1\" ];\n"
	    "  alpn = [ \"h2\", \"http/1.1\" ];\n"
	    "}, {\n"
	    "  name = \"fuzzproxy\";\n"
	    "  mode = \"server\";\n"
	    "  accept = \"127.0.0.1:2\";\n"
	    "  connect = \"unix:/nonexistent/sheath-fuzz.sock\";\n"
	    "  cert = \"%s\";\n"
	    "  key = \"%s\";\n"
	    "  ca = \"%s\";\n"
	    "  accept_proxy = true;\n"
	    "  proxy_protocol = \"v2\";\n"
	    "} );\n", crt, key, ca, crt, key, ca);
	c = conf_new();
	if ((err = open_memstream(&errs, &errlen)) == NULL)
		die("open_memstream", 0);
	if (conf_parse_string(text, "fuzz.conf", c, err) != 0 ||
	    conf_validate(c, err) != 0 ||
	    (gen = generation_new(c, err)) == NULL) {
		fclose(err);
		fprintf(stderr, "fuzz_conn: set-up: configuration:\n%s", errs);
		abort();
	}
	fclose(err);
	free(errs);
	svc = service_find(gen, "fuzz");
	svc_proxy = service_find(gen, "fuzzproxy");
	if (svc == NULL || svc_proxy == NULL)
		die("service_find", 0);
	/* Loaded: the files are not needed any more. */
	unlink(ca);
	unlink(crt);
	unlink(key);
	rmdir(dir);

	loop_set_tick(conn_sweep, 1000);
	loop_set_ready(conn_has_ready, conn_run_ready);
}

/* FUZZ_CONN_STRICT: check and empty the log of this input. */
static void
check_log(void)
{
	char buf[65536];
	ssize_t n;

	if (logfd == -1)
		return;
	n = pread(logfd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		die("pread log", 0);
	buf[n] = '\0';
	if (ftruncate(logfd, 0) == -1)
		die("ftruncate log", 0);
	if (strstr(buf, "reading the PROXY header failed") != NULL) {
		fprintf(stderr, "fuzz_conn: sheath consumed more of a PROXY "
		    "header than it had received:\n%s", buf);
		abort();
	}
}

/* Read and drop whatever sheath sent. */
static void
drain(int fd)
{
	unsigned char buf[16384];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void
passes(int fd, int n)
{
	for (int i = 0; i < n && conn_count() > 0; i++) {
		loop_once(0);
		if (fd >= 0)
			drain(fd);
	}
}

/* Write all of p, running passes while the socket is full. Returns -1 if
 * the other end is gone. */
static int
write_all(int fd, const uint8_t *p, size_t len)
{
	int stalls = 0;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    conn_count() > 0 && stalls++ < PASSES) {
			passes(fd, 1);
			continue;
		}
		return -1;
	}
	return 0;
}

/* Length of the TLS record at p, or len when the header makes no sense. */
static size_t
record_len(const uint8_t *p, size_t len)
{
	size_t n;

	if (len < 5 || p[0] < 20 || p[0] > 24 || p[1] != 3)
		return len;
	n = 5 + ((size_t)p[3] << 8 | p[4]);
	return n < len ? n : len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un sun;
	struct sockaddr_in sin;
	int fds[2], proxy = size > 0 && (data[0] == 'P' || data[0] == '\r');
	/* PROXY header pieces: 8 bytes, then (odd sizes) 16 more. */
	size_t first[2] = { 8, 16 };
	int nfirst = 0, npieces = size % 2 ? 2 : 1;

	if (gen == NULL)
		setup();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    fds) == -1)
		die("socketpair", 0);

	if (proxy) {
		/* A balancer in front connects over TCP. */
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(40000);
		sin.sin_addr.s_addr = htonl(0xc0000202);	/* 192.0.2.2 */
		conn_start(svc_proxy, fds[0], (struct sockaddr *)&sin,
		    sizeof(sin));
	} else {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		strcpy(sun.sun_path, "/fuzz/peer");
		conn_start(svc, fds[0], (struct sockaddr *)&sun,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    strlen(sun.sun_path) + 1));
	}
	passes(fds[1], 1);

	while (size > 0 && conn_count() > 0) {
		size_t n = record_len(data, size);

		if (proxy && nfirst < npieces) {
			n = first[nfirst++];
			if (n > size)
				n = size;
		}
		if (write_all(fds[1], data, n) == -1)
			break;
		data += n;
		size -= n;
		passes(fds[1], 2);
	}
	shutdown(fds[1], SHUT_WR);
	passes(fds[1], PASSES);
	close(fds[1]);
	passes(-1, PASSES);
	if (conn_count() > 0)
		conn_abort_all("fuzz");
	if (conn_count() != 0) {
		fprintf(stderr, "fuzz_conn: %d connections after "
		    "conn_abort_all\n", conn_count());
		abort();
	}
	check_log();
	return 0;
}
