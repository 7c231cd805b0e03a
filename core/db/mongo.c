#include "db/mongo.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static mongoc_client_pool_t *pool;
static char pool_uri[1024];
static char db_name[128] = "sova";
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
/* What the server is, learnt from its first buildInfo answer: 0 not yet known, 1 FerretDB, 2 other. */
static atomic_int server_kind;

/* The driver logs connection chatter to stderr; keep only warnings and worse, as JSON lines. */
static void log_handler(mongoc_log_level_t level, const char *domain, const char *message, void *ud)
{
	if (level > MONGOC_LOG_LEVEL_WARNING)
		return;
	/* FerretDB lacks endSessions; the driver warns about it at every shutdown. */
	if (strstr(message, "endSessions"))
		return;
	sova_log(level <= MONGOC_LOG_LEVEL_CRITICAL ? "error" : "warn", domain, message);
}

static void init_driver(void)
{
	mongoc_init();
	mongoc_log_set_handler(log_handler, NULL);
}

bool sova_db_open(const char *uri_str, char *err, size_t errlen)
{
	bson_error_t error;
	bool ok = false;
	pthread_once(&init_once, init_driver);
	pthread_mutex_lock(&pool_lock);
	if (pool) {
		ok = strcmp(pool_uri, uri_str) == 0;
		if (!ok)
			snprintf(err, errlen, "database already opened with another URI");
		goto out;
	}
	if (strlen(uri_str) >= sizeof pool_uri) {
		snprintf(err, errlen, "MONGODB_URI too long");
		goto out;
	}
	mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_str, &error);
	if (!uri) {
		snprintf(err, errlen, "bad MONGODB_URI: %s", error.message);
		goto out;
	}
	/* A database that is down must give a quick, clear 503, never a hang. */
	if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 2000);
	if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, 2000);
	if (!mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, 10000);
	const char *name = mongoc_uri_get_database(uri);
	if (name && *name)
		snprintf(db_name, sizeof db_name, "%s", name);
	pool = mongoc_client_pool_new_with_error(uri, &error);
	mongoc_uri_destroy(uri);
	if (!pool) {
		snprintf(err, errlen, "cannot create database pool: %s", error.message);
		goto out;
	}
	mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
	mongoc_client_pool_set_appname(pool, "sova");
	mongoc_client_pool_max_size(pool, 128);
	snprintf(pool_uri, sizeof pool_uri, "%s", uri_str);
	ok = true;
out:
	pthread_mutex_unlock(&pool_lock);
	return ok;
}

bool sova_db_is_open(void)
{
	pthread_mutex_lock(&pool_lock);
	bool open = pool != NULL;
	pthread_mutex_unlock(&pool_lock);
	return open;
}

const char *sova_db_name(void) { return db_name; }

mongoc_client_t *sova_db_pop(void) { return pool ? mongoc_client_pool_pop(pool) : NULL; }

void sova_db_push(mongoc_client_t *client)
{
	if (client)
		mongoc_client_pool_push(pool, client);
}

bool sova_db_lone_id_lookups(void)
{
	int kind = atomic_load(&server_kind);
	mongoc_client_t *client = kind == 0 ? sova_db_pop() : NULL;
	if (client) {
		bson_t cmd = BSON_INITIALIZER, reply;
		BSON_APPEND_INT32(&cmd, "buildInfo", 1);
		if (mongoc_client_command_simple(client, "admin", &cmd, NULL, &reply, NULL)) {
			kind = bson_has_field(&reply, "ferretdbVersion") ? 1 : 2;
			atomic_store(&server_kind, kind);
		}
		bson_destroy(&reply);
		bson_destroy(&cmd);
		sova_db_push(client);
	}
	return kind == 1; /* unknown (server unreachable): the plain filter, which is always right */
}

void sova_db_close(void)
{
	pthread_mutex_lock(&pool_lock);
	atomic_store(&server_kind, 0);
	if (pool) {
		mongoc_client_pool_destroy(pool);
		pool = NULL;
		pool_uri[0] = '\0';
	}
	pthread_mutex_unlock(&pool_lock);
}
