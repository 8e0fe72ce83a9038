/* SPDX-License-Identifier: MIT */
/*
 * kernels_device.c: `owbench kernels --device cuda` (tools/kernels_device.h).
 */
#include <stdio.h>
#include <string.h>

#include "bench/suites/kernels_gpu.h"
#include "kernels/backend.h"
#include "tools/cli_common.h"
#include "tools/kernels_device.h"

int owb_cli_kernels_device(const char *device, const struct owb_kernels_cfg *cfg, int quick,
                           const char *outarg)
{
    char err[OWB_ERR_MAX] = "", outdir[4096];
    const struct owb_backend *be = NULL;
    if (strcmp(device, "cuda") != 0) {
        fprintf(stderr, "owbench kernels: --device '%s': expected cpu or cuda\n", device);
        return OWB_EXIT_USAGE;
    }
    if (owb_backend_open(device, &be, err) != 0) {
        fprintf(stderr, "owbench kernels: --device %s: skipped: %s\n", device, err);
        return OWB_EXIT_SKIPPED;
    }
    owb_cli_outdir(outarg, "kernels", outdir, sizeof outdir);
    int rc = owb_cli_check_outdir("kernels", outdir);
    if (rc)
        return rc;
    cJSON *doc = owb_cli_result_new(NULL);
    if (!doc)
        return owb_cli_fail("kernels", OWB_E_NOMEM, "out of memory");
    int st = owb_kernels_gpu_run(be, cfg, quick, doc, err);
    if (st) {
        rc = owb_cli_fail("kernels", st, err);
    } else {
        owb_kernels_gpu_print_table(doc, stdout);
        rc = owb_cli_write("kernels", doc, outdir, "kernels.json");
    }
    cJSON_Delete(doc);
    return rc;
}
