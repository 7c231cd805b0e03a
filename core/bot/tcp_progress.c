/* TCP_INFO's tcpi_bytes_acked is in the kernel's struct (linux/tcp.h), not glibc's copy
 * (netinet/tcp.h), which stops at tcpi_total_retrans: this file includes only the kernel's. */
#include "bot/tcp_progress.h"

#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

bool sova_tcp_progress(int fd, uint64_t *acked, uint64_t *queued)
{
	struct tcp_info info = {0};
	socklen_t len = sizeof info;
	int outq = 0;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked ||
	    ioctl(fd, SIOCOUTQ, &outq) != 0 || outq < 0)
		return false;
	*acked = info.tcpi_bytes_acked;
	*queued = (uint64_t)outq;
	return true;
}

bool sova_tcp_abort_on_close(int fd)
{
	struct linger now = {.l_onoff = 1, .l_linger = 0};
	return setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof now) == 0;
}
