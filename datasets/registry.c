/* SPDX-License-Identifier: MIT */
/*
 * registry.c: the table of standard sets. Hashes are those of the files as llama.cpp's download
 * scripts produce them; tests/evals/test_registry.c checks the ones whose copies are in the
 * shared test data.
 */
#include "datasets/registry.h"

#include <string.h>

static const struct owb_dataset table[] = {
    {"wikitext-2-raw-test", "WikiText-2 (raw, v1) test split, the usual perplexity text",
     "https://huggingface.co/datasets/ggml-org/ci/resolve/main/wikitext-2-raw-v1.zip",
     "wikitext-2-raw/wiki.test.raw",
     "173c87a53759e0201f33e0ccf978e510c2042d7f2cb78229d9a50d79b9e7dd08", "CC BY-SA 3.0 and GFDL",
     "text", "eval ppl / eval fingerprint"},
    {"hellaswag-val", "HellaSwag validation, 10042 tasks, llama.cpp's 6-line text format",
     "https://raw.githubusercontent.com/klosax/hellaswag_text_data/main/hellaswag_val_full.txt",
     "hellaswag_val_full.txt", "d572539320eb2050e858ca34b495bbe2103e3b3f1391a9c3bcdf215b0bb93bd1",
     "MIT", "hellaswag", "eval mc"},
    {"winogrande-dev", "Winogrande dev (debiased), llama.cpp's CSV",
     "https://huggingface.co/datasets/ikawrakow/winogrande-eval-for-llama.cpp/resolve/main/"
     "winogrande-debiased-eval.csv",
     "winogrande-debiased-eval.csv", NULL, "CC-BY (allenai/winogrande dataset card)",
     "csv (not read yet: convert to the JSONL of docs/evals.md)", "eval mc"},
    {"arc-challenge-test", "AI2 ARC Challenge test set",
     "https://huggingface.co/datasets/allenai/ai2_arc", "ARC-Challenge/test-*.parquet", NULL,
     "CC BY-SA 4.0", "parquet (convert to the JSONL of docs/evals.md)", "eval mc"},
    {"mmlu-test", "MMLU test set, 57 subjects", "https://huggingface.co/datasets/cais/mmlu",
     "all/test-*.parquet", NULL, "MIT", "parquet (convert to the JSONL of docs/evals.md)",
     "eval mc"},
    {"tinystories-valid", "TinyStories validation split (V1), running text for small models",
     "https://huggingface.co/datasets/roneneldan/TinyStories/resolve/main/"
     "TinyStories-valid.txt",
     "TinyStories-valid.txt", NULL, "CDLA-Sharing-1.0", "text", "eval ppl / eval fingerprint"},
};

const struct owb_dataset *owb_datasets(size_t *n)
{
    *n = sizeof table / sizeof table[0];
    return table;
}

const struct owb_dataset *owb_dataset_find(const char *name)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i].name, name))
            return &table[i];
    return NULL;
}
