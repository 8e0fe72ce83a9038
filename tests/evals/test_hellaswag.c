/* SPDX-License-Identifier: MIT */
/*
 * test_hellaswag.c: the HellaSwag loader on the shared validation file in llama.cpp's 6-line
 * format (10042 tasks, the first one as MANIFEST.md describes it, gold labels spread over 0-3,
 * stable ids); a seeded 400-item subset is reproducible and spread over the whole file. Skipped
 * (77) when the shared data is absent.
 */
#include <stdlib.h>
#include <string.h>

#include "datasets/mc.h"
#include "owb_test.h"

int main(void)
{
    char err[OWB_ERR_MAX] = "";
    const char *hs = owb_test_data("data/hellaswag/hellaswag_val_full.txt");
    if (!hs)
        SKIP("needs data/hellaswag/hellaswag_val_full.txt under $OWB_TEST_DATA");
    struct owb_mc_task t;
    CHECK_MSG(owb_mc_load(&t, hs, OWB_MC_AUTO, err) == 0, "%s", err);
    if (t.n == 0)
        TEST_DONE();
    CHECK(t.n == 10042 && t.format == OWB_MC_HELLASWAG);
    CHECK(!strcmp(t.items[0].context, "Roof shingle removal: A man is sitting on a roof. he"));
    CHECK(t.items[0].gold == 3 && t.items[0].n_endings == 4 && t.items[0].line == 1);
    CHECK(!strcmp(t.items[0].endings[0], "is using wrap to wrap a pair of skis."));
    CHECK(!strcmp(t.items[0].endings[3], "starts pulling up roofing on a roof."));
    CHECK(!strcmp(t.items[1].context, "Clean and jerk: A lady walks to a barbell. She bends down "
                                      "and grabs the pole. the lady"));
    CHECK(!strcmp(t.items[0].id, "hellaswag/0") && !strcmp(t.items[10041].id, "hellaswag/10041"));
    CHECK(t.items[10041].line == 60247);
    int hist[4] = {0};
    for (size_t i = 0; i < t.n; i++)
        hist[t.items[i].gold]++;
    for (int g = 0; g < 4; g++)
        CHECK_MSG(hist[g] > 2000 && hist[g] < 3000, "gold %d: %d", g, hist[g]);
    size_t *a, *b, na, nb;
    CHECK(owb_mc_select(&t, 400, 1, &a, &na) == 0 && owb_mc_select(&t, 400, 1, &b, &nb) == 0);
    CHECK(na == 400 && !memcmp(a, b, 400 * sizeof *a));
    CHECK_MSG(a[0] < 200 && a[399] > 9800, "subset spans the file: %zu..%zu", a[0], a[399]);
    free(a);
    free(b);
    owb_mc_release(&t);
    TEST_DONE();
}
