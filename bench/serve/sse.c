/* SPDX-License-Identifier: MIT */
/*
 * sse.c: the incremental Server-Sent Events parser of sse.h. A byte-at-a-time state machine over
 * the line grammar of the WHATWG spec (field ":" [" "] value, comments, blank line dispatches),
 * with a memchr fast path for the bulk of a data line. Everything it keeps between pushes lives in
 * struct owb_sse, so a stream may be cut at any byte.
 */
#include <string.h>

#include "bench/serve/sse.h"

enum { ST_LINE_START, ST_FIELD, ST_VALUE_START, ST_VALUE, ST_COMMENT };
enum { F_IGNORE, F_DATA, F_EVENT };

static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

static void clear_event(struct owb_sse *p)
{
    p->data_len = 0;
    p->type_len = 0;
    p->has_data = 0;
    p->oversize = 0;
}

void owb_sse_reset(struct owb_sse *p)
{
    clear_event(p);
    p->field_len = 0;
    p->state = ST_LINE_START;
    p->field_kind = F_IGNORE;
    p->last_cr = 0;
    p->bom_checked = 0;
    p->bom_matched = 0;
    p->n_events = p->n_comments = p->n_oversize = p->n_bytes = 0;
}

void owb_sse_init(struct owb_sse *p, char *buf, size_t cap, owb_sse_event_fn on_event, void *ctx)
{
    memset(p, 0, sizeof *p);
    p->data = buf;
    p->data_cap = cap;
    p->on_event = on_event;
    p->ctx = ctx;
    owb_sse_reset(p);
}

static void data_append(struct owb_sse *p, const char *s, size_t n)
{
    if (p->oversize)
        return;
    if (p->data_len + n + 1 > p->data_cap) {
        p->oversize = 1;
        return;
    }
    memcpy(p->data + p->data_len, s, n);
    p->data_len += n;
}

/* The field name is complete (at ':' or at the end of a line without one). */
static void field_begin(struct owb_sse *p)
{
    p->field_kind = F_IGNORE;
    if (p->field_len == 4 && !memcmp(p->field, "data", 4)) {
        p->field_kind = F_DATA;
        if (p->has_data)
            data_append(p, "\n", 1);
        p->has_data = 1;
    } else if (p->field_len == 5 && !memcmp(p->field, "event", 5)) {
        p->field_kind = F_EVENT;
        p->type_len = 0;
    }
}

static int dispatch(struct owb_sse *p)
{
    int rc = 0;
    if (p->has_data) {
        if (p->oversize) {
            p->n_oversize++;
        } else {
            struct owb_sse_event ev;
            p->data[p->data_len] = '\0';
            p->type[p->type_len] = '\0';
            ev.type = p->type_len ? p->type : "message";
            ev.data = p->data;
            ev.data_len = p->data_len;
            p->n_events++;
            rc = p->on_event(p->ctx, &ev);
        }
    }
    clear_event(p);
    return rc;
}

static int end_line(struct owb_sse *p)
{
    int rc = 0;
    switch (p->state) {
    case ST_LINE_START:
        rc = dispatch(p);
        break;
    case ST_FIELD:
        field_begin(p); /* a field with an empty value */
        break;
    default:
        break;
    }
    p->state = ST_LINE_START;
    p->field_kind = F_IGNORE;
    return rc;
}

static void value_byte(struct owb_sse *p, char c)
{
    if (p->field_kind == F_DATA)
        data_append(p, &c, 1);
    else if (p->field_kind == F_EVENT && p->type_len + 1 < OWB_SSE_TYPE_MAX)
        p->type[p->type_len++] = c;
}

/* One byte that is not part of a line end. */
static void line_byte(struct owb_sse *p, char c)
{
    switch (p->state) {
    case ST_LINE_START:
        if (c == ':') {
            p->state = ST_COMMENT;
            p->n_comments++;
            return;
        }
        p->state = ST_FIELD;
        p->field_len = 0;
        /* fall through */
    case ST_FIELD:
        if (c == ':') {
            field_begin(p);
            p->state = ST_VALUE_START;
        } else if (p->field_len < sizeof p->field) {
            p->field[p->field_len++] = c;
        } else {
            p->field_len = sizeof p->field + 1; /* too long for any known field */
        }
        return;
    case ST_VALUE_START:
        p->state = ST_VALUE;
        if (c == ' ')
            return;
        value_byte(p, c);
        return;
    case ST_VALUE:
        value_byte(p, c);
        return;
    default: /* comment */
        return;
    }
}

static int any_byte(struct owb_sse *p, char c)
{
    if (c == '\n') {
        if (p->last_cr) {
            p->last_cr = 0;
            return 0;
        }
        return end_line(p);
    }
    if (c == '\r') {
        p->last_cr = 1;
        return end_line(p);
    }
    p->last_cr = 0;
    line_byte(p, c);
    return 0;
}

int owb_sse_push(struct owb_sse *p, const char *bytes, size_t n)
{
    size_t i = 0;
    int rc;
    p->n_bytes += n;
    /* A UTF-8 BOM at the very start of the stream is skipped; a partial match that fails is
     * replayed as ordinary bytes. */
    while (!p->bom_checked && i < n) {
        if ((unsigned char)bytes[i] == bom[p->bom_matched]) {
            i++;
            if (++p->bom_matched == 3)
                p->bom_checked = 1;
            continue;
        }
        p->bom_checked = 1;
        for (int k = 0; k < p->bom_matched; k++)
            line_byte(p, (char)bom[k]);
    }
    while (i < n) {
        if (p->state == ST_VALUE && p->field_kind == F_DATA) {
            /* Fast path: copy the rest of the data line in one go. */
            const char *s = bytes + i;
            size_t left = n - i, k = 0;
            while (k < left && s[k] != '\n' && s[k] != '\r')
                k++;
            if (k) {
                data_append(p, s, k);
                p->last_cr = 0;
                i += k;
                continue;
            }
        }
        rc = any_byte(p, bytes[i++]);
        if (rc)
            return rc;
    }
    return 0;
}

int owb_sse_finish(struct owb_sse *p)
{
    int pending = p->state != ST_LINE_START || p->has_data || p->type_len > 0;
    if (!p->bom_checked && p->bom_matched)
        pending = 1;
    clear_event(p);
    p->state = ST_LINE_START;
    p->last_cr = 0;
    return pending;
}
