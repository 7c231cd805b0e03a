/* The process's MongoDB connection pool (mongo-c-driver). Thread-safe. */
#ifndef SOVA_DB_MONGO_H
#define SOVA_DB_MONGO_H
#include <mongoc/mongoc.h>
#include <stdbool.h>

/* Opens the pool once per process; later calls with the same URI are no-ops.
 * Returns false with a message in err on a malformed URI. Does not contact the server. */
bool sova_db_open(const char *uri, char *err, size_t errlen);
bool sova_db_is_open(void);
/* Database name: the URI's, else "sova". */
const char *sova_db_name(void);
/* Borrow a client; give it back with sova_db_push. Blocks while all are lent. */
mongoc_client_t *sova_db_pop(void);
void sova_db_push(mongoc_client_t *client);
/* True when the server pushes down only an _id equality that stands alone (FerretDB 1.x): then a
 * tenant-scoped _id lookup is sent as a lone _id and the tenant checked on the document it
 * finds (db/scope.h). Asked once per process; false while the server is unknown. */
bool sova_db_lone_id_lookups(void);
void sova_db_close(void);
#endif
