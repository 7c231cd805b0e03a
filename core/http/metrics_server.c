/* The private metrics listener (metrics_server.h). */
#include "http/metrics_server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/server.h"
#include "util/metrics.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static sova_http_server *listener; /* the process's one; never stopped */
static char listen_host[64];      /* the config's strings must outlive the server */
static __thread char *rendered;    /* this worker's last answer, freed once it is sent */

static const char TEXT_FORMAT[] = "text/plain; version=0.0.4; charset=utf-8";

static void json_error(sova_http_response *res, int status, const char *body)
{
	res->status = status;
	res->content_type = "application/json";
	res->body = body;
	res->body_len = strlen(body);
}

static void on_request(const sova_http_request *req, sova_http_response *res, void *ud)
{
	(void)ud;
	if (strcmp(req->path, "/metrics") != 0)
		return json_error(res, 404, "{\"error\":{\"code\":\"not_found\",\"message\":\"only /metrics here\"}}");
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
		return json_error(res, 405, "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"GET /metrics\"}}");
	const char *auth = NULL;
	for (int i = 0; i < req->num_headers; i++)
		if (strcasecmp(req->headers[i].name, "Authorization") == 0)
			auth = req->headers[i].value;
	if (!sova_metrics_authorized(auth, req->remote_addr, true))
		return json_error(res, 401, "{\"error\":{\"code\":\"unauthorized\",\"message\":\"the metrics token is required\"}}");
	size_t len = 0;
	rendered = sova_metrics_render(&len);
	if (!rendered)
		return json_error(res, 500, "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
	res->status = 200;
	res->content_type = TEXT_FORMAT;
	res->body = rendered;
	res->body_len = len;
}

static void on_finish(void *ud)
{
	(void)ud;
	free(rendered);
	rendered = NULL;
}

int sova_metrics_listen(const char *host, int port, char *err, size_t errlen)
{
	pthread_mutex_lock(&mu);
	if (listener) {
		pthread_mutex_unlock(&mu);
		snprintf(err, errlen, "the metrics listener is running already");
		return -1;
	}
	if (strlen(host) >= sizeof listen_host) {
		pthread_mutex_unlock(&mu);
		snprintf(err, errlen, "not a listening address: too long");
		return -1;
	}
	snprintf(listen_host, sizeof listen_host, "%s", host);
	sova_http_config cfg = {
		.host = listen_host, .port = port, .threads = 2, .handler = on_request, .finish = on_finish,
	};
	listener = sova_http_start(&cfg, err, errlen);
	int bound = listener ? sova_http_port(listener) : -1;
	pthread_mutex_unlock(&mu);
	return bound;
}
