/* The escalation policy of an edge detector, as a pure function: a query's
 * inputs, its confidence, a uniform draw and the rate limiter's verdict in;
 * what happens to the query out. No I/O, no clock, no randomness of its
 * own: tests/serve/test_edge_policy.c checks every combination.
 *
 * The rules are the Groundlight edge endpoint's (docs/edge.md):
 *   - an escalating detector sends the query straight up when the client
 *     asks for an asynchronous answer or human review ALWAYS (DIRECT, even
 *     with human review NEVER when asynchronous);
 *   - otherwise, unless human review is NEVER, a confident answer is
 *     audited with probability audit_rate (AUDIT) and an unconfident one is
 *     escalated (UNCONFIDENT) — with always_return_edge_prediction only as
 *     often as min_time_between_escalations lets it (RATE_LIMITED);
 *   - with no model ready, the query goes up without a local answer
 *     (DIRECT or NOT_READY) unless the preset returns edge answers only
 *     (REFUSE: the client gets 503).
 */
#ifndef GLINT_SERVE_EDGE_POLICY_H
#define GLINT_SERVE_EDGE_POLICY_H

typedef enum edge_review { EDGE_REVIEW_DEFAULT, EDGE_REVIEW_ALWAYS, EDGE_REVIEW_NEVER } edge_review;

typedef enum edge_decision {
    EDGE_KEEP,         /* the local answer stands; nothing goes up */
    EDGE_AUDIT,        /* confident; the answer stands and goes up for audit */
    EDGE_UNCONFIDENT,  /* unconfident: goes up; the answer stands meanwhile */
    EDGE_DIRECT,       /* the client asked for the upstream's answer */
    EDGE_RATE_LIMITED, /* unconfident, not escalated (min_time_between_escalations) */
    EDGE_NOT_READY,    /* no local model: goes up without a local answer */
    EDGE_REFUSE,       /* no local model and nowhere to send it: 503 */
    EDGE_DECISION_COUNT
} edge_decision;

typedef struct edge_policy_input {
    int can_escalate;   /* an upstream, an outbox, escalation not disabled */
    int want_async;     /* the client's want_async */
    edge_review review; /* the client's human_review */
    int always_return;  /* the preset's always_return_edge_prediction */
    double confidence;  /* of the local answer */
    double threshold;   /* the query's confidence threshold */
    double audit_rate;  /* confident answers audited, 0..1 */
    double draw;        /* uniform in [0, 1) */
    int rate_allowed;   /* the rate limiter would let an escalation through now */
} edge_policy_input;

/* What happens to a query answered locally: KEEP, AUDIT, UNCONFIDENT,
 * DIRECT or RATE_LIMITED. */
edge_decision edge_policy_answered(const edge_policy_input *in);

/* What happens to a query with no ready local model (confidence, draw and
 * rate_allowed are not read): DIRECT, NOT_READY or REFUSE. */
edge_decision edge_policy_no_model(const edge_policy_input *in);

/* 1 if the decision sends the query up. */
int edge_decision_escalates(edge_decision d);

/* 1 if the query is done (its answer final) when it is answered: nothing
 * goes up, or only an audit. */
int edge_decision_done(edge_decision d);

/* "keep", "audit", "unconfident", "direct", "rate_limited", "not_ready",
 * "refuse". */
const char *edge_decision_name(edge_decision d);

/* The confidence of an answer weighed by its out-of-domain probability, as
 * the original edge endpoint does: p_out * chance + (1 - p_out) * confidence,
 * where chance is 1 / the number of possible answers (0 for bounding
 * boxes). p_out and confidence are clamped to [0, 1]. */
double edge_policy_oodd(double confidence, double p_out, double chance);

#endif
