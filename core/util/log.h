/* JSON-line logging to stderr. Callers must never pass PHI, passwords or tokens. */
#ifndef SOVA_LOG_H
#define SOVA_LOG_H
#include <stddef.h>

/* Writes one complete line (a newline is added) atomically with respect to other threads. */
void sova_log_line(const char *line, size_t len);

/* Logs {"ts":..,"level":..,"event":..,"msg":..}; msg may be NULL. */
void sova_log(const char *level, const char *event, const char *msg);

/* Appends s as a JSON string literal (with quotes) to buf; returns bytes written or
 * the bytes needed (like snprintf); output is always NUL-terminated when size > 0. */
size_t sova_json_quote(char *buf, size_t size, const char *s);

/* ISO-8601 UTC time with milliseconds into buf (at least 32 bytes). */
void sova_iso_now(char *buf, size_t size);
#endif
