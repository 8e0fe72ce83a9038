/* SPDX-License-Identifier: MIT */
/*
 * prom.h: a parser of the Prometheus text exposition format (version 0.0.4, what vLLM, SGLang,
 * TGI and llama.cpp's server answer on /metrics), and the scraper of `owbench serve
 * --metrics-url` that reads such a page every N ms during a run and keeps every series.
 *
 * Parser: one sample per line, `name[{label="value",...}] value [timestamp_ms]`; `#` lines (HELP,
 * TYPE, comments) and blank lines are skipped; LF or CRLF line ends; label values may hold
 * escaped `\\`, `\"` and `\n`; values are floats, `NaN`, `+Inf`, `-Inf`. A malformed line is
 * skipped and counted, never a crash or a read past the input. The parser does not allocate; the
 * sample it passes points into the input (labels are the raw text between the braces).
 *
 * Scraper: a thread with its own libcurl handle; the first scrape happens in owb_prom_scrape_start
 * (so a URL that does not answer is known before the run). Series are keyed `name{labels}`;
 * histogram buckets (`_bucket`) are not kept (their `_sum` and `_count` are). Times are
 * owb_now_ns. Thread-safe between the scraper thread and the caller.
 */
#ifndef OWB_BENCH_PROM_H
#define OWB_BENCH_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "owb_common.h"

struct owb_prom_sample {
    const char *name; /* metric name, name_len bytes (not NUL-terminated) */
    size_t name_len;
    const char *labels; /* raw text between the braces (may be empty), labels_len bytes */
    size_t labels_len;
    double value;
    bool has_ts;
    int64_t ts_ms;
};

/* Called per sample; non-zero stops the parse and is returned. */
typedef int (*owb_prom_fn)(void *ctx, const struct owb_prom_sample *s);

/* Parse len bytes of exposition text. Returns the number of samples delivered (>= 0) or what fn
 * returned when it stopped the parse (negative); *n_bad (may be NULL) gets the malformed lines. */
long owb_prom_parse(const char *text, size_t len, owb_prom_fn fn, void *ctx, size_t *n_bad);

struct owb_prom_scrape;

/* Scrape url once now (fails with OWB_E_IO and err when it does not answer 200 with at least one
 * sample), then every interval_ms in a thread until stopped. */
int owb_prom_scrape_start(const char *url, int interval_ms, struct owb_prom_scrape **out,
                          char err[OWB_ERR_MAX]);
/* Stop the thread (one last scrape first); the series stay readable. NULL is a no-op. */
void owb_prom_scrape_stop(struct owb_prom_scrape *s);
void owb_prom_scrape_free(struct owb_prom_scrape *s);
/* A new JSON object with the scrapes between t0_ns and t1_ns: url, interval_ms, scrapes,
 * failures, bad_lines, t_s (times from t0_ns) and series {"name{labels}": [values]}, one value
 * per scrape (null where a scrape lacked the series). Caller frees; NULL on OOM. */
cJSON *owb_prom_scrape_json(struct owb_prom_scrape *s, uint64_t t0_ns, uint64_t t1_ns);

#endif
