/* SPDX-License-Identifier: MIT */
/*
 * sse.h: an incremental Server-Sent Events parser (WHATWG "event stream interpretation") with a
 * pure push-bytes API: feed whatever the transport delivered, split anywhere (inside a line, inside
 * a CRLF pair, inside a UTF-8 sequence), and the parser calls back once per complete event. It
 * handles LF, CRLF and CR line ends, a leading byte-order mark, comments (":" lines), multi-line
 * data (joined with "\n"), "event:" types, and fields with or without the space after the colon.
 * An event larger than the caller's buffer is dropped whole and counted (never truncated and
 * delivered). The parser does not allocate: the caller gives it the data buffer at init, so it can
 * sit in a load generator's event loop. One parser per stream; not thread-safe per object.
 */
#ifndef OWB_BENCH_SSE_H
#define OWB_BENCH_SSE_H

#include <stddef.h>
#include <stdint.h>

/* One dispatched event. Pointers are valid only during the callback. data is NUL-terminated (the
 * trailing newline of the last data line removed, as the spec says); type is "message" when the
 * event had no "event:" field. */
struct owb_sse_event {
    const char *type;
    const char *data;
    size_t data_len;
};

/* Called for each complete event; return 0 to continue, non-zero to stop parsing (push then
 * returns that value and the parser must not be fed again before owb_sse_reset). */
typedef int (*owb_sse_event_fn)(void *ctx, const struct owb_sse_event *ev);

#define OWB_SSE_TYPE_MAX 64 /* longer event types are truncated to this many bytes - 1 */

struct owb_sse {
    owb_sse_event_fn on_event;
    void *ctx;
    char *data;      /* caller's buffer for the data of the event being read */
    size_t data_cap; /* its size in bytes (one byte is kept for the NUL) */
    size_t data_len;
    char type[OWB_SSE_TYPE_MAX];
    size_t type_len;
    char field[8]; /* the field name of the current line (longer names are unknown fields) */
    size_t field_len;
    int state;           /* where in a line we are (private) */
    int field_kind;      /* which field the current line sets (private) */
    int last_cr;         /* the previous byte was CR: a following LF belongs to the same line end */
    int bom_checked;     /* the stream's first bytes have been checked for a UTF-8 BOM */
    int bom_matched;     /* bytes of the BOM matched so far */
    int has_data;        /* a data field was seen in the current event */
    int oversize;        /* the current event outgrew the buffer: drop it at dispatch */
    uint64_t n_events;   /* events dispatched */
    uint64_t n_comments; /* comment lines */
    uint64_t n_oversize; /* events dropped because they did not fit in data_cap - 1 bytes */
    uint64_t n_bytes;    /* bytes pushed */
};

/* Set up p over the caller's buffer buf[0..cap) (cap >= 2); buf must outlive p. */
void owb_sse_init(struct owb_sse *p, char *buf, size_t cap, owb_sse_event_fn on_event, void *ctx);

/* Forget the current stream (partial line and event, counters) and start a new one with the same
 * buffer and callback. */
void owb_sse_reset(struct owb_sse *p);

/* Feed n bytes. Returns 0, or the first non-zero value a callback returned. */
int owb_sse_push(struct owb_sse *p, const char *bytes, size_t n);

/* End of stream. Per the spec an event without its terminating blank line is discarded; returns 1
 * when such an unfinished event (or line) was pending, 0 when the stream ended cleanly. */
int owb_sse_finish(struct owb_sse *p);

#endif
