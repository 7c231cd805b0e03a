/* Configuration from the environment (secrets come only from here). */
#ifndef SOVA_ENV_H
#define SOVA_ENV_H
const char *sova_env(const char *name, const char *fallback);
/* Integer value of name; fallback when unset, malformed or outside [min, max]. */
long sova_env_long(const char *name, long fallback, long min, long max);
#endif
