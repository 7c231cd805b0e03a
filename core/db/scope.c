/* Tenant scoping: see scope.h. */
#include "db/scope.h"

#include <stdio.h>
#include <string.h>

#define TENANT_FIELD "organization_id"

const char *sova_scope_field(const char *coll)
{
	return strcmp(coll, "organizations") == 0 ? "_id" : TENANT_FIELD;
}

static bool fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return false;
}

static bool is_id_lookup(const char *coll, const bson_t *filter)
{
	bson_iter_t it;
	return strcmp(coll, "organizations") != 0 && bson_iter_init_find(&it, filter, "_id") &&
	       BSON_ITER_HOLDS_OID(&it);
}

bool sova_scope_filter(const sova_scope *s, const char *coll, bson_t *filter, bool lone_id, bool *check_each,
		       char *err, size_t errlen)
{
	*check_each = false;
	if (!s->scoped)
		return true;
	const char *field = sova_scope_field(coll);
	if (bson_has_field(filter, field) || bson_has_field(filter, TENANT_FIELD)) {
		snprintf(err, errlen, "scoped handle: the filter may not name %s", field);
		return false;
	}
	if (lone_id && is_id_lookup(coll, filter)) {
		*check_each = true;
		return true;
	}
	BSON_APPEND_OID(filter, field, &s->org);
	return true;
}

bool sova_scope_owns(const sova_scope *s, const bson_t *doc)
{
	if (!s->scoped)
		return true;
	bson_iter_t it;
	return bson_iter_init_find(&it, doc, TENANT_FIELD) && BSON_ITER_HOLDS_OID(&it) &&
	       bson_oid_equal(bson_iter_oid(&it), &s->org);
}

/* A key that is the tenant field or a path inside it ("organization_id.x"). */
static bool names_tenant(const char *k)
{
	size_t n = strlen(TENANT_FIELD);
	return strncmp(k, TENANT_FIELD, n) == 0 && (k[n] == '\0' || k[n] == '.');
}

bool sova_scope_check_update(const sova_scope *s, const bson_t *update, char *err, size_t errlen)
{
	if (!s->scoped)
		return true;
	bson_iter_t it, sub;
	if (!bson_iter_init(&it, update))
		return fail(err, errlen, "scoped handle: the update is not a document");
	while (bson_iter_next(&it)) {
		if (bson_iter_key(&it)[0] != '$' || !BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &sub))
			return fail(err, errlen, "scoped handle: updates must use operators such as $set");
		while (bson_iter_next(&sub)) {
			const char *k = bson_iter_key(&sub);
			if (strcmp(k, "_id") == 0 || strncmp(k, "_id.", 4) == 0 || names_tenant(k))
				return fail(err, errlen, "scoped handle: an update may not change _id or organization_id");
		}
	}
	return true;
}

bool sova_scope_insert(const sova_scope *s, const char *coll, bson_t *doc, char *err, size_t errlen)
{
	if (!s->scoped)
		return true;
	if (strcmp(coll, "organizations") == 0)
		return fail(err, errlen, "scoped handle: cannot create organizations");
	if (bson_has_field(doc, TENANT_FIELD))
		return fail(err, errlen, "scoped handle: the document may not name organization_id");
	BSON_APPEND_OID(doc, TENANT_FIELD, &s->org);
	return true;
}

bool sova_scope_check_delete(const sova_scope *s, const char *coll, char *err, size_t errlen)
{
	if (s->scoped && strcmp(coll, "organizations") == 0)
		return fail(err, errlen, "scoped handle: cannot delete organizations");
	return true;
}

uint32_t sova_scope_pipeline_start(const sova_scope *s, const char *coll, bson_t *stages)
{
	if (!s->scoped)
		return 0;
	bson_t match, cond;
	BSON_APPEND_DOCUMENT_BEGIN(stages, "0", &match);
	BSON_APPEND_DOCUMENT_BEGIN(&match, "$match", &cond);
	BSON_APPEND_OID(&cond, sova_scope_field(coll), &s->org);
	bson_append_document_end(&match, &cond);
	bson_append_document_end(stages, &match);
	return 1;
}

void sova_scope_keep_tenant_field(bson_t *opts)
{
	bson_iter_t it, p;
	if (!bson_iter_init_find(&it, opts, "projection") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
	    !bson_iter_recurse(&it, &p))
		return;
	bool inclusion = false, has_org = false;
	while (bson_iter_next(&p)) {
		if (strcmp(bson_iter_key(&p), TENANT_FIELD) == 0)
			has_org = true;
		else if (bson_iter_as_bool(&p))
			inclusion = true; /* {_id: 1} alone is an inclusion projection too */
	}
	if (!inclusion || has_org)
		return;
	bson_t copy = BSON_INITIALIZER, proj;
	bson_iter_init(&it, opts);
	while (bson_iter_next(&it)) {
		if (strcmp(bson_iter_key(&it), "projection") != 0) {
			bson_append_iter(&copy, NULL, 0, &it);
			continue;
		}
		bson_iter_recurse(&it, &p);
		BSON_APPEND_DOCUMENT_BEGIN(&copy, "projection", &proj);
		while (bson_iter_next(&p))
			bson_append_iter(&proj, NULL, 0, &p);
		BSON_APPEND_INT32(&proj, TENANT_FIELD, 1);
		bson_append_document_end(&copy, &proj);
	}
	bson_reinit(opts);
	bson_concat(opts, &copy);
	bson_destroy(&copy);
}
