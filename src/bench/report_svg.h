/* Inline SVG line/area charts for report.html: axes with "nice" ticks
 * (linear or log10), optional shaded x-bands, a legend, and one <path
 * class="series"> per data series (plus <circle class="point"> markers
 * when asked). No script, no fonts, no network: the markup stands alone.
 *
 * A NaN y (or x) breaks a line. Points outside a log axis's domain (<= 0)
 * are skipped. Output goes to a FILE; nothing is kept.
 */
#ifndef GLINT_BENCH_REPORT_SVG_H
#define GLINT_BENCH_REPORT_SVG_H

#include <stdio.h>

typedef struct svg_series {
    const char *name;
    const char *color; /* CSS colour */
    const double *x, *y;
    int n;
    int dashed;
    int markers; /* draw a circle at every point */
    int area;    /* fill down to the x axis (histograms) */
} svg_series;

typedef struct svg_band {
    double x0, x1;
    const char *color; /* fill, drawn translucent */
    const char *label; /* <title> tooltip, may be NULL */
} svg_band;

typedef struct svg_tick {
    double v;
    const char *label;
} svg_tick;

typedef struct svg_chart {
    const char *id; /* element id */
    const char *title, *xlabel, *ylabel;
    int logx, logy;
    const svg_series *series;
    int nseries;
    const svg_band *bands;
    int nbands;
    const svg_tick *xticks; /* custom x ticks, or NULL for automatic */
    int nxticks;
    double ymin0; /* 1: the y axis starts at 0 (linear) */
    int xmin0;    /* 1: the x axis starts at 0 with round ticks (linear); 0: where the data
                     does (time axes) */
} svg_chart;

/* Writes the chart as an <svg class="chart"> element. */
void svg_chart_write(FILE *f, const svg_chart *c);

/* Writes s with &, <, >, " escaped. */
void svg_escape(FILE *f, const char *s);

#endif
