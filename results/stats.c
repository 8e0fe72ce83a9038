/* SPDX-License-Identifier: MIT */
/*
 * stats.c: summary statistics of raw samples (mean, sample standard deviation, type-7 quantiles,
 * raw MAD, distribution-free 95% CI of the median from binomial order statistics) and the
 * two-sided Mann-Whitney U test (exact null distribution for small samples without ties, normal
 * approximation with tie and continuity correction otherwise). See results/stats.h.
 */
#include "results/stats.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "owb_common.h"

/* Largest side for which the exact U distribution is used (table of (na+1)(nb+1)(na*nb+1)). */
#define MW_EXACT_MAX 20

/* Ascending order; NaN sorts last so qsort sees a consistent total order. */
static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    if (isnan(a) || isnan(b))
        return isnan(a) - isnan(b);
    return (a > b) - (a < b);
}

double owb_quantile_sorted(const double *sorted, size_t n, double q)
{
    if (n == 0 || isnan(q))
        return (double)NAN;
    if (q <= 0.0)
        return sorted[0];
    if (q >= 1.0)
        return sorted[n - 1];
    /* Type 7: h = (n - 1) q, interpolate between x[floor(h)] and x[floor(h) + 1] (0-based). */
    double h = (double)(n - 1) * q;
    size_t lo = (size_t)floor(h);
    if (lo + 1 >= n)
        return sorted[n - 1];
    double frac = h - (double)lo;
    return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

/*
 * 1-based rank k of the lower end of the distribution-free 95% CI of the median: the largest k
 * with P(B <= k - 1) <= 0.025 for B ~ Binomial(n, 1/2), so that [x_(k), x_(n-k+1)] covers the
 * median with probability 1 - 2 P(B <= k - 1) >= 95%. Returns 0 when no such k exists (n < 6).
 * The pmf is walked in log space so large n does not underflow the running terms' ratio.
 */
static size_t median_ci_rank(size_t n)
{
    double logpmf = -(double)n * log(2.0); /* log P(B = 0) */
    double cdf = 0.0;
    size_t k = 0;
    for (size_t i = 0; i <= n / 2; i++) {
        cdf += exp(logpmf); /* cdf = P(B <= i) */
        if (cdf > 0.025)
            break;
        k = i + 1;
        logpmf += log((double)(n - i)) - log((double)(i + 1));
    }
    return k;
}

int owb_stats_compute(const double *x, size_t n, struct owb_stats *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    out->mean = out->median = out->stddev = out->mad = out->min = out->max = (double)NAN;
    out->p50 = out->p90 = out->p99 = out->p999 = (double)NAN;
    out->ci95_lo = out->ci95_hi = (double)NAN;
    out->ci_exact = false;
    if (n == 0)
        return OWB_OK;

    double *s = malloc(n * sizeof *s);
    if (!s)
        return OWB_E_NOMEM;
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);

    /* Two-pass mean and variance: stable enough for timing samples (all of one sign, similar
     * magnitude) without Welford's per-element division. */
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += s[i];
    double mean = sum / (double)n;
    double ss = 0.0, comp = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = s[i] - mean;
        ss += d * d;
        comp += d;
    }
    out->mean = mean;
    /* Sample standard deviation (n - 1); undefined (NaN) for one sample. The compensation term
     * removes the rounding error of the mean (corrected two-pass algorithm). */
    out->stddev = n > 1 ? sqrt((ss - comp * comp / (double)n) / (double)(n - 1)) : (double)NAN;
    out->min = s[0];
    out->max = s[n - 1];
    out->median = out->p50 = owb_quantile_sorted(s, n, 0.5);
    out->p90 = owb_quantile_sorted(s, n, 0.90);
    out->p99 = owb_quantile_sorted(s, n, 0.99);
    out->p999 = owb_quantile_sorted(s, n, 0.999);

    size_t k = median_ci_rank(n);
    if (k >= 1) {
        out->ci95_lo = s[k - 1];
        out->ci95_hi = s[n - k];
        out->ci_exact = true;
    } else {
        out->ci95_lo = s[0];
        out->ci95_hi = s[n - 1];
        out->ci_exact = false;
    }

    /* MAD: median of |x - median|, reusing the buffer. */
    double med = out->median;
    for (size_t i = 0; i < n; i++)
        s[i] = fabs(s[i] - med);
    qsort(s, n, sizeof *s, cmp_double);
    out->mad = owb_quantile_sorted(s, n, 0.5);

    free(s);
    return OWB_OK;
}

struct ranked {
    double v;
    int from_a;
};

static int cmp_ranked(const void *pa, const void *pb)
{
    return cmp_double(&((const struct ranked *)pa)->v, &((const struct ranked *)pb)->v);
}

/*
 * Exact two-sided p-value of U for sample sizes m, n without ties: the number of orderings with a
 * given U follows f(m, n, u) = f(m - 1, n, u - n) + f(m, n - 1, u), f(0, n, 0) = f(m, 0, 0) = 1.
 * Counts stay below C(40, 20) ~ 1.4e11 and are exact in a double.
 */
static int mw_exact_p(size_t m, size_t n, double u, double *p)
{
    size_t umax = m * n;
    size_t stride_u = umax + 1, stride_j = (n + 1) * stride_u;
    double *f = calloc((m + 1) * stride_j, sizeof *f);
    if (!f)
        return OWB_E_NOMEM;
#define F(i, j, k) f[(i)*stride_j + (j)*stride_u + (k)]
    for (size_t i = 0; i <= m; i++) {
        for (size_t j = 0; j <= n; j++) {
            if (i == 0 || j == 0) {
                F(i, j, 0) = 1.0;
                continue;
            }
            for (size_t k = 0; k <= i * j; k++) {
                double c = 0.0;
                if (k >= j)
                    c += F(i - 1, j, k - j);
                if (k <= i * (j - 1))
                    c += F(i, j - 1, k);
                F(i, j, k) = c;
            }
        }
    }
    double total = 0.0, below = 0.0, above = 0.0;
    size_t uk = (size_t)llround(u);
    for (size_t k = 0; k <= umax; k++) {
        double c = F(m, n, k);
        total += c;
        if (k <= uk)
            below += c;
        if (k >= uk)
            above += c;
    }
#undef F
    free(f);
    double tail = (below < above ? below : above) / total;
    *p = fmin(1.0, 2.0 * tail);
    return OWB_OK;
}

int owb_mann_whitney(const double *a, size_t na, const double *b, size_t nb, double *u, double *p)
{
    if (na == 0 || nb == 0)
        return OWB_E_USAGE;
    size_t n = na + nb;
    struct ranked *r = malloc(n * sizeof *r);
    if (!r)
        return OWB_E_NOMEM;
    for (size_t i = 0; i < na; i++)
        r[i] = (struct ranked){a[i], 1};
    for (size_t i = 0; i < nb; i++)
        r[na + i] = (struct ranked){b[i], 0};
    qsort(r, n, sizeof *r, cmp_ranked);

    /* Mid-ranks for ties; tie_term = sum over tie groups of (t^3 - t). */
    double rank_sum_a = 0.0, tie_term = 0.0;
    size_t i = 0;
    while (i < n) {
        size_t j = i + 1;
        while (j < n && r[j].v == r[i].v)
            j++;
        double t = (double)(j - i);
        double midrank = ((double)(i + 1) + (double)j) / 2.0; /* ranks i+1 .. j */
        for (size_t k = i; k < j; k++)
            if (r[k].from_a)
                rank_sum_a += midrank;
        tie_term += t * t * t - t;
        i = j;
    }
    free(r);

    double dna = (double)na, dnb = (double)nb, dn = (double)n;
    double ua = rank_sum_a - dna * (dna + 1.0) / 2.0;
    *u = ua;

    if (tie_term == 0.0 && na <= MW_EXACT_MAX && nb <= MW_EXACT_MAX)
        return mw_exact_p(na, nb, ua, p);

    double mu = dna * dnb / 2.0;
    double var = dna * dnb / 12.0 * ((dn + 1.0) - tie_term / (dn * (dn - 1.0)));
    if (!(var > 0.0)) { /* every value tied: no evidence of a difference */
        *p = 1.0;
        return OWB_OK;
    }
    double z = (fabs(ua - mu) - 0.5) / sqrt(var);
    if (z < 0.0)
        z = 0.0;
    *p = fmin(1.0, erfc(z / sqrt(2.0)));
    return OWB_OK;
}

/* ---- Student's t ---------------------------------------------------------------------------- */

/* Continued fraction of the regularized incomplete beta function (modified Lentz method). */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double qab = a + b, qap = a + 1.0, qam = a - 1.0;
    double c = 1.0, d = 1.0 - qab * x / qap;
    if (fabs(d) < tiny)
        d = tiny;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= 500; m++) {
        double dm = (double)m, m2 = 2.0 * dm;
        double aa = dm * (b - dm) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        c = 1.0 + aa / c;
        d = 1.0 / (fabs(d) < tiny ? tiny : d);
        c = fabs(c) < tiny ? tiny : c;
        h *= d * c;
        aa = -(a + dm) * (qab + dm) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        c = 1.0 + aa / c;
        d = 1.0 / (fabs(d) < tiny ? tiny : d);
        c = fabs(c) < tiny ? tiny : c;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < 1e-15)
            break;
    }
    return h;
}

/* Regularized incomplete beta I_x(a, b). */
static double beta_inc(double a, double b, double x)
{
    if (x <= 0.0)
        return 0.0;
    if (x >= 1.0)
        return 1.0;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1.0) / (a + b + 2.0))
        return front * beta_cf(a, b, x) / a;
    return 1.0 - front * beta_cf(b, a, 1.0 - x) / b;
}

double owb_t_two_sided_p(double t, double df)
{
    if (isnan(t) || !(df > 0))
        return (double)NAN;
    if (isinf(t))
        return 0.0;
    return beta_inc(df / 2.0, 0.5, df / (df + t * t));
}

double owb_t_critical(double alpha, double df)
{
    if (!(alpha > 0 && alpha < 1) || !(df > 0))
        return (double)NAN;
    double lo = 0.0, hi = 1.0;
    while (owb_t_two_sided_p(hi, df) > alpha && hi < 1e12)
        hi *= 2.0;
    for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if (owb_t_two_sided_p(mid, df) > alpha)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* ---- Wilcoxon signed-rank ------------------------------------------------------------------- */

/* Largest n for the exact null distribution (a table of n (n + 1) / 2 + 1 counts). */
#define WSR_EXACT_MAX 60

int owb_wilcoxon_signed_rank(const double *d, size_t n, double *w_plus, double *p)
{
    size_t m = 0;
    *w_plus = (double)NAN;
    *p = (double)NAN;
    double *a = malloc((n ? n : 1) * sizeof *a);
    if (!a)
        return OWB_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        if (isfinite(d[i]) && d[i] != 0.0) /* zero differences carry no sign (Wilcoxon) */
            a[m++] = d[i];
    if (m == 0) {
        free(a);
        *w_plus = 0.0;
        *p = 1.0;
        return OWB_OK;
    }
    struct ranked *r = malloc(m * sizeof *r);
    if (!r) {
        free(a);
        return OWB_E_NOMEM;
    }
    for (size_t i = 0; i < m; i++)
        r[i] = (struct ranked){fabs(a[i]), a[i] > 0};
    qsort(r, m, sizeof *r, cmp_ranked);
    double wp = 0.0, tie_term = 0.0;
    for (size_t i = 0; i < m;) {
        size_t j = i + 1;
        while (j < m && r[j].v == r[i].v)
            j++;
        double t = (double)(j - i), midrank = ((double)(i + 1) + (double)j) / 2.0;
        for (size_t k = i; k < j; k++)
            if (r[k].from_a)
                wp += midrank;
        tie_term += t * t * t - t;
        i = j;
    }
    free(r);
    free(a);
    *w_plus = wp;
    double dm = (double)m, mu = dm * (dm + 1.0) / 4.0;
    if (tie_term == 0.0 && m <= WSR_EXACT_MAX) {
        /* counts of subsets of ranks 1..m by their sum: the null distribution of W+ */
        size_t smax = m * (m + 1) / 2;
        double *cnt = calloc(smax + 1, sizeof *cnt);
        if (!cnt)
            return OWB_E_NOMEM;
        cnt[0] = 1.0;
        for (size_t k = 1; k <= m; k++)
            for (size_t s = smax; s >= k; s--)
                cnt[s] += cnt[s - k];
        size_t w = (size_t)llround(wp);
        double below = 0.0, above = 0.0, total = ldexp(1.0, (int)m);
        for (size_t s = 0; s <= smax; s++) {
            if (s <= w)
                below += cnt[s];
            if (s >= w)
                above += cnt[s];
        }
        free(cnt);
        *p = fmin(1.0, 2.0 * fmin(below, above) / total);
        return OWB_OK;
    }
    double var = dm * (dm + 1.0) * (2.0 * dm + 1.0) / 24.0 - tie_term / 48.0;
    if (!(var > 0.0)) {
        *p = 1.0;
        return OWB_OK;
    }
    double z = fmax(0.0, (fabs(wp - mu) - 0.5) / sqrt(var));
    *p = fmin(1.0, erfc(z / sqrt(2.0)));
    return OWB_OK;
}
