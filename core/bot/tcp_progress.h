/* How much of what was written to a TCP socket its peer has taken (Linux), for core/bot/http.c's
 * rule that a live socket whose peer takes nothing for WS_STALL_S is closed. */
#ifndef SOVA_BOT_TCP_PROGRESS_H
#define SOVA_BOT_TCP_PROGRESS_H
#include <stdbool.h>
#include <stdint.h>

/* acked: bytes the peer has acknowledged so far; queued: bytes written but not yet acknowledged.
 * False if fd is not a TCP socket the kernel can describe. */
bool sova_tcp_progress(int fd, uint64_t *acked, uint64_t *queued);

/* The next close of fd resets the connection (RST) instead of queueing a FIN behind bytes its
 * peer will never take. */
bool sova_tcp_abort_on_close(int fd);
#endif
