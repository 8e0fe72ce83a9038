/* SPDX-License-Identifier: MIT */
/*
 * env.c: builds a result's env object from uname, /proc/cpuinfo, /sys cpufreq, the topology, the
 * generated owb_config.h and run-time probes of the optional parts (PAPI through
 * bench/core/counters.c, hwloc through the topology's source, libcurl's version, MPI launch
 * variables, and a GPU probe the CUDA layer may register). Whatever cannot be read becomes {"na":
 * reason}.
 */
#define _GNU_SOURCE
#include "bench/core/env.h"

#include <errno.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench/core/counters.h"
#include "dist/ranks.h"
#include "owb_config.h"

#if OWB_HAVE_CURL
#include <curl/curl.h>
#endif

static owb_env_gpu_probe_fn gpu_probe;

void owb_env_set_gpu_probe(owb_env_gpu_probe_fn fn)
{
    gpu_probe = fn;
}

static cJSON *na(const char *reason)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "na", reason);
    return o;
}

/* ISA flags worth recording for kernels: exact names, plus every avx512* and amx* flag. */
static const char *const isa_flags[] = {
    "sse2",     "ssse3",         "sse4_1", "sse4_2", "avx",  "avx2", "fma",     "f16c",  "bmi2",
    "avx_vnni", "avx_vnni_int8", "sha_ni", "aes",    "vaes", "gfni", "popcnt",  "asimd", "asimddp",
    "asimdhp",  "sve",           "sve2",   "i8mm",   "bf16", "fphp", "asimdfhm"};

static int interesting_flag(const char *f)
{
    if (!strncmp(f, "avx512", 6) || !strncmp(f, "amx", 3))
        return 1;
    for (size_t i = 0; i < OWB_ARRAY_LEN(isa_flags); i++)
        if (!strcmp(f, isa_flags[i]))
            return 1;
    return 0;
}

static char *cpuinfo_value(char *line)
{
    char *colon = strchr(line, ':');
    if (!colon)
        return NULL;
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == '\n' || v[n - 1] == ' '))
        v[--n] = '\0';
    return v;
}

static cJSON *cpu_json(void)
{
    cJSON *o = cJSON_CreateObject();
    FILE *f = fopen("/proc/cpuinfo", "r");
    char *line = NULL;
    size_t cap = 0;
    int have_model = 0, have_flags = 0, have_mhz = 0, have_vendor = 0;
    if (!f) {
        char why[256];
        snprintf(why, sizeof why, "/proc/cpuinfo: %s", strerror(errno));
        cJSON_AddItemToObject(o, "model", na(why));
        return o;
    }
    /* The first processor's block is enough: every CPU of a machine owbench targets shares
     * model and flags. */
    while (getline(&line, &cap, f) > 0) {
        if (line[0] == '\n' && have_model)
            break;
        char *v = cpuinfo_value(line);
        if (!v)
            continue;
        if (!have_model && (!strncmp(line, "model name", 10) || !strncmp(line, "Model", 5))) {
            cJSON_AddStringToObject(o, "model", v);
            have_model = 1;
        } else if (!have_vendor &&
                   (!strncmp(line, "vendor_id", 9) || !strncmp(line, "CPU implementer", 15))) {
            cJSON_AddStringToObject(o, "vendor", v);
            have_vendor = 1;
        } else if (!have_mhz && !strncmp(line, "cpu MHz", 7)) {
            cJSON_AddNumberToObject(o, "mhz", strtod(v, NULL));
            have_mhz = 1;
        } else if (!have_flags && (!strncmp(line, "flags", 5) || !strncmp(line, "Features", 8))) {
            cJSON *arr = cJSON_AddArrayToObject(o, "flags");
            char *save = NULL;
            for (char *tok = strtok_r(v, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
                if (interesting_flag(tok))
                    cJSON_AddItemToArray(arr, cJSON_CreateString(tok));
            have_flags = 1;
        }
    }
    free(line);
    fclose(f);
    if (!have_model)
        cJSON_AddItemToObject(o, "model", na("no 'model name' line in /proc/cpuinfo"));
    if (!have_flags)
        cJSON_AddItemToObject(o, "flags", na("no 'flags' line in /proc/cpuinfo"));
    return o;
}

static int read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    if (!fgets(buf, (int)len, f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

static cJSON *freq_json(void)
{
    static const char dir[] = "/sys/devices/system/cpu/cpu0/cpufreq";
    static const struct {
        const char *file, *key;
        int numeric;
    } items[] = {{"scaling_governor", "governor", 0},
                 {"scaling_driver", "driver", 0},
                 {"scaling_cur_freq", "cur_khz", 1},
                 {"cpuinfo_min_freq", "min_khz", 1},
                 {"cpuinfo_max_freq", "max_khz", 1}};
    char path[256], buf[128];
    if (access(dir, R_OK) != 0) {
        char why[256];
        snprintf(why, sizeof why, "%s: %s (no cpufreq driver; virtual machine?)", dir,
                 strerror(errno));
        return na(why);
    }
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < OWB_ARRAY_LEN(items); i++) {
        snprintf(path, sizeof path, "%s/%s", dir, items[i].file);
        if (read_line(path, buf, sizeof buf) != 0) {
            char why[320];
            snprintf(why, sizeof why, "%s: %s", path, strerror(errno));
            cJSON_AddItemToObject(o, items[i].key, na(why));
        } else if (items[i].numeric) {
            cJSON_AddNumberToObject(o, items[i].key, strtod(buf, NULL));
        } else {
            cJSON_AddStringToObject(o, items[i].key, buf);
        }
    }
    return o;
}

static cJSON *feature(bool compiled, bool active, const char *reason)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "compiled", compiled);
    cJSON_AddBoolToObject(o, "active", active);
    cJSON_AddStringToObject(o, "reason", reason);
    return o;
}

static cJSON *features_json(const struct owb_topo *t, cJSON *gpus)
{
    cJSON *o = cJSON_CreateObject();
    char why[OWB_ERR_MAX];
    bool compiled, active;

    /* hwloc: active when the topology in use came from it. */
    if (!OWB_HAVE_HWLOC)
        cJSON_AddItemToObject(o, "hwloc", feature(false, false, "built without hwloc"));
    else if (!t)
        cJSON_AddItemToObject(o, "hwloc", feature(true, false, "topology could not be loaded"));
    else
        cJSON_AddItemToObject(o, "hwloc",
                              feature(true, owb_topo_from_hwloc(t) != 0, owb_topo_source(t)));

    owb_counters_papi_status(&compiled, &active, why);
    cJSON_AddItemToObject(o, "papi", feature(compiled, active, why));

    if (gpu_probe) {
        why[0] = '\0';
        active = gpu_probe(gpus, why);
        cJSON_AddItemToObject(
            o, "cuda",
            feature(OWB_HAVE_CUDA != 0, active, *why ? why : (active ? "ok" : "no device")));
    } else if (OWB_HAVE_CUDA) {
        cJSON_AddItemToObject(o, "cuda",
                              feature(true, false,
                                      "compiled in, but no CUDA device probe is "
                                      "registered in this binary"));
    } else {
        cJSON_AddItemToObject(o, "cuda", feature(false, false, "built without CUDA"));
    }

    /* MPI is active when mpirun launched this process and MPI was initialised (dist/ranks.h). */
    owb_ranks_feature(&compiled, &active, why);
    cJSON_AddItemToObject(o, "mpi", feature(compiled, active, why));

#if OWB_HAVE_CURL
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    snprintf(why, sizeof why, "libcurl %s", cv && cv->version ? cv->version : "?");
    cJSON_AddItemToObject(o, "curl", feature(true, cv != NULL, why));
#else
    cJSON_AddItemToObject(o, "curl", feature(false, false, "built without libcurl"));
#endif
    return o;
}

cJSON *owb_env_collect(const struct owb_topo *t)
{
    struct owb_topo *own = NULL;
    char err[OWB_ERR_MAX] = "";
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;

    char host[256];
    if (gethostname(host, sizeof host) == 0) {
        host[sizeof host - 1] = '\0';
        cJSON_AddStringToObject(o, "host", host);
    } else {
        cJSON_AddItemToObject(o, "host", na(strerror(errno)));
    }

    struct utsname u;
    if (uname(&u) == 0) {
        cJSON *os = cJSON_AddObjectToObject(o, "os");
        cJSON_AddStringToObject(os, "sysname", u.sysname);
        cJSON_AddStringToObject(os, "release", u.release);
        cJSON_AddStringToObject(os, "version", u.version);
        cJSON_AddStringToObject(os, "machine", u.machine);
    } else {
        cJSON_AddItemToObject(o, "os", na(strerror(errno)));
    }

    cJSON_AddItemToObject(o, "cpu", cpu_json());

    if (!t) {
        own = owb_topo_new(NULL, err);
        t = own;
    }
    if (t)
        cJSON_AddItemToObject(o, "topology", owb_topo_summary_json(t));
    else
        cJSON_AddItemToObject(o, "topology", na(err));

    cJSON_AddItemToObject(o, "frequency", freq_json());

    cJSON *b = cJSON_AddObjectToObject(o, "build");
    cJSON_AddStringToObject(b, "version", OWB_VERSION);
    cJSON_AddStringToObject(b, "git", OWB_GIT_COMMIT);
    cJSON_AddStringToObject(b, "type", OWB_BUILD_TYPE);
    cJSON_AddStringToObject(b, "compiler", OWB_C_COMPILER);
    cJSON_AddStringToObject(b, "c_flags", OWB_C_FLAGS);

    cJSON *gpus = cJSON_CreateArray();
    cJSON_AddItemToObject(o, "features", features_json(t, gpus));
    cJSON_AddItemToObject(o, "gpus", gpus);

    owb_topo_free(own);
    return o;
}
