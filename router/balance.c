/* balance: replica choice. Pure functions over a candidate array so that policies can be
 * tested without a grid. */
#include "balance.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

rtr_policy_t
rtr_policy_parse (const char *name)
{
    if (!name)
        return RTR_POLICY_ROUND_ROBIN;
    char norm[32];
    size_t j = 0;
    for (const char *p = name; *p && j < sizeof norm - 1; p++)
        if (*p != '-' && *p != '_' && *p != ' ')
            norm[j++] = *p;
    norm[j] = 0;
    if (!strcasecmp (norm, "random"))
        return RTR_POLICY_RANDOM;
    if (!strcasecmp (norm, "ordered"))
        return RTR_POLICY_ORDERED;
    if (!strcasecmp (norm, "adaptive"))
        return RTR_POLICY_ADAPTIVE;
    return RTR_POLICY_ROUND_ROBIN;
}

const char *
rtr_policy_name (rtr_policy_t policy)
{
    switch (policy) {
    case RTR_POLICY_RANDOM: return "random";
    case RTR_POLICY_ORDERED: return "ordered";
    case RTR_POLICY_ADAPTIVE: return "adaptive";
    default: return "round-robin";
    }
}

/* Pick among candidates that are not excluded and whose down flag equals want_down. */
static int
pick_among (rtr_policy_t policy, const rtr_candidate_t *c, int n, bool want_down, unsigned *rr, unsigned *seed)
{
    int eligible = 0;
    for (int i = 0; i < n; i++)
        if (!c[i].excluded && c[i].down == want_down)
            eligible++;
    if (eligible == 0)
        return -1;
    int best = -1;
    switch (policy) {
    case RTR_POLICY_RANDOM: {
        int k = (int) (rand_r (seed) % (unsigned) eligible);
        for (int i = 0; i < n; i++)
            if (!c[i].excluded && c[i].down == want_down && k-- == 0)
                return i;
        return -1;
    }
    case RTR_POLICY_ORDERED:
        for (int i = 0; i < n; i++)
            if (!c[i].excluded && c[i].down == want_down && (best < 0 || c[i].priority < c[best].priority))
                best = i;
        return best;
    case RTR_POLICY_ADAPTIVE: {
        /* The registry's load is up to a second old; our own outstanding requests make the
         * choice react within that second (each one counts like 1 % of a busy server). */
        double best_score = 0;
        unsigned start = (*rr)++;
        for (int k = 0; k < n; k++) {
            int i = (int) ((start + (unsigned) k) % (unsigned) n);
            if (c[i].excluded || c[i].down != want_down)
                continue;
            double score = c[i].load + 0.01 * c[i].inflight;
            if (best < 0 || score < best_score) {
                best = i;
                best_score = score;
            }
        }
        return best;
    }
    default: {
        unsigned start = (*rr)++;
        for (int k = 0; k < n; k++) {
            int i = (int) ((start + (unsigned) k) % (unsigned) n);
            if (!c[i].excluded && c[i].down == want_down)
                return i;
        }
        return -1;
    }
    }
}

int
rtr_balance_pick (rtr_policy_t policy, const rtr_candidate_t *cand, int n, unsigned *rr, unsigned *seed)
{
    if (!cand || n <= 0)
        return -1;
    int i = pick_among (policy, cand, n, false, rr, seed);
    return i >= 0 ? i : pick_among (policy, cand, n, true, rr, seed);
}
