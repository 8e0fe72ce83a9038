/* SPDX-License-Identifier: MIT */
/*
 * backend.c: the backend registry. "cpu" is always there; "cuda" is registered when the build has
 * CUDA (kernels/cuda/backend_cuda.c defines its table); whether it can run is its available().
 */
#include <stdio.h>
#include <string.h>

#include "kernels/backend.h"
#include "owb_config.h"

#if OWB_HAVE_CUDA
extern const struct owb_backend owb_backend_cuda;
#endif

const struct owb_backend *owb_backend_get(const char *name)
{
    if (!name)
        return NULL;
    if (strcmp(name, "cpu") == 0)
        return &owb_backend_cpu;
#if OWB_HAVE_CUDA
    if (strcmp(name, "cuda") == 0)
        return &owb_backend_cuda;
#endif
    return NULL;
}

int owb_backend_open(const char *name, const struct owb_backend **be, char reason[OWB_ERR_MAX])
{
    *be = NULL;
    const struct owb_backend *b = owb_backend_get(name);
    if (!b) {
        if (name && strcmp(name, "cuda") == 0) {
            snprintf(reason, OWB_ERR_MAX,
                     "cuda: built without CUDA (OWB_WITH_CUDA=OFF or nvcc not found at configure "
                     "time)");
            return OWB_E_UNSUPPORTED;
        }
        snprintf(reason, OWB_ERR_MAX, "unknown backend \"%.100s\" (known: cpu, cuda)",
                 name ? name : "(null)");
        return OWB_E_USAGE;
    }
    char why[OWB_ERR_MAX] = "";
    if (b->available(why) != 0) {
        snprintf(reason, OWB_ERR_MAX, "%s: %.400s", b->name, why);
        return OWB_E_UNSUPPORTED;
    }
    *be = b;
    return 0;
}
