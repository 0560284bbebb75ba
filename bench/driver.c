/*
 * bench/driver.c — the C driver of the benchmark harness (bench/run.sh).
 *
 * Links the release library (target/release/libopencde_documents.so) and measures it the way a
 * C host would use it. Every subcommand prints one machine-readable line per result,
 * `<subcommand>: key=value key=value ...`, on stdout; problems go to stderr.
 *
 *   driver download URL DEST [--ca PEM] [--token T] [--api API_URL]
 *       One ocde_download_to_path(URL → DEST). Prints wall_s, ttfb_s (first body byte),
 *       last_byte_s (last progress call: every byte written), tail_s (last progress call →
 *       return: fsync, close, rename), maxrss_kib, user_s, sys_s. The client is created for
 *       API_URL, by default the URL up to and including "/documents/1.0".
 *
 *   driver select-download API_URL DIR N [--sequential] [--ca PEM] [--token T]
 *       Starts a selection whose open_url plays the browser with raw sockets (?auto=all, as
 *       examples/c/ocde_example.c does), polls until OK, then downloads every document into DIR:
 *       with ocde_download_selection(max_parallel N), or with --sequential a loop of
 *       ocde_download_document. Prints select_s (start → OK), download_s, docs, bytes,
 *       maxrss_kib.
 *
 *   driver latency API_URL [--rounds K] [--idle-seconds S]
 *       K rounds: a browser thread answers the selection page at a random moment 50–450 ms
 *       after the start while the main thread loops ocde_selection_poll(sel, 500); prints the
 *       time from the moment our listener's answer to the callback GET arrives at the browser
 *       to ocde_selection_poll returning OK. Then one selection nobody answers: S seconds of
 *       ocde_selection_poll(sel, 500) loops; prints the process CPU time (getrusage) and
 *       context switches used meanwhile.
 *
 *   driver exec [--out FILE] -- CMD ARGS...
 *       Runs CMD (stdout to FILE when given), waits for it and prints exit, wall_s (monotonic
 *       clock around fork/exec/wait), maxrss_kib, user_s, sys_s from wait4's rusage — the same
 *       peak RSS figure as `/usr/bin/time -f %M`. Used for curl, cat and this driver alike, so
 *       every wall time and peak RSS in the table is measured the same way.
 *
 *   driver free-port
 *       Prints a currently free ephemeral TCP port on 127.0.0.1.
 *
 * Built by run.sh with: gcc -std=c11 -O2 -Wall -Wextra -Werror -pthread
 *   [-DHAVE_OCDE_DOWNLOAD_SELECTION] -Iinclude bench/driver.c -Ltarget/release
 *   -lopencde_documents -Wl,-rpath,<target/release>
 * HAVE_OCDE_DOWNLOAD_SELECTION is defined when include/opencde_documents.h declares
 * ocde_download_selection; without it, `select-download` without --sequential prints
 * "select-download: n/a (not built yet)".
 */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "opencde_documents.h"

/* ------------------------------------------------------------------------------------------
 * Clocks and resource usage
 * ---------------------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void self_usage(struct rusage *ru)
{
    if (getrusage(RUSAGE_SELF, ru) != 0) {
        memset(ru, 0, sizeof *ru);
    }
}

static void die_status(const char *what, OcdeStatus st)
{
    fprintf(stderr, "driver: %s: %s: %s\n", what, ocde_status_str((int32_t)st), ocde_last_error());
    exit(1);
}

static char *read_text_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long len;
    if (f == NULL) {
        fprintf(stderr, "driver: cannot open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "driver: cannot read %s\n", path);
        exit(1);
    }
    buf = malloc((size_t)len + 1);
    if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "driver: cannot read %s\n", path);
        exit(1);
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

/* Creates a client for `api_url` with the optional CA and token. */
static OcdeClient *make_client(const char *api_url, const char *ca_path, const char *token)
{
    OcdeClient *client = NULL;
    OcdeStatus st = ocde_client_new(api_url, &client);
    if (st != OCDE_STATUS_OK) {
        die_status("ocde_client_new", st);
    }
    if (ca_path != NULL) {
        char *pem = read_text_file(ca_path);
        st = ocde_client_set_root_certificates(client, pem);
        free(pem);
        if (st != OCDE_STATUS_OK) {
            die_status("ocde_client_set_root_certificates", st);
        }
    }
    if (token != NULL) {
        st = ocde_client_set_access_token(client, token);
        if (st != OCDE_STATUS_OK) {
            die_status("ocde_client_set_access_token", st);
        }
    }
    return client;
}

/* ------------------------------------------------------------------------------------------
 * The "browser": plain POSIX sockets against the loopback simulator and our own callback
 * listener (from examples/c/ocde_example.c, plus the time the answer's first byte arrived).
 * ---------------------------------------------------------------------------------------- */

typedef struct HttpUrl {
    char authority[256];
    char host[256];
    char port[8];
    char target[4096];
} HttpUrl;

static int ascii_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int starts_with_nocase(const char *s, const char *prefix)
{
    for (; *prefix != '\0'; s++, prefix++) {
        if (ascii_lower((unsigned char)*s) != ascii_lower((unsigned char)*prefix)) {
            return 0;
        }
    }
    return 1;
}

/* "http://host[:port][/path][?query]", loopback hosts only. */
static int parse_http_url(const char *url, HttpUrl *out)
{
    const char *p, *auth_end, *host_end, *frag;
    size_t auth_len, host_len, target_len;

    if (!starts_with_nocase(url, "http://")) {
        fprintf(stderr, "browser: only http:// URLs are supported: %s\n", url);
        return -1;
    }
    p = url + strlen("http://");
    auth_end = p + strcspn(p, "/?#");
    auth_len = (size_t)(auth_end - p);
    if (auth_len == 0 || auth_len >= sizeof out->authority || memchr(p, '@', auth_len) != NULL) {
        return -1;
    }
    memcpy(out->authority, p, auth_len);
    out->authority[auth_len] = '\0';
    if (out->authority[0] == '[') {
        const char *close_br = strchr(out->authority, ']');
        if (close_br == NULL) {
            return -1;
        }
        host_len = (size_t)(close_br - out->authority) - 1;
        memcpy(out->host, out->authority + 1, host_len);
        host_end = close_br + 1;
    } else {
        host_end = out->authority + strcspn(out->authority, ":");
        host_len = (size_t)(host_end - out->authority);
        memcpy(out->host, out->authority, host_len);
    }
    out->host[host_len] = '\0';
    if (*host_end == ':' && host_end[1] != '\0' && strlen(host_end + 1) < sizeof out->port) {
        strcpy(out->port, host_end + 1);
    } else if (*host_end == '\0') {
        strcpy(out->port, "80");
    } else {
        return -1;
    }
    if (strcmp(out->host, "127.0.0.1") != 0 && strcmp(out->host, "localhost") != 0 &&
        strcmp(out->host, "::1") != 0) {
        fprintf(stderr, "browser: refusing to contact a non-loopback host: %s\n", out->host);
        return -1;
    }
    frag = strchr(auth_end, '#');
    target_len = frag != NULL ? (size_t)(frag - auth_end) : strlen(auth_end);
    if (target_len + 2 > sizeof out->target) {
        return -1;
    }
    if (target_len == 0 || auth_end[0] != '/') {
        out->target[0] = '/';
        memcpy(out->target + 1, auth_end, target_len);
        out->target[target_len + 1] = '\0';
    } else {
        memcpy(out->target, auth_end, target_len);
        out->target[target_len] = '\0';
    }
    return 0;
}

static int connect_to(const HttpUrl *u)
{
    struct addrinfo hints, *res = NULL, *ai;
    struct timeval tv;
    int fd = -1, rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "browser: cannot resolve %s: %s\n", u->host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        tv.tv_sec = 10;
        tv.tv_usec = 0;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "browser: cannot connect to %s: %s\n", u->authority, strerror(errno));
    }
    return fd;
}

/* GETs `url` (Connection: close) and reads the answer to its end. Returns 0 with the status,
 * the Location header if `location` is not NULL, and in *first_byte_at (if not NULL) the
 * monotonic time at which the answer's first byte arrived. */
static int http_get(const char *url, int *status, char *location, size_t location_size,
                    double *first_byte_at)
{
    HttpUrl u;
    char request[4608];
    char head[16384];
    size_t head_len = 0;
    int fd, n, len;
    const char *line;

    if (parse_http_url(url, &u) != 0) {
        return -1;
    }
    len = snprintf(request, sizeof request,
                   "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ocde-bench-browser/1.0\r\n"
                   "Accept: text/html,*/*;q=0.8\r\nConnection: close\r\n\r\n",
                   u.target, u.authority);
    if (len < 0 || (size_t)len >= sizeof request) {
        return -1;
    }
    fd = connect_to(&u);
    if (fd < 0) {
        return -1;
    }
    {
        const char *p = request;
        size_t left = (size_t)len;
        while (left > 0) {
            ssize_t sent = send(fd, p, left, 0);
            if (sent < 0 && errno == EINTR) {
                continue;
            }
            if (sent <= 0) {
                close(fd);
                return -1;
            }
            p += sent;
            left -= (size_t)sent;
        }
    }
    for (;;) {
        char chunk[4096];
        ssize_t got = recv(fd, chunk, sizeof chunk, 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            fprintf(stderr, "browser: reading from %s failed: %s\n", u.authority, strerror(errno));
            close(fd);
            return -1;
        }
        if (got == 0) {
            break;
        }
        if (head_len == 0 && first_byte_at != NULL) {
            *first_byte_at = now_s();
        }
        if (head_len < sizeof head - 1) {
            size_t room = sizeof head - 1 - head_len;
            size_t take = (size_t)got < room ? (size_t)got : room;
            memcpy(head + head_len, chunk, take);
            head_len += take;
        }
    }
    close(fd);
    head[head_len] = '\0';
    if (sscanf(head, "HTTP/%*d.%*d %d", &n) != 1) {
        fprintf(stderr, "browser: %s did not answer HTTP\n", u.authority);
        return -1;
    }
    *status = n;
    if (location != NULL && location_size > 0) {
        location[0] = '\0';
        for (line = strstr(head, "\r\n"); line != NULL && line[2] != '\r';
             line = strstr(line + 2, "\r\n")) {
            if (starts_with_nocase(line + 2, "location:")) {
                const char *v = line + 2 + strlen("location:");
                size_t vlen;
                while (*v == ' ' || *v == '\t') {
                    v++;
                }
                vlen = strcspn(v, "\r\n");
                if (vlen >= location_size) {
                    return -1;
                }
                memcpy(location, v, vlen);
                location[vlen] = '\0';
                break;
            }
        }
    }
    return 0;
}

static int resolve_location(const char *base, const char *location, char *out, size_t out_size)
{
    if (starts_with_nocase(location, "http://") || starts_with_nocase(location, "https://")) {
        if (strlen(location) >= out_size) {
            return -1;
        }
        strcpy(out, location);
        return 0;
    }
    if (location[0] == '/' && location[1] != '/') {
        HttpUrl u;
        int len;
        if (parse_http_url(base, &u) != 0) {
            return -1;
        }
        len = snprintf(out, out_size, "http://%s%s", u.authority, location);
        return (len < 0 || (size_t)len >= out_size) ? -1 : 0;
    }
    return -1;
}

/* Plays the browser on a selection page URL: GET page?auto=all, follow the 303 to our callback.
 * *answered_at gets the time the callback's answer arrived. Returns 0 when the callback
 * answered 2xx. */
static int browse_auto_all(const char *url, double *answered_at)
{
    size_t url_len = strlen(url);
    size_t frag = strcspn(url, "#");
    char page[8192], location[8192], callback[8192];
    int status = 0, len;

    if (url_len >= sizeof page - 32) {
        return -1;
    }
    len = snprintf(page, sizeof page, "%.*s%cauto=all", (int)frag, url,
                   memchr(url, '?', frag) != NULL ? '&' : '?');
    if (len < 0 || (size_t)len >= sizeof page) {
        return -1;
    }
    if (http_get(page, &status, location, sizeof location, NULL) != 0) {
        return -1;
    }
    if (status < 300 || status > 399 || location[0] == '\0') {
        fprintf(stderr, "browser: the selection page answered %d, not a redirect\n", status);
        return -1;
    }
    if (resolve_location(page, location, callback, sizeof callback) != 0) {
        return -1;
    }
    if (http_get(callback, &status, NULL, 0, answered_at) != 0) {
        return -1;
    }
    if (status < 200 || status > 299) {
        fprintf(stderr, "browser: the callback answered %d\n", status);
        return -1;
    }
    return 0;
}

/* open_url that browses at once, inside ocde_selection_start (select-download). */
static int32_t open_url_auto_now(void *user_data, const char *url)
{
    double answered_at = 0;
    (void)user_data;
    return browse_auto_all(url, &answered_at) == 0 ? 0 : 1;
}

/* open_url that only records the URL (latency: a browser thread answers it later; idle: nobody
 * answers). */
typedef struct UrlSlot {
    char url[8192];
} UrlSlot;

static int32_t open_url_record(void *user_data, const char *url)
{
    UrlSlot *slot = (UrlSlot *)user_data;
    if (strlen(url) >= sizeof slot->url) {
        return 1;
    }
    strcpy(slot->url, url);
    return 0;
}

/* Starts a selection and polls it to OK with the browser playing inside open_url. */
static OcdeSelection *select_all(OcdeClient *client)
{
    OcdeSelection *sel = NULL;
    OcdeSelectionOptions opts;
    OcdeStatus st;
    double deadline;

    ocde_selection_options_init(&opts, sizeof opts);
    opts.callback_expires_in_s = 120;
    st = ocde_selection_start(client, &opts, open_url_auto_now, NULL, &sel);
    if (st != OCDE_STATUS_OK) {
        die_status("ocde_selection_start", st);
    }
    deadline = now_s() + 60;
    while ((st = ocde_selection_poll(sel, 500)) == OCDE_STATUS_PENDING) {
        if (now_s() > deadline) {
            fprintf(stderr, "driver: no selection within 60 s\n");
            exit(1);
        }
    }
    if (st != OCDE_STATUS_OK) {
        die_status("ocde_selection_poll", st);
    }
    return sel;
}

/* ------------------------------------------------------------------------------------------
 * download
 * ---------------------------------------------------------------------------------------- */

typedef struct Timing {
    double first_byte_at; /* first progress call with received > 0 */
    double last_at;       /* last progress call */
    uint64_t received;
    uint64_t calls;
} Timing;

static int32_t on_progress(void *user_data, uint64_t received, int64_t total)
{
    Timing *t = (Timing *)user_data;
    double now = now_s();
    (void)total;
    if (received > 0 && t->first_byte_at == 0) {
        t->first_byte_at = now;
    }
    t->last_at = now;
    t->received = received;
    t->calls++;
    return 0;
}

/* The documents API URL a download URL belongs to: up to and including "/documents/1.0". */
static char *api_of(const char *url)
{
    const char *marker = "/documents/1.0";
    const char *at = strstr(url, marker);
    size_t len = at != NULL ? (size_t)(at - url) + strlen(marker) : strlen(url);
    char *out = malloc(len + 1);
    if (out == NULL) {
        exit(1);
    }
    memcpy(out, url, len);
    out[len] = '\0';
    return out;
}

static int cmd_download(int argc, char **argv)
{
    const char *url, *dest, *ca = NULL, *token = NULL, *api = NULL;
    char *api_owned = NULL;
    OcdeClient *client;
    Timing t;
    struct rusage ru;
    double start, end;
    OcdeStatus st;
    int i;

    if (argc < 2) {
        fprintf(stderr, "usage: driver download URL DEST [--ca PEM] [--token T] [--api URL]\n");
        return 2;
    }
    url = argv[0];
    dest = argv[1];
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc) {
            ca = argv[++i];
        } else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc) {
            token = argv[++i];
        } else if (strcmp(argv[i], "--api") == 0 && i + 1 < argc) {
            api = argv[++i];
        } else {
            fprintf(stderr, "driver download: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (api == NULL) {
        api = api_owned = api_of(url);
    }
    client = make_client(api, ca, token);
    memset(&t, 0, sizeof t);
    start = now_s();
    st = ocde_download_to_path(client, url, dest, -1, on_progress, &t);
    end = now_s();
    if (st != OCDE_STATUS_OK) {
        die_status("ocde_download_to_path", st);
    }
    self_usage(&ru);
    printf("download: status=%s wall_s=%.6f ttfb_s=%.6f last_byte_s=%.6f tail_s=%.6f "
           "bytes=%" PRIu64 " progress_calls=%" PRIu64 " maxrss_kib=%ld user_s=%.3f sys_s=%.3f\n",
           ocde_status_str((int32_t)st), end - start,
           t.first_byte_at > 0 ? t.first_byte_at - start : 0.0,
           t.last_at > 0 ? t.last_at - start : 0.0, t.last_at > 0 ? end - t.last_at : 0.0,
           t.received, t.calls, ru.ru_maxrss, tv_s(ru.ru_utime), tv_s(ru.ru_stime));
    ocde_client_free(client);
    free(api_owned);
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * select-download
 * ---------------------------------------------------------------------------------------- */

static int cmd_select_download(int argc, char **argv)
{
    const char *api, *dir, *ca = NULL, *token = NULL;
    unsigned long n;
    int sequential = 0, i;
    OcdeClient *client;
    OcdeSelection *sel;
    double t0, t1, t2;
    uint64_t bytes = 0;
    size_t count, k;
    struct rusage ru;
    char *end = NULL;

    if (argc < 3) {
        fprintf(stderr,
                "usage: driver select-download API_URL DIR N [--sequential] [--ca PEM] "
                "[--token T]\n");
        return 2;
    }
    api = argv[0];
    dir = argv[1];
    n = strtoul(argv[2], &end, 10);
    if (end == argv[2] || *end != '\0' || n > 32) {
        fprintf(stderr, "driver select-download: bad N %s\n", argv[2]);
        return 2;
    }
    for (i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--sequential") == 0) {
            sequential = 1;
        } else if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc) {
            ca = argv[++i];
        } else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc) {
            token = argv[++i];
        } else {
            fprintf(stderr, "driver select-download: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
#ifndef HAVE_OCDE_DOWNLOAD_SELECTION
    if (!sequential) {
        printf("select-download: n/a (not built yet)\n");
        return 3;
    }
#endif
    client = make_client(api, ca, token);
    t0 = now_s();
    sel = select_all(client);
    t1 = now_s();
    count = ocde_selection_count(sel);
    for (k = 0; k < count; k++) {
        OcdeDocument doc;
        if (ocde_selection_get(sel, k, &doc) == OCDE_STATUS_OK && doc.size_in_bytes > 0) {
            bytes += (uint64_t)doc.size_in_bytes;
        }
    }
    if (sequential) {
        for (k = 0; k < count; k++) {
            char *path = NULL;
            OcdeStatus st = ocde_download_document(client, sel, k, dir, NULL, NULL, &path);
            if (st != OCDE_STATUS_OK) {
                die_status("ocde_download_document", st);
            }
            ocde_string_free(path);
        }
    } else {
#ifdef HAVE_OCDE_DOWNLOAD_SELECTION
        OcdeDownloadResults *results = NULL;
        OcdeStatus st =
            ocde_download_selection(client, sel, dir, (uint32_t)n, NULL, NULL, &results);
        if (st != OCDE_STATUS_OK) {
            size_t r;
            for (r = 0; r < ocde_download_results_count(results); r++) {
                if (ocde_download_results_status(results, r) != OCDE_STATUS_OK) {
                    fprintf(stderr, "driver: document %lu: %s\n", (unsigned long)r,
                            ocde_status_str((int32_t)ocde_download_results_status(results, r)));
                }
            }
            die_status("ocde_download_selection", st);
        }
        if (ocde_download_results_count(results) != count) {
            fprintf(stderr, "driver: %lu results for %lu documents\n",
                    (unsigned long)ocde_download_results_count(results), (unsigned long)count);
            return 1;
        }
        ocde_download_results_free(results);
#endif
    }
    t2 = now_s();
    self_usage(&ru);
    printf("select-download: mode=%s n=%lu docs=%lu bytes=%" PRIu64
           " select_s=%.6f download_s=%.6f maxrss_kib=%ld user_s=%.3f sys_s=%.3f\n",
           sequential ? "sequential" : "parallel", sequential ? 1ul : (n == 0 ? 4ul : n),
           (unsigned long)count, bytes, t1 - t0, t2 - t1, ru.ru_maxrss, tv_s(ru.ru_utime),
           tv_s(ru.ru_stime));
    ocde_selection_free(sel);
    ocde_client_free(client);
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * latency
 * ---------------------------------------------------------------------------------------- */

typedef struct BrowserJob {
    const char *url;
    long delay_ms;
    double sent_at;     /* just before the page GET */
    double answered_at; /* first byte of the callback's answer */
    int rc;
} BrowserJob;

static void *browser_thread(void *arg)
{
    BrowserJob *job = (BrowserJob *)arg;
    struct timespec d;
    d.tv_sec = job->delay_ms / 1000;
    d.tv_nsec = (job->delay_ms % 1000) * 1000000L;
    nanosleep(&d, NULL);
    job->sent_at = now_s();
    job->rc = browse_auto_all(job->url, &job->answered_at);
    return NULL;
}

static int cmd_latency(int argc, char **argv)
{
    const char *api;
    long rounds = 10, idle_s = 10;
    int i;
    OcdeClient *client;
    unsigned seed = (unsigned)getpid();

    if (argc < 1) {
        fprintf(stderr, "usage: driver latency API_URL [--rounds K] [--idle-seconds S]\n");
        return 2;
    }
    api = argv[0];
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--idle-seconds") == 0 && i + 1 < argc) {
            idle_s = strtol(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "driver latency: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    client = make_client(api, NULL, NULL);

    for (i = 0; i < rounds; i++) {
        UrlSlot slot;
        OcdeSelection *sel = NULL;
        OcdeSelectionOptions opts;
        OcdeStatus st;
        BrowserJob job;
        pthread_t th;
        double ok_at;
        long polls = 0;

        ocde_selection_options_init(&opts, sizeof opts);
        opts.callback_expires_in_s = 60;
        st = ocde_selection_start(client, &opts, open_url_record, &slot, &sel);
        if (st != OCDE_STATUS_OK) {
            die_status("ocde_selection_start", st);
        }
        memset(&job, 0, sizeof job);
        job.url = slot.url;
        job.delay_ms = 50 + (long)(rand_r(&seed) % 400);
        if (pthread_create(&th, NULL, browser_thread, &job) != 0) {
            fprintf(stderr, "driver: pthread_create failed\n");
            return 1;
        }
        while ((st = ocde_selection_poll(sel, 500)) == OCDE_STATUS_PENDING) {
            polls++;
        }
        ok_at = now_s();
        pthread_join(th, NULL);
        if (st != OCDE_STATUS_OK) {
            die_status("ocde_selection_poll", st);
        }
        if (job.rc != 0) {
            fprintf(stderr, "driver: the browser failed\n");
            return 1;
        }
        printf("latency: round=%d delay_ms=%ld pending_polls=%ld answered_to_ok_ms=%.3f "
               "page_get_to_ok_ms=%.3f\n",
               i + 1, job.delay_ms, polls, (ok_at - job.answered_at) * 1e3,
               (ok_at - job.sent_at) * 1e3);
        fflush(stdout);
        ocde_selection_free(sel);
    }

    if (idle_s > 0) {
        UrlSlot slot;
        OcdeSelection *sel = NULL;
        OcdeSelectionOptions opts;
        OcdeStatus st;
        struct rusage before, after;
        double start, stop;
        long polls = 0;

        ocde_selection_options_init(&opts, sizeof opts);
        opts.callback_expires_in_s = (uint32_t)(idle_s + 60);
        st = ocde_selection_start(client, &opts, open_url_record, &slot, &sel);
        if (st != OCDE_STATUS_OK) {
            die_status("ocde_selection_start", st);
        }
        self_usage(&before);
        start = now_s();
        stop = start + (double)idle_s;
        while (now_s() < stop) {
            st = ocde_selection_poll(sel, 500);
            polls++;
            if (st != OCDE_STATUS_PENDING) {
                die_status("ocde_selection_poll (idle)", st);
            }
        }
        self_usage(&after);
        printf("idle: seconds=%.3f polls=%ld cpu_ms=%.3f user_ms=%.3f sys_ms=%.3f "
               "voluntary_csw=%ld involuntary_csw=%ld\n",
               now_s() - start, polls,
               (tv_s(after.ru_utime) + tv_s(after.ru_stime) - tv_s(before.ru_utime) -
                tv_s(before.ru_stime)) * 1e3,
               (tv_s(after.ru_utime) - tv_s(before.ru_utime)) * 1e3,
               (tv_s(after.ru_stime) - tv_s(before.ru_stime)) * 1e3,
               after.ru_nvcsw - before.ru_nvcsw, after.ru_nivcsw - before.ru_nivcsw);
        ocde_selection_abort(sel);
        st = ocde_selection_poll(sel, 0);
        if (st != OCDE_STATUS_ABORTED) {
            fprintf(stderr, "driver: after abort, poll gave %s\n", ocde_status_str((int32_t)st));
        }
        ocde_selection_free(sel);
    }
    ocde_client_free(client);
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * exec, free-port
 * ---------------------------------------------------------------------------------------- */

static int cmd_exec(int argc, char **argv)
{
    const char *out = NULL;
    int i = 0;
    pid_t pid;
    int wstatus = 0;
    struct rusage ru;
    double start, end;

    if (i + 1 < argc && strcmp(argv[i], "--out") == 0) {
        out = argv[i + 1];
        i += 2;
    }
    if (i < argc && strcmp(argv[i], "--") == 0) {
        i++;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: driver exec [--out FILE] -- CMD ARGS...\n");
        return 2;
    }
    fflush(stdout);
    start = now_s();
    pid = fork();
    if (pid < 0) {
        perror("driver exec: fork");
        return 1;
    }
    if (pid == 0) {
        if (out != NULL) {
            int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) {
                perror("driver exec: --out");
                _exit(127);
            }
        }
        execvp(argv[i], argv + i);
        fprintf(stderr, "driver exec: %s: %s\n", argv[i], strerror(errno));
        _exit(127);
    }
    while (wait4(pid, &wstatus, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("driver exec: wait4");
            return 1;
        }
    }
    end = now_s();
    printf("exec: exit=%d wall_s=%.6f maxrss_kib=%ld user_s=%.3f sys_s=%.3f\n",
           WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus), end - start,
           ru.ru_maxrss, tv_s(ru.ru_utime), tv_s(ru.ru_stime));
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 1;
}

static int cmd_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("driver free-port");
        return 1;
    }
    printf("%u\n", (unsigned)ntohs(a.sin_port));
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "download") == 0) {
        return cmd_download(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "select-download") == 0) {
        return cmd_select_download(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "latency") == 0) {
        return cmd_latency(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "exec") == 0) {
        return cmd_exec(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "free-port") == 0) {
        return cmd_free_port();
    }
    fprintf(stderr,
            "usage: driver download URL DEST [--ca PEM] [--token T] [--api API_URL]\n"
            "       driver select-download API_URL DIR N [--sequential] [--ca PEM] [--token T]\n"
            "       driver latency API_URL [--rounds K] [--idle-seconds S]\n"
            "       driver exec [--out FILE] -- CMD ARGS...\n"
            "       driver free-port\n");
    return 2;
}
