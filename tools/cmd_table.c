/* SPDX-License-Identifier: MIT */
/* cmd_table.c: the git-style command table of the owbench binary. */
#include "tools/cmds.h"

int owb_argc;
char **owb_argv;

const struct owb_cmd owb_cmds[] = {
    {"run", cmd_run, "the default suite on an embedded default (no downloads)"},
    {"topo", cmd_topo, "topology as hwloc sees it; the CPU list of a pinning policy"},
    {"stream", cmd_stream, "memory bandwidth ceilings (copy, scale, add, triad, the read kernels)"},
    {"kernels", cmd_kernels, "quantized GEMV/GEMM sweep, GB/s and % of the read ceiling"},
    {"model", cmd_model, "prefill/decode tok/s of a GGUF or synthetic model (llama-bench pp/tg)"},
    {"plan", cmd_plan, "capacity: memory, KV cache, predicted tok/s, TTFT/TPOT, machines"},
    {"compare", cmd_compare, "A/B of two result files: medians, Mann-Whitney p, verdicts"},
    {"ab", cmd_ab, "interleaved A/B of two commands in paired rounds (builds or settings)"},
    {"plot", cmd_plot, "gnuplot figures (PNG, SVG) + data and scripts from result files"},
    {"report", cmd_report, "one offline HTML page from result files (side by side)"},
    {"generate", cmd_generate, "generate text from a GGUF model (greedy or sampled)"},
    {"tokenize", cmd_tokenize, "token ids of a text under a GGUF's tokenizer (llama-tokenize)"},
    {"synth", cmd_synth, "write a synthetic GGUF with the shapes of a real model"},
    {"quantize", cmd_quantize, "write a quantized derivative of a GGUF (q8_0, q4_0, q4_K, ...)"},
    {"gguf", cmd_gguf, "inspect a GGUF file: metadata, tensor table, parameter count"},
    {"eval", cmd_eval, "quality: perplexity, fingerprint + KLD, multiple choice, paired gate"},
    {"serve", cmd_serve, "load generator against OpenAI-compatible servers (TTFT, TPOT, SLOs)"},
    {"serve-model", cmd_serve_model, "the engine behind a minimal OpenAI-compatible server"},
};
const int owb_ncmds = (int)(sizeof owb_cmds / sizeof owb_cmds[0]);
