/* policy.c - GPU dispatch policies (see policy.h).
 *
 * Each kind is one short scan over the queue summaries; n is the number of
 * models placed on a GPU (a handful), so O(n) per decision is nothing next
 * to an inference.  Scans use strict comparisons, which is what makes ties
 * go to the lowest index.
 */
#include "control/policy.h"

#include <math.h>
#include <string.h>

#include "common/rng.h"

static const char *const policy_names[] = {
    [ROMA_POLICY_ROMA] = "roma",
    [ROMA_POLICY_EDF] = "edf",
    [ROMA_POLICY_LONGEST_QUEUE] = "longest-queue",
    [ROMA_POLICY_ROUND_ROBIN] = "round-robin",
    [ROMA_POLICY_RANDOM] = "random",
    [ROMA_POLICY_COST_AWARE] = "cost-aware",
};

#define POLICY_KINDS (sizeof(policy_names) / sizeof(policy_names[0]))

void roma_policy_init(roma_policy *p, roma_policy_kind kind, uint64_t seed) {
    p->kind = kind;
    p->rr_next = 0;
    p->rng = seed;
}

/* Uniform in [0, bound), bound > 0.  Rejects the top sliver of the 64-bit
 * range that `% bound` would otherwise favour; it almost never loops. */
static uint64_t uniform_below(uint64_t *state, uint64_t bound) {
    uint64_t reject_below = (0 - bound) % bound; /* 2^64 mod bound */
    for (;;) {
        uint64_t x = roma_rng_next(state);
        if (x >= reject_below) return x % bound;
    }
}

double roma_policy_estimate(const roma_policy_queue *q, double now) {
    /* mean of (now - arrival + profiled) over the queue, from the sum */
    double queued = now - q->sum_arrival / (double)q->queue_len + q->profiled;
    if (q->recent_rt_mean < 0) return queued;
    return 0.5 * queued + 0.5 * q->recent_rt_mean;
}

double roma_policy_need(const roma_policy_queue *q, double now) {
    if (q->queue_len == 0) return 0;
    double est = roma_policy_estimate(q, now);
    if (est < q->sla * (1 - q->alpha)) return 0;
    return est - q->sla + q->alpha * q->sla;
}

static int pick_longest(const roma_policy_queue *queues, size_t n) {
    int best = -1;
    for (size_t i = 0; i < n; i++)
        if (queues[i].queue_len > 0 && (best < 0 || queues[i].queue_len > queues[best].queue_len))
            best = (int)i;
    return best;
}

/* Largest need wins; when no queue is in danger (every need 0) the longest
 * queue is served, which drains backlog without favouring any SLA. */
static int pick_roma(const roma_policy_queue *queues, size_t n, double now) {
    int best = -1;
    double best_need = 0;
    for (size_t i = 0; i < n; i++) {
        double need = roma_policy_need(&queues[i], now);
        if (need > best_need) {
            best = (int)i;
            best_need = need;
        }
    }
    return best >= 0 ? best : pick_longest(queues, n);
}

static int pick_edf(const roma_policy_queue *queues, size_t n) {
    int best = -1;
    double best_deadline = 0;
    for (size_t i = 0; i < n; i++) {
        if (queues[i].queue_len == 0) continue;
        double deadline = queues[i].oldest_arrival + queues[i].sla;
        if (best < 0 || deadline < best_deadline) {
            best = (int)i;
            best_deadline = deadline;
        }
    }
    return best;
}

/* The GPU where it saves the most CPU: a queue without a known CPU cost
 * has nowhere else to go, so those come first (edf among them); then the
 * largest cpu_cost / profiled: under overload each GPU second then replaces
 * the most core-seconds, which is meant to serve the most requests in total
 * (on paper.yaml it did better than edf: experiments/README.md), and the
 * CPU workers take the rest. */
static int pick_cost_aware(const roma_policy_queue *queues, size_t n) {
    int best = -1;
    double best_key = 0;
    for (size_t i = 0; i < n; i++) { /* no CPU cost known: by earliest deadline */
        if (queues[i].queue_len == 0 || queues[i].cpu_cost > 0) continue;
        double deadline = queues[i].oldest_arrival + queues[i].sla;
        if (best < 0 || deadline < best_key) best = (int)i, best_key = deadline;
    }
    if (best >= 0) return best;
    for (size_t i = 0; i < n; i++) { /* then the largest saving */
        if (queues[i].queue_len == 0) continue;
        double saving = queues[i].profiled > 0 ? queues[i].cpu_cost / queues[i].profiled : INFINITY;
        if (best < 0 || saving > best_key) best = (int)i, best_key = saving;
    }
    return best;
}

/* The cursor is taken modulo n so that a caller whose model count shrank
 * (a model unloaded) still gets a valid start. */
static int pick_round_robin(roma_policy *p, const roma_policy_queue *queues, size_t n) {
    size_t start = p->rr_next % n;
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        if (queues[i].queue_len > 0) {
            p->rr_next = (i + 1) % n;
            return (int)i;
        }
    }
    return -1;
}

static int pick_random(roma_policy *p, const roma_policy_queue *queues, size_t n) {
    size_t nonempty = 0;
    for (size_t i = 0; i < n; i++) nonempty += queues[i].queue_len > 0;
    if (nonempty == 0) return -1;
    uint64_t k = uniform_below(&p->rng, nonempty);
    for (size_t i = 0; i < n; i++)
        if (queues[i].queue_len > 0 && k-- == 0) return (int)i;
    return -1; /* unreachable: k < nonempty */
}

int roma_policy_pick(roma_policy *p, const roma_policy_queue *queues, size_t n, double now) {
    if (n == 0) return -1;
    switch (p->kind) {
    case ROMA_POLICY_ROMA: return pick_roma(queues, n, now);
    case ROMA_POLICY_EDF: return pick_edf(queues, n);
    case ROMA_POLICY_COST_AWARE: return pick_cost_aware(queues, n);
    case ROMA_POLICY_LONGEST_QUEUE: return pick_longest(queues, n);
    case ROMA_POLICY_ROUND_ROBIN: return pick_round_robin(p, queues, n);
    case ROMA_POLICY_RANDOM: return pick_random(p, queues, n);
    }
    return pick_longest(queues, n); /* not a kind: still serve someone */
}

roma_code roma_policy_parse(const char *name, roma_policy_kind *kind) {
    for (size_t i = 0; name && i < POLICY_KINDS; i++) {
        if (strcmp(name, policy_names[i]) == 0) {
            *kind = (roma_policy_kind)i;
            return ROMA_OK;
        }
    }
    return ROMA_INVALID_ARGUMENT;
}

const char *roma_policy_name(roma_policy_kind kind) {
    if ((size_t)kind >= POLICY_KINDS) return "unknown";
    return policy_names[kind];
}

/* ---- cost-aware dispatch ------------------------------------------------- */

double roma_fastest_finish(const roma_device_load *d) {
    if (!(d->rate > 0) || !(d->lane > 0)) return INFINITY;
    double alone = d->service / d->lane, drained = (d->work_ahead + d->service) / d->rate;
    return alone > drained ? alone : drained;
}

int roma_fastest_pick(const roma_device_load *devices, size_t n) {
    int best = -1;
    double best_finish = INFINITY;
    for (size_t i = 0; i < n; i++) {
        double finish = roma_fastest_finish(&devices[i]);
        if (best < 0 || finish < best_finish) {
            best = (int)i;
            best_finish = finish;
        }
    }
    return best;
}

int roma_cost_cpu_takes(const roma_cost_split *v) {
    if (!(v->gpus > 0) || !(v->cpu_service > 0)) return 1;
    roma_device_load dev[2] = {
        {.service = v->gpu_service, .work_ahead = v->gpu_work, .rate = v->gpus, .lane = 1},
        {.service = v->cpu_service, .work_ahead = (double)v->cpu_held * v->cpu_service,
         .rate = v->cpu_cores, .lane = fmin(v->cpu_cores, 1)},
    };
    return roma_fastest_pick(dev, 2) == 1;
}

/* ---- recent response times ---------------------------------------------- */

void roma_rt_ring_init(roma_rt_ring *r) {
    memset(r, 0, sizeof(*r));
}

void roma_rt_ring_push(roma_rt_ring *r, double rt) {
    r->rt[r->next] = rt;
    r->next = (r->next + 1) % ROMA_RT_RING_CAP;
    if (r->count < ROMA_RT_RING_CAP) r->count++;
}

/* Sums the ring each time instead of keeping a running sum: 50 additions
 * per decision are free, and a running sum that adds and subtracts forever
 * drifts. */
double roma_rt_ring_mean(const roma_rt_ring *r) {
    if (r->count == 0) return -1;
    double sum = 0;
    for (size_t i = 0; i < r->count; i++) sum += r->rt[i];
    return sum / (double)r->count;
}
