/* The escalation policy of an edge detector (see edge_policy.h). */
#include "serve/edge/edge_policy.h"

edge_decision edge_policy_answered(const edge_policy_input *in)
{
    if (!in->can_escalate) return EDGE_KEEP;
    if (in->want_async || in->review == EDGE_REVIEW_ALWAYS) return EDGE_DIRECT;
    if (in->review == EDGE_REVIEW_NEVER) return EDGE_KEEP;
    if (in->confidence >= in->threshold) return in->draw < in->audit_rate ? EDGE_AUDIT : EDGE_KEEP;
    if (in->always_return && !in->rate_allowed) return EDGE_RATE_LIMITED;
    return EDGE_UNCONFIDENT;
}

edge_decision edge_policy_no_model(const edge_policy_input *in)
{
    if (!in->can_escalate || in->always_return) return EDGE_REFUSE;
    return in->want_async || in->review == EDGE_REVIEW_ALWAYS ? EDGE_DIRECT : EDGE_NOT_READY;
}

int edge_decision_escalates(edge_decision d)
{
    switch (d) {
    case EDGE_AUDIT:
    case EDGE_UNCONFIDENT:
    case EDGE_DIRECT:
    case EDGE_NOT_READY:
        return 1;
    case EDGE_KEEP:
    case EDGE_RATE_LIMITED:
    case EDGE_REFUSE:
    case EDGE_DECISION_COUNT:
        return 0;
    }
    return 0;
}

int edge_decision_done(edge_decision d)
{
    return !edge_decision_escalates(d) || d == EDGE_AUDIT;
}

const char *edge_decision_name(edge_decision d)
{
    switch (d) {
    case EDGE_KEEP:
        return "keep";
    case EDGE_AUDIT:
        return "audit";
    case EDGE_UNCONFIDENT:
        return "unconfident";
    case EDGE_DIRECT:
        return "direct";
    case EDGE_RATE_LIMITED:
        return "rate_limited";
    case EDGE_NOT_READY:
        return "not_ready";
    case EDGE_REFUSE:
        return "refuse";
    case EDGE_DECISION_COUNT:
        break;
    }
    return "?";
}

static double clamp01(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

double edge_policy_oodd(double confidence, double p_out, double chance)
{
    p_out = clamp01(p_out);
    return p_out * clamp01(chance) + (1 - p_out) * clamp01(confidence);
}
