/* SPDX-License-Identifier: MIT */
/*
 * evstats.c: distribution functions, McNemar/Wilson/Newcombe, the moving-block bootstrap and
 * selection-based quantiles. Tested on hand-computed tables and by simulated coverage
 * (tests/evals/test_evstats.c).
 */
#include "evals/evstats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double owb_norm_cdf(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

double owb_norm_quantile(double p)
{
    /* Acklam's rational approximation (relative error 1.15e-9), then one Halley step. */
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    const double plow = 0.02425;
    double x;
    if (!(p > 0.0 && p < 1.0))
        return p == 0.0 ? -(double)INFINITY : p == 1.0 ? (double)INFINITY : (double)NAN;
    if (p < plow) {
        double q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p <= 1 - plow) {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    } else {
        double q = sqrt(-2 * log1p(-p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    double e = owb_norm_cdf(x) - p;
    double u = e * sqrt(2 * 3.14159265358979323846) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

double owb_binom_cdf(int64_t k, int64_t n, double p)
{
    if (k < 0)
        return 0.0;
    if (k >= n)
        return 1.0;
    if (p <= 0.0)
        return 1.0;
    if (p >= 1.0)
        return 0.0;
    /* log-sum-exp of the pmf terms i = 0..k */
    double lp = log(p), lq = log1p(-p), lg_n1 = lgamma((double)n + 1);
    double mx = -INFINITY;
    for (int64_t i = 0; i <= k; i++) {
        double t = lg_n1 - lgamma((double)i + 1) - lgamma((double)(n - i) + 1) + (double)i * lp +
                   (double)(n - i) * lq;
        if (t > mx)
            mx = t;
    }
    double s = 0.0;
    for (int64_t i = 0; i <= k; i++)
        s += exp(lg_n1 - lgamma((double)i + 1) - lgamma((double)(n - i) + 1) + (double)i * lp +
                 (double)(n - i) * lq - mx);
    double r = exp(mx + log(s));
    return r > 1.0 ? 1.0 : r;
}

double owb_mcnemar_exact_p(int64_t b, int64_t c)
{
    int64_t m = b + c;
    if (m == 0)
        return 1.0;
    double p = 2.0 * owb_binom_cdf(b < c ? b : c, m, 0.5);
    return p > 1.0 ? 1.0 : p;
}

void owb_wilson(int64_t x, int64_t n, double alpha, double *lo, double *hi)
{
    if (n <= 0) {
        *lo = 0.0;
        *hi = 1.0;
        return;
    }
    double z = owb_norm_quantile(1 - alpha / 2), z2 = z * z, nn = (double)n;
    double ph = (double)x / nn;
    double den = 1 + z2 / nn;
    double mid = (ph + z2 / (2 * nn)) / den;
    double half = z * sqrt(ph * (1 - ph) / nn + z2 / (4 * nn * nn)) / den;
    *lo = x == 0 ? 0.0 : fmax(0.0, mid - half);
    *hi = x == n ? 1.0 : fmin(1.0, mid + half);
}

void owb_newcombe_paired(int64_t a, int64_t b, int64_t c, int64_t d, double alpha, double *lo,
                         double *hi)
{
    int64_t n = a + b + c + d;
    if (n <= 0) {
        *lo = -1.0;
        *hi = 1.0;
        return;
    }
    double nn = (double)n, p1 = (double)(a + b) / nn, p2 = (double)(a + c) / nn;
    double l1, u1, l2, u2;
    owb_wilson(a + b, n, alpha, &l1, &u1);
    owb_wilson(a + c, n, alpha, &l2, &u2);
    double prod = (double)(a + b) * (double)(c + d) * (double)(a + c) * (double)(b + d);
    double phi = prod > 0 ? ((double)a * (double)d - (double)b * (double)c) / sqrt(prod) : 0.0;
    double dl = (p1 - l1) * (p1 - l1) - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) * (u2 - p2);
    double du = (u1 - p1) * (u1 - p1) - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) * (p2 - l2);
    double diff = p1 - p2;
    *lo = fmax(-1.0, diff - sqrt(fmax(0.0, dl)));
    *hi = fmin(1.0, diff + sqrt(fmax(0.0, du)));
}

void owb_bonett_price_paired(int64_t b, int64_t c, int64_t n, double alpha, double *lo, double *hi)
{
    if (n <= 0) {
        *lo = -1.0;
        *hi = 1.0;
        return;
    }
    double z = owb_norm_quantile(1 - alpha / 2), m = (double)n + 2;
    double p12 = ((double)b + 1) / m, p21 = ((double)c + 1) / m, d = p12 - p21;
    double h = z * sqrt(fmax(0.0, p12 + p21 - d * d) / m);
    *lo = fmax(-1.0, d - h);
    *hi = fmin(1.0, d + h);
}

int64_t owb_boot_block_auto(int64_t n)
{
    if (n <= 1)
        return 1;
    int64_t b = (int64_t)ceil(cbrt((double)n) - 1e-9);
    return b < 1 ? 1 : b;
}

void owb_boot_draw(struct owb_rng *r, int64_t n, int64_t block, int64_t *idx)
{
    int64_t k = 0;
    if (block < 1)
        block = 1;
    if (block > n)
        block = n;
    while (k < n) {
        int64_t s = (int64_t)owb_rng_below(r, (uint64_t)n);
        for (int64_t j = 0; j < block && k < n; j++)
            idx[k++] = (s + j) % n;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int owb_boot_ratio(const double *num, const double *den, int64_t n, const struct owb_boot_cfg *cfg,
                   double *est, double *lo, double *hi, double *se)
{
    *est = *lo = *hi = *se = NAN;
    if (cfg->reps < 1)
        return OWB_E_USAGE;
    if (n <= 0)
        return OWB_OK;
    double sn = 0, sd = 0;
    for (int64_t i = 0; i < n; i++) {
        sn += num[i];
        sd += den ? den[i] : 1.0;
    }
    if (sd == 0)
        return OWB_OK;
    *est = sn / sd;
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    double *rep = malloc((size_t)cfg->reps * sizeof *rep);
    if (!idx || !rep) {
        free(idx);
        free(rep);
        return OWB_E_NOMEM;
    }
    struct owb_rng r;
    owb_rng_seed(&r, cfg->seed);
    int64_t block = cfg->block > 0 ? cfg->block : owb_boot_block_auto(n);
    int nr = 0;
    double m = 0, m2 = 0;
    for (int k = 0; k < cfg->reps; k++) {
        owb_boot_draw(&r, n, block, idx);
        double a = 0, b = 0;
        for (int64_t i = 0; i < n; i++) {
            a += num[idx[i]];
            b += den ? den[idx[i]] : 1.0;
        }
        if (b == 0)
            continue;
        double v = a / b;
        rep[nr++] = v;
        double dlt = v - m;
        m += dlt / nr;
        m2 += dlt * (v - m);
    }
    if (nr > 0) {
        qsort(rep, (size_t)nr, sizeof *rep, cmp_double);
        double h = (nr - 1) * (cfg->alpha / 2);
        int64_t i0 = (int64_t)floor(h);
        *lo = rep[i0] + (h - (double)i0) * (rep[i0 + 1 < nr ? i0 + 1 : i0] - rep[i0]);
        h = (nr - 1) * (1 - cfg->alpha / 2);
        i0 = (int64_t)floor(h);
        *hi = rep[i0] + (h - (double)i0) * (rep[i0 + 1 < nr ? i0 + 1 : i0] - rep[i0]);
        *se = nr > 1 ? sqrt(m2 / (nr - 1)) : (double)NAN;
    }
    free(idx);
    free(rep);
    return OWB_OK;
}

/* k-th smallest of v[0..n) into v[k] with v[<k] <= v[k] <= v[>k]; three-way partitions keep runs
 * of equal values (a producer scored against itself gives all-zero KLDs) linear. */
static void select_kth(double *v, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi];
        double piv = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        int64_t lt = lo, i = lo, gt = hi;
        while (i <= gt) {
            if (v[i] < piv) {
                double t = v[lt];
                v[lt++] = v[i];
                v[i++] = t;
            } else if (v[i] > piv) {
                double t = v[gt];
                v[gt--] = v[i];
                v[i] = t;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt - 1;
        else if (k > gt)
            lo = gt + 1;
        else
            return;
    }
}

double owb_quantile_select(double *v, int64_t n, double q)
{
    if (n <= 0)
        return NAN;
    double h = (double)(n - 1) * q;
    int64_t i0 = (int64_t)floor(h);
    if (i0 >= n - 1)
        i0 = n - 1;
    select_kth(v, n, i0);
    double x0 = v[i0];
    if (i0 + 1 >= n || h == (double)i0)
        return x0;
    double x1 = v[i0 + 1];
    for (int64_t i = i0 + 2; i < n; i++)
        if (v[i] < x1)
            x1 = v[i];
    return x0 + (h - (double)i0) * (x1 - x0);
}
