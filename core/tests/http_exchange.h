/* For the C tests of core/http/server.c: one raw HTTP/1.1 exchange with a listener on loopback. */
#ifndef SOVA_TESTS_HTTP_EXCHANGE_H
#define SOVA_TESTS_HTTP_EXCHANGE_H
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Sends head, then body_len bytes of body (the server may close early on a refused body), reads
 * the whole response into out (NUL-terminated, at most n - 1 bytes) and returns its status code,
 * 0 when there is none. The caller's cmocka asserts cover connect and write. */
static int http_exchange(int port, const char *head, const char *body, size_t body_len, char *out, size_t n)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_true(write(fd, head, strlen(head)) == (ssize_t)strlen(head));
	for (size_t off = 0; off < body_len;) {
		ssize_t w = write(fd, body + off, body_len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	size_t got = 0;
	ssize_t r;
	while (got + 1 < n && (r = read(fd, out + got, n - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(fd);
	int status = 0;
	sscanf(out, "HTTP/1.1 %d", &status);
	return status;
}
#endif
