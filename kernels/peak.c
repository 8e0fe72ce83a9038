/* SPDX-License-Identifier: MIT */
/*
 * peak.c: dispatch of the compute-ceiling loops (kernels/peak.h) and their expected checksums.
 */
#include "kernels/peak.h"

#include <stdbool.h>
#include <stddef.h>

#include "kernels/cpu/peak_cpu.h"

struct peak_loop {
    uint64_t (*run)(int64_t iters);
    int lanes, nacc; /* 32-bit lanes per register; independent accumulators (or q8 columns) */
    double ops;      /* per iteration, 2 per multiply-add */
    const char *insn;
};

/* The loop of kind k on isa, or NULL. The AVX-512 integer loops need VNNI; without it the CPU's
 * integer kernels are the AVX2 ones, and so is the int8 ceiling. An int8 lane does 4 multiply-adds
 * per step, a q8 column 8 steps of 16 x 4 per iteration. */
static const struct peak_loop *peak_loop(enum owb_peak_kind k, enum owb_isa isa)
{
    static const struct peak_loop int8_512 = {owb_peak_int8_avx512, 16, PEAK_NACC,
                                              2.0 * PEAK_NACC * 16 * 4, "avx512-vnni vpdpbusd zmm"};
    static const struct peak_loop fma_512 = {owb_peak_fma_avx512, 16, PEAK_NACC,
                                             2.0 * PEAK_NACC * 16, "avx512 vfmadd231ps zmm"};
    static const struct peak_loop q8_512 = {
        owb_peak_q8_block_avx512, 16, PEAK_Q8_COLS, 2.0 * PEAK_Q8_COLS * 8 * 16 * 4,
        "avx512-vnni 8 vpdpbusd + vcvtdq2ps + vmulps + vfmadd231ps zmm per block"};
    static const struct peak_loop int8_2 = {owb_peak_int8_avx2, 8, PEAK_NACC_AVX2,
                                            2.0 * PEAK_NACC_AVX2 * 8 * 4,
                                            "avx2 vpmaddubsw + vpmaddwd + vpaddd ymm"};
    static const struct peak_loop fma_2 = {owb_peak_fma_avx2, 8, PEAK_NACC_AVX2,
                                           2.0 * PEAK_NACC_AVX2 * 8, "avx2 vfmadd231ps ymm"};
    if ((int)isa < 0 || isa >= OWB_ISA_COUNT || isa == OWB_ISA_REF || !owb_isa_supported(isa))
        return NULL;
    const bool vnni = isa == OWB_ISA_AVX512 && owb_isa_has_vnni();
    switch (k) {
    case OWB_PEAK_INT8_DOT:
        return vnni ? &int8_512 : &int8_2;
    case OWB_PEAK_F32_FMA:
        return isa == OWB_ISA_AVX512 ? &fma_512 : &fma_2;
    case OWB_PEAK_Q8_BLOCK:
        return vnni ? &q8_512 : NULL;
    default:
        return NULL;
    }
}

enum owb_peak_kind owb_peak_kind_for_act(enum owb_type act)
{
    /* bf16 x bf16: the fallbacks are f32 FMA kernels; vdpbf16ps (32 MAC per zmm) has no loop of
     * its own yet and is held against the FMA peak too */
    return act == OWB_TYPE_F32 || act == OWB_TYPE_BF16 ? OWB_PEAK_F32_FMA : OWB_PEAK_INT8_DOT;
}

const char *owb_peak_name(enum owb_peak_kind k)
{
    static const char *const names[OWB_PEAK_COUNT] = {"int8_dot", "f32_fma", "q8_block"};
    return (unsigned)k < OWB_PEAK_COUNT ? names[k] : "?";
}

double owb_peak_ops_per_iter(enum owb_peak_kind k, enum owb_isa isa)
{
    const struct peak_loop *l = peak_loop(k, isa);
    return l ? l->ops : 0.0;
}

const char *owb_peak_insn(enum owb_peak_kind k, enum owb_isa isa)
{
    const struct peak_loop *l = peak_loop(k, isa);
    return l ? l->insn : NULL;
}

uint64_t owb_peak_run(enum owb_peak_kind k, enum owb_isa isa, int64_t iters)
{
    const struct peak_loop *l = peak_loop(k, isa);
    return l && iters > 0 ? l->run(iters) : 0;
}

static uint64_t peak_chunks(int64_t iters)
{
    return (uint64_t)((iters + PEAK_CHUNK - 1) / PEAK_CHUNK);
}

uint64_t owb_peak_expect(enum owb_peak_kind k, enum owb_isa isa, int64_t iters)
{
    const struct peak_loop *l = peak_loop(k, isa);
    if (!l || iters <= 0)
        return 0;
    const uint64_t lanes = (uint64_t)l->lanes, nacc = (uint64_t)l->nacc;
    uint64_t s = 0;
    switch (k) {
    case OWB_PEAK_INT8_DOT: /* lane of accumulator i: (uint32)(i + 4 iters) */
        for (uint64_t i = 0; i < nacc; i++)
            s += lanes * (uint32_t)(i + 4 * (uint64_t)iters);
        return s;
    case OWB_PEAK_F32_FMA: /* lane of chain i: i + iterations, per chunk */
        return lanes * (nacc * (uint64_t)iters + nacc * (nacc - 1) / 2 * peak_chunks(iters));
    case OWB_PEAK_Q8_BLOCK: /* column i: i + 4 per iteration, per chunk */
        return lanes * (nacc * 4 * (uint64_t)iters + nacc * (nacc - 1) / 2 * peak_chunks(iters));
    default:
        return 0;
    }
}
