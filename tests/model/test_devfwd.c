/* SPDX-License-Identifier: MIT */
/*
 * test_devfwd.c: the backend-driven forward pass (model/devfwd.c) forced onto the cpu backend
 * (owb_model_opts.driver) against the engine's own forward pass, so the op sequence a GPU runs
 * is proven here: stories260K (shared data), the synthetic Llama `tiny` as `owbench synth
 * --preset tiny` writes it (f16) and in q4_0, `gpt-oss-tiny` as written by default (bf16,
 * mxfp4 experts) and all in q4_0, and `gpt-oss-wide`, gpt-oss-tiny widened (n_embd 256, 5 experts
 * of 288, 3 used) in its defaults, q4_0 and q8_0, whose 40-token prompt gives most experts more
 * tokens than a GEMV takes (there per-token GEMVs and the engine's per-expert GEMMs round
 * differently). For each: a prompt with every row of logits, then 16 greedy decode steps, then the
 * prompt again one token at a time. The driver's logits must be the engine's bits in every case:
 * the same kernels, plans and order of operations, the experts of a prompt chunk grouped per
 * expert (the backend's mm_grp: the engine's per-expert plans at each expert's row count).
 * gpt-oss files also run a long generation past the sliding window (rings of window + n_batch
 * slots, as the engine keeps them: the same KV cache size and bits). Every file: the op breakdown
 * of profiled driver calls (classes filled from the backend's timer, the same bits). Also: chunks
 * smaller than the prompt (n_batch 5, positions carried over), the exec record (driver on, no
 * graphs on the cpu, the reason named), decode where recording the graph fails at its start or its
 * end (a cpu table with fake graph entries: op by op, the same bits, the reason in the note),
 * OWB_DEVFWD=1 forcing the driver, and a token outside the vocabulary refused as by the engine.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, setenv */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/backend.h"
#include "model/arch.h"
#include "model/gguf.h"
#include "model/synth.h"
#include "owb_test.h"

#define N_PROMPT 12
#define N_PROMPT_LONG 40 /* the wide gpt-oss: most experts get more tokens than a GEMV takes */
#define N_DECODE 16

static int64_t argmax(const float *x, int64_t n)
{
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

/* Largest |a - b| over max |a| of a row. */
static double rel_diff(const float *a, const float *b, int64_t n)
{
    double mx = 0, md = 0;
    for (int64_t i = 0; i < n; i++) {
        mx = fmax(mx, fabs((double)a[i]));
        md = fmax(md, fabs((double)a[i] - (double)b[i]));
    }
    return mx > 0 ? md / mx : md;
}

static void compare(const char *what, const struct owb_gguf *g, int64_t n_batch, bool moe,
                    int n_prompt)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_model_opts eo = {.n_ctx = 64, .n_batch = n_batch};
    struct owb_model_opts dopt = eo;
    dopt.driver = true;
    dopt.backend = &owb_backend_cpu;
    struct owb_model *me = owb_model_load(g, &eo, err);
    CHECK_MSG(me != NULL, "%s engine: %s", what, err);
    struct owb_model *md = owb_model_load(g, &dopt, err);
    CHECK_MSG(md != NULL, "%s driver: %s", what, err);
    if (!me || !md) {
        owb_model_free(me);
        owb_model_free(md);
        return;
    }
    CHECK_MSG(!me->exec.driver && md->exec.driver, "%s: exec.driver %d / %d", what, me->exec.driver,
              md->exec.driver);
    CHECK_MSG(!md->exec.graphs && strstr(md->exec.note, "cpu") != NULL,
              "%s: the cpu backend has no graphs, and the note says so (\"%s\")", what,
              md->exec.note);
    CHECK_MSG(md->kv_cache_bytes > 0, "%s: the driver's KV cache is accounted", what);
    const int64_t V = me->hp.n_vocab;
    float *le = malloc(sizeof(float) * (size_t)(V * n_prompt));
    float *ld = malloc(sizeof(float) * (size_t)(V * n_prompt));
    int32_t tok[N_PROMPT_LONG];
    for (int i = 0; i < n_prompt; i++)
        tok[i] = (int32_t)((3 + 37 * i) % V);
    CHECK(le && ld);
    if (!le || !ld)
        goto out;
    int rc = owb_model_forward(me, tok, n_prompt, 0, le, true, err);
    CHECK_MSG(rc == 0, "%s engine prompt: %s", what, err);
    rc = owb_model_forward(md, tok, n_prompt, 0, ld, true, err);
    CHECK_MSG(rc == 0, "%s driver prompt: %s", what, err);
    if (owb_test_failures)
        goto out;
    double worst = 0;
    for (int i = 0; i < n_prompt; i++)
        worst = fmax(worst, rel_diff(le + i * V, ld + i * V, V));
    const bool same_prompt = memcmp(le, ld, sizeof(float) * (size_t)(V * n_prompt)) == 0;
    CHECK_MSG(same_prompt, "%s: prompt logits differ (max rel %.3g): expected the same bits", what,
              worst);
    CHECK_MSG(md->exec.grouped_experts == (moe && n_batch != 1), "%s: grouped experts %d (MoE %d)",
              what, md->exec.grouped_experts, moe);

    /* greedy decode, each model on its own tokens */
    int32_t te = (int32_t)argmax(le + (n_prompt - 1) * V, V);
    int32_t td = (int32_t)argmax(ld + (n_prompt - 1) * V, V);
    double dworst = 0;
    bool same_decode = true;
    for (int i = 0; i < N_DECODE && !owb_test_failures; i++) {
        CHECK_MSG(te == td, "%s: greedy token %d: engine %d, driver %d", what, i, te, td);
        rc = owb_model_forward(me, &te, 1, n_prompt + i, le, false, err);
        CHECK_MSG(rc == 0, "%s engine decode %d: %s", what, i, err);
        rc = owb_model_forward(md, &td, 1, n_prompt + i, ld, false, err);
        CHECK_MSG(rc == 0, "%s driver decode %d: %s", what, i, err);
        dworst = fmax(dworst, rel_diff(le, ld, V));
        same_decode &= memcmp(le, ld, sizeof(float) * (size_t)V) == 0;
        te = (int32_t)argmax(le, V);
        td = (int32_t)argmax(ld, V);
    }
    CHECK_MSG(same_decode, "%s: decode logits differ (max rel %.3g): expected the same bits", what,
              dworst);
    CHECK_MSG(md->exec.plain_steps >= N_DECODE && md->exec.graph_launches == 0,
              "%s: %llu plain steps, %llu graph launches", what,
              (unsigned long long)md->exec.plain_steps,
              (unsigned long long)md->exec.graph_launches);

    /* the prompt again one token at a time from position 0 (the caches are rewritten): decode
     * steps only, the same ops as the engine's for every architecture, so the same bits */
    bool same_steps = true;
    for (int i = 0; i < n_prompt && !owb_test_failures; i++) {
        CHECK(owb_model_forward(me, &tok[i], 1, i, le, false, err) == 0);
        CHECK(owb_model_forward(md, &tok[i], 1, i, ld, false, err) == 0);
        same_steps &= memcmp(le, ld, sizeof(float) * (size_t)V) == 0;
    }
    CHECK_MSG(same_steps, "%s: token-by-token logits differ from the engine's", what);
    printf("%-28s n_batch %3lld: prompt %s (max rel %.2g), %d greedy tokens equal, decode %s "
           "(max rel %.2g), token by token %s\n",
           what, (long long)n_batch, same_prompt ? "same bits" : "within tol", worst, N_DECODE,
           same_decode ? "same bits" : "within tol", dworst,
           same_steps ? "same bits" : "DIFFERENT");

    /* a bad token is refused by the driver as by the engine */
    int32_t bad = (int32_t)V;
    CHECK_MSG(owb_model_forward(md, &bad, 1, 0, ld, false, err) == OWB_E_USAGE,
              "%s: token %d refused", what, bad);
out:
    free(le);
    free(ld);
    owb_model_free(me);
    owb_model_free(md);
}

/* A long generation past the sliding window: n_ctx 256, chunks of 7 (the sliding layers' rings
 * hold window + 7 slots), a 20-token prompt in three chunks and then 200 greedy decode steps,
 * every one the engine's bits and token; the driver's KV cache is the engine's size (rings for
 * the sliding layers), smaller than n_ctx slots for every layer. */
static void check_long(const struct owb_gguf *g, const char *what)
{
    enum { N_CTX = 256, N_BATCH = 7, N_PR = 20, N_GEN = 200 };
    char err[OWB_ERR_MAX] = "";
    struct owb_model_opts o = {.n_ctx = N_CTX, .n_batch = N_BATCH};
    struct owb_model *me = owb_model_load(g, &o, err);
    o.driver = true;
    o.backend = &owb_backend_cpu;
    struct owb_model *md = me ? owb_model_load(g, &o, err) : NULL;
    CHECK_MSG(me && md, "%s: %s", what, err);
    const int64_t V = me ? me->hp.n_vocab : 0;
    float *le = me ? malloc(sizeof(float) * (size_t)(V * N_PR)) : NULL;
    float *ld = me ? malloc(sizeof(float) * (size_t)(V * N_PR)) : NULL;
    if (!me || !md || !le || !ld)
        goto out;
    const uint64_t full = 2 * (uint64_t)me->hp.n_layer * N_CTX * (uint64_t)me->hp.n_head_kv *
                          (uint64_t)me->hp.head_dim * sizeof(float);
    CHECK_MSG(md->kv_cache_bytes == me->kv_cache_bytes && md->kv_cache_bytes < full,
              "%s: KV cache %llu bytes, engine %llu, full %llu", what,
              (unsigned long long)md->kv_cache_bytes, (unsigned long long)me->kv_cache_bytes,
              (unsigned long long)full);
    int32_t tok[N_PR];
    for (int i = 0; i < N_PR; i++)
        tok[i] = (int32_t)((11 + 29 * i) % V);
    CHECK(owb_model_forward(me, tok, N_PR, 0, le, false, err) == 0);
    CHECK(owb_model_forward(md, tok, N_PR, 0, ld, false, err) == 0);
    bool same = memcmp(le, ld, sizeof(float) * (size_t)V) == 0;
    int32_t te = (int32_t)argmax(le, V), td = (int32_t)argmax(ld, V);
    int i = 0;
    for (; i < N_GEN && same && te == td && !owb_test_failures; i++) {
        CHECK(owb_model_forward(me, &te, 1, N_PR + i, le, false, err) == 0);
        CHECK(owb_model_forward(md, &td, 1, N_PR + i, ld, false, err) == 0);
        same = memcmp(le, ld, sizeof(float) * (size_t)V) == 0;
        te = (int32_t)argmax(le, V);
        td = (int32_t)argmax(ld, V);
    }
    CHECK_MSG(same && te == td && i == N_GEN,
              "%s: long generation left the engine at step %d (same bits %d, tokens %d / %d)", what,
              i, same, te, td);
    printf("%-28s %d prompt + %d decode tokens past window %lld: same bits, KV cache %llu of "
           "%llu bytes\n",
           what, N_PR, i, (long long)me->cost.window, (unsigned long long)md->kv_cache_bytes,
           (unsigned long long)full);
out:
    free(le);
    free(ld);
    owb_model_free(me);
    owb_model_free(md);
}

/* The op breakdown of profiled driver calls (m->profile, as `owbench model` asks it): a prompt and
 * decode steps give the engine's bits while profiled; the classes are filled from the backend's
 * timer (matmuls under their weight types, the model's main type included, attention, norm,
 * other), their sum within the profiled wall time, calls and tokens counted; an unprofiled call
 * adds nothing. */
static void check_profile(const struct owb_gguf *g, const char *what)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_model_opts o = {.n_ctx = 64, .n_batch = 5};
    struct owb_model *me = owb_model_load(g, &o, err);
    o.driver = true;
    o.backend = &owb_backend_cpu;
    struct owb_model *md = me ? owb_model_load(g, &o, err) : NULL;
    CHECK_MSG(me && md, "%s: %s", what, err);
    const int64_t V = me ? me->hp.n_vocab : 0;
    float *le = me ? malloc(sizeof(float) * (size_t)(V * N_PROMPT)) : NULL;
    float *ld = me ? malloc(sizeof(float) * (size_t)(V * N_PROMPT)) : NULL;
    if (!me || !md || !le || !ld)
        goto out;
    struct owb_model_profile prof;
    memset(&prof, 0, sizeof prof);
    md->profile = &prof;
    int32_t tok[N_PROMPT];
    for (int i = 0; i < N_PROMPT; i++)
        tok[i] = (int32_t)((7 + 13 * i) % V);
    CHECK(owb_model_forward(me, tok, N_PROMPT, 0, le, true, err) == 0);
    CHECK(owb_model_forward(md, tok, N_PROMPT, 0, ld, true, err) == 0);
    bool same = memcmp(le, ld, sizeof(float) * (size_t)(V * N_PROMPT)) == 0;
    for (int i = 0; i < 4; i++) {
        CHECK(owb_model_forward(me, &tok[i], 1, N_PROMPT + i, le, false, err) == 0);
        CHECK(owb_model_forward(md, &tok[i], 1, N_PROMPT + i, ld, false, err) == 0);
        same &= memcmp(le, ld, sizeof(float) * (size_t)V) == 0;
    }
    CHECK_MSG(same, "%s: profiled driver calls differ from the engine", what);
    uint64_t mm = 0, sum;
    for (int t = 0; t < OWB_TYPE_COUNT; t++)
        mm += prof.matmul_ns[t];
    sum = mm + prof.attention_ns + prof.norm_ns + prof.other_ns + prof.sync_ns;
    const enum owb_type xt = md->cost.main_wtype;
    CHECK_MSG(prof.calls == 5 && prof.tokens == N_PROMPT + 4, "%s: %llu calls, %llu tokens", what,
              (unsigned long long)prof.calls, (unsigned long long)prof.tokens);
    CHECK_MSG(mm > 0 && prof.matmul_ns[xt] > 0 && prof.attention_ns > 0 && prof.norm_ns > 0 &&
                  prof.other_ns > 0 && sum <= prof.total_ns,
              "%s: matmul %llu (%s %llu), attention %llu, norm %llu, other %llu, sum %llu of "
              "%llu ns",
              what, (unsigned long long)mm, owb_type_name(xt),
              (unsigned long long)prof.matmul_ns[xt], (unsigned long long)prof.attention_ns,
              (unsigned long long)prof.norm_ns, (unsigned long long)prof.other_ns,
              (unsigned long long)sum, (unsigned long long)prof.total_ns);
    md->profile = NULL;
    const struct owb_model_profile before = prof;
    CHECK(owb_model_forward(md, tok, 3, 0, ld, false, err) == 0);
    CHECK_MSG(memcmp(&before, &prof, sizeof prof) == 0, "%s: unprofiled call profiled", what);
    printf("%-28s profile: matmul %.0f%% (%s %.0f%%), attention %.0f%%, norm %.0f%%, other "
           "%.0f%% of %llu ns\n",
           what, 100.0 * (double)mm / (double)prof.total_ns, owb_type_name(xt),
           100.0 * (double)prof.matmul_ns[xt] / (double)prof.total_ns,
           100.0 * (double)prof.attention_ns / (double)prof.total_ns,
           100.0 * (double)prof.norm_ns / (double)prof.total_ns,
           100.0 * (double)prof.other_ns / (double)prof.total_ns,
           (unsigned long long)prof.total_ns);
out:
    free(le);
    free(ld);
    owb_model_free(me);
    owb_model_free(md);
}

/* Fake graph entries on the cpu table: recording refused at the start, or at the end (the ops
 * queued in between ran: the cpu runs ops at once; the driver queues them again). */
static int begin_refused(const struct owb_backend *be, char err[OWB_ERR_MAX])
{
    (void)be;
    snprintf(err, OWB_ERR_MAX, "test: capture refused");
    return OWB_E_UNSUPPORTED;
}

static int begin_ok(const struct owb_backend *be, char err[OWB_ERR_MAX])
{
    (void)be;
    (void)err;
    return 0;
}

static int end_refused(const struct owb_backend *be, void **graph, char err[OWB_ERR_MAX])
{
    (void)be;
    *graph = NULL;
    snprintf(err, OWB_ERR_MAX, "test: capture invalidated");
    return OWB_E_SYSTEM;
}

static int launch_never(const struct owb_backend *be, void *graph, char err[OWB_ERR_MAX])
{
    (void)be;
    (void)graph;
    snprintf(err, OWB_ERR_MAX, "test: a graph was launched");
    return OWB_E_SYSTEM;
}

static void free_never(void *graph)
{
    (void)graph;
}

/* Decode where recording fails: the steps run op by op with the same bits, the note says why. */
static void check_graph_fallback(const struct owb_gguf *g, const char *what)
{
    static struct owb_backend fake[2];
    const char *why[2] = {"capture refused", "capture invalidated"};
    for (int i = 0; i < 2; i++) {
        char err[OWB_ERR_MAX] = "";
        fake[i] = owb_backend_cpu;
        fake[i].graph_begin = i ? begin_ok : begin_refused;
        fake[i].graph_end = end_refused;
        fake[i].graph_launch = launch_never;
        fake[i].graph_free = free_never;
        struct owb_model_opts o = {.n_ctx = 32, .backend = &owb_backend_cpu, .driver = true};
        struct owb_model *ref = owb_model_load(g, &o, err);
        o.backend = &fake[i];
        struct owb_model *m = ref ? owb_model_load(g, &o, err) : NULL;
        CHECK_MSG(ref && m, "%s: %s", what, err);
        if (!ref || !m) {
            owb_model_free(ref);
            owb_model_free(m);
            return;
        }
        CHECK(m->exec.graphs && !m->exec.note[0]);
        const int64_t V = m->hp.n_vocab;
        float *a = malloc(sizeof(float) * (size_t)V), *b = malloc(sizeof(float) * (size_t)V);
        OWB_ASSERT(a && b);
        bool same = true;
        for (int t = 0; t < 6; t++) {
            const int32_t tok = (int32_t)((5 + 11 * t) % V);
            CHECK(owb_model_forward(ref, &tok, 1, t, a, false, err) == 0);
            CHECK_MSG(owb_model_forward(m, &tok, 1, t, b, false, err) == 0, "%s", err);
            same &= memcmp(a, b, sizeof(float) * (size_t)V) == 0;
        }
        CHECK_MSG(same, "%s: decode without the graph differs", what);
        CHECK_MSG(m->exec.graph_launches == 0 && m->exec.plain_steps == 6,
                  "%s: %llu launches, %llu plain steps", what,
                  (unsigned long long)m->exec.graph_launches,
                  (unsigned long long)m->exec.plain_steps);
        CHECK_MSG(strstr(m->exec.note, "decode graph not recorded") && strstr(m->exec.note, why[i]),
                  "%s: note \"%s\"", what, m->exec.note);
        free(a);
        free(b);
        owb_model_free(ref);
        owb_model_free(m);
    }
}

static void check_file(const char *what, const char *path, bool moe, int n_prompt)
{
    char err[OWB_ERR_MAX] = "", name[96];
    struct owb_gguf *g = owb_gguf_open(path, err);
    CHECK_MSG(g != NULL, "%s: %s", what, err);
    if (!g)
        return;
    compare(what, g, 0, moe, n_prompt);
    snprintf(name, sizeof name, "%s (chunks of 5)", what);
    compare(name, g, 5, moe, n_prompt);
    check_graph_fallback(g, what);
    if (moe)
        check_long(g, what);
    check_profile(g, what);
    owb_gguf_close(g);
}

int main(void)
{
    char err[OWB_ERR_MAX] = "", dir[4096], path[4200];
    const char *tmp = getenv("OWB_TMP");
    snprintf(dir, sizeof dir, "%s/owb_devfwd.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror(dir);
        return 1;
    }
    int ran = 0;
    const char *stories = owb_test_data("models/gguf/stories260K.gguf");
    if (stories) {
        check_file("stories260K", stories, false, N_PROMPT);
        ran++;
    }
    static const struct {
        const char *preset;
        int type;  /* -1: the preset's defaults (`owbench synth --preset P`) */
        bool wide; /* gpt-oss-tiny widened: n_embd 256, 5 experts (3 used) of 288, 2 layers */
    } cases[] = {{"tiny", -1, false},
                 {"tiny", OWB_TYPE_Q4_0, false},
                 {"gpt-oss-tiny", -1, false},
                 {"gpt-oss-tiny", OWB_TYPE_Q4_0, false},
                 {"gpt-oss-tiny", -1, true},
                 {"gpt-oss-tiny", OWB_TYPE_Q4_0, true},
                 {"gpt-oss-tiny", OWB_TYPE_Q8_0, true}};
    for (size_t i = 0; i < OWB_ARRAY_LEN(cases); i++) {
        const struct owb_synth_preset *p0 = owb_synth_find(cases[i].preset);
        CHECK_MSG(p0 != NULL, "preset %s", cases[i].preset);
        if (!p0)
            continue;
        struct owb_synth_preset wide = *p0;
        if (cases[i].wide) {
            wide.name = "gpt-oss-wide";
            wide.n_embd = 256;
            wide.n_layer = 2;
            wide.n_expert = 5;
            wide.n_expert_used = 3;
            wide.n_ff = wide.n_ff_exp = 288;
        }
        const struct owb_synth_preset *p = &wide;
        struct owb_synth_opts o;
        owb_synth_opts_init(&o, p);
        if (cases[i].type >= 0)
            o.type = o.expert_type = (enum owb_type)cases[i].type;
        o.seed = 7;
        o.nthreads = 1;
        char what[96];
        snprintf(what, sizeof what, "%s %s", p->name, owb_type_name(o.type));
        snprintf(path, sizeof path, "%s/%s-%zu.gguf", dir, p->name, i);
        int rc = owb_synth_write_opts(p, &o, path, NULL, NULL, err);
        if (rc) { /* gpt-oss-tiny needs its vocabulary from the shared data */
            fprintf(stderr, "%s: not written: %s\n", what, err);
            continue;
        }
        check_file(what, path, p->n_expert > 0, cases[i].wide ? N_PROMPT_LONG : N_PROMPT);
        ran++;
    }

    /* OWB_DEVFWD=1 forces the driver on the default backend */
    if (stories) {
        struct owb_gguf *g = owb_gguf_open(stories, err);
        CHECK_MSG(g != NULL, "%s", err);
        setenv("OWB_DEVFWD", "1", 1);
        struct owb_model_opts o = {.n_ctx = 16};
        struct owb_model *m = g ? owb_model_load(g, &o, err) : NULL;
        unsetenv("OWB_DEVFWD");
        CHECK_MSG(m && m->exec.driver, "OWB_DEVFWD=1: driver not used (%s)", m ? "" : err);
        owb_model_free(m);
        owb_gguf_close(g);
    }
    owb_test_rmdir(dir);
    if (!ran)
        SKIP("no model: stories260K and the synthetic files were all unavailable");
    TEST_DONE();
}
