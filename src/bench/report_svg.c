/* SVG charts for report.html; see report_svg.h. */
#include "bench/report_svg.h"

#include <math.h>
#include <string.h>

#define W 880.0
#define H 300.0
#define ML 70.0
#define MR 20.0
#define MT 34.0
#define MB 46.0

typedef struct axis {
    double lo, hi; /* in data units (log10 applied when log) */
    int log;
    double p0, p1; /* pixel range */
} axis;

void svg_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static int usable(double v, int log)
{
    return isfinite(v) && (!log || v > 0);
}

static double tr(double v, int log)
{
    return log ? log10(v) : v;
}

static double px(const axis *a, double v)
{
    double t = (tr(v, a->log) - a->lo) / (a->hi - a->lo);
    return a->p0 + t * (a->p1 - a->p0);
}

/* A step of 1, 2 or 5 x 10^k giving about n ticks over span. */
static double nice_step(double span, int n)
{
    double raw = span / n;
    double p = pow(10, floor(log10(raw)));
    double m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void fmt_num(char *buf, size_t cap, double v)
{
    double a = fabs(v);
    if (a == 0)
        snprintf(buf, cap, "0");
    else if (a >= 1e6)
        snprintf(buf, cap, "%.3gM", v / 1e6);
    else if (a >= 1e4)
        snprintf(buf, cap, "%.3gk", v / 1e3);
    else
        snprintf(buf, cap, "%g", v);
}

/* Data range of one coordinate over all series; 0 when there is none. */
static int range(const svg_chart *c, int want_x, int log, double *lo, double *hi)
{
    int any = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int s = 0; s < c->nseries; s++)
        for (int i = 0; i < c->series[s].n; i++) {
            double x = c->series[s].x[i], y = c->series[s].y[i];
            double v = want_x ? x : y;
            if (!usable(x, c->logx) || !usable(y, c->logy)) continue;
            (void)log;
            if (v < *lo) *lo = v;
            if (v > *hi) *hi = v;
            any = 1;
        }
    if (want_x)
        for (int b = 0; b < c->nbands; b++) {
            if (usable(c->bands[b].x0, log) && c->bands[b].x0 < *lo) *lo = c->bands[b].x0;
            if (usable(c->bands[b].x1, log) && c->bands[b].x1 > *hi) *hi = c->bands[b].x1;
        }
    return any;
}

static void setup_axis(axis *a, double lo, double hi, int log, int from0)
{
    a->log = log;
    if (log) {
        a->lo = floor(log10(lo));
        a->hi = ceil(log10(hi));
        if (a->hi <= a->lo) a->hi = a->lo + 1;
        return;
    }
    if (from0 && lo > 0) lo = 0;
    if (hi <= lo) hi = lo + (lo == 0 ? 1 : fabs(lo) * 0.1);
    double st = nice_step(hi - lo, 5);
    a->lo = floor(lo / st) * st;
    a->hi = ceil(hi / st) * st;
    if (a->hi <= a->lo) a->hi = a->lo + st;
}

static void ticks_y(FILE *f, const axis *y, double x0, double x1)
{
    if (y->log) {
        for (double e = y->lo; e <= y->hi + 1e-9; e++) {
            for (int m = 1; m <= 5; m += (m == 1 ? 1 : 3)) {
                double v = m * pow(10, e);
                if (log10(v) > y->hi + 1e-9) break;
                double p = px(y, v);
                char lab[32];
                fmt_num(lab, sizeof lab, v);
                fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                        x0, p, x1, p);
                fprintf(f,
                        "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                        x0 - 6, p + 4, lab);
            }
        }
        return;
    }
    double st = nice_step(y->hi - y->lo, 5);
    for (double v = y->lo; v <= y->hi + st * 1e-6; v += st) {
        double p = px(y, v);
        char lab[32];
        fmt_num(lab, sizeof lab, fabs(v) < st * 1e-9 ? 0 : v);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x0, p,
                x1, p);
        fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                x0 - 6, p + 4, lab);
    }
}

static void tick_x(FILE *f, const axis *x, double v, const char *lab, double y0)
{
    double p = px(x, v);
    fprintf(f, "<line class=\"xtick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", p, y0, p,
            y0 + 5);
    fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", p, y0 + 18);
    svg_escape(f, lab);
    fputs("</text>", f);
}

static void ticks_x(FILE *f, const svg_chart *c, const axis *x, double y0)
{
    if (c->xticks) {
        for (int i = 0; i < c->nxticks; i++)
            if (tr(c->xticks[i].v, x->log) >= x->lo - 1e-9 &&
                tr(c->xticks[i].v, x->log) <= x->hi + 1e-9)
                tick_x(f, x, c->xticks[i].v, c->xticks[i].label, y0);
        return;
    }
    char lab[32];
    if (x->log) {
        for (double e = x->lo; e <= x->hi + 1e-9; e++) {
            fmt_num(lab, sizeof lab, pow(10, e));
            tick_x(f, x, pow(10, e), lab, y0);
        }
        return;
    }
    double st = nice_step(x->hi - x->lo, 8);
    for (double v = x->lo; v <= x->hi + st * 1e-6; v += st) {
        fmt_num(lab, sizeof lab, fabs(v) < st * 1e-9 ? 0 : v);
        tick_x(f, x, v, lab, y0);
    }
}

static void series_path(FILE *f, const svg_chart *c, const svg_series *s, const axis *x,
                        const axis *y, int idx)
{
    fprintf(f, "<path class=\"series%s\" data-series=\"%d\" data-name=\"", s->area ? " area" : "",
            idx);
    svg_escape(f, s->name);
    fprintf(f, "\" stroke=\"%s\" fill=\"%s\"%s%s d=\"", s->color, s->area ? s->color : "none",
            s->dashed ? " stroke-dasharray=\"6 4\"" : "", s->area ? " fill-opacity=\"0.35\"" : "");
    int pen = 0;
    double first_x = 0, last_x = 0;
    double base = y->p0;
    for (int i = 0; i < s->n; i++) {
        if (!usable(s->x[i], c->logx) || !usable(s->y[i], c->logy)) {
            if (s->area && pen) fprintf(f, " L%.1f,%.1f L%.1f,%.1f Z", last_x, base, first_x, base);
            pen = 0;
            continue;
        }
        double X = px(x, s->x[i]), Y = px(y, s->y[i]);
        if (!pen) {
            if (s->area) {
                fprintf(f, "M%.1f,%.1f L%.1f,%.1f", X, base, X, Y);
            } else {
                fprintf(f, "M%.1f,%.1f", X, Y);
            }
            first_x = X;
            pen = 1;
        } else {
            fprintf(f, " L%.1f,%.1f", X, Y);
        }
        last_x = X;
    }
    if (s->area && pen) fprintf(f, " L%.1f,%.1f L%.1f,%.1f Z", last_x, base, first_x, base);
    fputs("\"/>", f);
    int usable_points = 0;
    for (int i = 0; i < s->n; i++)
        usable_points += usable(s->x[i], c->logx) && usable(s->y[i], c->logy);
    if (!s->markers && usable_points > 2) return; /* a short series gets markers to be seen */
    for (int i = 0; i < s->n; i++) {
        if (!usable(s->x[i], c->logx) || !usable(s->y[i], c->logy)) continue;
        fprintf(f,
                "<circle class=\"point\" data-series=\"%d\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" "
                "fill=\"%s\"/>",
                idx, px(x, s->x[i]), px(y, s->y[i]), s->color);
    }
}

void svg_chart_write(FILE *f, const svg_chart *c)
{
    fprintf(f,
            "<svg class=\"chart\" id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "
            "%.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\">",
            c->id, W, H, W, H);
    fputs("<title>", f);
    svg_escape(f, c->title);
    fputs("</title>", f);
    fprintf(f, "<text class=\"ctitle\" x=\"%.1f\" y=\"20\">", ML);
    svg_escape(f, c->title);
    fputs("</text>", f);
    double xl, xh, yl, yh;
    int any = range(c, 1, c->logx, &xl, &xh) && range(c, 0, c->logy, &yl, &yh);
    if (!any) {
        fprintf(f,
                "<text class=\"nodata\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no "
                "data</text></svg>\n",
                W / 2, H / 2);
        return;
    }
    axis x = {0}, y = {0};
    setup_axis(&x, xl, xh, c->logx, c->xmin0);
    setup_axis(&y, yl, yh, c->logy, c->ymin0);
    if (!c->logx && !c->xticks && !c->xmin0) {
        x.lo = xl; /* time axes start where the data does */
        x.hi = xh > xl ? xh : xl + 1;
    }
    x.p0 = ML;
    x.p1 = W - MR;
    y.p0 = H - MB;
    y.p1 = MT;
    /* bands below everything */
    for (int b = 0; b < c->nbands; b++) {
        const svg_band *bd = &c->bands[b];
        if (!usable(bd->x0, c->logx) || !usable(bd->x1, c->logx)) continue;
        double x0 = px(&x, bd->x0), x1 = px(&x, bd->x1);
        fprintf(f,
                "<rect class=\"band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                "fill=\"%s\" fill-opacity=\"0.12\">",
                x0, MT, x1 - x0 > 0 ? x1 - x0 : 0, H - MB - MT, bd->color);
        if (bd->label) {
            fputs("<title>", f);
            svg_escape(f, bd->label);
            fputs("</title>", f);
        }
        fputs("</rect>", f);
        if (b > 0)
            fprintf(f,
                    "<line class=\"edge\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                    "stroke=\"#9aa3ad\" stroke-dasharray=\"2 3\"/>",
                    x0, MT, x0, H - MB);
    }
    ticks_y(f, &y, ML, W - MR);
    ticks_x(f, c, &x, H - MB);
    fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", ML, H - MB,
            W - MR, H - MB);
    fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", ML, MT, ML,
            H - MB);
    fprintf(f, "<text class=\"alabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
            (ML + W - MR) / 2, H - 8);
    svg_escape(f, c->xlabel);
    fprintf(f,
            "</text><text class=\"alabel\" transform=\"translate(16,%.1f) rotate(-90)\" "
            "text-anchor=\"middle\">",
            (MT + H - MB) / 2);
    svg_escape(f, c->ylabel);
    fputs("</text>", f);
    for (int s = 0; s < c->nseries; s++)
        series_path(f, c, &c->series[s], &x, &y, s);
    /* legend, right-aligned on the title line */
    double lx = W - MR;
    for (int s = c->nseries - 1; s >= 0; s--) {
        double wtext = 7.0 * (double)strlen(c->series[s].name) + 28;
        lx -= wtext;
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"16\" x2=\"%.1f\" y2=\"16\" stroke=\"%s\" "
                "stroke-width=\"3\"%s/>",
                lx, lx + 16, c->series[s].color,
                c->series[s].dashed ? " stroke-dasharray=\"4 3\"" : "");
        fprintf(f, "<text class=\"legend\" x=\"%.1f\" y=\"20\">", lx + 20);
        svg_escape(f, c->series[s].name);
        fputs("</text>", f);
    }
    fputs("</svg>\n", f);
}
