/* nodes.h - the control period of a cluster, one Kubernetes node at a time.
 *
 * Node normalisation (control/controller.h) keeps the cores of one
 * machine within what that machine may hand out.  In a cluster the CPU
 * workers of different models run on different nodes, so the controller
 * runs once per node, over the models whose CPU worker pod is there
 * (spec.nodeName), with that node's cores.  A model whose pod is not
 * scheduled (or not known) is left out and keeps its cores.
 *
 * Pure: no I/O, no clock, no globals, no allocation.
 */
#ifndef ROMA_K8S_NODES_H
#define ROMA_K8S_NODES_H

#include <stddef.h>
#include <stdint.h>

#include "control/controller.h"

#define K8S_NO_GROUP SIZE_MAX

/* Groups n models by node: group_of[i] is the index of model i's node in
 * order of first appearance (0, 1, ...), or K8S_NO_GROUP when node_of[i] is
 * NULL or "".  Returns the number of groups. */
size_t k8s_nodes_group(const char *const *node_of, size_t n, size_t *group_of);

/* One control period: roma_ctl_update(kind, p, ..., node_cpus[i]) over each
 * group of models on one node, as if that node were the only one; models
 * in no group are untouched.  node_cpus[i] is the cores of model i's node
 * (the same for every model of a group; the first one counts).  scratch
 * and group_of hold n entries each, the caller's. */
void k8s_nodes_update(roma_ctl_kind kind, const roma_ctl_params *p, roma_ctl_model *models, size_t n,
                      const char *const *node_of, const double *node_cpus, roma_ctl_model *scratch,
                      size_t *group_of);

#endif
