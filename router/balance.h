/* balance: choosing one replica of a service for a request, by the load-balancing policy the
 * registry returns with a lookup (IceGrid's round-robin, random, ordered and adaptive). */
#ifndef RTR_BALANCE_H
#define RTR_BALANCE_H
#include <stdbool.h>

typedef enum {
    RTR_POLICY_ROUND_ROBIN = 0,
    RTR_POLICY_RANDOM,
    RTR_POLICY_ORDERED,
    RTR_POLICY_ADAPTIVE,
} rtr_policy_t;

/* One replica as the balancer sees it. */
typedef struct {
    const char *id;         /* server id ("Blitz-0") */
    double load;            /* load the registry reported (0 = idle) */
    int priority;           /* smaller first, for the ordered policy (list order breaks ties) */
    int inflight;           /* requests this router has outstanding on it */
    bool down;              /* recently failed; used only when nothing else is left */
    bool excluded;          /* already tried for this request; never chosen again */
} rtr_candidate_t;

/* Parse a policy name ("round-robin", "RoundRobin", "random", "ordered", "adaptive");
 * unknown or NULL names give round-robin. */
rtr_policy_t rtr_policy_parse (const char *name);
/* Name of a policy. */
const char *rtr_policy_name (rtr_policy_t policy);
/* Index of the chosen candidate, or -1 when every candidate is excluded. Candidates marked
 * down are chosen only when no healthy one is left. rr is the service's round-robin counter,
 * seed the random state (both updated). */
int rtr_balance_pick (rtr_policy_t policy, const rtr_candidate_t *cand, int n, unsigned *rr, unsigned *seed);
#endif
