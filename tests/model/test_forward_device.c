/* SPDX-License-Identifier: MIT */
/*
 * test_forward_device.c: a whole forward pass chosen at load through owb_model_opts.backend, on
 * stories260K (shared data), a synthetic Llama (`tiny`, q4_0) and a synthetic gpt-oss
 * (`gpt-oss-tiny`): every logit of 12 prompt tokens then 4 single-token decode steps.
 *   - everywhere: backend = the cpu table gives the same bits as the default (NULL);
 *   - with a usable CUDA device: the cuda backend's logits (its backend-driven forward pass,
 *     model/devfwd.h) agree with the cpu backend's within REL_TOL of the largest |logit| (the cpu
 *     path quantizes activations to 8 bits, the device may not); decode replayed from the
 *     recorded graph gives the same bits as op by op (no_graphs), and the graph was launched for
 *     every decode step or the model says why not. Exits 77 naming the reason when cuda cannot run
 * here (not compiled in, no driver or device, or the engine refuses the backend at load).
 * OWB_TEST_LABELS: gpu
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
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

#define REL_TOL 2e-2 /* max |cuda - cpu| over max |cpu| of a model's logits */
#define N_PROMPT 12
#define N_DECODE 4
#define N_TOK (N_PROMPT + N_DECODE)

/* logits (N_TOK, n_vocab) of the prompt then the decode steps; NULL with err on failure. */
static float *run(const struct owb_gguf *g, const struct owb_backend *be, bool no_graphs,
                  int64_t *n_vocab, char err[OWB_ERR_MAX])
{
    struct owb_model_opts mo = {.n_ctx = 64, .backend = be, .no_graphs = no_graphs};
    struct owb_model *m = owb_model_load(g, &mo, err);
    if (!m)
        return NULL;
    if (be && !be->host_threads)
        printf("  %s: driver %d, graphs %d%s%s\n", be->name, m->exec.driver, m->exec.graphs,
               m->exec.note[0] ? ": " : "", m->exec.note);
    const int64_t V = m->hp.n_vocab;
    float *lg = malloc(sizeof(float) * (size_t)(V * N_TOK));
    int32_t tok[N_TOK];
    for (int i = 0; i < N_TOK; i++)
        tok[i] = (int32_t)((7 + 31 * i) % V);
    int rc = lg ? owb_model_forward(m, tok, N_PROMPT, 0, lg, true, err) : OWB_E_NOMEM;
    for (int i = N_PROMPT; i < N_TOK && rc == 0; i++)
        rc = owb_model_forward(m, &tok[i], 1, i, lg + i * V, false, err);
    /* a device backend with graphs replays the recorded decode step, or says why not */
    if (rc == 0 && be && be->graph_begin && !no_graphs)
        CHECK_MSG(m->exec.graph_launches == N_DECODE || m->exec.note[0],
                  "%llu graph launches of %d decode steps, no reason given",
                  (unsigned long long)m->exec.graph_launches, N_DECODE);
    owb_model_free(m);
    if (rc) {
        free(lg);
        return NULL;
    }
    *n_vocab = V;
    return lg;
}

/* Compare one file; returns 1 when cuda ran, 0 when it could not (reason in why). */
static int check_file(const char *what, const char *path, const struct owb_backend *cuda,
                      char why[OWB_ERR_MAX])
{
    char err[OWB_ERR_MAX] = "";
    struct owb_gguf *g = owb_gguf_open(path, err);
    CHECK_MSG(g != NULL, "%s: %s", what, err);
    if (!g)
        return 0;
    int64_t V = 0, V2 = 0;
    float *def = run(g, NULL, false, &V, err);
    CHECK_MSG(def != NULL, "%s default: %s", what, err);
    float *cpu = run(g, &owb_backend_cpu, false, &V2, err);
    CHECK_MSG(cpu != NULL, "%s cpu: %s", what, err);
    if (def && cpu)
        CHECK_MSG(memcmp(def, cpu, sizeof(float) * (size_t)(V * N_TOK)) == 0,
                  "%s: backend cpu differs from the default", what);
    int ran = 0;
    if (cuda && cpu) {
        float *dev = run(g, cuda, false, &V2, err);
        float *plain = dev ? run(g, cuda, true, &V2, err) : NULL;
        if (dev && plain) /* the same kernels with the same arguments, recorded or not */
            CHECK_MSG(memcmp(dev, plain, sizeof(float) * (size_t)(V * N_TOK)) == 0,
                      "%s: cuda decode from the graph differs from op by op", what);
        free(plain);
        if (!dev) {
            snprintf(why, OWB_ERR_MAX, "%s: %.400s", what, err);
        } else {
            double mx = 0.0, md = 0.0;
            for (int64_t i = 0; i < V * N_TOK; i++) {
                mx = fmax(mx, fabs((double)cpu[i]));
                md = fmax(md, fabs((double)dev[i] - (double)cpu[i]));
            }
            CHECK_MSG(md <= REL_TOL * mx, "%s: cuda vs cpu max |diff| %g of max |logit| %g", what,
                      md, mx);
            printf("%-22s cuda vs cpu: max |diff| %.3g, max |logit| %.3g\n", what, md, mx);
            free(dev);
            ran = 1;
        }
    }
    free(def);
    free(cpu);
    owb_gguf_close(g);
    return ran;
}

int main(void)
{
    char err[OWB_ERR_MAX] = "", why[OWB_ERR_MAX] = "", dir[4096], path[4200];
    const struct owb_backend *cuda = NULL;
    if (owb_backend_open("cuda", &cuda, why) != 0)
        cuda = NULL;

    const char *tmp = getenv("OWB_TMP");
    snprintf(dir, sizeof dir, "%s/owb_fwd_dev.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror(dir);
        return 1;
    }
    int ran = 0, tried = 0;
    const char *stories = owb_test_data("models/gguf/stories260K.gguf");
    if (stories) {
        tried++;
        ran += check_file("stories260K", stories, cuda, why);
    }
    static const char *const presets[] = {"tiny", "gpt-oss-tiny"};
    for (int i = 0; i < 2; i++) {
        const struct owb_synth_preset *p = owb_synth_find(presets[i]);
        CHECK_MSG(p != NULL, "preset %s", presets[i]);
        if (!p)
            continue;
        snprintf(path, sizeof path, "%s/%s.gguf", dir, presets[i]);
        int rc = owb_synth_write(p, OWB_TYPE_Q4_0, 0, 5, path, 1, NULL, NULL, err);
        if (rc) { /* gpt-oss-tiny needs its vocabulary from the shared data */
            fprintf(stderr, "%s: not written: %s\n", presets[i], err);
            continue;
        }
        tried++;
        ran += check_file(presets[i], path, cuda, why);
    }
    owb_test_rmdir(dir);
    if (owb_test_failures)
        TEST_DONE();
    if (!cuda || ran < tried)
        SKIP("the cuda comparison did not run: %s", why[0] ? why : "no model could be written");
    TEST_DONE();
}
