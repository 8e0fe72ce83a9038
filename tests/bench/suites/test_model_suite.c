/* SPDX-License-Identifier: MIT */
/* OWB_TEST_LABELS: tsan */
/*
 * test_model_suite.c: the model suite's library side (bench/suites/model_suite.h) and what it
 * relies on in the forward pass, on synthetic `tiny` models (stories260K's shape, q4_0 and q8_0)
 * written to temporary files:
 *   - with the pinned pool as runner (one region per chunk, barriers and shared work counters
 *     inside), logits of a prefill + decode sequence are bitwise identical for 1 and 2 threads
 *     and for an unpinned 3-thread pool (more threads than the machine may have: the barrier
 *     must yield, not spin forever);
 *   - an attached profile counts calls and tokens, its classes are each at most the total and
 *     together at most the total; detaching it stops the accounting;
 *   - owb_model_bench_run appends model/prefill/<name>/p<N>/t<T> and model/decode/<name>/n<N>/t<T>
 *     with reps (prefill) and reps x n_gen (decode) samples, tok_per_s equal to what the samples
 *     give, weights and KV bytes equal to the model's, latency buckets covering every sample;
 *   - bad values and a missing file are refused with the documented status;
 *   - on a device backend (the cpu table marked as one: one host thread drives it, its timer
 *     times the calls) the prefill and decode cases carry op classes from the driver's marks
 *     (param op_timer), matmul and attention among them, their sum within the total.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/suites/ceiling.h"
#include "bench/suites/model_suite.h"
#include "bench/core/pool.h"
#include "bench/suites/stream.h"
#include "bench/core/topo.h"
#include "kernels/backend.h"
#include "kernels/isa.h"
#include "model/arch.h"
#include "model/gguf.h"
#include "owb_test.h"
#include "results/result.h"
#include "results/stats.h"

#define N_PROMPT 19 /* not a multiple of anything the kernels tile by */
#define N_DECODE 9

static void pool_run(void *pool, owb_par_fn fn, void *ctx)
{
    owb_pool_run(pool, fn, ctx);
}

/* Prefill N_PROMPT tokens then decode N_DECODE; all logits into out ((1 + N_DECODE) x n_vocab).
 * nthreads 0: no runner. */
static int run_seq(const struct owb_gguf *g, int nthreads, bool pinned, float *out, int64_t *nv,
                   struct owb_model_profile *prof)
{
    char err[OWB_ERR_MAX];
    struct owb_pool *pool = NULL;
    int cpus[2] = {0, 1};
    if (nthreads > 0) {
        pool = owb_pool_new(nthreads, pinned && nthreads <= 2 ? cpus : NULL, err);
        if (!pool && pinned) /* a machine with one usable CPU: unpinned then */
            pool = owb_pool_new(nthreads, NULL, err);
        CHECK_MSG(pool != NULL, "%s", err);
        if (!pool)
            return -1;
    }
    struct owb_runner r = {pool_run, pool, nthreads};
    struct owb_model_opts o = {.n_ctx = 64, .n_batch = 8, .runner = pool ? &r : NULL};
    struct owb_model *m = owb_model_load(g, &o, err);
    CHECK_MSG(m != NULL, "%s", err);
    if (!m) {
        owb_pool_free(pool);
        return -1;
    }
    *nv = m->hp.n_vocab;
    m->profile = prof;
    int32_t toks[N_PROMPT + N_DECODE];
    uint64_t s = 7;
    for (int i = 0; i < N_PROMPT + N_DECODE; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (int32_t)((s >> 33) % (uint64_t)m->hp.n_vocab);
    }
    int rc = owb_model_forward(m, toks, N_PROMPT, 0, out, false, err);
    CHECK_MSG(rc == 0, "%s", err);
    for (int i = 0; i < N_DECODE && rc == 0; i++) {
        rc = owb_model_forward(m, &toks[N_PROMPT + i], 1, N_PROMPT + i,
                               out + (size_t)(i + 1) * (size_t)m->hp.n_vocab, false, err);
        CHECK_MSG(rc == 0, "%s", err);
    }
    m->profile = NULL;
    owb_model_free(m);
    owb_pool_free(pool);
    return rc;
}

static void test_threads_and_profile(const char *path)
{
    char err[OWB_ERR_MAX];
    struct owb_gguf *g = owb_gguf_open(path, err);
    CHECK_MSG(g != NULL, "%s", err);
    if (!g)
        return;
    const size_t n = (size_t)(1 + N_DECODE) * 4096;
    float *ref = calloc(n, sizeof *ref), *got = calloc(n, sizeof *got);
    int64_t nv = 0;
    struct owb_model_profile prof;
    memset(&prof, 0, sizeof prof);
    CHECK(run_seq(g, 0, false, ref, &nv, &prof) == 0);
    CHECK(nv > 0 && (size_t)((1 + N_DECODE) * nv) <= n);
    /* profile: one prefill + N_DECODE decode calls */
    CHECK_MSG(prof.calls == 1 + N_DECODE, "calls %" PRIu64, prof.calls);
    CHECK_MSG(prof.tokens == N_PROMPT + N_DECODE, "tokens %" PRIu64, prof.tokens);
    uint64_t sum = prof.attention_ns + prof.norm_ns + prof.sync_ns + prof.other_ns, mm = 0;
    for (int t = 0; t < OWB_TYPE_COUNT; t++)
        mm += prof.matmul_ns[t];
    sum += mm;
    CHECK(prof.total_ns > 0 && mm > 0 && prof.attention_ns > 0 && prof.norm_ns > 0);
    CHECK_MSG(sum <= prof.total_ns, "classes %" PRIu64 " > total %" PRIu64, sum, prof.total_ns);
    CHECK_MSG(prof.matmul_ns[OWB_TYPE_Q8_0] > 0, "no q8_0 matmul time (token_embd/output)");

    static const struct {
        int nthreads;
        bool pinned;
    } cases[] = {{1, true}, {2, true}, {3, false}};
    for (size_t c = 0; c < OWB_ARRAY_LEN(cases); c++) {
        memset(got, 0, n * sizeof *got);
        struct owb_model_profile p2;
        memset(&p2, 0, sizeof p2);
        CHECK(run_seq(g, cases[c].nthreads, cases[c].pinned, got, &nv, &p2) == 0);
        CHECK_MSG(memcmp(ref, got, (size_t)((1 + N_DECODE) * nv) * sizeof *ref) == 0,
                  "%s: logits with %d threads differ from the single-threaded run", path,
                  cases[c].nthreads);
        CHECK(p2.calls == 1 + N_DECODE);
    }
    free(ref);
    free(got);
    owb_gguf_close(g);
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1.0;
}

/* A 12-token prefill and 6 decoded tokens of path, reps repetitions, no counters. */
static void small_cfg(struct owb_model_bench_cfg *cfg, const char *path, const char *name, int reps,
                      int buckets)
{
    owb_model_bench_cfg_default(cfg);
    cfg->path = path;
    cfg->name = name;
    cfg->n_prompt = 12;
    cfg->n_gen = 6;
    cfg->reps = reps;
    cfg->buckets = buckets;
    cfg->counters = "none";
}

static void test_suite(const char *path, const char *name)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_topo *topo = owb_topo_new(NULL, err);
    CHECK_MSG(topo != NULL, "%s", err);
    if (!topo)
        return;
    cJSON *doc = owb_result_new(0, NULL);
    struct owb_model_bench_cfg cfg;
    small_cfg(&cfg, path, name, 3, 4);
    cfg.threads[0] = 1;
    cfg.nthreads = 1;
    int rc = owb_model_bench_run(&cfg, topo, NULL, doc, err);
    CHECK_MSG(rc == 0, "%s", err);
    owb_ceiling_annotate(doc, NULL); /* what every command does once its suites have run */

    char bn[512];
    snprintf(bn, sizeof bn, "model/prefill/%s/p12/t1", name);
    const cJSON *pb = owb_result_find_benchmark(doc, bn);
    CHECK_MSG(pb != NULL, "missing %s", bn);
    /* prefill carries the compute ceiling of its weights' path (int8 dot for quantized weights,
     * f32 FMA for float ones), measured on the same thread (any SIMD CPU) */
    if (owb_isa_active() != OWB_ISA_REF && pb) {
        const cJSON *pp = cJSON_GetObjectItemCaseSensitive(pb, "params");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(pp, "compute_peak");
        const cJSON *wt = cJSON_GetObjectItemCaseSensitive(pp, "weight_type");
        CHECK_MSG(cJSON_IsString(kind) && cJSON_IsString(wt), "prefill without compute_peak");
        /* the type of the layers' matmul weights, not of the largest tensor (token_embd) */
        CHECK_MSG(cJSON_IsString(wt) && !strcmp(wt->valuestring, name + 5), "weight_type %s",
                  cJSON_IsString(wt) ? wt->valuestring : "?");
        if (cJSON_IsString(kind) && cJSON_IsString(wt)) {
            const bool fl = !strcmp(wt->valuestring, "f32") || !strcmp(wt->valuestring, "f16") ||
                            !strcmp(wt->valuestring, "bf16");
            CHECK_MSG(!strcmp(kind->valuestring, fl ? "f32_fma" : "int8_dot"), "%s weights: %s",
                      wt->valuestring, kind->valuestring);
            snprintf(bn, sizeof bn, "model/peak/%s/t1", kind->valuestring);
            const cJSON *pk = owb_result_find_benchmark(doc, bn);
            CHECK_MSG(pk != NULL, "missing %s", bn);
            const cJSON *pm = cJSON_GetObjectItemCaseSensitive(pb, "metrics");
            const double peak =
                pk ? num(cJSON_GetObjectItemCaseSensitive(pk, "metrics"), "gop_per_s_best") : -1;
            CHECK(peak > 0 && num(pm, "compute_peak_gop_per_s") == peak);
            CHECK(fabs(num(pm, "pct_of_compute_peak") - 100 * num(pm, "gflop_per_s") / peak) <
                  1e-9 * num(pm, "pct_of_compute_peak"));
        }
    }
    snprintf(bn, sizeof bn, "model/decode/%s/n6/t1", name);
    const cJSON *db = owb_result_find_benchmark(doc, bn);
    CHECK_MSG(db != NULL, "missing %s", bn);
    if (pb && db) {
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(pb, "samples"), "values");
        const cJSON *ds = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(db, "samples"), "values");
        CHECK(cJSON_GetArraySize(ps) == 3);
        CHECK(cJSON_GetArraySize(ds) == 3); /* one sample per repetition of 6 tokens */
        double v[64], total = 0;
        int k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, ps) v[k++] = e->valuedouble;
        struct owb_stats st;
        owb_stats_compute(v, (size_t)k, &st);
        const cJSON *pm = cJSON_GetObjectItemCaseSensitive(pb, "metrics");
        CHECK_NEAR(num(pm, "tok_per_s"), 12e9 / st.median, 1e-9 * 12e9 / st.median);
        k = 0;
        cJSON_ArrayForEach(e, ds) v[k++] = e->valuedouble;
        owb_stats_compute(v, (size_t)k, &st);
        total = st.median;
        const cJSON *dm = cJSON_GetObjectItemCaseSensitive(db, "metrics");
        CHECK_NEAR(num(dm, "tok_per_s"), 6e9 / total, 1e-9 * 6e9 / total);
        /* memory figures: the model's, as the file's tensors say */
        char gerr[OWB_ERR_MAX];
        struct owb_gguf *g = owb_gguf_open(path, gerr);
        CHECK(g != NULL);
        if (g) {
            uint64_t bytes = 0;
            for (int64_t i = 0; i < g->n_tensors; i++)
                bytes += g->tensors[i].size_bytes;
            CHECK_NEAR(num(dm, "weights_bytes"), (double)bytes, 0.5);
            CHECK_NEAR(num(pm, "weights_bytes"), (double)bytes, 0.5);
            /* tiny: 5 layers, 4 KV heads of 8 floats, K and V, f32 */
            CHECK_NEAR(num(dm, "kv_bytes_per_token"), 2.0 * 5 * 4 * 8 * 4, 0.5);
            owb_gguf_close(g);
        }
        const cJSON *lb = cJSON_GetObjectItemCaseSensitive(db, "latency_by_position");
        double covered = 0;
        cJSON_ArrayForEach(e, lb) covered += num(e, "n");
        CHECK(cJSON_GetArraySize(lb) == 4 && covered == 18);
        /* no stream run in this document: no ceiling, no roofline (the interleaved samples are
         * extra figures, not the ceiling) */
        CHECK(num(dm, "pct_of_roofline") < 0);
        /* the interleaved ceiling: 4 samples (before rep 1, after each of 3), and each rep held
         * against the better of its two neighbours: the median recomputed from the samples */
        const cJSON *is = cJSON_GetObjectItemCaseSensitive(db, "ceiling_interleaved_samples");
        CHECK_MSG(cJSON_GetArraySize(is) == 4, "ceiling_interleaved_samples: %d",
                  cJSON_GetArraySize(is));
        if (cJSON_GetArraySize(is) == 4) {
            double c[4], q[3], bpt = num(dm, "bytes_per_token");
            for (int i = 0; i < 4; i++) {
                c[i] = cJSON_GetArrayItem(is, i)->valuedouble;
                CHECK_MSG(c[i] > 0.05 && c[i] < 1e4, "read sample %d: %g GB/s", i, c[i]);
            }
            k = 0;
            cJSON_ArrayForEach(e, ds) v[k++] = e->valuedouble; /* rep times, in order */
            for (int i = 0; i < 3; i++)
                q[i] = 100.0 * (bpt * 6 / v[i]) / (c[i] > c[i + 1] ? c[i] : c[i + 1]);
            double lo = fmin(q[0], fmin(q[1], q[2])), hi = fmax(q[0], fmax(q[1], q[2]));
            double med = q[0] + q[1] + q[2] - lo - hi;
            CHECK_NEAR(num(dm, "pct_of_roofline_interleaved"), med, 1e-9 * med);
            CHECK_NEAR(num(dm, "pct_of_roofline_interleaved_min"), lo, 1e-9 * lo);
            CHECK_NEAR(num(dm, "pct_of_roofline_interleaved_max"), hi, 1e-9 * hi);
            CHECK(num(dm, "ceiling_interleaved_min_gb_per_s") <=
                  num(dm, "ceiling_interleaved_gb_per_s"));
            CHECK(num(dm, "ceiling_interleaved_gb_per_s") <=
                  num(dm, "ceiling_interleaved_max_gb_per_s"));
            /* the buffer is out of the last-level cache */
            CHECK(num(dm, "ceiling_interleaved_bytes") >= (double)owb_topo_sweep_bytes(topo));
        }
        /* prefill has none */
        CHECK(cJSON_GetObjectItemCaseSensitive(pb, "ceiling_interleaved_samples") == NULL);
    }
    cJSON_Delete(doc);

    /* without the interleaved ceiling: none of its members */
    doc = owb_result_new(0, NULL);
    cfg.interleave_ceiling = 0;
    cfg.n_prompt = 0;
    CHECK_MSG(owb_model_bench_run(&cfg, topo, NULL, doc, err) == 0, "%s", err);
    db = owb_result_find_benchmark(doc, bn);
    owb_ceiling_annotate(doc, NULL);
    CHECK(db && !cJSON_GetObjectItemCaseSensitive(db, "ceiling_interleaved_samples") &&
          num(cJSON_GetObjectItemCaseSensitive(db, "metrics"), "pct_of_roofline_interleaved") < 0);
    /* and no stream run in this document: no ceiling, no roofline */
    CHECK(db && num(cJSON_GetObjectItemCaseSensitive(db, "metrics"), "pct_of_roofline") < 0);
    cfg.interleave_ceiling = 1;
    cJSON_Delete(doc);

    /* refusals */
    doc = owb_result_new(0, NULL);
    cfg.n_prompt = 0;
    cfg.n_gen = 0;
    CHECK(owb_model_bench_run(&cfg, topo, NULL, doc, err) == OWB_E_USAGE);
    cfg.n_prompt = 4;
    cfg.reps = 0;
    CHECK(owb_model_bench_run(&cfg, topo, NULL, doc, err) == OWB_E_USAGE);
    cfg.reps = 1;
    cfg.pin = "bogus";
    CHECK(owb_model_bench_run(&cfg, topo, NULL, doc, err) == OWB_E_USAGE);
    cfg.pin = "compact";
    cfg.path = "/nonexistent/model.gguf";
    CHECK(owb_model_bench_run(&cfg, topo, NULL, doc, err) == OWB_E_IO);
    CHECK_MSG(strstr(err, "/nonexistent/model.gguf") != NULL, "%s", err);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "benchmarks")) == 0);
    cJSON_Delete(doc);
    owb_topo_free(topo);
}

static void test_device_profile(const char *path, const char *name)
{
    char err[OWB_ERR_MAX] = "";
    static struct owb_backend fake;
    fake = owb_backend_cpu;
    fake.name = "fakedev";
    fake.host_threads = false; /* the suite's device path: the driver, the backend's timer */
    struct owb_topo *topo = owb_topo_new(NULL, err);
    CHECK_MSG(topo != NULL, "%s", err);
    if (!topo)
        return;
    cJSON *doc = owb_result_new(0, NULL);
    struct owb_model_bench_cfg cfg;
    small_cfg(&cfg, path, name, 2, 2);
    cfg.backend = &fake;
    int rc = owb_model_bench_run(&cfg, topo, NULL, doc, err);
    CHECK_MSG(rc == 0, "%s", err);
    for (int i = 0; i < 2 && !rc; i++) {
        char bn[512];
        snprintf(bn, sizeof bn, "model/%s/%s/%s/fakedev", i ? "decode" : "prefill", name,
                 i ? "n6" : "p12");
        const cJSON *b = owb_result_find_benchmark(doc, bn);
        CHECK_MSG(b != NULL, "missing %s", bn);
        if (!b)
            continue;
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "params");
        const cJSON *oc = cJSON_GetObjectItemCaseSensitive(b, "op_classes");
        const cJSON *ot = cJSON_GetObjectItemCaseSensitive(p, "op_timer");
        CHECK_MSG(cJSON_IsString(ot) && strstr(ot->valuestring, "backend"), "%s: op_timer", bn);
        const cJSON *c;
        double sum = 0, mm = 0,
               tot = num(cJSON_GetObjectItemCaseSensitive(oc, "total"), "ns_per_token");
        cJSON_ArrayForEach(c, oc)
        {
            if (!strcmp(c->string, "total"))
                continue;
            sum += num(c, "ns_per_token");
            if (!strncmp(c->string, "matmul/", 7))
                mm += num(c, "ns_per_token");
        }
        const double att = num(cJSON_GetObjectItemCaseSensitive(oc, "attention"), "ns_per_token");
        CHECK_MSG(mm > 0 && att > 0 && tot > 0 && sum <= tot * (1 + 1e-9),
                  "%s: matmul %g, attention %g, classes %g of %g ns per token", bn, mm, att, sum,
                  tot);
    }
    cJSON_Delete(doc);
    owb_topo_free(topo);
}

int main(void)
{
    static const char *const types[] = {"q4_0", "q8_0"};
    char err[OWB_ERR_MAX], path[4096], name[256];
    CHECK(owb_model_bench_write_synthetic("no-such-preset", "q4_0", 0, 1, path, sizeof path, name,
                                          sizeof name, err) == OWB_E_USAGE);
    CHECK(owb_model_bench_write_synthetic("tiny", "q9_9", 0, 1, path, sizeof path, name,
                                          sizeof name, err) == OWB_E_USAGE);
    CHECK(owb_model_bench_write_synthetic("tiny", "q4_0", 99, 1, path, sizeof path, name,
                                          sizeof name, err) == OWB_E_USAGE);
    for (size_t i = 0; i < OWB_ARRAY_LEN(types); i++) {
        int rc = owb_model_bench_write_synthetic("tiny", types[i], 0, 1, path, sizeof path, name,
                                                 sizeof name, err);
        CHECK_MSG(rc == 0, "%s", err);
        if (rc)
            continue;
        CHECK(strncmp(name, "tiny-", 5) == 0 && strcmp(name + 5, types[i]) == 0);
        test_threads_and_profile(path);
        test_suite(path, name);
        if (i == 0)
            test_device_profile(path, name);
        unlink(path);
    }
    TEST_DONE();
}
