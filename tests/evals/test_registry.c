/* SPDX-License-Identifier: MIT */
/*
 * test_registry.c: the dataset registry: names are unique and found, every entry has a source,
 * licence and format, hashes are 64 hex digits or absent, and the HellaSwag hash is the one of
 * the shared copy of that file (skipped, 77, when the shared data is absent).
 */
#include <string.h>

#include "datasets/registry.h"
#include "datasets/sha256.h"
#include "owb_test.h"

int main(void)
{
    size_t n;
    const struct owb_dataset *d = owb_datasets(&n);
    CHECK(n >= 6);
    for (size_t i = 0; i < n; i++) {
        CHECK(owb_dataset_find(d[i].name) == &d[i]);
        CHECK(d[i].url && !strncmp(d[i].url, "https://", 8) && d[i].license && d[i].format &&
              d[i].file);
        unsigned char dg[32];
        CHECK(!d[i].sha256 || owb_sha256_from_hex(d[i].sha256, dg) == 0);
    }
    CHECK(owb_dataset_find("nope") == NULL);
    const char *hs = owb_test_data("data/hellaswag/hellaswag_val_full.txt");
    if (!hs)
        SKIP("needs data/hellaswag/hellaswag_val_full.txt under $OWB_TEST_DATA");
    unsigned char dg[32];
    char err[OWB_ERR_MAX], hex[65];
    CHECK(owb_sha256_file(hs, dg, err) == 0);
    owb_sha256_to_hex(dg, hex);
    CHECK_MSG(!strcmp(hex, owb_dataset_find("hellaswag-val")->sha256), "%s", hex);
    TEST_DONE();
}
