/* Tenant scoping (core/db/scope.c): what a scoped handle sends, and what it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "db/scope.h"

static sova_scope alpha, beta, unscoped;
static char err[256];

static int setup(void **state)
{
	(void)state;
	alpha.scoped = beta.scoped = true;
	bson_oid_init_from_string(&alpha.org, "65a000000000000000000001");
	bson_oid_init_from_string(&beta.org, "65b000000000000000000002");
	unscoped.scoped = false;
	return 0;
}

/* The ObjectId stored under key in doc, or NULL. */
static const bson_oid_t *oid_at(const bson_t *doc, const char *key)
{
	static bson_iter_t it;
	if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_OID(&it))
		return NULL;
	return bson_iter_oid(&it);
}

/* Finds a dotted path in doc, leaving it in *out. */
static bool has_path(const bson_t *doc, const char *path, bson_iter_t *out)
{
	bson_iter_t it;
	return bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, out);
}

static void a_filter_gets_the_tenant_appended(void **state)
{
	bson_t *f = BCON_NEW("workflow", BCON_UTF8("prior_auth"));
	bool each = true;
	assert_true(sova_scope_filter(&alpha, "patients", f, false, &each, err, sizeof err));
	assert_false(each);
	assert_non_null(oid_at(f, "organization_id"));
	assert_true(bson_oid_equal(oid_at(f, "organization_id"), &alpha.org));
	assert_int_equal(bson_count_keys(f), 2);
	bson_destroy(f);
}

static void organizations_are_scoped_by_their_own_id(void **state)
{
	bson_t *f = bson_new();
	bool each;
	assert_true(sova_scope_filter(&beta, "organizations", f, true, &each, err, sizeof err));
	assert_false(each); /* never the lone-_id path for organizations */
	assert_true(bson_oid_equal(oid_at(f, "_id"), &beta.org));
	bson_destroy(f);
}

static void a_filter_naming_the_tenant_is_refused_unchanged(void **state)
{
	bson_oid_t other;
	bson_oid_init(&other, NULL);
	bson_t *f = BCON_NEW("organization_id", BCON_OID(&other));
	bool each;
	assert_false(sova_scope_filter(&alpha, "patients", f, false, &each, err, sizeof err));
	assert_non_null(strstr(err, "organization_id"));
	assert_int_equal(bson_count_keys(f), 1);
	assert_true(bson_oid_equal(oid_at(f, "organization_id"), &other));
	bson_destroy(f);

	bson_t *g = BCON_NEW("_id", BCON_OID(&other));
	assert_false(sova_scope_filter(&alpha, "organizations", g, false, &each, err, sizeof err));
	bson_destroy(g);
}

static void an_id_lookup_on_ferretdb_is_sent_alone_and_checked_per_document(void **state)
{
	bson_oid_t id;
	bson_oid_init(&id, NULL);
	bson_t *f = BCON_NEW("_id", BCON_OID(&id));
	bool each = false;
	assert_true(sova_scope_filter(&alpha, "patients", f, true, &each, err, sizeof err));
	assert_true(each);
	assert_int_equal(bson_count_keys(f), 1); /* FerretDB pushes down only a lone _id */
	bson_destroy(f);

	/* on MongoDB the same lookup carries the tenant: no per-document check, no extra read */
	bson_t *g = BCON_NEW("_id", BCON_OID(&id));
	assert_true(sova_scope_filter(&alpha, "patients", g, false, &each, err, sizeof err));
	assert_false(each);
	assert_true(bson_oid_equal(oid_at(g, "organization_id"), &alpha.org));
	bson_destroy(g);

	/* a string _id is not an ObjectId lookup: always the tenant condition */
	bson_t *h = BCON_NEW("_id", BCON_UTF8("x"));
	assert_true(sova_scope_filter(&alpha, "patients", h, true, &each, err, sizeof err));
	assert_false(each);
	assert_non_null(oid_at(h, "organization_id"));
	bson_destroy(h);
}

static void owns_tells_one_tenant_from_another(void **state)
{
	bson_t *doc = BCON_NEW("organization_id", BCON_OID(&alpha.org));
	assert_true(sova_scope_owns(&alpha, doc));
	assert_false(sova_scope_owns(&beta, doc));
	assert_true(sova_scope_owns(&unscoped, doc));
	bson_t *none = BCON_NEW("name", BCON_UTF8("no tenant"));
	assert_false(sova_scope_owns(&alpha, none));
	bson_t *as_string = BCON_NEW("organization_id", BCON_UTF8("65a000000000000000000001"));
	assert_false(sova_scope_owns(&alpha, as_string)); /* only a real ObjectId names a tenant */
	bson_destroy(doc);
	bson_destroy(none);
	bson_destroy(as_string);
}

static void updates_use_operators_and_never_touch_the_tenant(void **state)
{
	bson_t *ok = BCON_NEW("$set", "{", "call_status", BCON_UTF8("Completed"), "}");
	assert_true(sova_scope_check_update(&alpha, ok, err, sizeof err));
	const char *bad[][2] = {
		{"$set", "organization_id"}, {"$unset", "organization_id"}, {"$set", "organization_id.x"},
		{"$set", "_id"},             {"$rename", "_id"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		bson_t *u = BCON_NEW(bad[i][0], "{", bad[i][1], BCON_INT32(1), "}");
		assert_false(sova_scope_check_update(&alpha, u, err, sizeof err));
		assert_non_null(strstr(err, "may not change"));
		bson_destroy(u);
	}
	bson_t *replacement = BCON_NEW("call_status", BCON_UTF8("x"));
	assert_false(sova_scope_check_update(&alpha, replacement, err, sizeof err));
	assert_non_null(strstr(err, "operators"));
	/* a field that merely starts like the tenant field is an ordinary field */
	bson_t *similar = BCON_NEW("$set", "{", "organization_identifier", BCON_UTF8("x"), "}");
	assert_true(sova_scope_check_update(&alpha, similar, err, sizeof err));
	assert_true(sova_scope_check_update(&unscoped, replacement, err, sizeof err));
	bson_destroy(ok);
	bson_destroy(replacement);
	bson_destroy(similar);
}

static void inserts_are_bound_to_the_tenant(void **state)
{
	bson_t *doc = BCON_NEW("first_name", BCON_UTF8("Ana"));
	assert_true(sova_scope_insert(&beta, "patients", doc, err, sizeof err));
	assert_true(bson_oid_equal(oid_at(doc, "organization_id"), &beta.org));
	bson_destroy(doc);

	bson_t *forged = BCON_NEW("organization_id", BCON_OID(&alpha.org));
	assert_false(sova_scope_insert(&beta, "patients", forged, err, sizeof err));
	assert_int_equal(bson_count_keys(forged), 1);
	bson_destroy(forged);

	bson_t *org = BCON_NEW("name", BCON_UTF8("New Clinic"));
	assert_false(sova_scope_insert(&beta, "organizations", org, err, sizeof err));
	assert_true(sova_scope_insert(&unscoped, "organizations", org, err, sizeof err));
	assert_null(oid_at(org, "organization_id"));
	bson_destroy(org);
}

static void organizations_cannot_be_deleted_through_a_scoped_handle(void **state)
{
	assert_false(sova_scope_check_delete(&alpha, "organizations", err, sizeof err));
	assert_true(sova_scope_check_delete(&alpha, "patients", err, sizeof err));
	assert_true(sova_scope_check_delete(&unscoped, "organizations", err, sizeof err));
}

static void a_pipeline_starts_with_the_tenant_match(void **state)
{
	bson_t cmd = BSON_INITIALIZER, stages;
	BSON_APPEND_ARRAY_BEGIN(&cmd, "pipeline", &stages);
	assert_int_equal(sova_scope_pipeline_start(&alpha, "sessions", &stages), 1);
	bson_append_array_end(&cmd, &stages);
	bson_iter_t it;
	assert_true(has_path(&cmd, "pipeline.0.$match.organization_id", &it));
	assert_true(BSON_ITER_HOLDS_OID(&it));
	assert_true(bson_oid_equal(bson_iter_oid(&it), &alpha.org));
	bson_destroy(&cmd);

	bson_t cmd2 = BSON_INITIALIZER, stages2;
	BSON_APPEND_ARRAY_BEGIN(&cmd2, "pipeline", &stages2);
	assert_int_equal(sova_scope_pipeline_start(&unscoped, "sessions", &stages2), 0);
	bson_append_array_end(&cmd2, &stages2);
	assert_false(has_path(&cmd2, "pipeline.0", &it));
	bson_destroy(&cmd2);
}

static void an_inclusion_projection_keeps_the_tenant_field(void **state)
{
	bson_t *opts = BCON_NEW("limit", BCON_INT64(1), "projection", "{", "first_name", BCON_INT32(1), "}");
	sova_scope_keep_tenant_field(opts);
	bson_iter_t it;
	assert_true(has_path(opts, "projection.organization_id", &it));
	assert_true(has_path(opts, "projection.first_name", &it));
	assert_true(bson_iter_init_find(&it, opts, "limit"));
	bson_destroy(opts);

	bson_t *exclusion = BCON_NEW("projection", "{", "notes", BCON_INT32(0), "}");
	sova_scope_keep_tenant_field(exclusion);
	assert_false(has_path(exclusion, "projection.organization_id", &it));
	bson_destroy(exclusion);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_filter_gets_the_tenant_appended),
		cmocka_unit_test(organizations_are_scoped_by_their_own_id),
		cmocka_unit_test(a_filter_naming_the_tenant_is_refused_unchanged),
		cmocka_unit_test(an_id_lookup_on_ferretdb_is_sent_alone_and_checked_per_document),
		cmocka_unit_test(owns_tells_one_tenant_from_another),
		cmocka_unit_test(updates_use_operators_and_never_touch_the_tenant),
		cmocka_unit_test(inserts_are_bound_to_the_tenant),
		cmocka_unit_test(organizations_cannot_be_deleted_through_a_scoped_handle),
		cmocka_unit_test(a_pipeline_starts_with_the_tenant_match),
		cmocka_unit_test(an_inclusion_projection_keeps_the_tenant_field),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
