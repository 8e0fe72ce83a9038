/* SPDX-License-Identifier: MIT */
/*
 * cmd_serve_model.c: `owbench serve-model -m FILE --port P`, the in-process engine behind a
 * minimal OpenAI-compatible HTTP/1.1 server, so the server path of the evals (`eval ... --url`)
 * and the load generator can be checked against a real engine whose local scores are known.
 * Endpoints: GET /v1/models, POST /v1/completions and /v1/chat/completions (streaming SSE or
 * not; `echo` + `logprobs` with prompt log-probs as vLLM serves them,
 * `return_tokens_as_token_ids`), POST /completion (llama.cpp's native endpoint with `n_probs`, the
 * teacher-forced fallback of the evals), GET /metrics (Prometheus text), GET /health.
 *
 * Design: one thread per connection (detached, at most --max-conns), keep-alive, chunked
 * transfer for streams; the engine is one producer behind a mutex, so requests are computed one
 * at a time in arrival order of the lock (the /metrics gauges `running` and `waiting` show it).
 * Generation is greedy; every step rescores the whole sequence (no KV reuse): a reference server
 * for correctness, not a fast one. Loopback only unless --host says otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evals/producer.h"
#include "model/gguf.h"
#include "model/tokenizer.h"
#include "owb_common.h"
#include "tools/cmds.h"

#define MAX_HEADER_BYTES 65536
#define MAX_BODY_BYTES (64u << 20)
#define MAX_LOGPROBS_DEFAULT 0 /* 0: up to the vocabulary */

struct server {
    struct owb_producer *p;
    struct owb_gguf *g;
    struct owb_tokenizer *tok;
    pthread_mutex_t engine; /* one computation at a time */
    struct owb_scores s;    /* guarded by engine */
    char model_name[256];
    bool no_echo; /* refuse echo like llama.cpp's server */
    int max_conns;
    long fail_every; /* fault injection: every Nth POST is answered 503 (0: never) */
    atomic_long posts;
    /* metrics */
    atomic_long running, waiting, conns, requests_total, errors_total, prompt_tokens, gen_tokens,
        completions, chats, native;
};

struct conn {
    struct server *srv;
    int fd;
    char *buf; /* request bytes */
    size_t len, cap;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: owbench serve-model -m FILE [--port P] [--host ADDR] [--name NAME]\n"
               "                           [--threads N] [--max-conns N] [--no-echo]\n\n"
               "Serve a GGUF model with the owbench engine over a minimal OpenAI-compatible API\n"
               "(docs/serve.md): /v1/completions and /v1/chat/completions (stream or not, echo +\n"
               "logprobs), llama.cpp's /completion with n_probs, /v1/models, /metrics (Prometheus\n"
               "text), /health. Greedy decoding, one request computed at a time.\n\n"
               "  -m, --model FILE   GGUF model\n"
               "  --port P           TCP port (default 8080; 0: any free port, printed at start)\n"
               "  --host ADDR        address to bind (default 127.0.0.1, loopback only)\n"
               "  --name NAME        model name in the API (default: the file name)\n"
               "  -t, --threads N    engine threads (default 1)\n"
               "  --max-conns N      open connections at most (default 64); more are refused\n"
               "  --no-echo          answer echo requests with 400, as llama.cpp's server does\n"
               "  --port-file FILE   write the port to FILE once listening\n"
               "  --fail-every N     answer every Nth POST with 503 (tests of client retries)\n");
}

/* ---- I/O ---- */

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_response(int fd, int status, const char *ctype, const char *body, size_t n)
{
    const char *reason = status == 200   ? "OK"
                         : status == 400 ? "Bad Request"
                         : status == 404 ? "Not Found"
                         : status == 413 ? "Payload Too Large"
                         : status == 503 ? "Service Unavailable"
                                         : "Error";
    char h[256];
    int hn = snprintf(h, sizeof h,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: keep-alive\r\n\r\n",
                      status, reason, ctype, n);
    if (send_all(fd, h, (size_t)hn))
        return -1;
    return send_all(fd, body, n);
}

static int send_error(int fd, struct server *srv, int status, const char *msg)
{
    atomic_fetch_add(&srv->errors_total, 1);
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", status == 400 ? "invalid_request_error" : "server_error");
    cJSON_AddNumberToObject(e, "code", status);
    char *s = cJSON_PrintUnformatted(o);
    int rc = s ? send_response(fd, status, "application/json", s, strlen(s)) : -1;
    free(s);
    cJSON_Delete(o);
    return rc;
}

static int send_json(int fd, cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    int rc = s ? send_response(fd, 200, "application/json", s, strlen(s)) : -1;
    free(s);
    return rc;
}

/* One chunk of a chunked stream carrying one SSE event "data: <s>\n\n". */
static int send_event(int fd, const char *s)
{
    size_t n = strlen(s) + 8;
    char h[32];
    int hn = snprintf(h, sizeof h, "%zx\r\ndata: ", n);
    if (send_all(fd, h, (size_t)hn) || send_all(fd, s, strlen(s)) || send_all(fd, "\n\n\r\n", 4))
        return -1;
    return 0;
}

static int send_event_json(int fd, cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    int rc = s ? send_event(fd, s) : -1;
    free(s);
    return rc;
}

/* ---- the engine ---- */

struct gen_req {
    int32_t *ids; /* prompt ids, then generated */
    int64_t n_prompt, n;
    int64_t max_tokens;
    int logprobs; /* top entries per position (0: none; -1: not requested) */
    bool echo, ids_as_tokens, ignore_eos, stream, chat, include_usage;
    int64_t stop_eos; /* set when EOS ended generation */
};

/* Token text as the API shows it. */
static void token_str(struct server *srv, int32_t id, bool as_ids, char *buf, size_t cap)
{
    if (as_ids) {
        snprintf(buf, cap, "token_id:%d", id);
        return;
    }
    int n = owb_tokenizer_piece(srv->tok, id, true, buf, cap - 1);
    if (n < 0)
        n = 0;
    if ((size_t)n > cap - 1)
        n = (int)cap - 1;
    buf[n] = '\0';
}

static cJSON *top_obj(struct server *srv, const struct owb_scores *s, int64_t row, int k,
                      bool as_ids)
{
    cJSON *o = cJSON_CreateObject();
    char t[256];
    for (int j = 0; j < k && j < s->top_k; j++) {
        int32_t id = s->top_id[row * s->top_k + j];
        if (id < 0)
            break;
        token_str(srv, id, as_ids, t, sizeof t);
        cJSON_AddItemToObject(o, t, cJSON_CreateNumber(s->top_lp[row * s->top_k + j]));
    }
    return o;
}

/* Score ids[0..n) from position `first` under the engine lock: rows for positions first..n-1,
 * and with `next` one more row (a placeholder target) for the distribution after the whole
 * sequence. */
static int score_locked(struct server *srv, const int32_t *ids, int64_t n, int64_t first, int k,
                        bool next, char err[OWB_ERR_MAX])
{
    int32_t *w = malloc((size_t)(n + 1) * sizeof *w);
    if (!w) {
        snprintf(err, OWB_ERR_MAX, "out of memory");
        return OWB_E_NOMEM;
    }
    memcpy(w, ids, (size_t)n * sizeof *w);
    w[n] = 0;
    int64_t m = next ? n + 1 : n;
    int rc = owb_scores_reserve(&srv->s, m - first, k < 1 ? 1 : k, 0, srv->p->info.n_vocab);
    if (!rc)
        rc = owb_producer_score(srv->p, w, m, first, &srv->s, err);
    free(w);
    return rc;
}

static cJSON *usage_obj(int64_t prompt, int64_t gen)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)gen);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(prompt + gen));
    return u;
}

static cJSON *chunk_obj(const struct server *srv, const struct gen_req *r, const char *text,
                        const char *finish)
{
    cJSON *o = cJSON_CreateObject(), *ch = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", "owb-0");
    cJSON_AddStringToObject(o, "object", r->chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddStringToObject(o, "model", srv->model_name);
    cJSON_AddNumberToObject(c, "index", 0);
    if (r->chat) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (text)
            cJSON_AddStringToObject(d, "content", text);
    } else {
        cJSON_AddStringToObject(c, "text", text ? text : "");
    }
    if (finish)
        cJSON_AddStringToObject(c, "finish_reason", finish);
    else
        cJSON_AddNullToObject(c, "finish_reason");
    cJSON_AddItemToArray(ch, c);
    return o;
}

/* Generate (and, with echo + logprobs, score the prompt) and answer on fd. */
static int run_generation(struct server *srv, int fd, struct gen_req *r)
{
    char err[OWB_ERR_MAX] = "", piece[256];
    int32_t eos = owb_tokenizer_eos(srv->tok);
    int64_t n_ctx = srv->p->info.n_ctx;
    int k = r->logprobs > 0 ? r->logprobs : 1, rc = 0;
    bool want_lp = r->logprobs >= 0;
    cJSON *lp = NULL, *tokens = NULL, *tlp = NULL, *top = NULL, *offs = NULL;
    char *text = NULL;
    size_t text_len = 0, text_cap = 0;
    const char *finish = "length";
    int64_t gen = 0;

    if (r->n_prompt < 1 || r->n_prompt + r->max_tokens > n_ctx ||
        (r->max_tokens == 0 && !r->echo) || (r->n_prompt < 2 && r->max_tokens == 0)) {
        snprintf(err, sizeof err,
                 "prompt of %lld tokens plus max_tokens %lld exceeds the context of %lld (or "
                 "max_tokens 0 without echo of at least 2 tokens)",
                 (long long)r->n_prompt, (long long)r->max_tokens, (long long)n_ctx);
        return send_error(fd, srv, 400, err);
    }
    if (k > srv->p->info.n_vocab)
        k = srv->p->info.n_vocab;
    if (want_lp && !r->chat) {
        lp = cJSON_CreateObject();
        tokens = cJSON_AddArrayToObject(lp, "tokens");
        tlp = cJSON_AddArrayToObject(lp, "token_logprobs");
        top = cJSON_AddArrayToObject(lp, "top_logprobs");
        offs = cJSON_AddArrayToObject(lp, "text_offset");
    }
    atomic_fetch_add(&srv->prompt_tokens, r->n_prompt);
    if (r->stream) {
        const char *h = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                        "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";
        if (send_all(fd, h, strlen(h))) {
            rc = -1;
            goto out;
        }
    }
    atomic_fetch_add(&srv->waiting, 1);
    pthread_mutex_lock(&srv->engine);
    atomic_fetch_sub(&srv->waiting, 1);
    atomic_fetch_add(&srv->running, 1);
    /* Prompt rows (echo + logprobs) and the first prediction, in one pass. */
    int64_t first = (r->echo && lp) ? 1 : r->n_prompt;
    if (r->max_tokens > 0 || first < r->n_prompt)
        rc = score_locked(srv, r->ids, r->n_prompt, first, k, r->max_tokens > 0, err);
    if (!rc && r->echo && lp) {
        size_t off = 0;
        for (int64_t j = 0; j < r->n_prompt; j++) {
            token_str(srv, r->ids[j], r->ids_as_tokens, piece, sizeof piece);
            cJSON_AddItemToArray(tokens, cJSON_CreateString(piece));
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
            char raw[256];
            int pn = owb_tokenizer_piece(srv->tok, r->ids[j], false, raw, sizeof raw);
            off += pn > 0 ? (size_t)pn : 0;
            if (j == 0) {
                cJSON_AddItemToArray(tlp, cJSON_CreateNull());
                cJSON_AddItemToArray(top, cJSON_CreateNull());
            } else {
                cJSON_AddItemToArray(tlp, cJSON_CreateNumber(srv->s.logp[j - 1]));
                cJSON_AddItemToArray(top,
                                     top_obj(srv, &srv->s, j - 1, r->logprobs, r->ids_as_tokens));
            }
        }
    }
    if (!rc && r->echo) {
        /* The prompt's text first (as its pieces), like vLLM's echo. */
        for (int64_t j = 0; j < r->n_prompt; j++) {
            int pn = owb_tokenizer_piece(srv->tok, r->ids[j], false, piece, sizeof piece);
            if (pn <= 0)
                continue;
            if (text_len + (size_t)pn + 1 > text_cap) {
                text_cap = 2 * (text_len + (size_t)pn + 1);
                char *nt = realloc(text, text_cap);
                if (!nt) {
                    rc = OWB_E_NOMEM;
                    break;
                }
                text = nt;
            }
            memcpy(text + text_len, piece, (size_t)pn);
            text_len += (size_t)pn;
            text[text_len] = '\0';
        }
        if (!rc && r->stream && text_len) {
            cJSON *c = chunk_obj(srv, r, text, NULL);
            if (send_event_json(fd, c))
                rc = -1;
            cJSON_Delete(c);
        }
    }
    int64_t row = srv->s.n - 1; /* the distribution after the sequence */
    for (gen = 0; !rc && gen < r->max_tokens; gen++) {
        int32_t id = srv->s.top_id[row * srv->s.top_k];
        double idlp = srv->s.top_lp[row * srv->s.top_k];
        if (id == eos && !r->ignore_eos) {
            finish = "stop";
            break;
        }
        r->ids[r->n++] = id;
        int pn = owb_tokenizer_piece(srv->tok, id, false, piece, sizeof piece - 1);
        piece[pn > 0 ? pn : 0] = '\0';
        if (lp) {
            char t[256];
            token_str(srv, id, r->ids_as_tokens, t, sizeof t);
            cJSON_AddItemToArray(tokens, cJSON_CreateString(t));
            cJSON_AddItemToArray(tlp, cJSON_CreateNumber(idlp));
            cJSON_AddItemToArray(top, top_obj(srv, &srv->s, row, r->logprobs, r->ids_as_tokens));
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)text_len));
        }
        if (r->stream) {
            cJSON *c = chunk_obj(srv, r, piece, NULL);
            if (lp) {
                cJSON *l1 = cJSON_AddObjectToObject(
                    cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0), "logprobs");
                char t[256];
                token_str(srv, id, r->ids_as_tokens, t, sizeof t);
                cJSON *ta = cJSON_AddArrayToObject(l1, "tokens");
                cJSON_AddItemToArray(ta, cJSON_CreateString(t));
                cJSON *la = cJSON_AddArrayToObject(l1, "token_logprobs");
                cJSON_AddItemToArray(la, cJSON_CreateNumber(idlp));
            }
            if (send_event_json(fd, c))
                rc = -1;
            cJSON_Delete(c);
        }
        if ((size_t)pn + text_len + 1 > text_cap) {
            text_cap = 2 * (text_len + (size_t)(pn > 0 ? pn : 0) + 1);
            char *nt = realloc(text, text_cap);
            if (!nt) {
                rc = OWB_E_NOMEM;
                break;
            }
            text = nt;
        }
        if (pn > 0) {
            memcpy(text + text_len, piece, (size_t)pn);
            text_len += (size_t)pn;
        }
        if (text)
            text[text_len] = '\0';
        if (gen + 1 < r->max_tokens &&
            (rc = score_locked(srv, r->ids, r->n, r->n, k, true, err)) == 0)
            row = srv->s.n - 1;
    }
    atomic_fetch_sub(&srv->running, 1);
    pthread_mutex_unlock(&srv->engine);
    atomic_fetch_add(&srv->gen_tokens, gen);
    if (rc > 0 || rc == -1) {
        rc = -1;
        goto out;
    }
    if (rc) {
        if (r->stream) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(cJSON_AddObjectToObject(e, "error"), "message", err);
            send_event_json(fd, e);
            cJSON_Delete(e);
            rc = send_all(fd, "0\r\n\r\n", 5);
        } else {
            rc = send_error(fd, srv, 500, err);
        }
        goto out;
    }
    if (r->stream) {
        cJSON *c = chunk_obj(srv, r, NULL, finish);
        if (r->include_usage)
            cJSON_AddItemToObject(c, "usage", usage_obj(r->n_prompt, gen));
        rc = send_event_json(fd, c);
        cJSON_Delete(c);
        if (!rc)
            rc = send_event(fd, "[DONE]");
        if (!rc)
            rc = send_all(fd, "0\r\n\r\n", 5);
        goto out;
    }
    cJSON *o = cJSON_CreateObject(), *ch = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", "owb-0");
    cJSON_AddStringToObject(o, "object", r->chat ? "chat.completion" : "text_completion");
    cJSON_AddStringToObject(o, "model", srv->model_name);
    cJSON_AddNumberToObject(c, "index", 0);
    if (r->chat) {
        cJSON *m = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", text ? text : "");
    } else {
        cJSON_AddStringToObject(c, "text", text ? text : "");
        if (lp) {
            cJSON_AddItemToObject(c, "logprobs", lp);
            lp = NULL;
        } else {
            cJSON_AddNullToObject(c, "logprobs");
        }
    }
    cJSON_AddStringToObject(c, "finish_reason", finish);
    cJSON_AddItemToArray(ch, c);
    cJSON_AddItemToObject(o, "usage", usage_obj(r->n_prompt, gen));
    rc = send_json(fd, o);
    cJSON_Delete(o);
out:
    cJSON_Delete(lp);
    free(text);
    return rc;
}

/* Prompt ids from a string (tokenized, BOS first) or an array of ids. */
static int prompt_ids(struct server *srv, const cJSON *pr, int64_t extra, struct gen_req *r,
                      char err[OWB_ERR_MAX])
{
    if (cJSON_IsArray(pr) && cJSON_GetArraySize(pr) == 1 &&
        cJSON_IsString(cJSON_GetArrayItem(pr, 0)))
        pr = cJSON_GetArrayItem(pr, 0);
    if (cJSON_IsString(pr)) {
        const char *t = pr->valuestring;
        int64_t cap = (int64_t)strlen(t) + 2;
        r->ids = malloc((size_t)(cap + extra + 2) * sizeof *r->ids);
        if (!r->ids)
            return OWB_E_NOMEM;
        r->n_prompt =
            owb_tokenizer_encode(srv->tok, t, strlen(t), OWB_TOK_ADD_SPECIAL, r->ids, cap);
        if (r->n_prompt < 0 || r->n_prompt > cap) {
            snprintf(err, OWB_ERR_MAX, "prompt: tokenizing failed");
            return OWB_E_FORMAT;
        }
    } else if (cJSON_IsArray(pr) && cJSON_GetArraySize(pr) > 0) {
        int64_t n = cJSON_GetArraySize(pr);
        r->ids = malloc((size_t)(n + extra + 2) * sizeof *r->ids);
        if (!r->ids)
            return OWB_E_NOMEM;
        const cJSON *it;
        r->n_prompt = 0;
        cJSON_ArrayForEach(it, pr)
        {
            if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
                it->valuedouble >= srv->p->info.n_vocab ||
                it->valuedouble != (int)it->valuedouble) {
                snprintf(err, OWB_ERR_MAX,
                         "prompt: token ids must be integers from 0 to %d (item %lld)",
                         srv->p->info.n_vocab - 1, (long long)r->n_prompt);
                return OWB_E_USAGE;
            }
            r->ids[r->n_prompt++] = (int32_t)it->valuedouble;
        }
    } else {
        snprintf(err, OWB_ERR_MAX, "prompt: expected a string or an array of token ids");
        return OWB_E_USAGE;
    }
    r->n = r->n_prompt;
    return OWB_OK;
}

static int handle_completion(struct server *srv, int fd, const char *body, bool chat, bool native)
{
    char err[OWB_ERR_MAX] = "";
    struct gen_req r = {0};
    int rc;
    cJSON *j = cJSON_Parse(body), *it;
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return send_error(fd, srv, 400, "request body is not a JSON object");
    }
    atomic_fetch_add(chat ? &srv->chats : native ? &srv->native : &srv->completions, 1);
    r.chat = chat;
    r.max_tokens = 16;
    r.logprobs = -1;
    const char *mt = native ? "n_predict" : chat ? "max_completion_tokens" : "max_tokens";
    if ((it = cJSON_GetObjectItem(j, mt)) || (it = cJSON_GetObjectItem(j, "max_tokens"))) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 1e6) {
            snprintf(err, sizeof err, "%s: expected a non-negative integer", mt);
            goto bad;
        }
        r.max_tokens = (int64_t)it->valuedouble;
    }
    r.echo = cJSON_IsTrue(cJSON_GetObjectItem(j, "echo"));
    if (r.echo && (srv->no_echo || chat)) {
        snprintf(err, sizeof err, "echo is not supported");
        goto bad;
    }
    r.stream = cJSON_IsTrue(cJSON_GetObjectItem(j, "stream"));
    r.ignore_eos = cJSON_IsTrue(cJSON_GetObjectItem(j, "ignore_eos"));
    r.ids_as_tokens = cJSON_IsTrue(cJSON_GetObjectItem(j, "return_tokens_as_token_ids"));
    r.include_usage = cJSON_IsTrue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "stream_options"), "include_usage"));
    it = cJSON_GetObjectItem(j, native ? "n_probs" : chat ? "top_logprobs" : "logprobs");
    if (chat && cJSON_IsTrue(cJSON_GetObjectItem(j, "logprobs")) && !it)
        r.logprobs = 0;
    if (it && !cJSON_IsNull(it)) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > srv->p->info.n_vocab) {
            snprintf(err, sizeof err, "logprobs: expected an integer from 0 to %d",
                     srv->p->info.n_vocab);
            goto bad;
        }
        r.logprobs = (int)it->valuedouble;
    }
    if (chat) {
        /* No chat template: the contents are joined by newlines and tokenized with BOS. */
        const cJSON *msgs = cJSON_GetObjectItem(j, "messages"), *m;
        size_t n = 1, off = 0;
        if (!cJSON_IsArray(msgs) || !cJSON_GetArraySize(msgs)) {
            snprintf(err, sizeof err, "messages: expected a non-empty array");
            goto bad;
        }
        cJSON_ArrayForEach(m, msgs)
        {
            const cJSON *c = cJSON_GetObjectItem(m, "content");
            if (!cJSON_IsString(c)) {
                snprintf(err, sizeof err, "messages: every message needs a string content");
                goto bad;
            }
            n += strlen(c->valuestring) + 1;
        }
        char *t = malloc(n);
        if (!t) {
            rc = -1;
            goto out;
        }
        cJSON_ArrayForEach(m, msgs)
        {
            const char *c = cJSON_GetObjectItem(m, "content")->valuestring;
            off += (size_t)sprintf(t + off, "%s%s", off ? "\n" : "", c);
        }
        cJSON *ps = cJSON_CreateString(t);
        free(t);
        rc = prompt_ids(srv, ps, r.max_tokens, &r, err);
        cJSON_Delete(ps);
    } else {
        rc = prompt_ids(srv, cJSON_GetObjectItem(j, native ? "prompt" : "prompt"), r.max_tokens, &r,
                        err);
    }
    if (rc == OWB_E_NOMEM) {
        rc = send_error(fd, srv, 500, "out of memory");
        goto out;
    }
    if (rc)
        goto bad;
    if (native) {
        /* llama.cpp's /completion: the n_probs most probable tokens of each generated position
         * (completion_probabilities), computed from the raw logits. */
        int k = r.logprobs > 0 ? r.logprobs : 1;
        if (r.n_prompt + 1 > srv->p->info.n_ctx) {
            snprintf(err, sizeof err, "prompt of %lld tokens exceeds the context",
                     (long long)r.n_prompt);
            goto bad;
        }
        atomic_fetch_add(&srv->prompt_tokens, r.n_prompt);
        atomic_fetch_add(&srv->waiting, 1);
        pthread_mutex_lock(&srv->engine);
        atomic_fetch_sub(&srv->waiting, 1);
        atomic_fetch_add(&srv->running, 1);
        rc = score_locked(srv, r.ids, r.n_prompt, r.n_prompt, k, true, err);
        cJSON *o = NULL;
        if (!rc) {
            o = cJSON_CreateObject();
            cJSON *cp = cJSON_AddArrayToObject(o, "completion_probabilities");
            char t[256];
            if (r.max_tokens > 0) {
                cJSON *e = cJSON_CreateObject(), *tl = cJSON_AddArrayToObject(e, "top_logprobs");
                int32_t id = srv->s.top_id[0];
                token_str(srv, id, false, t, sizeof t);
                cJSON_AddNumberToObject(e, "id", id);
                cJSON_AddStringToObject(e, "token", t);
                cJSON_AddNumberToObject(e, "logprob", srv->s.top_lp[0]);
                for (int q = 0; q < k && q < srv->s.top_k; q++) {
                    cJSON *x = cJSON_CreateObject();
                    id = srv->s.top_id[q];
                    token_str(srv, id, false, t, sizeof t);
                    cJSON_AddNumberToObject(x, "id", id);
                    cJSON_AddStringToObject(x, "token", t);
                    cJSON_AddNumberToObject(x, "logprob", srv->s.top_lp[q]);
                    cJSON_AddItemToArray(tl, x);
                }
                cJSON_AddItemToArray(cp, e);
                token_str(srv, srv->s.top_id[0], false, t, sizeof t);
                cJSON_AddStringToObject(o, "content", t);
            } else {
                cJSON_AddStringToObject(o, "content", "");
            }
            cJSON_AddNumberToObject(o, "tokens_evaluated", (double)r.n_prompt);
            cJSON_AddNumberToObject(o, "tokens_predicted", r.max_tokens > 0 ? 1 : 0);
        }
        atomic_fetch_sub(&srv->running, 1);
        pthread_mutex_unlock(&srv->engine);
        rc = rc ? send_error(fd, srv, 500, err) : send_json(fd, o);
        cJSON_Delete(o);
        goto out;
    }
    rc = run_generation(srv, fd, &r);
    goto out;
bad:
    rc = send_error(fd, srv, 400, err);
out:
    free(r.ids);
    cJSON_Delete(j);
    return rc;
}

static int handle_metrics(struct server *srv, int fd)
{
    char b[4096];
    int n = snprintf(
        b, sizeof b,
        "# HELP owb:requests_running Requests being computed by the engine.\n"
        "# TYPE owb:requests_running gauge\nowb:requests_running %ld\n"
        "# HELP owb:requests_waiting Requests waiting for the engine.\n"
        "# TYPE owb:requests_waiting gauge\nowb:requests_waiting %ld\n"
        "# HELP owb:connections_open Open client connections.\n"
        "# TYPE owb:connections_open gauge\nowb:connections_open %ld\n"
        "# HELP owb:requests_total HTTP requests received, by endpoint.\n"
        "# TYPE owb:requests_total counter\n"
        "owb:requests_total{endpoint=\"completions\"} %ld\n"
        "owb:requests_total{endpoint=\"chat\"} %ld\n"
        "owb:requests_total{endpoint=\"completion_native\"} %ld\n"
        "owb:requests_total{endpoint=\"all\"} %ld\n"
        "# HELP owb:request_errors_total Requests answered with an error status.\n"
        "# TYPE owb:request_errors_total counter\nowb:request_errors_total %ld\n"
        "# HELP owb:prompt_tokens_total Prompt tokens processed.\n"
        "# TYPE owb:prompt_tokens_total counter\nowb:prompt_tokens_total %ld\n"
        "# HELP owb:generation_tokens_total Tokens generated.\n"
        "# TYPE owb:generation_tokens_total counter\nowb:generation_tokens_total %ld\n",
        atomic_load(&srv->running), atomic_load(&srv->waiting), atomic_load(&srv->conns),
        atomic_load(&srv->completions), atomic_load(&srv->chats), atomic_load(&srv->native),
        atomic_load(&srv->requests_total), atomic_load(&srv->errors_total),
        atomic_load(&srv->prompt_tokens), atomic_load(&srv->gen_tokens));
    return send_response(fd, 200, "text/plain; version=0.0.4", b, (size_t)n);
}

/* Case-insensitive header value of name in the header block h (NUL-terminated), or NULL. */
static const char *header(const char *h, const char *name, char *val, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *l = strstr(h, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
        const char *s = l + 2;
        if (!strncasecmp(s, name, nl) && s[nl] == ':') {
            s += nl + 1;
            while (*s == ' ' || *s == '\t')
                s++;
            size_t i = 0;
            while (s[i] && s[i] != '\r' && i + 1 < cap) {
                val[i] = s[i];
                i++;
            }
            val[i] = '\0';
            return val;
        }
    }
    return NULL;
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    struct server *srv = c->srv;
    for (;;) {
        /* Read the header block. */
        char *end = NULL;
        while (!(end = c->len ? strstr(c->buf, "\r\n\r\n") : NULL)) {
            if (c->len + 4096 + 1 > c->cap) {
                if (c->cap >= MAX_HEADER_BYTES + MAX_BODY_BYTES)
                    goto done;
                size_t nc = c->cap ? 2 * c->cap : 16384;
                char *nb = realloc(c->buf, nc);
                if (!nb)
                    goto done;
                c->buf = nb;
                c->cap = nc;
            }
            ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                goto done;
            c->len += (size_t)r;
            c->buf[c->len] = '\0';
            if (c->len > MAX_HEADER_BYTES && !strstr(c->buf, "\r\n\r\n")) {
                send_error(c->fd, srv, 413, "request header too large");
                goto done;
            }
        }
        size_t hlen = (size_t)(end - c->buf) + 4;
        char method[16] = "", path[512] = "", val[64];
        end[2] = '\0';
        if (sscanf(c->buf, "%15s %511s", method, path) != 2) {
            send_error(c->fd, srv, 400, "malformed request line");
            goto done;
        }
        size_t blen = 0;
        if (header(c->buf, "Content-Length", val, sizeof val))
            blen = (size_t)strtoull(val, NULL, 10);
        bool close_after =
            header(c->buf, "Connection", val, sizeof val) && !strcasecmp(val, "close");
        if (header(c->buf, "Transfer-Encoding", val, sizeof val)) {
            send_error(c->fd, srv, 400, "chunked request bodies are not supported");
            goto done;
        }
        if (blen > MAX_BODY_BYTES) {
            send_error(c->fd, srv, 413, "request body too large");
            goto done;
        }
        if (hlen + blen + 1 > c->cap) {
            char *nb = realloc(c->buf, hlen + blen + 1);
            if (!nb)
                goto done;
            c->buf = nb;
            c->cap = hlen + blen + 1;
        }
        while (c->len < hlen + blen) {
            ssize_t r = recv(c->fd, c->buf + c->len, hlen + blen - c->len, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                goto done;
            c->len += (size_t)r;
        }
        char saved = c->buf[hlen + blen];
        c->buf[hlen + blen] = '\0';
        const char *body = c->buf + hlen;
        char *q = strchr(path, '?');
        if (q)
            *q = '\0';
        atomic_fetch_add(&srv->requests_total, 1);
        int rc;
        if (!strcmp(method, "POST") && srv->fail_every &&
            (atomic_fetch_add(&srv->posts, 1) + 1) % srv->fail_every == 0) {
            rc = send_error(c->fd, srv, 503, "injected failure (--fail-every)");
        } else if (!strcmp(method, "GET") && !strcmp(path, "/metrics")) {
            rc = handle_metrics(srv, c->fd);
        } else if (!strcmp(method, "GET") && !strcmp(path, "/health")) {
            rc = send_response(c->fd, 200, "application/json", "{\"status\":\"ok\"}", 15);
        } else if (!strcmp(method, "GET") &&
                   (!strcmp(path, "/v1/models") || !strcmp(path, "/models"))) {
            cJSON *o = cJSON_CreateObject(), *d = cJSON_AddArrayToObject(o, "data");
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "object", "list");
            cJSON_AddStringToObject(m, "id", srv->model_name);
            cJSON_AddStringToObject(m, "object", "model");
            cJSON_AddStringToObject(m, "owned_by", "owbench");
            cJSON_AddNumberToObject(m, "max_model_len", (double)srv->p->info.n_ctx);
            cJSON_AddItemToArray(d, m);
            rc = send_json(c->fd, o);
            cJSON_Delete(o);
        } else if (!strcmp(method, "POST") && !strcmp(path, "/v1/completions")) {
            rc = handle_completion(srv, c->fd, body, false, false);
        } else if (!strcmp(method, "POST") && !strcmp(path, "/v1/chat/completions")) {
            rc = handle_completion(srv, c->fd, body, true, false);
        } else if (!strcmp(method, "POST") && !strcmp(path, "/completion")) {
            rc = handle_completion(srv, c->fd, body, false, true);
        } else {
            char m[600];
            snprintf(m, sizeof m, "no route for %s %s", method, path);
            rc = send_error(c->fd, srv, 404, m);
        }
        c->buf[hlen + blen] = saved;
        memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
        c->len -= hlen + blen;
        if (c->len < c->cap)
            c->buf[c->len] = '\0';
        if (rc || close_after)
            break;
    }
done:
    close(c->fd);
    atomic_fetch_sub(&srv->conns, 1);
    free(c->buf);
    free(c);
    return NULL;
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int cmd_serve_model(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"host", required_argument, NULL, 'H'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"max-conns", required_argument, NULL, 'c'},
                                         {"no-echo", no_argument, NULL, 'E'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"port-file", required_argument, NULL, 'P'},
                                         {"fail-every", required_argument, NULL, 'F'},
                                         {NULL, 0, NULL, 0}};
    const char *model = NULL, *host = "127.0.0.1", *name = NULL, *port_file = NULL;
    long port = 8080, threads = 1, max_conns = 64;
    char err[OWB_ERR_MAX] = "";
    struct server srv;
    int c, lfd = -1, rc = OWB_EXIT_OK;
    memset(&srv, 0, sizeof srv);
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:h", opts, NULL)) != -1) {
        char *e = NULL;
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 'p':
            port = strtol(optarg, &e, 10);
            if (*e || port < 0 || port > 65535) {
                fprintf(stderr, "owbench serve-model: --port '%s': expected 0..65535\n", optarg);
                return OWB_EXIT_USAGE;
            }
            break;
        case 'H':
            host = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 't':
            threads = strtol(optarg, &e, 10);
            if (*e || threads < 1 || threads > 1024) {
                fprintf(stderr, "owbench serve-model: --threads '%s': expected 1..1024\n", optarg);
                return OWB_EXIT_USAGE;
            }
            break;
        case 'c':
            max_conns = strtol(optarg, &e, 10);
            if (*e || max_conns < 1 || max_conns > 65536) {
                fprintf(stderr, "owbench serve-model: --max-conns '%s': expected 1..65536\n",
                        optarg);
                return OWB_EXIT_USAGE;
            }
            break;
        case 'E':
            srv.no_echo = true;
            break;
        case 'P':
            port_file = optarg;
            break;
        case 'F':
            srv.fail_every = strtol(optarg, &e, 10);
            if (*e || srv.fail_every < 0) {
                fprintf(stderr, "owbench serve-model: --fail-every '%s': expected N >= 0\n",
                        optarg);
                return OWB_EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return OWB_EXIT_OK;
        default:
            usage(stderr);
            return OWB_EXIT_USAGE;
        }
    }
    if (!model || optind < argc) {
        fprintf(stderr, "owbench serve-model: %s\n",
                model ? "unexpected argument" : "-m FILE (the GGUF to serve) is required");
        return OWB_EXIT_USAGE;
    }
    struct in_addr addr;
    if (inet_pton(AF_INET, host, &addr) != 1) {
        fprintf(stderr, "owbench serve-model: --host '%s': expected an IPv4 address\n", host);
        return OWB_EXIT_USAGE;
    }
    struct owb_engine_opts eo = {.n_ctx = 0, .threads = (int)threads, .hash_model = false};
    int orc = owb_producer_engine_new(model, &eo, &srv.p, err);
    if (orc) {
        fprintf(stderr, "owbench serve-model: %s\n", err);
        return owb_status_exit(orc);
    }
    if (!(srv.g = owb_gguf_open(model, err)) || !(srv.tok = owb_tokenizer_new(srv.g, err))) {
        fprintf(stderr, "owbench serve-model: %s\n", err);
        rc = OWB_EXIT_RUNTIME;
        goto out;
    }
    const char *slash = strrchr(model, '/');
    snprintf(srv.model_name, sizeof srv.model_name, "%s", name ? name : slash ? slash + 1 : model);
    srv.max_conns = (int)max_conns;
    pthread_mutex_init(&srv.engine, NULL);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr = addr;
    socklen_t sl = sizeof sa;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 128) ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl)) {
        fprintf(stderr, "owbench serve-model: %s:%ld: %s\n", host, port, strerror(errno));
        rc = OWB_EXIT_RUNTIME;
        goto out;
    }
    struct sigaction act = {0};
    act.sa_handler = on_signal; /* no SA_RESTART: accept() returns EINTR */
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "owbench serve-model: %s (n_ctx %lld, vocab %d) listening on http://%s:%d/v1\n",
            srv.model_name, (long long)srv.p->info.n_ctx, srv.p->info.n_vocab, host,
            ntohs(sa.sin_port));
    fflush(stderr);
    if (port_file) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *pf = fopen(tmp, "w");
        if (!pf || fprintf(pf, "%d\n", ntohs(sa.sin_port)) < 0 || fclose(pf) ||
            rename(tmp, port_file)) {
            fprintf(stderr, "owbench serve-model: %s: cannot write the port\n", port_file);
            rc = OWB_EXIT_RUNTIME;
            goto out;
        }
    }
    while (!g_stop) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            fprintf(stderr, "owbench serve-model: accept: %s\n", strerror(errno));
            rc = OWB_EXIT_RUNTIME;
            break;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (atomic_load(&srv.conns) >= srv.max_conns) {
            send_error(fd, &srv, 503, "too many connections");
            close(fd);
            continue;
        }
        struct conn *cn = calloc(1, sizeof *cn);
        pthread_t th;
        pthread_attr_t at;
        if (!cn) {
            close(fd);
            continue;
        }
        cn->srv = &srv;
        cn->fd = fd;
        atomic_fetch_add(&srv.conns, 1);
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &at, conn_main, cn)) {
            atomic_fetch_sub(&srv.conns, 1);
            close(fd);
            free(cn);
        }
        pthread_attr_destroy(&at);
    }
    fprintf(stderr, "owbench serve-model: stopping (%ld requests, %ld errors)\n",
            atomic_load(&srv.requests_total), atomic_load(&srv.errors_total));
    /* Connection threads still running own their sockets; the process exits under them. */
    exit(rc);
out:
    if (lfd >= 0)
        close(lfd);
    owb_tokenizer_free(srv.tok);
    owb_gguf_close(srv.g);
    owb_producer_free(srv.p);
    return rc;
}
