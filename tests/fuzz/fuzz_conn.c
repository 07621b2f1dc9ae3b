/* fuzz_conn.c: libFuzzer harness for the connection state machine, fed
 * arbitrary bytes on the TLS side of a server-mode service.
 *
 * Once per process: tls_global_init(), an ECDSA P-256 CA, a server and a
 * client certificate made with GnuTLS's API into a mkdtemp directory, a
 * listening unix socket there (the relay services' backend), and a config
 * for server-mode services (accept 127.0.0.1:N, never listened on), parsed,
 * validated and built with generation_new(). The credential files are
 * deleted as soon as they are loaded.
 *
 * Three kinds of input, by the first byte:
 *
 * 'R': a relay script. The harness is a real TLS client (GnuTLS, with the
 * client certificate) over a socketpair to service "relay" (or, by a bit
 * of the next byte, "relayproxy", which sends a PROXY v2 header with the
 * TLS facts to its backend), completes the handshake, accepts sheath's
 * connection on the backend socket, and then plays the script: client and
 * backend writes (in chunks repeated up to 512 times, so buffers fill),
 * reads switched off and on (backpressure), close_notify, half-closes,
 * resets and raw bytes injected into the TLS stream (see run_script()).
 * Every byte either end receives must be the next byte the other end sent;
 * when the script leaves both directions clean, both ends close and the
 * connection must end "closed" with everything delivered and counted.
 *
 * 'P' or '\r' (a PROXY protocol v1 or v2 signature; a TLS record never
 * starts so): bytes for "fuzzproxy", which has accept_proxy = true and so
 * reads a PROXY header before the handshake.
 *
 * Anything else: bytes from a TLS client to "fuzz" (its connect address
 * does not exist: a client that got through would meet a backend error).
 *
 * For the last two: socketpair(), conn_start() on one end, and the input
 * written to the other end one TLS record at a time (by the 5-byte record
 * headers; the rest in one piece when a header makes no sense; for
 * "fuzzproxy" the first 8 bytes go alone, and when the input's length is
 * odd the next 16 bytes too, so the PROXY header arrives in pieces, before
 * or after its length is known), with loop_once(0) passes in between,
 * reading and discarding whatever sheath sends back. Then a write shutdown,
 * more passes, close, more passes, and conn_abort_all() if the connection
 * is still open, so nothing outlives the input.
 *
 * The log (LOG_DEBUG) goes to a memfd that check_log() reads after every
 * input. It must hold exactly one connection summary ("... end=VERDICT")
 * with a verdict sheath knows, or the log format changed under this
 * harness and it aborts rather than check nothing. Strict oracle: a
 * "fuzzproxy" connection that ended "truncated" before its handshake
 * finished (version=-) without a "handshake cut" line means sheath tried to
 * consume more of a PROXY header than it had peeked: over a socketpair,
 * with nobody else reading, the recv() after the MSG_PEEK came up short.
 *
 * FUZZ_CONN_VERBOSE=1 in the environment copies each input's log to
 * stderr; FUZZ_CONN_STATS=1 prints, at exit, how many inputs of each kind
 * ran, how many reached the relay and how connections ended. */
#include "autoconfig.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "proxy.h"
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
#define STREAM_MAX (4u << 20)	/* bytes a relay script sends each way */

static struct generation *gen;
static struct service *svc, *svc_proxy, *svc_relay, *svc_relay_proxy;
static int logfd = -1;		/* the memfd log */
static int verbose;
static int backend_lfd = -1;	/* the relay services' backend */
static char dir[1024], backend_path[1100];
static gnutls_certificate_credentials_t client_cred;

/* FUZZ_CONN_STATS */
/* The end= words of conn_close(), as metrics_outcome_name() says them. */
static const char *const verdicts[] = { "closed", "truncated", "timeout",
	"rejected", "backend", "error", "no data" };
#define NVERDICTS (sizeof(verdicts) / sizeof(verdicts[0]))
static struct {
	unsigned long inputs[3], relayed, handshakes, verdicts[NVERDICTS];
	unsigned long complete;
} stats;
enum { K_TLS, K_PROXY, K_RELAY };

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
 * when issuer is NULL (a CA); a leaf is for servers, or for clients when
 * client is set. */
static gnutls_x509_crt_t
make_crt(gnutls_x509_privkey_t k, const char *cn, unsigned char serial,
    gnutls_x509_crt_t issuer, gnutls_x509_privkey_t ikey, int client)
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
		G(gnutls_x509_crt_set_key_purpose_oid(c, client ?
		    GNUTLS_KP_TLS_WWW_CLIENT : GNUTLS_KP_TLS_WWW_SERVER, 0));
		if (!client)
			G(gnutls_x509_crt_set_subject_alt_name(c,
			    GNUTLS_SAN_DNSNAME, "localhost", 9,
			    GNUTLS_FSAN_SET));
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
print_stats(void)
{
	fprintf(stderr, "fuzz_conn: inputs tls=%lu proxy=%lu relay=%lu; "
	    "handshakes completed by the harness=%lu, reached the relay "
	    "(backend accepted)=%lu, relay scripts that ended clean and "
	    "complete=%lu; ended:", stats.inputs[K_TLS], stats.inputs[K_PROXY],
	    stats.inputs[K_RELAY], stats.handshakes, stats.relayed,
	    stats.complete);
	for (size_t i = 0; i < NVERDICTS; i++)
		fprintf(stderr, " %s=%lu", verdicts[i], stats.verdicts[i]);
	fputc('\n', stderr);
}

static void
cleanup(void)
{
	if (backend_lfd != -1) {
		close(backend_lfd);
		unlink(backend_path);
		rmdir(dir);
	}
}

/* The backend the relay services connect to. */
static void
listen_backend(void)
{
	struct sockaddr_un sun;

	snprintf(backend_path, sizeof(backend_path), "%s/backend.sock", dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(backend_path) >= sizeof(sun.sun_path))
		die("backend socket path too long", 0);
	strcpy(sun.sun_path, backend_path);
	backend_lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (backend_lfd == -1 || bind(backend_lfd, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1 || listen(backend_lfd, 16) == -1)
		die("backend socket", 0);
	atexit(cleanup);
}

static void
setup(void)
{
	char ca[1100], crt[1100], key[1100], text[8192];
	const char *tmpdir = getenv("TMPDIR");
	gnutls_x509_privkey_t cakey, srvkey, clikey;
	gnutls_x509_crt_t cacrt, srvcrt, clicrt;
	const char *v = getenv("FUZZ_CONN_VERBOSE");
	struct conf *c;
	char *errs = NULL, path[64];
	size_t errlen = 0;
	FILE *err;
	mode_t old_mask;

	verbose = v != NULL && *v == '1';
	if ((v = getenv("FUZZ_CONN_STATS")) != NULL && *v == '1')
		atexit(print_stats);
	if (tls_global_init() != 0)
		die("tls_global_init", 0);
	if ((logfd = memfd_create("fuzz_conn.log", MFD_CLOEXEC)) == -1)
		die("memfd_create", 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", logfd);
	if (log_open(path, LOG_DEBUG) == -1)
		die(path, 0);

	if (metrics_init() == -1)	/* as main() does: counters are updated */
		die("metrics_init", 0);

	snprintf(dir, sizeof(dir), "%s/sheath-fuzz-conn.XXXXXX",
	    tmpdir != NULL && *tmpdir == '/' && strlen(tmpdir) < 60 ?
	    tmpdir : "/tmp");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", 0);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(crt, sizeof(crt), "%s/server.crt", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	cakey = make_key();
	cacrt = make_crt(cakey, "sheath fuzz CA", 1, NULL, NULL, 0);
	srvkey = make_key();
	srvcrt = make_crt(srvkey, "localhost", 2, cacrt, cakey, 0);
	clikey = make_key();
	clicrt = make_crt(clikey, "client1", 3, cacrt, cakey, 1);
	old_mask = umask(077);	/* as a key file should be */
	save_crt(cacrt, ca);
	save_crt(srvcrt, crt);
	save_key(srvkey, key);
	umask(old_mask);
	/* The harness's own client presents client1, from memory. */
	G(gnutls_certificate_allocate_credentials(&client_cred));
	G(gnutls_certificate_set_x509_key(client_cred, &clicrt, 1, clikey));
	gnutls_x509_crt_deinit(clicrt);
	gnutls_x509_privkey_deinit(clikey);
	gnutls_x509_crt_deinit(srvcrt);
	gnutls_x509_crt_deinit(cacrt);
	gnutls_x509_privkey_deinit(srvkey);
	gnutls_x509_privkey_deinit(cakey);
	listen_backend();

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
	    "}, {\n"
	    "  name = \"relay\";\n"
	    "  mode = \"server\";\n"
	    "  accept = \"127.0.0.1:3\";\n"
	    "  connect = \"unix:%s\";\n"
	    "  cert = \"%s\";\n"
	    "  key = \"%s\";\n"
	    "  ca = \"%s\";\n"
	    "  allow_cn = [ \"client1\" ];\n"
	    "  alpn = [ \"h2\", \"http/1.1\" ];\n"
	    "}, {\n"
	    "  name = \"relayproxy\";\n"
	    "  mode = \"server\";\n"
	    "  accept = \"127.0.0.1:4\";\n"
	    "  connect = \"unix:%s\";\n"
	    "  cert = \"%s\";\n"
	    "  key = \"%s\";\n"
	    "  ca = \"%s\";\n"
	    "  allow_cn = [ \"client1\" ];\n"
	    "  proxy_protocol = \"v2\";\n"
	    "} );\n", crt, key, ca, crt, key, ca, backend_path, crt, key, ca,
	    backend_path, crt, key, ca);
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
	svc_relay = service_find(gen, "relay");
	svc_relay_proxy = service_find(gen, "relayproxy");
	if (svc == NULL || svc_proxy == NULL || svc_relay == NULL ||
	    svc_relay_proxy == NULL)
		die("service_find", 0);
	/* Loaded: the files are not needed any more. */
	unlink(ca);
	unlink(crt);
	unlink(key);

	loop_set_tick(conn_sweep, 1000);
	loop_set_ready(conn_has_ready, conn_run_ready);
}

/* What the log says about the one connection of an input. */
struct ending {
	int verdict;			/* index into verdicts */
	int handshaken;			/* version= is not "-" */
	int cut;			/* a "handshake cut" line came first */
	unsigned long long in, out;	/* bytes_in, bytes_out */
	char line[1024];
};

/* Read and empty the log of this input; abort unless it holds exactly one
 * connection summary in the format this harness knows. */
static void
check_log(int kind, struct ending *e)
{
	static char buf[1 << 20];
	const char *p, *sum = NULL, *end;
	ssize_t n;
	size_t len;
	int count = 0;

	n = pread(logfd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		die("pread log", 0);
	buf[n] = '\0';
	if (ftruncate(logfd, 0) == -1)
		die("ftruncate log", 0);
	if (verbose)
		fputs(buf, stderr);
	for (p = buf; (p = strstr(p, " bytes_in=")) != NULL; p++) {
		count++;
		sum = p;
	}
	memset(e, 0, sizeof(*e));
	e->verdict = -1;
	if (count == 1) {
		const char *bol = sum;

		while (bol > buf && bol[-1] != '\n')
			bol--;
		len = strcspn(bol, "\n");
		snprintf(e->line, sizeof(e->line), "%.*s", (int)len, bol);
		end = strstr(e->line, " end=");
		for (size_t i = 0; end != NULL && i < NVERDICTS; i++) {
			size_t vl = strlen(verdicts[i]);

			if (strncmp(end + 5, verdicts[i], vl) == 0 &&
			    (end[5 + vl] == '\0' || end[5 + vl] == ':'))
				e->verdict = i;
		}
		if (sscanf(sum, " bytes_in=%llu bytes_out=%llu", &e->in,
		    &e->out) != 2)
			e->verdict = -1;
		e->handshaken = strstr(e->line, " version=-") == NULL &&
		    strstr(e->line, " version=") != NULL;
		e->cut = strstr(buf, " handshake cut: ") != NULL;
	}
	if (e->verdict < 0) {
		fprintf(stderr, "fuzz_conn: expected one connection summary "
		    "(\"... bytes_in=N bytes_out=N duration=S end=VERDICT\") "
		    "in the log, found %d: did conn_close()'s format change? "
		    "Update check_log(). The log:\n%s", count, buf);
		abort();
	}
	stats.verdicts[e->verdict]++;
	if (kind == K_PROXY && e->verdict == 1 && !e->handshaken && !e->cut) {
		fprintf(stderr, "fuzz_conn: sheath consumed more of a PROXY "
		    "header than it had received (a PROXY connection ended "
		    "truncated before any handshake was cut):\n%s", buf);
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

/* ---- relay scripts -------------------------------------------------------- */

/* One direction as the harness sees it: what went in at one end, how much
 * came out at the other. */
struct stream {
	unsigned char *sent;
	size_t nsent, nrecv;
};

struct relay {
	gnutls_session_t tls;	/* the client */
	int cfd;		/* its socket (sheath's accept side) */
	int bfd;		/* the backend's accepted socket */
	struct stream ab, ba;	/* client -> backend, backend -> client */
	int c_read, b_read;	/* each end reads what arrives */
	int c_closed, b_closed;	/* close_notify sent / write half shut */
	int c_eof, b_eof;	/* end of stream received */
	int dirty;		/* reset or corrupted: no completeness */
	int c_gone, b_gone;	/* the end closed its socket */
	size_t proxy_have;	/* relayproxy: PROXY header bytes read */
	int proxy;
	unsigned char proxy_hdr[PROXY_MAX_HEADER];
};

static void
relay_fail(const struct relay *r, const char *what)
{
	fprintf(stderr, "fuzz_conn: relay: %s (client->backend sent %zu "
	    "received %zu, backend->client sent %zu received %zu)\n", what,
	    r->ab.nsent, r->ab.nrecv, r->ba.nsent, r->ba.nrecv);
	abort();
}

/* Bytes that arrived at the end of stream st: they must be the next ones
 * sent. */
static void
arrived(struct relay *r, struct stream *st, const unsigned char *p,
    size_t n, const char *which)
{
	if (n > st->nsent - st->nrecv || memcmp(p, st->sent + st->nrecv, n)) {
		fprintf(stderr, "fuzz_conn: relay: %s received bytes that "
		    "were not sent, or not in that order\n", which);
		relay_fail(r, "corrupted relay");
	}
	st->nrecv += n;
}

/* relayproxy: the backend first reads the PROXY v2 header, which must
 * parse and carry the client's certificate name. */
static int
read_proxy_header(struct relay *r)
{
	int hl;
	ssize_t n;

	for (;;) {
		hl = proxy_header_len(r->proxy_hdr, r->proxy_have);
		if (hl < 0)
			relay_fail(r, "the PROXY header sent is invalid");
		if (hl > 0 && r->proxy_have == (size_t)hl)
			break;
		n = recv(r->bfd, r->proxy_hdr + r->proxy_have,
		    hl > 0 ? (size_t)hl - r->proxy_have : 1, MSG_DONTWAIT);
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
				relay_fail(r, "no complete PROXY header");
			return 0;
		}
		r->proxy_have += (size_t)n;
	}
	{
		struct proxy_addrs a;
		static const unsigned char cn[] = { PP2_SUBTYPE_SSL_CN, 0, 7,
			'c', 'l', 'i', 'e', 'n', 't', '1' };

		if (proxy_parse(r->proxy_hdr, (size_t)hl, &a) != 0)
			relay_fail(r, "proxy_parse refused sheath's header");
		if (memmem(r->proxy_hdr, (size_t)hl, cn, sizeof(cn)) == NULL)
			relay_fail(r, "the PROXY header lacks the client's CN");
	}
	r->proxy = 0;
	return 1;
}

/* Let each end read what reached it, as far as it reads. */
static void
relay_read(struct relay *r)
{
	unsigned char buf[65536];
	ssize_t n;

	while (r->b_read && !r->b_eof && !r->b_gone && r->bfd != -1) {
		if (r->proxy && !read_proxy_header(r))
			break;
		n = recv(r->bfd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0)
			arrived(r, &r->ab, buf, (size_t)n, "the backend");
		else if (n == 0)
			r->b_eof = 1;
		else {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				r->dirty = r->b_eof = 1;
			break;
		}
	}
	while (r->c_read && !r->c_eof && !r->c_gone) {
		n = gnutls_record_recv(r->tls, buf, sizeof(buf));
		if (n > 0)
			arrived(r, &r->ba, buf, (size_t)n, "the client");
		else if (n == 0)
			r->c_eof = 1;
		else if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			break;
		else if (!gnutls_error_is_fatal((int)n))
			continue;	/* a warning alert */
		else {
			r->dirty = r->c_eof = 1;
			break;
		}
	}
}

static void
relay_passes(struct relay *r, int n)
{
	for (int i = 0; i < n; i++) {
		if (conn_count() > 0)
			loop_once(0);
		relay_read(r);
	}
}

/* Record n bytes as sent; the callers cap n with room() first, so that
 * nothing goes out unrecorded. */
static void
append(struct stream *st, const unsigned char *p, size_t n)
{
	memcpy(st->sent + st->nsent, p, n);
	st->nsent += n;
}

static size_t
room(const struct stream *st, size_t n)
{
	return n < STREAM_MAX - st->nsent ? n : STREAM_MAX - st->nsent;
}

/* The client sends n bytes as TLS records. A stalled write makes the
 * backend read (a peer that never reads would stop sheath's relay for good:
 * backpressure works, the test is over). */
static void
client_send(struct relay *r, const unsigned char *p, size_t n)
{
	int stalls = 0;

	n = room(&r->ab, n);
	while (n > 0 && !r->c_closed && !r->c_gone) {
		ssize_t w = gnutls_record_send(r->tls, p, n);

		if (w > 0) {
			append(&r->ab, p, (size_t)w);
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w != GNUTLS_E_AGAIN && w != GNUTLS_E_INTERRUPTED) {
			r->dirty = r->c_closed = 1;	/* sheath hung up */
			return;
		}
		if (stalls++ > PASSES) {
			if (r->b_read || conn_count() == 0)
				break;
			r->b_read = 1;
			stalls = 0;
		}
		relay_passes(r, 1);
	}
	/* A record GnuTLS holds half-written must go out before anything
	 * else happens on the session. */
	for (int i = 0; n > 0 && i < 4 * PASSES; i++) {
		ssize_t w = gnutls_record_send(r->tls, p, n);

		if (w > 0) {
			append(&r->ab, p, (size_t)w);
			break;
		}
		if (w != GNUTLS_E_AGAIN && w != GNUTLS_E_INTERRUPTED) {
			r->dirty = r->c_closed = 1;
			break;
		}
		r->b_read = 1;
		relay_passes(r, 1);
	}
}

static void
backend_send(struct relay *r, const unsigned char *p, size_t n)
{
	int stalls = 0;

	n = room(&r->ba, n);
	while (n > 0 && !r->b_closed && !r->b_gone && r->bfd != -1) {
		ssize_t w = send(r->bfd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0) {
			append(&r->ba, p, (size_t)w);
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
			r->dirty = r->b_closed = 1;
			return;
		}
		if (stalls++ > PASSES) {
			if (r->c_read || conn_count() == 0)
				return;
			r->c_read = 1;
			stalls = 0;
		}
		relay_passes(r, 1);
	}
}

static void
client_bye(struct relay *r)
{
	for (int i = 0; i < PASSES && !r->c_closed && !r->c_gone; i++) {
		int e = gnutls_bye(r->tls, GNUTLS_SHUT_WR);

		if (e == 0 || (e != GNUTLS_E_AGAIN &&
		    e != GNUTLS_E_INTERRUPTED)) {
			if (e != 0)
				r->dirty = 1;
			r->c_closed = 1;
			break;
		}
		relay_passes(r, 1);
	}
}

static void
hard_close(int *fd)
{
	struct linger l = { 1, 0 };

	setsockopt(*fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(*fd);
	*fd = -1;
}

/* The script: opcodes (the low 4 bits of a byte; the high 4 bits of a
 * write are log2 of its repeat count) with their operands:
 *
 *   0 LEN DATA  client writes DATA (LEN+1 bytes) as TLS records
 *   1 LEN DATA  backend writes DATA
 *   2 N         N % 8 + 1 passes, both ends reading as far as they read
 *   3           client sends close_notify
 *   4           backend shuts its write half
 *   5 LEN DATA  raw bytes into the client's TLS stream (it is broken)
 *   6           client stops / resumes reading
 *   7           backend stops / resumes reading
 *   8           backend resets (close with SO_LINGER 0)
 *   9           client vanishes (close without close_notify)
 *   others      a pass
 */
static void
run_script(struct relay *r, const uint8_t *p, size_t len)
{
	static unsigned char chunk[256 * 512];

	while (len > 0 && conn_count() > 0) {
		unsigned op = *p & 15, rep = 1u << (*p >> 4 > 9 ? 9 : *p >> 4);
		size_t n = 0;

		p++;
		len--;
		if (op == 0 || op == 1 || op == 5 || op == 2) {
			n = len > 0 ? (size_t)*p + 1 : 1;
			if (len > 0) {
				p++;
				len--;
			}
		}
		if (op == 0 || op == 1 || op == 5) {
			size_t have = n < len ? n : len, total;

			if (op == 5)
				rep = 1;
			if (have == 0) {
				chunk[0] = 'x';
				have = 1;
			} else {
				memcpy(chunk, p, have);
			}
			p += n < len ? n : len;
			len -= n < len ? n : len;
			for (unsigned k = 1; k < rep; k++)
				memcpy(chunk + k * have, chunk, have);
			total = have * rep;
			if (op == 0)
				client_send(r, chunk, total);
			else if (op == 1)
				backend_send(r, chunk, total);
			else if (!r->c_gone) {
				(void)send(r->cfd, chunk, total,
				    MSG_NOSIGNAL | MSG_DONTWAIT);
				r->dirty = 1;
			}
		}
		switch (op) {
		case 2:
			relay_passes(r, (int)(n % 8) + 1);
			break;
		case 3:
			client_bye(r);
			break;
		case 4:
			if (!r->b_closed && !r->b_gone && r->bfd != -1) {
				shutdown(r->bfd, SHUT_WR);
				r->b_closed = 1;
			}
			break;
		case 6:
			r->c_read = !r->c_read;
			break;
		case 7:
			r->b_read = !r->b_read;
			break;
		case 8:
			if (r->bfd != -1 && !r->b_gone) {
				hard_close(&r->bfd);
				r->b_gone = r->dirty = 1;
			}
			break;
		case 9:
			if (!r->c_gone) {
				close(r->cfd);
				r->cfd = -1;
				r->c_gone = r->dirty = 1;
			}
			break;
		default:
			break;
		}
		relay_passes(r, 1);
	}
}

static void
relay_input(const uint8_t *data, size_t size)
{
	static unsigned char ab[STREAM_MAX], ba[STREAM_MAX];
	struct relay r;
	struct sockaddr_un sun;
	struct ending e;
	int fds[2], hs = -1, flags = size > 0 ? data[0] : 0;
	struct service *s = flags & 1 ? svc_relay_proxy : svc_relay;

	memset(&r, 0, sizeof(r));
	r.ab.sent = ab;
	r.ba.sent = ba;
	r.c_read = r.b_read = 1;
	r.bfd = -1;
	r.proxy = s == svc_relay_proxy;
	if (size > 0) {
		data++;
		size--;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    fds) == -1)
		die("socketpair", 0);
	r.cfd = fds[1];
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, "/fuzz/relay-client");
	conn_start(s, fds[0], (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(sun.sun_path) + 1));

	G(gnutls_init(&r.tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK));
	/* Bit 1: TLS 1.2 (its close and record paths differ); bit 2: ALPN
	 * and SNI, which land in the PROXY header's TLVs. */
	G(gnutls_priority_set_direct(r.tls, flags & 2 ?
	    "NORMAL:-VERS-ALL:+VERS-TLS1.2" : "NORMAL", NULL));
	G(gnutls_credentials_set(r.tls, GNUTLS_CRD_CERTIFICATE, client_cred));
	if (flags & 4) {
		gnutls_datum_t h2 = { (unsigned char *)"h2", 2 };

		G(gnutls_alpn_set_protocols(r.tls, &h2, 1, 0));
		G(gnutls_server_name_set(r.tls, GNUTLS_NAME_DNS, "localhost",
		    9));
	}
	gnutls_transport_set_int(r.tls, r.cfd);
	for (int i = 0; i < 4 * PASSES && conn_count() > 0; i++) {
		hs = gnutls_handshake(r.tls);
		if (hs == 0 || (hs != GNUTLS_E_AGAIN &&
		    hs != GNUTLS_E_INTERRUPTED && gnutls_error_is_fatal(hs)))
			break;
		loop_once(0);
	}
	if (hs != 0) {
		fprintf(stderr, "fuzz_conn: relay: the handshake of a valid "
		    "client failed: %s\n", gnutls_strerror(hs));
		abort();
	}
	stats.handshakes++;
	/* sheath verifies, then connects to the backend. */
	for (int i = 0; i < PASSES && r.bfd == -1 && conn_count() > 0; i++) {
		loop_once(0);
		r.bfd = accept4(backend_lfd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC);
	}
	if (r.bfd == -1) {
		fprintf(stderr, "fuzz_conn: relay: sheath never connected to "
		    "the backend after a verified handshake\n");
		abort();
	}
	stats.relayed++;

	run_script(&r, data, size);

	/* Finish: unless the script broke something, both ends close
	 * cleanly, read everything, and the relay must deliver it all. */
	r.c_read = r.b_read = 1;
	relay_passes(&r, 2);
	if (!r.dirty) {
		client_bye(&r);
		if (!r.b_closed && r.bfd != -1) {
			shutdown(r.bfd, SHUT_WR);
			r.b_closed = 1;
		}
	}
	for (int i = 0; i < 4 * PASSES && conn_count() > 0; i++)
		relay_passes(&r, 1);
	relay_passes(&r, 2);
	if (!r.dirty) {
		if (r.ab.nrecv != r.ab.nsent || r.ba.nrecv != r.ba.nsent)
			relay_fail(&r, "a clean relay lost bytes");
		if (!r.b_eof || !r.c_eof)
			relay_fail(&r, "a clean close did not reach both ends");
		if (conn_count() != 0)
			relay_fail(&r, "both ends closed, the connection "
			    "stayed");
	}
	if (conn_count() > 0)
		conn_abort_all("fuzz");
	if (conn_count() != 0) {
		fprintf(stderr, "fuzz_conn: %d connections after "
		    "conn_abort_all\n", conn_count());
		abort();
	}
	check_log(K_RELAY, &e);
	if (!r.dirty) {
		if (e.verdict != 0 || e.in != r.ab.nsent ||
		    e.out != r.ba.nsent) {
			fprintf(stderr, "fuzz_conn: relay: a clean relay must "
			    "end closed with bytes_in=%zu bytes_out=%zu:\n%s\n",
			    r.ab.nsent, r.ba.nsent, e.line);
			abort();
		}
		stats.complete++;
	}
	gnutls_deinit(r.tls);
	if (r.cfd != -1)
		close(r.cfd);
	if (r.bfd != -1)
		close(r.bfd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un sun;
	struct sockaddr_in sin;
	struct ending e;
	int fds[2], proxy = size > 0 && (data[0] == 'P' || data[0] == '\r');
	/* PROXY header pieces: 8 bytes, then (odd sizes) 16 more. */
	size_t first[2] = { 8, 16 };
	int nfirst = 0, npieces = size % 2 ? 2 : 1;

	if (gen == NULL)
		setup();
	if (size > 0 && data[0] == 'R') {
		stats.inputs[K_RELAY]++;
		relay_input(data + 1, size - 1);
		return 0;
	}
	stats.inputs[proxy ? K_PROXY : K_TLS]++;
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
	check_log(proxy ? K_PROXY : K_TLS, &e);
	return 0;
}
