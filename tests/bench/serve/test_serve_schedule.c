/* SPDX-License-Identifier: MIT */
/*
 * test_serve_schedule.c: the arrival process matches its distribution. Kolmogorov-Smirnov tests of
 * the scheduler's inter-arrival times against the exponential CDF (Poisson) and the gamma CDF
 * (burstiness 0.5 and 4, regularized incomplete gamma computed here independently), at a
 * significance level of 0.001; the same statistic must reject the wrong distribution (so the test
 * has power). Constant arrivals are exactly 1/rate apart; the mean rate is right; a linear ramp
 * puts a quarter of the ramp's arrivals in its first half; schedules are deterministic per seed.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/serve/serve.h"
#include "owb_test.h"

#define N 20000
#define KS_CRIT (1.949 / sqrt((double)N)) /* alpha = 0.001, large n */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Regularized lower incomplete gamma P(a, x): series for x < a + 1, continued fraction else
 * (Numerical Recipes' gser/gcf). */
static double gamma_p(double a, double x)
{
    double gln = lgamma(a);
    if (x <= 0)
        return 0;
    if (x < a + 1) {
        double ap = a, sum = 1 / a, del = sum;
        for (int n = 0; n < 1000; n++) {
            ap += 1;
            del *= x / ap;
            sum += del;
            if (fabs(del) < fabs(sum) * 1e-15)
                break;
        }
        return sum * exp(-x + a * log(x) - gln);
    } else {
        double b = x + 1 - a, c = 1 / 1e-300, d = 1 / b, h = d;
        for (int i = 1; i < 1000; i++) {
            double an = -i * (i - a), del;
            b += 2;
            d = an * d + b;
            if (fabs(d) < 1e-300)
                d = 1e-300;
            c = b + an / c;
            if (fabs(c) < 1e-300)
                c = 1e-300;
            d = 1 / d;
            del = d * c;
            h *= del;
            if (fabs(del - 1) < 1e-15)
                break;
        }
        return 1 - exp(-x + a * log(x) - gln) * h;
    }
}

struct dist {
    double shape, rate; /* gamma(shape) gaps with mean 1/rate */
};

static double cdf(const struct dist *d, double x)
{
    /* gap ~ Gamma(shape, scale = 1 / (shape * rate)) */
    return gamma_p(d->shape, x * d->shape * d->rate);
}

/* KS statistic of the gaps of t[0..n) against d. */
static double ks(const double *t, size_t n, const struct dist *d)
{
    double *g = malloc(n * sizeof *g), dmax = 0, prev = 0;
    OWB_ASSERT(g);
    for (size_t i = 0; i < n; i++) {
        g[i] = t[i] - prev;
        prev = t[i];
    }
    qsort(g, n, sizeof *g, cmp_d);
    for (size_t i = 0; i < n; i++) {
        double f = cdf(d, g[i]);
        double a = fabs(f - (double)i / (double)n), b = fabs((double)(i + 1) / (double)n - f);
        if (a > dmax)
            dmax = a;
        if (b > dmax)
            dmax = b;
    }
    free(g);
    return dmax;
}

int main(void)
{
    static double t[N], u[N];
    struct dist expo = {1, 5}, g05 = {0.5, 5}, g4 = {4, 5};
    double d;

    /* the CDF itself: P(1, x) = 1 - e^-x, P(2, 1) = 1 - 2/e */
    CHECK_NEAR(gamma_p(1, 0.7), 1 - exp(-0.7), 1e-12);
    CHECK_NEAR(gamma_p(2, 1), 1 - 2 / exp(1), 1e-12);
    CHECK_NEAR(gamma_p(0.5, 3), erf(sqrt(3.0)), 1e-12);

    CHECK(owb_serve_schedule(OWB_ARRIVAL_POISSON, 5, 1, 0, 42, N, t) == 0);
    d = ks(t, N, &expo);
    CHECK_MSG(d < KS_CRIT, "Poisson vs exponential: D = %.4f >= %.4f", d, KS_CRIT);
    d = ks(t, N, &g05);
    CHECK_MSG(d > KS_CRIT, "Poisson vs gamma(0.5) not rejected: D = %.4f", d);
    CHECK_NEAR(t[N - 1] / N, 1.0 / 5, 0.01); /* mean gap 0.2 s, sd 0.2/sqrt(N) */
    for (size_t i = 1; i < N; i++)
        CHECK(t[i] >= t[i - 1]);

    CHECK(owb_serve_schedule(OWB_ARRIVAL_GAMMA, 5, 0.5, 0, 43, N, t) == 0);
    d = ks(t, N, &g05);
    CHECK_MSG(d < KS_CRIT, "gamma(0.5) vs its CDF: D = %.4f", d);
    d = ks(t, N, &expo);
    CHECK_MSG(d > KS_CRIT, "gamma(0.5) vs exponential not rejected: D = %.4f", d);

    CHECK(owb_serve_schedule(OWB_ARRIVAL_GAMMA, 5, 4, 0, 44, N, t) == 0);
    d = ks(t, N, &g4);
    CHECK_MSG(d < KS_CRIT, "gamma(4) vs its CDF: D = %.4f", d);

    /* constant: exactly 1/rate apart, from 0 */
    CHECK(owb_serve_schedule(OWB_ARRIVAL_CONSTANT, 4, 1, 0, 1, 100, t) == 0);
    for (int i = 0; i < 100; i++)
        CHECK_NEAR(t[i], i * 0.25, 1e-9);

    /* deterministic per seed, different across seeds */
    CHECK(owb_serve_schedule(OWB_ARRIVAL_POISSON, 5, 1, 0, 42, N, t) == 0);
    CHECK(owb_serve_schedule(OWB_ARRIVAL_POISSON, 5, 1, 0, 42, N, u) == 0);
    CHECK(!memcmp(t, u, sizeof t));
    CHECK(owb_serve_schedule(OWB_ARRIVAL_POISSON, 5, 1, 0, 43, N, u) == 0);
    CHECK(memcmp(t, u, sizeof t) != 0);

    /* ramp over 100 s to 50/s: cumulative intensity 50 t^2 / 200, so 2500 arrivals during the
     * ramp, a quarter of them (625) in its first 50 s; afterwards 50/s */
    CHECK(owb_serve_schedule(OWB_ARRIVAL_CONSTANT, 50, 1, 100, 1, N, t) == 0);
    {
        size_t first_half = 0, ramp = 0, after = 0;
        for (size_t i = 0; i < N; i++) {
            first_half += t[i] < 50;
            ramp += t[i] < 100;
            after += t[i] >= 100 && t[i] < 200;
        }
        CHECK_MSG(labs((long)ramp - 2500) <= 1, "ramp %zu", ramp);
        CHECK_MSG(labs((long)first_half - 625) <= 1, "first half %zu", first_half);
        CHECK_MSG(labs((long)after - 5000) <= 1, "after %zu", after);
    }
    /* bad parameters */
    CHECK(owb_serve_schedule(OWB_ARRIVAL_POISSON, 0, 1, 0, 1, 10, t) == OWB_E_USAGE);
    CHECK(owb_serve_schedule(OWB_ARRIVAL_GAMMA, 1, 0, 0, 1, 10, t) == OWB_E_USAGE);
    TEST_DONE();
}
