/* The Twilio Media Streams codec's cost (core/bot/media/twilio_stream.c); bench/twilio_stream.sh
 * runs it, figures in docs/benchmarks.md "Twilio Media Streams codec".
 *
 *   in    one inbound media message as Twilio sends it (20 ms, 160 μ-law bytes in base64, with
 *         sequenceNumber, track, chunk, timestamp) parsed and decoded: µs per message;
 *   out   one outbound media frame (160 bytes) built, base64 and JSON: µs per frame; and a mark.
 * CPU time of this thread, best of `repeats` runs of `n` messages each (the machine is shared:
 * the best run is the codec's own cost, the others add the neighbours'). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "bot/media/twilio_stream.h"

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define SID "MZ18ad3ab5a668481ce02b83e7395059f0"

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	int repeats = argc > 2 ? atoi(argv[2]) : 5;
	if (n < 1 || repeats < 1 || sodium_init() < 0) {
		fprintf(stderr, "usage: bench_twilio_stream [messages] [repeats]\n");
		return 2;
	}
	uint8_t frame[160];
	for (int i = 0; i < 160; i++)
		frame[i] = (uint8_t)(i * 37 + 11);
	char b64[256], in[512];
	sodium_bin2base64(b64, sizeof b64, frame, sizeof frame, sodium_base64_VARIANT_ORIGINAL);
	int in_len = snprintf(in, sizeof in,
			      "{\"event\":\"media\",\"sequenceNumber\":\"4242\",\"streamSid\":\"" SID "\",\"media\":{"
			      "\"track\":\"inbound\",\"chunk\":\"4241\",\"timestamp\":\"84820\",\"payload\":\"%s\"}}",
			      b64);
	static sova_twilio_msg msg;
	sova_sbuf out = {0};
	char err[160];
	double best_in = 1e9, best_out = 1e9, best_mark = 1e9;
	size_t out_len = 0;
	for (int r = 0; r < repeats; r++) {
		double t0 = cpu_s();
		for (long i = 0; i < n; i++)
			if (!sova_twilio_parse(&msg, in, (size_t)in_len, err, sizeof err) || msg.audio_len != 160) {
				fprintf(stderr, "bench_twilio_stream: %s\n", err);
				return 1;
			}
		double t1 = cpu_s();
		for (long i = 0; i < n; i++) {
			frame[i % 160] ^= 1; /* not the same frame every time */
			if (!sova_twilio_media_frame(&out, SID, frame, sizeof frame)) {
				fprintf(stderr, "bench_twilio_stream: out of memory\n");
				return 1;
			}
		}
		double t2 = cpu_s();
		for (long i = 0; i < n; i++)
			if (!sova_twilio_mark_frame(&out, SID, (uint32_t)i + 1)) {
				fprintf(stderr, "bench_twilio_stream: out of memory\n");
				return 1;
			}
		double t3 = cpu_s();
		sova_twilio_media_frame(&out, SID, frame, sizeof frame);
		out_len = out.len;
		best_in = (t1 - t0) < best_in ? t1 - t0 : best_in;
		best_out = (t2 - t1) < best_out ? t2 - t1 : best_out;
		best_mark = (t3 - t2) < best_mark ? t3 - t2 : best_mark;
	}
	sova_sbuf_free(&out);
	double us_in = best_in / (double)n * 1e6, us_out = best_out / (double)n * 1e6, us_mark = best_mark / (double)n * 1e6;
	printf("{\"messages\":%ld,\"repeats\":%d,\"inbound_bytes\":%d,\"outbound_bytes\":%zu,"
	       "\"us_per_inbound_media\":%.3f,\"us_per_outbound_media\":%.3f,\"us_per_mark\":%.3f,"
	       "\"core_share_500_calls\":%.4f}\n",
	       n, repeats, in_len, out_len, us_in, us_out, us_mark,
	       /* 500 calls, 50 messages a second each way */
	       500.0 * 50.0 * (us_in + us_out) / 1e6);
	return 0;
}
