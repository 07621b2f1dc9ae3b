/* psk-resume: a TLS 1.3 client that does a full PSK handshake at one
 * address and keeps the session ticket it received, then offers only that
 * ticket to an address: no PSK identity of its own, no certificate. It
 * shows whether a service accepts a ticket it must not (another service's,
 * or one for an identity it no longer knows).
 *
 *   psk-resume save IDENTITY HEXKEY HOST PORT FILE
 *   psk-resume offer FILE HOST PORT
 *
 * save prints first=ok|fail:... and writes the session (with its ticket)
 * to FILE; offer prints handshake=ok|fail:..., resumed=yes|no and recv=N
 * (bytes of the echo of a 5-byte message; 0 if none came back), and
 * alert=NAME when the server ended the session with a fatal alert. Exit 0
 * when the lines were printed, 1 when save got no ticket, 2 on bad usage.
 * Blocking sockets, 5 s timeouts. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define PRIO "NORMAL:-VERS-ALL:+VERS-TLS1.3:+ECDHE-PSK:+DHE-PSK"

static int
dial(const char *host, const char *port)
{
	struct addrinfo hints, *ai, *p;
	struct timeval tv = { 5, 0 };
	int fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	for (p = ai; p != NULL && fd == -1; p = p->ai_next) {
		fd = socket(p->ai_family, p->ai_socktype, 0);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, p->ai_addr, p->ai_addrlen) == -1) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	return fd;
}

/* Send "hello", read its echo; the read also takes the session tickets
 * that a TLS 1.3 server sends after the handshake. Returns bytes read. */
static int
echo(gnutls_session_t s)
{
	char buf[64];
	int got = 0, r = 0;

	if (gnutls_record_send(s, "hello", 5) != 5)
		return 0;
	/* GnuTLS answers GNUTLS_E_AGAIN after a record with nothing for
	 * the caller (a session ticket), even on a blocking socket. */
	for (int tries = 0; got < 5 && tries < 4; tries++) {
		r = (int)gnutls_record_recv(s, buf, sizeof(buf));
		if (r > 0)
			got += r;
		else if (r == 0 || gnutls_error_is_fatal(r))
			break;
	}
	if (got == 0 && r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		/* GnuTLS's words, "Access was denied": access_was_denied */
		const char *n = gnutls_alert_get_name(gnutls_alert_get(s));

		fputs("alert=", stdout);
		for (; n != NULL && *n; n++)
			putchar(*n == ' ' ? '_' : tolower((unsigned char)*n));
		putchar('\n');
	}
	return got;
}

static int
session(const char *host, const char *port, void *cred, int psk,
    const gnutls_datum_t *resume, gnutls_datum_t *ticket, const char *tag)
{
	gnutls_session_t s;
	int fd = dial(host, port), r, got;

	if (fd == -1) {
		printf("%s=fail:connect\n", tag);
		return -1;
	}
	gnutls_init(&s, GNUTLS_CLIENT);
	gnutls_priority_set_direct(s, PRIO, NULL);
	gnutls_credentials_set(s, psk ? GNUTLS_CRD_PSK :
	    GNUTLS_CRD_CERTIFICATE, cred);
	if (resume != NULL)
		gnutls_session_set_data(s, resume->data, resume->size);
	gnutls_transport_set_int(s, fd);
	do
		r = gnutls_handshake(s);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		printf("%s=fail:%s\nresumed=no\nrecv=0\n", tag,
		    gnutls_strerror(r));
		gnutls_deinit(s);
		close(fd);
		return -1;
	}
	printf("%s=ok\n", tag);
	got = echo(s);
	if (resume != NULL)
		printf("resumed=%s\nrecv=%d\n", gnutls_session_is_resumed(s) ?
		    "yes" : "no", got);
	if (ticket != NULL && gnutls_session_get_data2(s, ticket) < 0)
		ticket->data = NULL;
	gnutls_bye(s, GNUTLS_SHUT_WR);
	gnutls_deinit(s);
	close(fd);
	return 0;
}

static int
save(char **argv)
{
	gnutls_psk_client_credentials_t psk;
	gnutls_datum_t hex = { (unsigned char *)argv[1],
	    (unsigned)strlen(argv[1]) }, key, ticket = { NULL, 0 };
	size_t sz = hex.size / 2 + 1;
	FILE *f;
	int ok;

	key.data = malloc(sz);
	if (key.data == NULL || gnutls_hex_decode(&hex, key.data, &sz) < 0) {
		fprintf(stderr, "psk-resume: HEXKEY is not hex\n");
		return 2;
	}
	key.size = (unsigned)sz;
	gnutls_psk_allocate_client_credentials(&psk);
	gnutls_psk_set_client_credentials(psk, argv[0], &key,
	    GNUTLS_PSK_KEY_RAW);
	ok = session(argv[2], argv[3], psk, 1, NULL, &ticket, "first") == 0 &&
	    ticket.data != NULL && (f = fopen(argv[4], "wb")) != NULL &&
	    fwrite(ticket.data, 1, ticket.size, f) == ticket.size &&
	    fclose(f) == 0;
	gnutls_free(ticket.data);
	gnutls_psk_free_client_credentials(psk);
	free(key.data);
	return ok ? 0 : 1;
}

static int
offer(char **argv)
{
	gnutls_certificate_credentials_t none;
	gnutls_datum_t ticket = { NULL, 0 };

	if (gnutls_load_file(argv[0], &ticket) < 0) {
		fprintf(stderr, "psk-resume: cannot read %s\n", argv[0]);
		return 2;
	}
	gnutls_certificate_allocate_credentials(&none);
	session(argv[1], argv[2], none, 0, &ticket, NULL, "handshake");
	gnutls_certificate_free_credentials(none);
	gnutls_free(ticket.data);
	return 0;
}

int
main(int argc, char **argv)
{
	int r = 2;

	gnutls_global_init();
	if (argc == 7 && strcmp(argv[1], "save") == 0)
		r = save(argv + 2);
	else if (argc == 5 && strcmp(argv[1], "offer") == 0)
		r = offer(argv + 2);
	else
		fprintf(stderr, "usage: psk-resume save IDENTITY HEXKEY HOST "
		    "PORT FILE | offer FILE HOST PORT\n");
	gnutls_global_deinit();
	return r;
}
