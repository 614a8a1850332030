/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libvirt watch (see libvirt.h). Why a thread and not virEventRegisterImpl() over sd-event:
 * libvirt's remote driver calls back into the registered implementation from whichever thread
 * makes an API call, with its own locks held, and a synchronous API call (listing domains,
 * reading their XML) would then block the sd-event loop that serves every client. In a thread of
 * its own, libvirt gets the default event loop it is tested with, every libvirt call may block
 * there as long as it likes (keepalive bounds a dead daemon), and the event loop only ever sees a
 * finished snapshot. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "domain-xml.h"
#include "libvirt.h"
#include "log.h"
#include "macro.h"

#if HAVE_LIBVIRT
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#define DOMAINS_MAX 1024
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define BACKOFF_MIN_SEC 1
#define BACKOFF_MAX_SEC 30
#define ERROR_MAX 256

typedef enum WatchState {
        WATCH_CONNECTING,
        WATCH_CONNECTED,
        WATCH_DISCONNECTED,
} WatchState;

static const char *const state_names[] = {
        [WATCH_CONNECTING] = "connecting",
        [WATCH_CONNECTED] = "connected",
        [WATCH_DISCONNECTED] = "disconnected",
};

struct LibvirtWatch {
        Broker *broker;
        char *uri;
        sd_event_source *source;      /* the eventfd, on the event loop */
        int efd;                      /* thread → event loop: a snapshot is waiting */
        int wake[2];                  /* event loop → thread: stop */
        pthread_t thread;
        bool thread_started;
        atomic_bool stop;

        /* Shared, under lock: the latest snapshot not yet taken, and the state. */
        pthread_mutex_t lock;
        DomainXml *pending;
        size_t n_pending;
        bool has_pending;
        WatchState state;
        char error[ERROR_MAX];
        size_t n_domains;

        /* Event loop only. */
        WatchState logged_state;

        /* Thread only. */
        virConnectPtr conn;
        int callbacks[3];
        bool dirty;                   /* an event came: read the domains again */
        bool closed;                  /* the connection closed under us */
        unsigned backoff_sec;
        time_t next_try;
};

/* libvirt prints every error to stderr unless told otherwise; ours are in the state. */
static void silent_error(void *userdata, virErrorPtr e) {
}

static void publish_state(LibvirtWatch *w, WatchState state, const char *error) {
        uint64_t one = 1;

        pthread_mutex_lock(&w->lock);
        w->state = state;
        snprintf(w->error, sizeof w->error, "%s", error ?: "");
        pthread_mutex_unlock(&w->lock);
        (void) write(w->efd, &one, sizeof one);
}

static void publish_domains(LibvirtWatch *w, DomainXml *domains, size_t n) {
        uint64_t one = 1;

        pthread_mutex_lock(&w->lock);
        free(w->pending);
        w->pending = domains;
        w->n_pending = n;
        w->has_pending = true;
        w->n_domains = n;
        w->state = WATCH_CONNECTED;
        w->error[0] = 0;
        pthread_mutex_unlock(&w->lock);
        (void) write(w->efd, &one, sizeof one);
}

static int on_lifecycle(virConnectPtr c, virDomainPtr d, int event, int detail, void *userdata) {
        ((LibvirtWatch *) userdata)->dirty = true;
        return 0;
}

static void on_device(virConnectPtr c, virDomainPtr d, const char *alias, void *userdata) {
        ((LibvirtWatch *) userdata)->dirty = true;
}

static void on_close(virConnectPtr c, int reason, void *userdata) {
        ((LibvirtWatch *) userdata)->closed = true;
}

static void on_wake(int watch, int fd, int events, void *userdata) {
        char buf[16];
        (void) read(fd, buf, sizeof buf);
}

static void on_tick(int timer, void *userdata) {
}

/* libvirt takes every event callback as the generic type and calls it with its event's own
 * signature; through void (*)(void), which compilers accept as "any function". */
#define EVENT_CALLBACK(f) ((virConnectDomainEventGenericCallback) (void (*)(void)) (f))

static void disconnect(LibvirtWatch *w, const char *why) {
        if (w->conn) {
                for (size_t i = 0; i < ELEMENTSOF(w->callbacks); i++)
                        if (w->callbacks[i] >= 0)
                                (void) virConnectDomainEventDeregisterAny(w->conn, w->callbacks[i]);
                (void) virConnectUnregisterCloseCallback(w->conn, on_close);
                (void) virConnectClose(w->conn);
                w->conn = NULL;
        }
        for (size_t i = 0; i < ELEMENTSOF(w->callbacks); i++)
                w->callbacks[i] = -1;
        w->next_try = time(NULL) + w->backoff_sec;
        w->backoff_sec = MIN(w->backoff_sec * 2, (unsigned) BACKOFF_MAX_SEC);
        /* The domains keep running while libvirtd restarts: keep what we knew (fail closed). */
        publish_state(w, WATCH_DISCONNECTED, why);
}

static void try_connect(LibvirtWatch *w) {
        w->conn = virConnectOpenReadOnly(w->uri);
        if (!w->conn) {
                disconnect(w, virGetLastErrorMessage());
                return;
        }
        w->closed = false;
        /* A hung daemon is noticed within about 20 s. */
        (void) virConnectSetKeepAlive(w->conn, 5, 3);
        if (virConnectRegisterCloseCallback(w->conn, on_close, w, NULL) < 0 ||
            (w->callbacks[0] = virConnectDomainEventRegisterAny(w->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                                 EVENT_CALLBACK(on_lifecycle), w, NULL)) < 0 ||
            (w->callbacks[1] = virConnectDomainEventRegisterAny(w->conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
                                                                 EVENT_CALLBACK(on_device), w, NULL)) < 0 ||
            (w->callbacks[2] = virConnectDomainEventRegisterAny(w->conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
                                                                 EVENT_CALLBACK(on_device), w, NULL)) < 0) {
                disconnect(w, virGetLastErrorMessage());
                return;
        }
        w->backoff_sec = BACKOFF_MIN_SEC;
        w->dirty = true;   /* subscribed first, then listed: no change is missed in between */
}

/* Every running domain and its PCI hostdevs, from its live XML. */
static void resync(LibvirtWatch *w) {
        virDomainPtr *doms = NULL;
        DomainXml *out;
        size_t n_out = 0;
        int n;

        w->dirty = false;
        n = virConnectListAllDomains(w->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        if (n < 0) {
                disconnect(w, virGetLastErrorMessage());
                return;
        }
        out = calloc(MAX(MIN(n, DOMAINS_MAX), 1), sizeof(DomainXml));
        for (int i = 0; i < n; i++) {
                char *xml = NULL;

                if (out && n_out < DOMAINS_MAX)
                        xml = virDomainGetXMLDesc(doms[i], 0);
                /* Gone since the listing (or no memory): the next event says what it is now. */
                if (xml && domain_xml_parse(xml, strlen(xml), &out[n_out]) >= 0) {
                        snprintf(out[n_out].name, sizeof out[n_out].name, "%s", strempty(virDomainGetName(doms[i])));
                        if (virDomainGetUUIDString(doms[i], out[n_out].uuid) < 0)
                                out[n_out].uuid[0] = 0;
                        n_out++;
                }
                free(xml);
                virDomainFree(doms[i]);
        }
        free(doms);
        if (!out) {
                w->dirty = true;
                return;
        }
        publish_domains(w, out, n_out);
}

static void *watch_thread(void *userdata) {
        LibvirtWatch *w = userdata;
        sigset_t all;
        int wake_watch, tick;

        /* Signals are the event loop's (signalfds); a write to a dead libvirtd is EPIPE, not death. */
        sigfillset(&all);
        (void) pthread_sigmask(SIG_BLOCK, &all, NULL);

        virSetErrorFunc(NULL, silent_error);
        if (virEventRegisterDefaultImpl() < 0) {
                publish_state(w, WATCH_DISCONNECTED, "cannot start libvirt's event loop");
                return NULL;
        }
        wake_watch = virEventAddHandle(w->wake[0], VIR_EVENT_HANDLE_READABLE, on_wake, w, NULL);
        /* Wake at least once a second for the reconnection backoff. */
        tick = virEventAddTimeout(1000, on_tick, w, NULL);
        if (wake_watch < 0 || tick < 0) {
                publish_state(w, WATCH_DISCONNECTED, "cannot start libvirt's event loop");
                return NULL;
        }

        while (!atomic_load(&w->stop)) {
                if (w->conn && w->closed)
                        disconnect(w, "the connection to libvirt closed");
                if (!w->conn && time(NULL) >= w->next_try)
                        try_connect(w);
                if (w->conn && w->dirty)
                        resync(w);
                if (atomic_load(&w->stop))
                        break;
                if (virEventRunDefaultImpl() < 0)
                        break;
        }
        if (w->conn)
                disconnect(w, "stopping");
        (void) virEventRemoveTimeout(tick);
        (void) virEventRemoveHandle(wake_watch);
        return NULL;
}

/* On the event loop: take the snapshot, hand it to the broker. */
static int on_snapshot(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        LibvirtWatch *w = userdata;
        DomainXml *domains = NULL;
        size_t n = 0;
        bool has;
        WatchState state;
        char error[ERROR_MAX];
        uint64_t v;
        int r;

        (void) read(fd, &v, sizeof v);
        pthread_mutex_lock(&w->lock);
        has = w->has_pending;
        domains = w->pending;
        n = w->n_pending;
        w->pending = NULL;
        w->has_pending = false;
        state = w->state;
        memcpy(error, w->error, sizeof error);
        pthread_mutex_unlock(&w->lock);

        if (state != w->logged_state) {
                if (state == WATCH_CONNECTED)
                        log_info("Watching the libvirt domains of %s.", w->uri);
                else if (w->logged_state == WATCH_CONNECTED || state != WATCH_DISCONNECTED)
                        log_info("Not watching libvirt domains (%s): %s; trying again with backoff.", w->uri, error);
                else
                        log_debug("libvirt (%s) not reachable: %s.", w->uri, error);
                w->logged_state = state;
        }
        if (has) {
                for (size_t i = 0; i < n; i++)
                        for (size_t k = 0; k < domains[i].n_devices; k++)
                                log_debug("libvirt domain %s uses %s.", domains[i].name, domains[i].devices[k]);
                r = broker_set_domains(w->broker, domains, n);
                if (r < 0)
                        log_warning_errno(r, "Failed to mark the devices of running libvirt domains: %m");
        }
        return 0;
}

int libvirt_watch_new(sd_event *e, Broker *b, const char *uri, LibvirtWatch **ret) {
        LibvirtWatch *w;
        int r;

        w = calloc(1, sizeof(LibvirtWatch));
        if (!w)
                return -ENOMEM;
        w->broker = b;
        w->uri = strdup(uri);
        if (!w->uri) {
                free(w);
                return -ENOMEM;
        }
        w->efd = -EBADF;
        w->wake[0] = w->wake[1] = -EBADF;
        w->state = w->logged_state = WATCH_CONNECTING;
        w->backoff_sec = BACKOFF_MIN_SEC;
        for (size_t i = 0; i < ELEMENTSOF(w->callbacks); i++)
                w->callbacks[i] = -1;
        pthread_mutex_init(&w->lock, NULL);

        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->efd < 0 || pipe2(w->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(e, &w->source, w->efd, EPOLLIN, on_snapshot, w);
        if (r < 0)
                goto fail;
        /* libvirt's one-time global setup runs here, on the event loop, not in the thread: its
         * bindtextdomain() holds glibc's gettext lock for writing, and a worker forked meanwhile
         * (boot bindings start right after this) would inherit it held and block in strerror().
         * After this the thread holds only locks a worker never takes (see worker_start()). A
         * failure here shows in the thread's own first call. */
        (void) virInitialize();
        r = -pthread_create(&w->thread, NULL, watch_thread, w);
        if (r < 0)
                goto fail;
        w->thread_started = true;
        *ret = w;
        return 0;
fail:
        libvirt_watch_free(w);
        return r;
}

LibvirtWatch *libvirt_watch_free(LibvirtWatch *w) {
        if (!w)
                return NULL;
        if (w->thread_started) {
                atomic_store(&w->stop, true);
                (void) write(w->wake[1], "x", 1);
                (void) pthread_join(w->thread, NULL);
        }
        sd_event_source_disable_unref(w->source);
        if (w->efd >= 0)
                close(w->efd);
        if (w->wake[0] >= 0)
                close(w->wake[0]);
        if (w->wake[1] >= 0)
                close(w->wake[1]);
        free(w->pending);
        free(w->uri);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
}

int libvirt_watch_info(LibvirtWatch *w, sd_json_variant **ret) {
        WatchState state;
        char error[ERROR_MAX];
        size_t n;

        if (!w)
                return sd_json_buildo(ret, SD_JSON_BUILD_PAIR_STRING("state", "disconnected"),
                                      SD_JSON_BUILD_PAIR_STRING("uri", LIBVIRT_WATCH_URI),
                                      SD_JSON_BUILD_PAIR_STRING("error", "the watch did not start"));
        pthread_mutex_lock(&w->lock);
        state = w->state;
        n = w->n_domains;
        memcpy(error, w->error, sizeof error);
        pthread_mutex_unlock(&w->lock);
        return sd_json_buildo(ret,
                              SD_JSON_BUILD_PAIR_STRING("state", state_names[state]),
                              SD_JSON_BUILD_PAIR_STRING("uri", w->uri),
                              SD_JSON_BUILD_PAIR_CONDITION(state == WATCH_CONNECTED, "domains", SD_JSON_BUILD_UNSIGNED(n)),
                              SD_JSON_BUILD_PAIR_CONDITION(!!error[0], "error", SD_JSON_BUILD_STRING(error)));
}

#else /* !HAVE_LIBVIRT */

int libvirt_watch_new(sd_event *e, Broker *b, const char *uri, LibvirtWatch **ret) {
        *ret = NULL;
        return 0;
}

LibvirtWatch *libvirt_watch_free(LibvirtWatch *w) {
        return NULL;
}

int libvirt_watch_info(LibvirtWatch *w, sd_json_variant **ret) {
        return sd_json_buildo(ret, SD_JSON_BUILD_PAIR_STRING("state", "not-built"));
}

#endif
