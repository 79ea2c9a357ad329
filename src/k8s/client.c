/* client.c - the Kubernetes API client thread (see client.h).
 *
 * One thread drives one libcurl multi handle holding at most one list or
 * watch transfer and one resize PATCH per pod.  The watch body is read as
 * it streams: every complete line is one event, handled at once, so a pod
 * change reaches the owner within a poll of its arrival (no waiting for the
 * stream to end).  The thread sleeps in curl_multi_poll; a new resize
 * request or a stop wakes it (curl_multi_wakeup).
 *
 * Locking: `lock` guards the update queue (thread -> owner) and the resize
 * requests (owner -> thread); everything else belongs to the thread.
 */
#include "k8s/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/file.h"
#include "common/log.h"

#define MAX_RESIZES 256          /* pods with a resize waiting or in flight */
#define BACKOFF_MIN_S 0.25
#define BACKOFF_MAX_S 8.0
#define WATCH_TIMEOUT_S 300      /* the API server ends a watch after this; we reconnect */
#define REQUEST_TIMEOUT_S 15     /* a list or a PATCH that takes longer is a failure */

typedef enum { XFER_LIST, XFER_WATCH, XFER_PATCH } xfer_kind;

typedef struct {
    xfer_kind kind;
    k8s_client *owner;
    double started;              /* monotonic seconds */
    CURL *easy;
    struct curl_slist *headers;
    roma_buf body;               /* the answer (list, PATCH) or the unread part of the stream */
    char *patch;                 /* PATCH body */
    int resize;                  /* PATCH: index in resizes[] */
    double cores;                /* PATCH: the cores it asks */
    char error[CURL_ERROR_SIZE];
} xfer;

typedef struct {
    char pod[K8S_NAME_CAP];
    double cores;                /* waiting to be sent; 0: nothing waiting */
    xfer *inflight;
} resize_slot;

struct k8s_client {
    char url[512], ns[K8S_NAME_CAP], selector[256], token_file[4096], ca_file[4096];
    int insecure_http;
    pthread_t thread;
    CURLM *multi;
    int pipe_fd[2];
    pthread_mutex_t lock;        /* guards: updates, resizes[].pod/.cores, stopping */
    k8s_update *head, *tail;
    resize_slot resizes[MAX_RESIZES];
    int stopping;
    /* the thread's own */
    xfer *stream;                /* the list or the watch, or NULL */
    char rv[K8S_RV_CAP];         /* last resourceVersion seen; "" before the first list */
    int need_list;
    int api_down;
    double backoff, retry_at;
};

/* ---- the update queue (thread -> owner) --------------------------------- */

static k8s_update *update_new(k8s_update_kind kind) {
    k8s_update *u = calloc(1, sizeof(*u));
    if (!u) abort();
    u->kind = kind;
    u->pod.gpu = -1;
    return u;
}

static void push(k8s_client *c, k8s_update *u) {
    pthread_mutex_lock(&c->lock);
    if (c->tail) c->tail->next = u;
    else c->head = u;
    c->tail = u;
    pthread_mutex_unlock(&c->lock);
    char byte = 1;
    if (write(c->pipe_fd[1], &byte, 1) < 0 && errno != EAGAIN) roma_warn("kubernetes: cannot wake the loop: %s", strerror(errno));
}

k8s_update *k8s_client_take(k8s_client *c) {
    char drain[256];
    while (read(c->pipe_fd[0], drain, sizeof(drain)) > 0) continue;
    pthread_mutex_lock(&c->lock);
    k8s_update *u = c->head;
    c->head = c->tail = NULL;
    pthread_mutex_unlock(&c->lock);
    return u;
}

void k8s_updates_free(k8s_update *u) {
    while (u) {
        k8s_update *next = u->next;
        free(u);
        u = next;
    }
}

int k8s_client_fd(const k8s_client *c) {
    return c->pipe_fd[0];
}

/* ---- API reachability ---------------------------------------------------- */

/* A transfer could not talk to the API server: say so once per outage. */
static void api_failed(k8s_client *c, const char *what, const char *why) {
    c->retry_at = roma_now() + c->backoff;
    c->backoff = fmin(c->backoff * 2, BACKOFF_MAX_S);
    if (c->api_down) return;
    c->api_down = 1;
    roma_warn("kubernetes: API server %s unreachable (%s: %s); holding every worker's cores and "
              "retrying every %g s at most",
              c->url, what, why, BACKOFF_MAX_S);
    k8s_update *u = update_new(K8S_UPDATE_API_DOWN);
    snprintf(u->message, sizeof(u->message), "API server unreachable: %s: %s", what, why);
    push(c, u);
}

static void api_answered(k8s_client *c) {
    c->backoff = BACKOFF_MIN_S;
    if (!c->api_down) return;
    c->api_down = 0;
    roma_info("kubernetes: API server %s answers again", c->url);
    push(c, update_new(K8S_UPDATE_API_UP));
}

/* ---- transfers ---------------------------------------------------------- */

static long http_status(const xfer *x) {
    long code = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg);

/* libcurl's header callback: the API server answered (a watch answers long
 * before it ends, so this is where it counts as back). */
static size_t on_header(char *data, size_t size, size_t n, void *arg) {
    xfer *x = arg;
    (void)data;
    if (x->owner->api_down) api_answered(x->owner);
    return size * n;
}

static struct curl_slist *auth_headers(const k8s_client *c, struct curl_slist *h) {
    size_t len = 0;
    char *token = roma_read_file(c->token_file, &len);
    while (token && len && (token[len - 1] == '\n' || token[len - 1] == '\r' || token[len - 1] == ' '))
        token[--len] = '\0';
    if (token && len) {
        roma_buf b = ROMA_BUF_INIT;
        roma_buf_printf(&b, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, b.data);
        roma_buf_free(&b);
    }
    free(token);
    return curl_slist_append(h, "Accept: application/json");
}

static xfer *xfer_new(k8s_client *c, xfer_kind kind, const char *url) {
    xfer *x = calloc(1, sizeof(*x));
    if (!x) abort();
    x->kind = kind;
    x->owner = c;
    x->started = roma_now();
    x->resize = -1;
    x->easy = curl_easy_init();
    if (!x->easy) abort();
    x->headers = auth_headers(c, NULL);
    curl_easy_setopt(x->easy, CURLOPT_URL, url);
    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, c->insecure_http ? "http,https" : "https");
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->error);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT, kind == XFER_WATCH ? WATCH_TIMEOUT_S + 30L : (long)REQUEST_TIMEOUT_S);
    if (access(c->ca_file, R_OK) == 0) curl_easy_setopt(x->easy, CURLOPT_CAINFO, c->ca_file);
    curl_multi_add_handle(c->multi, x->easy);
    return x;
}

static void xfer_free(k8s_client *c, xfer *x) {
    curl_multi_remove_handle(c->multi, x->easy);
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    roma_buf_free(&x->body);
    free(x->patch);
    free(x);
}

/* The pods collection URL with a query; selector and rv are escaped. */
static void pods_url(const k8s_client *c, const char *query_fmt, const char *rv, char *url, size_t cap) {
    CURL *e = curl_easy_init();
    char *sel = curl_easy_escape(e, c->selector, 0);
    char *erv = curl_easy_escape(e, rv, 0);
    char query[256];
    snprintf(query, sizeof(query), query_fmt, erv);
    snprintf(url, cap, "%s/api/v1/namespaces/%s/pods?labelSelector=%s%s", c->url, c->ns, sel, query);
    curl_free(sel);
    curl_free(erv);
    curl_easy_cleanup(e);
}

static void start_stream(k8s_client *c) {
    char url[2048];
    if (c->need_list || !c->rv[0]) {
        pods_url(c, "%s", "", url, sizeof(url));
        c->stream = xfer_new(c, XFER_LIST, url);
    } else {
        pods_url(c, "&watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=%s", c->rv, url,
                 sizeof(url));
        c->stream = xfer_new(c, XFER_WATCH, url);
    }
}

/* ---- list and watch ----------------------------------------------------- */

static void list_done(k8s_client *c, xfer *x) {
    json_error_t je;
    json_t *root = json_loadb(x->body.data ? x->body.data : "", x->body.len, 0, &je);
    const json_t *items = json_object_get(root, "items");
    const char *rv = json_string_value(json_object_get(json_object_get(root, "metadata"), "resourceVersion"));
    if (!json_is_array(items) || !rv) {
        roma_warn("kubernetes: the pod list is not a PodList (%s); listing again", root ? "no items or resourceVersion" : je.text);
        json_decref(root);
        c->retry_at = roma_now() + c->backoff;
        return;
    }
    push(c, update_new(K8S_UPDATE_LIST_BEGIN));
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        k8s_update *u = update_new(K8S_UPDATE_POD);
        roma_err err;
        if (k8s_pod_read(item, &u->pod, &err) != ROMA_OK) {
            roma_warn("kubernetes: skipping a pod of the list: %s", err.msg);
            free(u);
            continue;
        }
        push(c, u);
    }
    push(c, update_new(K8S_UPDATE_LIST_END));
    snprintf(c->rv, sizeof(c->rv), "%s", rv);
    c->need_list = 0;
    json_decref(root);
}

/* One line of the watch stream.  Returns 0 to end the stream. */
static int watch_line(k8s_client *c, const char *line, size_t len) {
    k8s_event ev;
    roma_err err;
    if (len == 0) return 1;
    if (k8s_event_parse(line, len, &ev, &err) != ROMA_OK) {
        roma_warn("kubernetes: watch: %s; watching again from resourceVersion %s", err.msg, c->rv);
        c->retry_at = roma_now() + c->backoff;
        return 0;
    }
    if (ev.type == K8S_EVENT_ERROR) {
        if (ev.code == 410) {
            roma_info("kubernetes: watch expired (%s); listing the pods again", ev.message);
            c->need_list = 1;
        } else {
            roma_warn("kubernetes: watch error %d: %s; watching again", ev.code, ev.message);
            c->retry_at = roma_now() + c->backoff;
        }
        return 0;
    }
    if (ev.resource_version[0]) snprintf(c->rv, sizeof(c->rv), "%s", ev.resource_version);
    if (ev.type == K8S_EVENT_BOOKMARK) return 1;
    k8s_update *u = update_new(ev.type == K8S_EVENT_DELETED ? K8S_UPDATE_POD_GONE : K8S_UPDATE_POD);
    u->pod = ev.pod;
    push(c, u);
    return 1;
}

/* libcurl's write callback: buffers answers, and handles a watch's lines as
 * they arrive.  Returning less than given ends the transfer. */
static size_t on_body(char *data, size_t size, size_t n, void *arg) {
    xfer *x = arg;
    k8s_client *c = x->owner;
    size_t len = size * n;
    roma_buf_append(&x->body, data, len);
    if (x->kind != XFER_WATCH || http_status(x) != 200) return len;
    char *start = x->body.data, *nl;
    size_t left = x->body.len;
    while ((nl = memchr(start, '\n', left))) {
        if (!watch_line(c, start, (size_t)(nl - start))) return 0;
        left -= (size_t)(nl + 1 - start);
        start = nl + 1;
    }
    memmove(x->body.data, start, left);
    x->body.len = left;
    return len;
}

/* The list or watch ended: decide what comes next. */
static void stream_done(k8s_client *c, xfer *x, CURLcode res) {
    long code = http_status(x);
    c->stream = NULL;
    if (code == 0) { /* never talked to the API server */
        api_failed(c, x->kind == XFER_LIST ? "listing pods" : "watching pods",
                   x->error[0] ? x->error : curl_easy_strerror(res));
        return;
    }
    api_answered(c);
    if (code == 410) {
        roma_info("kubernetes: resourceVersion %s expired; listing the pods again", c->rv);
        c->need_list = 1;
    } else if (code != 200) {
        char msg[K8S_MESSAGE_CAP];
        k8s_status_message(x->body.data, x->body.len, msg, sizeof(msg));
        roma_warn("kubernetes: %s pods in namespace %s: HTTP %ld: %s%s", x->kind == XFER_LIST ? "listing" : "watching",
                  c->ns, code, msg[0] ? msg : "no message",
                  code == 401 || code == 403 ? " (check the token file and the Role: pods get/list/watch)" : "");
        c->retry_at = roma_now() + c->backoff;
        c->backoff = fmin(c->backoff * 2, BACKOFF_MAX_S);
    } else if (x->kind == XFER_LIST) {
        if (res == CURLE_OK) list_done(c, x);
        else api_failed(c, "listing pods", x->error[0] ? x->error : curl_easy_strerror(res));
    } else if (res != CURLE_OK && res != CURLE_WRITE_ERROR) {
        /* The stream broke (API server gone or restarted): resume from rv. */
        api_failed(c, "watching pods", x->error[0] ? x->error : curl_easy_strerror(res));
    } else if (res == CURLE_OK && roma_now() - x->started < 1) {
        c->retry_at = roma_now() + BACKOFF_MIN_S; /* a watch the server ends at once: no busy loop */
    }
}

/* ---- resizes ------------------------------------------------------------ */

static void start_patch(k8s_client *c, int i, double cores) {
    char url[1024];
    resize_slot *r = &c->resizes[i];
    snprintf(url, sizeof(url), "%s/api/v1/namespaces/%s/pods/%s/resize", c->url, c->ns, r->pod);
    xfer *x = xfer_new(c, XFER_PATCH, url);
    x->resize = i;
    x->cores = cores;
    x->patch = k8s_resize_patch(cores);
    x->headers = curl_slist_append(x->headers, "Content-Type: application/strategic-merge-patch+json");
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, "PATCH");
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->patch);
    r->inflight = x;
}

/* Sends every waiting resize whose pod has none in flight. */
static void start_patches(k8s_client *c) {
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < MAX_RESIZES; i++) {
        resize_slot *r = &c->resizes[i];
        if (r->pod[0] && r->cores > 0 && !r->inflight) {
            double cores = r->cores;
            r->cores = 0;
            start_patch(c, i, cores);
        }
    }
    pthread_mutex_unlock(&c->lock);
}

static void patch_done(k8s_client *c, xfer *x, CURLcode res) {
    k8s_update *u = update_new(K8S_UPDATE_RESIZED);
    json_t *root = NULL;
    long code = http_status(x);
    u->ask.answered = 1;
    u->ask.http_status = (int)code;
    pthread_mutex_lock(&c->lock);
    resize_slot *r = &c->resizes[x->resize];
    r->inflight = NULL;
    snprintf(u->pod.name, sizeof(u->pod.name), "%s", r->pod);
    if (r->cores <= 0) r->pod[0] = '\0'; /* nothing newer waits: free the slot */
    pthread_mutex_unlock(&c->lock);
    u->ask.cores = x->cores;
    if (code == 0) {
        u->ask.http_status = 0;
        snprintf(u->ask.message, sizeof(u->ask.message), "%s", x->error[0] ? x->error : curl_easy_strerror(res));
        api_failed(c, "resizing a pod", u->ask.message);
    } else if (code == 200 && (root = json_loadb(x->body.data ? x->body.data : "", x->body.len, 0, NULL))) {
        api_answered(c);
        roma_err err;
        if (k8s_pod_read(root, &u->pod, &err) != ROMA_OK) snprintf(u->ask.message, sizeof(u->ask.message), "%s", err.msg);
        u->ask.generation = u->pod.generation;
    } else {
        api_answered(c);
        k8s_status_message(x->body.data, x->body.len, u->ask.message, sizeof(u->ask.message));
    }
    json_decref(root);
    push(c, u);
}

/* ---- the thread ----------------------------------------------------------- */

static void finished_transfers(k8s_client *c) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        xfer *x = NULL;
        CURLcode res = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (x->kind == XFER_PATCH) patch_done(c, x, res);
        else stream_done(c, x, res);
        xfer_free(c, x);
    }
}

static int stopping(k8s_client *c) {
    pthread_mutex_lock(&c->lock);
    int s = c->stopping;
    pthread_mutex_unlock(&c->lock);
    return s;
}

static void *client_thread(void *arg) {
    k8s_client *c = arg;
    int running;
    while (!stopping(c)) {
        double now = roma_now();
        if (!c->stream && now >= c->retry_at) start_stream(c);
        start_patches(c);
        curl_multi_perform(c->multi, &running);
        finished_transfers(c);
        int wait_ms = 1000;
        if (!c->stream) wait_ms = (int)fmax(1, fmin(1000, (c->retry_at - roma_now()) * 1000));
        curl_multi_poll(c->multi, NULL, 0, wait_ms, NULL);
    }
    if (c->stream) xfer_free(c, c->stream);
    for (int i = 0; i < MAX_RESIZES; i++)
        if (c->resizes[i].inflight) xfer_free(c, c->resizes[i].inflight);
    return NULL;
}

/* ---- the owner's side ------------------------------------------------------ */

roma_code k8s_client_api_url(const k8s_client_config *cfg, char *url, size_t cap, roma_err *err) {
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    if (cfg->api_server && cfg->api_server[0]) {
        snprintf(url, cap, "%s", cfg->api_server);
    } else if (host && *host) {
        int v6 = strchr(host, ':') != NULL;
        snprintf(url, cap, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port && *port ? port : "443");
    } else {
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "cluster: no API server: KUBERNETES_SERVICE_HOST is not set (not running in a pod); "
                         "set cluster.api_server in the config");
    }
    size_t n = strlen(url);
    while (n && url[n - 1] == '/') url[--n] = '\0';
    if (strncmp(url, "https://", 8) != 0 && !(cfg->insecure_http && strncmp(url, "http://", 7) == 0))
        return roma_fail(err, ROMA_INVALID_ARGUMENT,
                         "cluster: API server '%s' must be an https:// URL (http:// only with insecure_http: true)", url);
    return ROMA_OK;
}

static void curl_init_once(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

k8s_client *k8s_client_start(const k8s_client_config *cfg, roma_err *err) {
    static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
    k8s_client *c = calloc(1, sizeof(*c));
    if (!c) abort();
    if (k8s_client_api_url(cfg, c->url, sizeof(c->url), err) != ROMA_OK) return free(c), NULL;
    pthread_once(&curl_once, curl_init_once);
    snprintf(c->ns, sizeof(c->ns), "%s", cfg->namespace_name);
    snprintf(c->selector, sizeof(c->selector), "%s", cfg->selector);
    snprintf(c->token_file, sizeof(c->token_file), "%s", cfg->token_file ? cfg->token_file : "");
    snprintf(c->ca_file, sizeof(c->ca_file), "%s", cfg->ca_file ? cfg->ca_file : "");
    c->insecure_http = cfg->insecure_http;
    c->backoff = BACKOFF_MIN_S;
    c->need_list = 1;
    if (access(c->token_file, R_OK) != 0)
        roma_warn("kubernetes: token file %s is not readable (%s): API requests go without a bearer token",
                  c->token_file, strerror(errno));
    pthread_mutex_init(&c->lock, NULL);
    if (pipe2(c->pipe_fd, O_NONBLOCK | O_CLOEXEC) != 0 || !(c->multi = curl_multi_init()) ||
        pthread_create(&c->thread, NULL, client_thread, c) != 0) {
        roma_fail(err, ROMA_INTERNAL, "cluster: cannot start the Kubernetes client: %s", strerror(errno));
        if (c->multi) curl_multi_cleanup(c->multi);
        return free(c), NULL;
    }
    return c;
}

void k8s_client_resize(k8s_client *c, const char *pod, double cores) {
    int free_slot = -1, found = -1;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < MAX_RESIZES && found < 0; i++) {
        if (strcmp(c->resizes[i].pod, pod) == 0) found = i;
        else if (!c->resizes[i].pod[0] && free_slot < 0) free_slot = i;
    }
    if (found < 0 && free_slot >= 0) {
        found = free_slot;
        snprintf(c->resizes[found].pod, sizeof(c->resizes[found].pod), "%s", pod);
    }
    if (found >= 0) c->resizes[found].cores = cores;
    pthread_mutex_unlock(&c->lock);
    if (found < 0) roma_warn("kubernetes: more than %d pods resizing at once; pod %s waits", MAX_RESIZES, pod);
    else curl_multi_wakeup(c->multi);
}

void k8s_client_stop(k8s_client *c) {
    if (!c) return;
    pthread_mutex_lock(&c->lock);
    c->stopping = 1;
    pthread_mutex_unlock(&c->lock);
    curl_multi_wakeup(c->multi);
    pthread_join(c->thread, NULL);
    curl_multi_cleanup(c->multi);
    close(c->pipe_fd[0]);
    close(c->pipe_fd[1]);
    k8s_updates_free(c->head);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
