/* client.h - the Kubernetes API client of `roma serve` in cluster mode:
 * worker pods in, resize requests out.
 *
 * The client runs on a thread of its own (libcurl, never on the caller's
 * event loop).  It lists the pods matching a label selector, then watches
 * them from the list's resourceVersion with bookmarks; a stream that drops
 * is resumed from the last resourceVersion seen, and an expired one (410
 * Gone, as an HTTP status or a watch ERROR event) is listed again.  Resize
 * requests are PATCHes of pods/<name>/resize, one in flight per pod, a newer
 * request for a pod replacing one not yet sent.  When the API server cannot
 * be reached the client says so once (K8S_UPDATE_API_DOWN), retries with a
 * back-off from 0.25 s doubling to 8 s, and says when it is back.
 *
 * Everything it learns is queued as k8s_update records for the owner's
 * thread, which waits for k8s_client_fd to become readable (an event on its
 * loop) and takes them with k8s_client_take: the owner never blocks on the
 * API server.  The bearer token is read from its file for every request,
 * so a rotated token is picked up.
 */
#ifndef ROMA_K8S_CLIENT_H
#define ROMA_K8S_CLIENT_H

#include "common/status.h"
#include "k8s/pod.h"
#include "k8s/resize.h"

typedef struct k8s_client k8s_client;

typedef struct {
    const char *api_server;     /* "https://host:port"; NULL: KUBERNETES_SERVICE_HOST/_PORT */
    const char *namespace_name;
    const char *token_file;     /* bearer token; a missing file means no Authorization */
    const char *ca_file;        /* CA bundle for the API server; missing: the system's */
    int insecure_http;          /* allows an http:// api_server */
    const char *selector;       /* label selector of the pods to watch */
} k8s_client_config;

typedef enum {
    K8S_UPDATE_LIST_BEGIN, /* a (re-)list: the pods that follow until LIST_END are all there are */
    K8S_UPDATE_POD,        /* a pod was added or changed: pod */
    K8S_UPDATE_POD_GONE,   /* a pod was deleted: pod (as last seen) */
    K8S_UPDATE_LIST_END,   /* pods not given since LIST_BEGIN no longer exist */
    K8S_UPDATE_RESIZED,    /* a resize request's answer: ask, and pod.name */
    K8S_UPDATE_API_DOWN,   /* the API server cannot be reached: message */
    K8S_UPDATE_API_UP,     /* it answers again */
} k8s_update_kind;

typedef struct k8s_update {
    k8s_update_kind kind;
    k8s_pod pod;
    k8s_resize_ask ask;
    char message[K8S_MESSAGE_CAP];
    struct k8s_update *next;
} k8s_update;

/* The API server's URL: cfg->api_server, else https://$KUBERNETES_SERVICE_HOST:
 * $KUBERNETES_SERVICE_PORT.  ROMA_INVALID_ARGUMENT with a fix when neither
 * is there, or the URL is plain http:// without insecure_http. */
roma_code k8s_client_api_url(const k8s_client_config *cfg, char *url, size_t cap, roma_err *err);

/* Starts the client thread (it copies cfg).  NULL with err set when the
 * API server's URL cannot be made (k8s_client_api_url) or the thread or
 * libcurl cannot start.  Call from the owner's thread. */
k8s_client *k8s_client_start(const k8s_client_config *cfg, roma_err *err);

/* A descriptor that is readable while updates wait to be taken. */
int k8s_client_fd(const k8s_client *c);

/* Takes every waiting update, oldest first: a list the caller frees with
 * k8s_updates_free; NULL when none.  Owner's thread. */
k8s_update *k8s_client_take(k8s_client *c);
void k8s_updates_free(k8s_update *u);

/* Queues a resize of pod's container worker to cores (requests = limits).
 * Any thread; never blocks on the API. */
void k8s_client_resize(k8s_client *c, const char *pod, double cores);

/* Stops the thread, drops what was not sent, frees c.  Owner's thread. */
void k8s_client_stop(k8s_client *c);

#endif
