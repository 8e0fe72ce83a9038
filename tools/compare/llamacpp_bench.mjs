// SPDX-License-Identifier: MIT
// llamacpp_bench.mjs: time llama.cpp on the same GGUF file that `owbench model` measures, for a
// side-by-side row in a closing note. Not used by the build or the tests. llama.cpp comes from the
// npm package node-llama-cpp (prebuilt CPU binaries):
//   mkdir -p /tmp/nlc && cd /tmp/nlc && npm install node-llama-cpp@3
//   NODE_PATH=/tmp/nlc/node_modules node tools/compare/llamacpp_bench.mjs FILE.gguf [threads] [pp] [tg]
// Prints one JSON line: prefill tokens/s (pp tokens in one batch) and decode tokens/s (tg tokens,
// greedy), as llama-bench's pp/tg, median of 3 repetitions.
import {createRequire} from "node:module";
const require = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + "/" : import.meta.url);
const {getLlama, LlamaLogLevel} = await import(require.resolve("node-llama-cpp"));

const [file, threadsArg = "2", ppArg = "512", tgArg = "64"] = process.argv.slice(2);
if (!file) {
    console.error("usage: llamacpp_bench.mjs FILE.gguf [threads] [pp] [tg]");
    process.exit(2);
}
const threads = Number(threadsArg), pp = Number(ppArg), tg = Number(tgArg);
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath: file, gpuLayers: 0});
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const ppRates = [], tgRates = [];
for (let rep = 0; rep < 3; rep++) {
    const ctx = await model.createContext({contextSize: pp + tg + 8, batchSize: pp, threads});
    const seq = ctx.getSequence();
    const toks = [model.tokens.bos];
    for (let i = 1; i < pp; i++) toks.push(3 + ((i * 7919) % 500)); // fixed pseudo-random ids
    let t0 = process.hrtime.bigint();
    await seq.evaluateWithoutGeneratingNewTokens(toks);
    ppRates.push(pp / (Number(process.hrtime.bigint() - t0) * 1e-9));
    await seq.clearHistory();
    await seq.evaluateWithoutGeneratingNewTokens([model.tokens.bos]);
    let n = 0;
    t0 = process.hrtime.bigint();
    for await (const _t of seq.evaluate([3], {temperature: 0})) {
        if (++n >= tg) break;
    }
    tgRates.push(n / (Number(process.hrtime.bigint() - t0) * 1e-9));
    await ctx.dispose();
}
console.log(JSON.stringify({file, threads, pp, tg, pp_tok_per_s: median(ppRates),
                            tg_tok_per_s: median(tgRates), pp_all: ppRates, tg_all: tgRates}));
