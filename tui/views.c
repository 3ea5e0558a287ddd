/* views.c: the top-level views, one per number key (SPEC.md §4). A view that is not in this
 * build has no constructor: its key says so instead of opening it. Each entry is one line, so
 * a new view is added here and nowhere else in the shell. */
#include "views.h"

/* clang-format off */
const struct top_view top_views[N_TOP] = {
        {"nodes", view_nodes_create},
        {"guests", view_guests_create},
        {"pods", view_pods_create},
        {"chat", view_chat_create},
        {"deploy", view_deploy_create},
        {"jobs", view_jobs_create},
        {"hosts", view_hosts_create},
        {"topology", view_topology_create},
};
/* clang-format on */
