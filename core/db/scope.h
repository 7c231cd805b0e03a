/* Tenant scoping (DESIGN principle 2), plain C: the rules a scoped database handle applies to
 * every filter, update, inserted document and pipeline. A scoped handle adds organization_id (the
 * _id, for "organizations") to what it sends and refuses anything that names it. */
#ifndef SOVA_DB_SCOPE_H
#define SOVA_DB_SCOPE_H
#include <bson/bson.h>
#include <stdbool.h>

typedef struct sova_scope {
	bool scoped; /* false: every tenant (login, trusted scripts) */
	bson_oid_t org;
} sova_scope;

/* The field that names the tenant in coll: "_id" for organizations, else "organization_id". */
const char *sova_scope_field(const char *coll);

/* Makes filter tenant-bound. When lone_id is true (the server pushes down only an _id equality
 * that stands alone: FerretDB) and the filter is an ObjectId _id lookup, the filter is left as
 * is and *check_each is set: the caller must keep only documents that sova_scope_owns (at most
 * one can match). Otherwise the tenant condition is appended. false with err when the filter
 * names the tenant field; filter is then unchanged. */
bool sova_scope_filter(const sova_scope *s, const char *coll, bson_t *filter, bool lone_id, bool *check_each,
		       char *err, size_t errlen);

/* Does doc (which carries organization_id) belong to the scope's tenant? */
bool sova_scope_owns(const sova_scope *s, const bson_t *doc);

/* Updates through a scoped handle use operators only and never change _id or organization_id. */
bool sova_scope_check_update(const sova_scope *s, const bson_t *update, char *err, size_t errlen);

/* Binds a document to be inserted into coll to the tenant: refused for organizations and when it
 * names organization_id itself; otherwise organization_id is appended. */
bool sova_scope_insert(const sova_scope *s, const char *coll, bson_t *doc, char *err, size_t errlen);

/* Scoped handles may not delete organizations. */
bool sova_scope_check_delete(const sova_scope *s, const char *coll, char *err, size_t errlen);

/* Appends the tenant $match as stage "0" of an open pipeline array; returns the next stage index. */
uint32_t sova_scope_pipeline_start(const sova_scope *s, const char *coll, bson_t *stages);

/* When check_each is in force the tenant field must come back: an inclusion projection in opts
 * gets organization_id added. */
void sova_scope_keep_tenant_field(bson_t *opts);
#endif
