/* nodes.c - the controller once per Kubernetes node (see nodes.h).
 *
 * O(n^2) string compares to group: n is the number of models, tens at most,
 * run once a control period. */
#include "k8s/nodes.h"

#include <string.h>

size_t k8s_nodes_group(const char *const *node_of, size_t n, size_t *group_of) {
    size_t groups = 0;
    for (size_t i = 0; i < n; i++) {
        group_of[i] = K8S_NO_GROUP;
        if (!node_of[i] || !node_of[i][0]) continue;
        for (size_t j = 0; j < i && group_of[i] == K8S_NO_GROUP; j++)
            if (group_of[j] != K8S_NO_GROUP && strcmp(node_of[j], node_of[i]) == 0) group_of[i] = group_of[j];
        if (group_of[i] == K8S_NO_GROUP) group_of[i] = groups++;
    }
    return groups;
}

void k8s_nodes_update(roma_ctl_kind kind, const roma_ctl_params *p, roma_ctl_model *models, size_t n,
                      const char *const *node_of, const double *node_cpus, roma_ctl_model *scratch,
                      size_t *group_of) {
    size_t groups = k8s_nodes_group(node_of, n, group_of);
    for (size_t g = 0; g < groups; g++) {
        size_t k = 0;
        double cpus = 0;
        for (size_t i = 0; i < n; i++)
            if (group_of[i] == g) {
                if (k == 0) cpus = node_cpus[i];
                scratch[k++] = models[i];
            }
        roma_ctl_update(kind, p, scratch, k, cpus);
        k = 0;
        for (size_t i = 0; i < n; i++)
            if (group_of[i] == g) models[i] = scratch[k++];
    }
}
