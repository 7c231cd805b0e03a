/* The bot's event loop (core/lua/loop.c), seen from civetweb's threads. */
#ifndef SOVA_LUA_LOOP_H
#define SOVA_LUA_LOOP_H
#include <stdbool.h>
#include <stddef.h>

#include "http/server.h"

bool sova_loop_init(char *err, size_t errlen);
/* Makes next_events return {kind="stop"}; safe from any thread. */
void sova_loop_stop(void);
/* Hands an HTTP request to the loop and waits (at most timeout_ms) for loop.reply. Returns the
 * status (503 on timeout); *body and *content_type are malloc'd (caller frees; may be NULL). */
int sova_loop_http(const sova_http_request *req, int timeout_ms, char **body, size_t *body_len, char **content_type);
void sova_loop_ws_open(sova_ws *ws, const char *path, const char *query, const char *remote);
void sova_loop_ws_message(sova_ws *ws, const char *data, size_t len);
void sova_loop_ws_close(sova_ws *ws);
#endif
