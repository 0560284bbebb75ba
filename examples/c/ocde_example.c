/*
 * ocde_example.c — download documents from a CDE with the OpenCDE Documents API, from C.
 *
 * This is the whole flow a CAD/BIM plugin needs, written to be copied:
 *
 *   1. ocde_client_new(documents_api_url)       one client per CDE
 *   2. ocde_client_set_access_token(token)      OAuth2 access token (from your own login flow)
 *   3. ocde_selection_start(...)                the library listens on a 127.0.0.1 callback URL,
 *                                               asks the CDE for a selection page and opens it
 *   4. ocde_selection_poll(sel, 500) ...        while it returns OCDE_STATUS_PENDING; a plugin
 *                                               would do this from a timer or a worker thread so
 *                                               its UI stays responsive
 *   5. ocde_selection_count / ocde_selection_get the documents the user picked
 *   6. ocde_download_document(...)              each one, into a folder, with progress
 *   7. ocde_selection_free / ocde_client_free
 *
 * Or, instead of steps 1 and 2, let the library sign the user in (--server):
 *
 *   1a. ocde_server_discover(server_url)        what the server offers (Foundation API):
 *                                               its Documents API URL and OAuth2 endpoints
 *   1b. ocde_client_new_for_server(server_url)  a client that knows those endpoints
 *   2a. ocde_client_set_oauth(client_id, ...)   the application's OAuth2 client id (and secret,
 *                                               for a confidential client only) and a callback
 *                                               told of every new token set
 *   2b. ocde_sign_in_start(...)                 the library listens on a 127.0.0.1 redirect URI
 *                                               and opens the server's sign-in page
 *   2c. ocde_sign_in_poll(sign_in, 500) ...     while PENDING; then the library exchanges the
 *                                               code for tokens and keeps them (and refreshes
 *                                               them) itself: the host never handles a token
 *   2d. ocde_client_current_user(...)           who signed in
 *
 * Usage:
 *   ocde_example --url DOCUMENTS_API_URL [--token TOKEN] [options]
 *   ocde_example --server SERVER_URL --client-id ID [--client-secret SECRET] [options]
 *     options: [--out DIR] [--timeout SECONDS] [--auto | --auto-cancel | --auto-deny] [--verbose]
 *
 *   --url URL        the CDE's Documents API base URL, e.g. https://cde.example.com/documents/1.0
 *   --token TOKEN    bearer token (optional). Note: command-line arguments are visible to other
 *                    users of the machine (ps); a real plugin keeps the token in memory only.
 *   --server URL     instead of --url/--token: the CDE's server URL, e.g. https://cde.example.com;
 *                    discover its APIs and sign the user in with OAuth2 (authorization code +
 *                    PKCE) in the browser
 *   --client-id ID   the application's OAuth2 client id, registered with the CDE (with --server)
 *   --client-secret S  only for a confidential client (with --server). The same warning as for
 *                    --token applies: a desktop plugin is normally a public client, without one.
 *   --out DIR        where the files go; created if missing (default ./downloads)
 *   --timeout S      how long to wait for the user's sign-in and for the selection, each, in
 *                    seconds (default 300)
 *   --auto           test mode for the CDE simulator: instead of opening the system browser,
 *                    play the browser ourselves: press "Sign in" (&auto=allow) and select every
 *                    document (?auto=all)
 *   --auto-cancel    the same, but press "Cancel" in the selection page (?auto=cancel)
 *   --auto-deny      with --server: press "Deny" in the sign-in page (&auto=deny)
 *   --verbose        also print the library's informational log messages
 *
 * Output: "signed in as <name> (<id>)" (with --server), the selected documents and one line
 * "downloaded <document_id> -> <path>" per file on stdout; progress, log messages, the token
 * expiry ("signed in: access token expires at <time>"; never a token) and errors on stderr.
 * Exit status: 0 success, 1 failure ("error: <status>: <message>" on stderr), 2 cancelled by the
 * user (Deny in the sign-in page: "sign-in cancelled"; Cancel in the CDE's page: "cancelled";
 * or Ctrl-C).
 *
 * Build (see build.sh):
 *   cc -std=c99 -Wall -Wextra -pedantic -I include examples/c/ocde_example.c \
 *      -L target/debug -lopencde_documents -Wl,-rpath,$PWD/target/debug -o ocde_example
 */

#ifndef _WIN32
/* For getaddrinfo, mkdir, isatty, clock_gettime and the socket API under -std=c99. */
#define _POSIX_C_SOURCE 200112L
#endif

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef _WIN32
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>
#else
#include <direct.h>
#include <io.h>
#endif

#include "opencde_documents.h"

/* Exit statuses. */
enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_CANCELLED = 2 };

/* Set by the SIGINT handler. A signal handler may only touch a volatile sig_atomic_t; the poll
 * loop and the progress callback look at it and cancel cleanly (ocde_selection_abort and the
 * library's other functions are not async-signal-safe, so they are never called from the
 * handler itself). */
static volatile sig_atomic_t g_interrupted = 0;

static void on_sigint(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

/* Prints the library's description of the failure that `status` reports. ocde_last_error() is
 * per thread and valid until the next status-returning call on this thread, so call this right
 * after the failing call. It never contains the access token. */
static void print_error(OcdeStatus status)
{
    fprintf(stderr, "error: %s: %s\n", ocde_status_str(status), ocde_last_error());
}

/* ---------------------------------------------------------------------------------------------
 * Small portable helpers: a monotonic clock, isatty, mkdir -p.
 * ------------------------------------------------------------------------------------------- */

static double now_seconds(void)
{
#ifndef _WIN32
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0) {
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    }
#endif
    return (double)time(NULL);
}

static int stderr_is_terminal(void)
{
#ifndef _WIN32
    return isatty(STDERR_FILENO);
#else
    return _isatty(_fileno(stderr));
#endif
}

static int make_one_dir(const char *path)
{
#ifndef _WIN32
    return mkdir(path, 0777);
#else
    return _mkdir(path);
#endif
}

/* Creates `path` and its missing parents, like `mkdir -p`. Returns 0 on success. */
static int make_dirs(const char *path)
{
    size_t len = strlen(path);
    char *copy;
    size_t i;
    int rc = 0;

    if (len == 0) {
        return -1;
    }
    copy = (char *)malloc(len + 1);
    if (copy == NULL) {
        return -1;
    }
    memcpy(copy, path, len + 1);
    /* Create every prefix that ends before a separator (ignoring failures: "C:" or an existing
     * parent we may not write to), then the whole path, which must exist afterwards. */
    for (i = 1; i < len; i++) {
        if (copy[i] == '/' || copy[i] == '\\') {
            char saved = copy[i];
            copy[i] = '\0';
            (void)make_one_dir(copy);
            copy[i] = saved;
        }
    }
    if (make_one_dir(copy) != 0 && errno != EEXIST) {
        rc = -1;
    }
    free(copy);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Callbacks. The library calls them only on the thread that called it, inside that call, with
 * `user_data` first (so no global state is needed, and no locking).
 * ------------------------------------------------------------------------------------------- */

/* Log callback: warnings always, informational messages with --verbose. `message` is valid only
 * during the call. It must not call back into the library with the same client. */
static void on_log(void *user_data, OcdeLogLevel level, const char *message)
{
    const int verbose = *(const int *)user_data;
    if (level == OCDE_LOG_LEVEL_WARNING) {
        fprintf(stderr, "warning: %s\n", message);
    } else if (verbose) {
        fprintf(stderr, "info: %s\n", message);
    }
}

/* State of one progress bar, passed as the progress callback's user_data. */
typedef struct ProgressBar {
    const char *label;   /* shown after the bar (the document's title) */
    int on_terminal;     /* redraw in place only on a terminal; otherwise print the end only */
    int last_permille;   /* last drawn position, to redraw only when something visible changes */
    uint64_t received;   /* bytes so far */
    int64_t total;       /* expected bytes, or -1 when unknown */
} ProgressBar;

static void progress_draw(const ProgressBar *bar, int final)
{
    enum { WIDTH = 30 };
    char cells[WIDTH + 1];
    int i, filled = 0;

    if (bar->total > 0) {
        uint64_t total = (uint64_t)bar->total;
        uint64_t shown = bar->received < total ? bar->received : total;
        filled = (int)((shown * WIDTH) / total);
    } else if (final) {
        filled = WIDTH;
    }
    for (i = 0; i < WIDTH; i++) {
        cells[i] = i < filled ? '#' : '.';
    }
    cells[WIDTH] = '\0';

    /* On a terminal, "\r" redraws the same line; in a log file only the final line is written. */
    if (bar->total > 0) {
        uint64_t total = (uint64_t)bar->total;
        uint64_t shown = bar->received < total ? bar->received : total;
        fprintf(stderr, "%s  [%s] %3d%% %10" PRIu64 " / %" PRIu64 " bytes  %s",
                bar->on_terminal ? "\r" : "", cells, (int)((shown * 100u) / total),
                bar->received, total, bar->label);
    } else {
        fprintf(stderr, "%s  [%s] %10" PRIu64 " bytes  %s", bar->on_terminal ? "\r" : "", cells,
                bar->received, bar->label);
    }
    if (final) {
        fputc('\n', stderr);
    }
    fflush(stderr);
}

/* Progress callback: `received` bytes so far of `total` (-1 when unknown). Called once with 0
 * before the first byte, then after every chunk. Returning non-zero aborts the download
 * (OCDE_STATUS_ABORTED, and no partial file is left behind) — here, on Ctrl-C. */
static int32_t on_progress(void *user_data, uint64_t received, int64_t total)
{
    ProgressBar *bar = (ProgressBar *)user_data;
    int permille;

    bar->received = received;
    bar->total = total;
    if (g_interrupted) {
        return 1;
    }
    if (!bar->on_terminal) {
        return 0;
    }
    /* Redraw at most ~1000 times per file: a terminal is slow compared to a local download. */
    permille = total > 0 ? (int)((received * 1000u) / (uint64_t)total) : (int)(received >> 16);
    if (received == 0 || permille != bar->last_permille) {
        bar->last_permille = permille;
        progress_draw(bar, 0);
    }
    return 0;
}

/* Writes `unix_time` as "2024-05-01 12:34:56 UTC" into `out` ("an unknown time" for 0). */
static void format_unix_time(int64_t unix_time, char *out, size_t out_size)
{
    time_t t = (time_t)unix_time;
    struct tm *tm;

    /* gmtime's static result is fine here: callbacks run on this (the only) thread. */
    if (unix_time <= 0 || (int64_t)t != unix_time || (tm = gmtime(&t)) == NULL ||
        strftime(out, out_size, "%Y-%m-%d %H:%M:%S UTC", tm) == 0) {
        snprintf(out, out_size, "an unknown time");
    }
}

/* State of the token callback, passed as its user_data. */
typedef struct TokenReport {
    unsigned long token_sets; /* how many token sets arrived (the sign-in, then each refresh) */
} TokenReport;

/* Token callback: the library hands over every new token set — once after the sign-in, then
 * after every refresh (which it does by itself, before a token expires or after a 401). Called
 * on this thread, inside the library call that obtained them (ocde_sign_in_poll, a download, ...);
 * the strings are valid only during the call.
 *
 * A real plugin stores `refresh_token` in the operating system's credential store (Keychain,
 * Windows Credential Manager, libsecret) and, at its next start, hands it back with
 * ocde_client_set_refresh_token so the user need not sign in again. It never prints or logs
 * either token; neither does this example, which keeps nothing and reports only the expiry. */
static void on_tokens(void *user_data, const char *access_token, const char *refresh_token,
                      int64_t expires_at_unix)
{
    TokenReport *report = (TokenReport *)user_data;
    char when[64];

    (void)access_token;
    (void)refresh_token;
    format_unix_time(expires_at_unix, when, sizeof when);
    fprintf(stderr, "%s: access token expires at %s\n",
            report->token_sets == 0 ? "signed in" : "tokens refreshed", when);
    report->token_sets++;
}

/* ---------------------------------------------------------------------------------------------
 * --auto: play the browser against the CDE simulator with plain POSIX sockets.
 *
 * A real plugin never needs this: it passes open_url = NULL (the library opens the system
 * browser) or shows the URL in its own embedded web view. The simulator's pages take the user's
 * choice in the URL and redirect straight to the library's loopback listener: the selection page
 * (?auto=all / ?auto=cancel, 303 to the callback URL) and the OAuth2 sign-in page (&auto=allow /
 * &auto=deny, 302 to the redirect URI). So "the browser" is: GET the page, read Location, GET it
 * with the right Host header.
 * ------------------------------------------------------------------------------------------- */

typedef struct AutoBrowser {
    const char *page;   /* for messages: "the selection page", "the sign-in page" */
    const char *choice; /* the value of the page's auto= parameter; NULL: no auto browser */
} AutoBrowser;

#ifndef _WIN32

/* A parsed http:// URL. */
typedef struct HttpUrl {
    char authority[256]; /* host[:port] as written, for the Host header */
    char host[256];      /* host without brackets, for getaddrinfo */
    char port[8];
    char target[4096];   /* path and query, for the request line */
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

/* Parses "http://host[:port][/path][?query][#fragment]" (no user info). Only http, and only a
 * loopback host: this helper exists to drive the local simulator, nothing else. */
static int parse_http_url(const char *url, HttpUrl *out)
{
    const char *p, *auth_end, *host_end, *frag;
    size_t auth_len, host_len, target_len;

    if (!starts_with_nocase(url, "http://")) {
        fprintf(stderr, "auto browser: only http:// URLs are supported: %s\n", url);
        return -1;
    }
    p = url + strlen("http://");
    auth_end = p + strcspn(p, "/?#");
    auth_len = (size_t)(auth_end - p);
    if (auth_len == 0 || auth_len >= sizeof out->authority || memchr(p, '@', auth_len) != NULL) {
        fprintf(stderr, "auto browser: unsupported URL authority: %s\n", url);
        return -1;
    }
    memcpy(out->authority, p, auth_len);
    out->authority[auth_len] = '\0';

    /* Host and port; an IPv6 literal is written [::1]:port. */
    if (out->authority[0] == '[') {
        const char *close = strchr(out->authority, ']');
        if (close == NULL) {
            return -1;
        }
        host_len = (size_t)(close - out->authority) - 1;
        memcpy(out->host, out->authority + 1, host_len);
        host_end = close + 1;
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
        fprintf(stderr, "auto browser: bad port in %s\n", url);
        return -1;
    }
    if (strcmp(out->host, "127.0.0.1") != 0 && strcmp(out->host, "localhost") != 0 &&
        strcmp(out->host, "::1") != 0) {
        fprintf(stderr, "auto browser: refusing to contact a non-loopback host: %s\n", out->host);
        return -1;
    }

    /* The request target: path and query, without the fragment (a browser never sends it). */
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

/* Connects to host:port with send/receive timeouts. Returns the socket or -1. */
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
        fprintf(stderr, "auto browser: cannot resolve %s: %s\n", u->host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        /* Never hang forever on a server that stops answering. */
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
        fprintf(stderr, "auto browser: cannot connect to %s: %s\n", u->authority, strerror(errno));
    }
    return fd;
}

/* GETs `url` with "Connection: close" and reads the answer to its end. On success returns 0,
 * the status code in *status and, if `location` is not NULL, the Location header (or "").
 * The body is read and discarded. */
static int http_get(const char *url, int *status, char *location, size_t location_size)
{
    HttpUrl u;
    char request[4608];
    char head[16384]; /* the start of the answer: status line and headers */
    size_t head_len = 0;
    int fd, n, len;
    const char *line;

    if (parse_http_url(url, &u) != 0) {
        return -1;
    }
    len = snprintf(request, sizeof request,
                   "GET %s HTTP/1.1\r\n"
                   "Host: %s\r\n"
                   "User-Agent: ocde_example-auto-browser/1.0\r\n"
                   "Accept: text/html,*/*;q=0.8\r\n"
                   "Connection: close\r\n"
                   "\r\n",
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
                fprintf(stderr, "auto browser: send to %s failed: %s\n", u.authority,
                        strerror(errno));
                close(fd);
                return -1;
            }
            p += sent;
            left -= (size_t)sent;
        }
    }
    /* Keep the first 16 KiB (more than enough for the headers), discard the rest, until EOF. */
    for (;;) {
        char chunk[4096];
        ssize_t got = recv(fd, chunk, sizeof chunk, 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            fprintf(stderr, "auto browser: reading from %s failed: %s\n", u.authority,
                    strerror(errno));
            close(fd);
            return -1;
        }
        if (got == 0) {
            break;
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
        fprintf(stderr, "auto browser: %s did not answer HTTP\n", u.authority);
        return -1;
    }
    *status = n;
    if (location != NULL && location_size > 0) {
        location[0] = '\0';
        /* Header lines end with CRLF; the header block ends with an empty line. */
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

/* Turns a Location (absolute, or absolute-path relative to `base`) into an absolute URL. */
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
    fprintf(stderr, "auto browser: unsupported Location: %s\n", location);
    return -1;
}

#endif /* !_WIN32 */

/* open_url callback for --auto / --auto-cancel / --auto-deny. Called once, inside
 * ocde_selection_start or ocde_sign_in_start, on this thread. The library's listener runs on its
 * own thread, so it can answer the GET we make from here. Returning non-zero makes the start
 * fail with OCDE_STATUS_ABORTED. */
static int32_t open_url_auto(void *user_data, const char *url)
{
#ifndef _WIN32
    const AutoBrowser *browser = (const AutoBrowser *)user_data;
    size_t url_len = strlen(url);
    size_t frag = strcspn(url, "#");
    char page[8192], location[8192], callback[8192];
    int status = 0, len;

    /* <page URL> + ('?' or '&') + "auto=<choice>" (dropping any fragment). */
    if (url_len >= sizeof page - 32) {
        fprintf(stderr, "auto browser: URL too long\n");
        return 1;
    }
    len = snprintf(page, sizeof page, "%.*s%cauto=%s", (int)frag, url,
                   memchr(url, '?', frag) != NULL ? '&' : '?', browser->choice);
    if (len < 0 || (size_t)len >= sizeof page) {
        return 1;
    }
    if (http_get(page, &status, location, sizeof location) != 0) {
        return 1;
    }
    if (status < 300 || status > 399 || location[0] == '\0') {
        fprintf(stderr, "auto browser: %s answered %d, not a redirect\n", browser->page, status);
        return 1;
    }
    /* Follow the redirect to the library's own listener, as the browser would. */
    if (resolve_location(page, location, callback, sizeof callback) != 0) {
        return 1;
    }
    if (http_get(callback, &status, NULL, 0) != 0) {
        return 1;
    }
    if (status < 200 || status > 299) {
        fprintf(stderr, "auto browser: the callback answered %d\n", status);
        return 1;
    }
    return 0;
#else
    (void)user_data;
    (void)url;
    fprintf(stderr, "auto browser: --auto needs POSIX sockets (not available on Windows)\n");
    return 1;
#endif
}

/* ---------------------------------------------------------------------------------------------
 * --server: discovery and OAuth2 sign-in.
 * ------------------------------------------------------------------------------------------- */

/* Shows what the server at `server_url` offers (GET /foundation/versions and
 * /foundation/1.0/auth) and checks that it offers a sign-in. Returns 0 when it does. A plugin
 * would do this when the user enters the server's address, to tell them early if it is wrong. */
static int describe_server(const char *server_url)
{
    OcdeServer *server = NULL;
    const char *auth_url, *method;
    OcdeStatus status;
    int rc = 0;

    status = ocde_server_discover(server_url, &server);
    if (status != OCDE_STATUS_OK) {
        print_error(status);
        return -1; /* `server` was not written: nothing to free */
    }
    /* The accessors' strings are borrowed from `server`, valid until ocde_server_free. */
    auth_url = ocde_server_auth_url(server);
    method = ocde_server_code_challenge_method(server);
    fprintf(stderr, "server: Documents API %s\n", ocde_server_documents_api_url(server));
    if (auth_url == NULL) {
        fprintf(stderr, "error: %s offers no OAuth2 sign-in (no /foundation/1.0/auth)\n",
                server_url);
        rc = -1;
    } else {
        fprintf(stderr, "server: sign-in at %s (PKCE %s%s)\n", auth_url,
                method != NULL ? method : "method not announced",
                ocde_server_pkce_required(server) ? ", required" : "");
        if (!ocde_server_supports_flow(server, "authorization_code_grant")) {
            fprintf(stderr, "warning: the server does not list the authorization code grant; "
                            "trying anyway\n");
        }
    }
    ocde_server_free(server);
    return rc;
}

/* Signs the user in on `client` (made by ocde_client_new_for_server) and prints who signed in.
 * `browser` NULL: the system browser. Returns EXIT_OK, EXIT_CANCELLED (Deny, Ctrl-C) or
 * EXIT_FAILED. From here on the client holds the tokens, sends the access token with every API
 * request and refreshes it when needed; the host never touches them. */
static int sign_in(OcdeClient *client, const char *client_id, const char *client_secret,
                   unsigned long timeout_s, AutoBrowser *browser, TokenReport *tokens)
{
    OcdeSignIn *sign_in = NULL;
    OcdeStatus status;
    char *user_id = NULL;   /* ours, freed with ocde_string_free */
    char *user_name = NULL; /* ours, freed with ocde_string_free */
    double deadline;
    int rc = EXIT_FAILED;

    /* The application's identity at the CDE (a public client: no secret), and where new tokens
     * are reported. The strings are copied. */
    status = ocde_client_set_oauth(client, client_id, client_secret, on_tokens, tokens);
    if (status != OCDE_STATUS_OK) {
        print_error(status);
        return EXIT_FAILED;
    }

    /* Listen on a 127.0.0.1 redirect URI for as long as we are willing to wait, and open the
     * sign-in page (open_url NULL: the system browser; --auto: our own "browser"). */
    status = ocde_sign_in_start(client, (uint32_t)timeout_s, browser != NULL ? open_url_auto : NULL,
                                browser, &sign_in);
    if (status != OCDE_STATUS_OK) {
        print_error(status);
        return EXIT_FAILED; /* nothing was created, nothing keeps listening */
    }
    if (browser == NULL) {
        /* Borrowed from the sign-in, valid until ocde_sign_in_free. */
        fprintf(stderr, "Sign in in your browser. If it did not open, visit:\n  %s\n",
                ocde_sign_in_url(sign_in));
    }

    /* Wait for the browser to come back; the code exchange happens inside the poll that returns
     * OK (and the token callback is called there). Same pattern as the selection below. */
    deadline = now_seconds() + (double)timeout_s;
    for (;;) {
        status = ocde_sign_in_poll(sign_in, 500);
        if (status != OCDE_STATUS_PENDING) {
            break;
        }
        if (g_interrupted) {
            ocde_sign_in_abort(sign_in); /* the next poll says ABORTED */
        } else if (now_seconds() >= deadline) {
            fprintf(stderr, "error: no sign-in within %lu seconds\n", timeout_s);
            goto done;
        }
    }
    switch (status) {
    case OCDE_STATUS_OK:
        break;
    case OCDE_STATUS_USER_CANCELLED: /* the user pressed Deny */
    case OCDE_STATUS_ABORTED:        /* only we abort it, on Ctrl-C */
        printf("sign-in cancelled\n");
        rc = EXIT_CANCELLED;
        goto done;
    case OCDE_STATUS_EXPIRED:
        fprintf(stderr, "error: the sign-in expired before the browser came back\n");
        goto done;
    default: /* e.g. the token exchange failed */
        print_error(status);
        goto done;
    }
    /* The sign-in's listener is no longer needed. */
    ocde_sign_in_free(sign_in);
    sign_in = NULL;

    /* Who is it? (GET /foundation/1.0/current-user with the new access token.) */
    status = ocde_client_current_user(client, &user_id, &user_name);
    if (status != OCDE_STATUS_OK) {
        print_error(status);
        goto done;
    }
    printf("signed in as %s (%s)\n", user_name, user_id);
    fflush(stdout);
    ocde_string_free(user_id);
    ocde_string_free(user_name);
    rc = EXIT_OK;

done:
    ocde_sign_in_free(sign_in); /* NULL is a no-op */
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------------- */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: ocde_example --url DOCUMENTS_API_URL [--token TOKEN] [OPTIONS]\n"
            "       ocde_example --server SERVER_URL --client-id ID [--client-secret SECRET]\n"
            "                    [OPTIONS]\n"
            "options: [--out DIR] [--timeout SECONDS] [--auto | --auto-cancel | --auto-deny]\n"
            "         [--verbose]\n");
}

int main(int argc, char **argv)
{
    const char *api_url = NULL;
    const char *token = NULL;
    const char *server_url = NULL;
    const char *client_id = NULL;
    const char *client_secret = NULL;
    const char *out_dir = "./downloads";
    unsigned long timeout_s = 300;
    AutoBrowser browser = { "the selection page", NULL };
    AutoBrowser sign_in_browser = { "the sign-in page", NULL };
    TokenReport tokens = { 0 };
    int verbose = 0;

    OcdeClient *client = NULL;
    OcdeSelection *selection = NULL;
    OcdeSelectionOptions options;
    OcdeStatus status;
    int exit_code = EXIT_FAILED;
    int failures = 0;
    double deadline;
    size_t count, i;
    int i_arg;

    /* ---- Command line ---- */
    for (i_arg = 1; i_arg < argc; i_arg++) {
        const char *a = argv[i_arg];
        const char *next = i_arg + 1 < argc ? argv[i_arg + 1] : NULL;
        if (strcmp(a, "--url") == 0 && next != NULL) {
            api_url = next;
            i_arg++;
        } else if (strcmp(a, "--token") == 0 && next != NULL) {
            token = next;
            i_arg++;
        } else if (strcmp(a, "--server") == 0 && next != NULL) {
            server_url = next;
            i_arg++;
        } else if (strcmp(a, "--client-id") == 0 && next != NULL) {
            client_id = next;
            i_arg++;
        } else if (strcmp(a, "--client-secret") == 0 && next != NULL) {
            client_secret = next;
            i_arg++;
        } else if (strcmp(a, "--out") == 0 && next != NULL) {
            out_dir = next;
            i_arg++;
        } else if (strcmp(a, "--timeout") == 0 && next != NULL) {
            char *end;
            errno = 0;
            timeout_s = strtoul(next, &end, 10);
            if (errno != 0 || *end != '\0' || end == next || timeout_s == 0 ||
                timeout_s > 86400ul) {
                fprintf(stderr, "error: --timeout needs a number of seconds (1..86400)\n");
                return EXIT_FAILED;
            }
            i_arg++;
        } else if (strcmp(a, "--auto") == 0) {
            sign_in_browser.choice = "allow";
            browser.choice = "all";
        } else if (strcmp(a, "--auto-cancel") == 0) {
            sign_in_browser.choice = "allow";
            browser.choice = "cancel";
        } else if (strcmp(a, "--auto-deny") == 0) {
            sign_in_browser.choice = "deny";
            browser.choice = "all"; /* never reached: the sign-in is denied */
        } else if (strcmp(a, "--verbose") == 0) {
            verbose = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else {
            fprintf(stderr, "error: unknown or incomplete argument: %s\n", a);
            usage(stderr);
            return EXIT_FAILED;
        }
    }
    if ((api_url == NULL) == (server_url == NULL)) {
        fprintf(stderr, "error: give either --url (with --token) or --server (with --client-id)\n");
        usage(stderr);
        return EXIT_FAILED;
    }
    if (server_url != NULL && (token != NULL || client_id == NULL)) {
        fprintf(stderr, "error: --server needs --client-id and signs in itself (no --token)\n");
        return EXIT_FAILED;
    }
    if (server_url == NULL && (client_id != NULL || client_secret != NULL)) {
        fprintf(stderr, "error: --client-id and --client-secret go with --server, not --url\n");
        return EXIT_FAILED;
    }
    if (server_url == NULL && sign_in_browser.choice != NULL &&
        strcmp(sign_in_browser.choice, "deny") == 0) {
        fprintf(stderr, "error: --auto-deny needs --server (there is no sign-in with --url)\n");
        return EXIT_FAILED;
    }
#ifdef _WIN32
    if (browser.choice != NULL) {
        fprintf(stderr, "error: --auto, --auto-cancel and --auto-deny need POSIX sockets\n");
        return EXIT_FAILED;
    }
#endif
    if (make_dirs(out_dir) != 0) {
        fprintf(stderr, "error: cannot create %s: %s\n", out_dir, strerror(errno));
        return EXIT_FAILED;
    }
    /* Ctrl-C cancels cleanly (see on_sigint); a second Ctrl-C may kill the process outright. */
    signal(SIGINT, on_sigint);

    /* ---- 1. Client: from the Documents API URL, or (1a, 1b) from the server URL ---- */
    if (server_url != NULL) {
        /* Discovery is optional (ocde_client_new_for_server discovers by itself); it shows what
         * the server offers and fails early when it offers no sign-in. */
        if (describe_server(server_url) != 0) {
            goto done;
        }
        status = ocde_client_new_for_server(server_url, &client);
    } else {
        status = ocde_client_new(api_url, &client);
    }
    if (status != OCDE_STATUS_OK) {
        print_error(status);
        goto done; /* `client` was not written: still NULL */
    }
    status = ocde_client_set_log_callback(client, on_log, &verbose);
    if (status != OCDE_STATUS_OK) {
        print_error(status);
        goto done;
    }

    if (server_url != NULL) {
        /* ---- 2a-2d. Sign in (see sign_in above); from then on the client keeps the tokens,
         * sends the access token with its requests and refreshes it when needed. ---- */
        int rc = sign_in(client, client_id, client_secret, timeout_s,
                         sign_in_browser.choice != NULL ? &sign_in_browser : NULL, &tokens);
        if (rc != EXIT_OK) {
            exit_code = rc;
            goto done;
        }
    } else {
        /* ---- 2. Token (NULL clears it; the library copies the string). It is only ever sent to
         * the origin of the documents API URL, never to the storage the downloads redirect to. */
        status = ocde_client_set_access_token(client, token);
        if (status != OCDE_STATUS_OK) {
            print_error(status);
            goto done;
        }
    }

    /* ---- 3. Start the selection ----
     * Always prepare the options with ocde_selection_options_init and this program's sizeof: it
     * fills the defaults and struct_size, so this code keeps working with later versions of the
     * library (which then know how much of the struct this program has). */
    ocde_selection_options_init(&options, sizeof options);
    /* Ask the CDE to keep the callback valid as long as we are willing to wait. */
    options.callback_expires_in_s = (uint32_t)timeout_s;

    /* open_url NULL: the library opens the system browser. --auto: our own "browser". */
    status = ocde_selection_start(client, &options, browser.choice != NULL ? open_url_auto : NULL,
                                  &browser, &selection);
    if (status != OCDE_STATUS_OK) {
        print_error(status);
        goto done; /* nothing was created, nothing keeps listening */
    }
    if (browser.choice == NULL) {
        /* The URL is borrowed from the selection, valid until ocde_selection_free. */
        fprintf(stderr,
                "Select the documents in your browser. If it did not open, visit:\n  %s\n",
                ocde_selection_url(selection));
    }

    /* ---- 4. Wait for the user's choice ----
     * Each poll sleeps at most 500 ms without using CPU; a plugin would call it from a UI timer
     * (with 0 ms) or a worker thread, and call ocde_selection_abort from its Cancel button. */
    deadline = now_seconds() + (double)timeout_s;
    for (;;) {
        status = ocde_selection_poll(selection, 500);
        if (status != OCDE_STATUS_PENDING) {
            break;
        }
        if (g_interrupted) {
            /* From a normal thread context it is fine to abort; the next poll says ABORTED. */
            ocde_selection_abort(selection);
        } else if (now_seconds() >= deadline) {
            fprintf(stderr, "error: no selection arrived within %lu seconds\n", timeout_s);
            goto done;
        }
    }
    switch (status) {
    case OCDE_STATUS_OK:
        break;
    case OCDE_STATUS_USER_CANCELLED:
    case OCDE_STATUS_ABORTED: /* only we abort it, on Ctrl-C */
        printf("cancelled\n");
        exit_code = EXIT_CANCELLED;
        goto done;
    default: /* EXPIRED, or fetching the selected documents failed (a later poll would retry) */
        print_error(status);
        goto done;
    }

    /* ---- 5. The selected documents ---- */
    count = ocde_selection_count(selection);
    printf("%lu document%s selected:\n", (unsigned long)count, count == 1 ? "" : "s");
    for (i = 0; i < count; i++) {
        OcdeDocument doc; /* its strings are borrowed from `selection` */
        status = ocde_selection_get(selection, i, &doc);
        if (status != OCDE_STATUS_OK) {
            print_error(status);
            goto done;
        }
        printf("  %lu. %s\n", (unsigned long)(i + 1), doc.title[0] != '\0' ? doc.title : "(untitled)");
        printf("     file: %s\n", doc.file_name);
        if (doc.size_in_bytes >= 0) {
            printf("     size: %" PRId64 " bytes\n", doc.size_in_bytes);
        } else {
            printf("     size: unknown\n");
        }
        printf("     version: %s (index %" PRId64 ")\n", doc.version_number, doc.version_index);
    }
    fflush(stdout);

    /* ---- 6. Download each one ----
     * The library picks a safe file name inside out_dir (no separators, no "..", duplicates get
     * " (2)"), writes to a hidden temporary file, checks the length and renames it into place:
     * a failed download leaves no file behind. */
    for (i = 0; i < count; i++) {
        OcdeDocument doc;
        ProgressBar bar;
        char *out_path = NULL; /* ours, freed with ocde_string_free */

        status = ocde_selection_get(selection, i, &doc);
        if (status != OCDE_STATUS_OK) {
            print_error(status);
            goto done;
        }
        memset(&bar, 0, sizeof bar);
        bar.label = doc.title[0] != '\0' ? doc.title : doc.file_name;
        bar.on_terminal = stderr_is_terminal();
        bar.last_permille = -1;
        bar.total = doc.size_in_bytes;

        status = ocde_download_document(client, selection, i, out_dir, on_progress, &bar,
                                        &out_path);
        if (status == OCDE_STATUS_ABORTED && g_interrupted) {
            if (bar.on_terminal) {
                fputc('\n', stderr);
            }
            printf("cancelled\n");
            exit_code = EXIT_CANCELLED;
            goto done;
        }
        if (status != OCDE_STATUS_OK) {
            if (bar.on_terminal) {
                fputc('\n', stderr);
            }
            /* Report, and go on with the other documents. */
            print_error(status);
            failures++;
            continue;
        }
        progress_draw(&bar, 1);
        printf("downloaded %s -> %s\n", doc.document_id[0] != '\0' ? doc.document_id : "(no-id)",
               out_path);
        fflush(stdout);
        ocde_string_free(out_path);
    }
    exit_code = failures == 0 ? EXIT_OK : EXIT_FAILED;

done:
    /* ---- 7. Clean up. Both are no-ops on NULL; freeing the selection stops its listener and
     * invalidates every string borrowed from it (OcdeDocument fields, ocde_selection_url). ---- */
    ocde_selection_free(selection);
    ocde_client_free(client);
    return exit_code;
}
