/*
 * header_check.c — compile-only check that include/opencde_documents.h is clean, strict C99:
 *
 *   gcc -std=c99 -Wall -Wextra -Werror -pedantic -I include -c examples/c/header_check.c
 *
 * Every type, enumerator, field and function of the header is used. Each function is assigned to
 * a pointer spelled with the signature the C contract promises, so a changed prototype (a lost
 * `const`, a different integer type) breaks this build instead of a host's.
 * header_check.cpp does the same for C++.
 */

#include "opencde_documents.h"

#include <stddef.h>
#include <stdint.h>

/* C99 has no _Static_assert: a negative array size fails the build. */
#define HC_ASSERT(name, cond) typedef char hc_assert_##name[(cond) ? 1 : -1]

/* Status values are part of the ABI (only ever appended). */
HC_ASSERT(ok_is_zero, OCDE_STATUS_OK == 0);
HC_ASSERT(pending, OCDE_STATUS_PENDING == 1);
HC_ASSERT(user_cancelled, OCDE_STATUS_USER_CANCELLED == 2);
HC_ASSERT(expired, OCDE_STATUS_EXPIRED == 3);
HC_ASSERT(aborted, OCDE_STATUS_ABORTED == 4);
HC_ASSERT(invalid_argument, OCDE_STATUS_INVALID_ARGUMENT == 5);
HC_ASSERT(network, OCDE_STATUS_NETWORK == 6);
HC_ASSERT(timeout, OCDE_STATUS_TIMEOUT == 7);
HC_ASSERT(http, OCDE_STATUS_HTTP == 8);
HC_ASSERT(unauthorized, OCDE_STATUS_UNAUTHORIZED == 9);
HC_ASSERT(protocol, OCDE_STATUS_PROTOCOL == 10);
HC_ASSERT(integrity, OCDE_STATUS_INTEGRITY == 11);
HC_ASSERT(io, OCDE_STATUS_IO == 12);
HC_ASSERT(internal, OCDE_STATUS_INTERNAL == 13);
HC_ASSERT(log_warning, OCDE_LOG_LEVEL_WARNING == 1);
HC_ASSERT(log_info, OCDE_LOG_LEVEL_INFO == 2);

/* struct_size must be the first field, so the library can read it before anything else. */
HC_ASSERT(struct_size_first, offsetof(OcdeSelectionOptions, struct_size) == 0);

/* Callbacks with exactly the typedefs' signatures. */
static void hc_log(void *user_data, enum OcdeLogLevel level, const char *message)
{
    (void)user_data;
    (void)level;
    (void)message;
}

static int32_t hc_progress(void *user_data, uint64_t received, int64_t total)
{
    (void)user_data;
    (void)received;
    (void)total;
    return 0;
}

static int32_t hc_open_url(void *user_data, const char *url)
{
    (void)user_data;
    (void)url;
    return 0;
}

static int32_t hc_selection_progress(void *user_data, size_t index, uint64_t received,
                                     int64_t total, uint64_t all_received, int64_t all_total)
{
    (void)user_data;
    (void)index;
    (void)received;
    (void)total;
    (void)all_received;
    (void)all_total;
    return 0;
}

static void hc_tokens(void *user_data, const char *access_token, const char *refresh_token,
                      int64_t expires_at_unix)
{
    (void)user_data;
    (void)access_token;
    (void)refresh_token;
    (void)expires_at_unix;
}

/* Not called: the point is that it compiles. Returns something so nothing is "unused". */
size_t header_check_c(void);

size_t header_check_c(void)
{
    /* Types, by both spellings (typedef and tag). */
    OcdeStatus status = OCDE_STATUS_OK;
    enum OcdeStatus tagged_status = OCDE_STATUS_INTERNAL;
    OcdeLogLevel level = OCDE_LOG_LEVEL_INFO;
    struct OcdeClient *client = NULL;
    OcdeClient *client2 = NULL;
    struct OcdeSelection *selection = NULL;
    OcdeSelection *selection2 = NULL;
    OcdeLogFn log_fn = hc_log;
    OcdeProgressFn progress_fn = hc_progress;
    OcdeOpenUrlFn open_url_fn = hc_open_url;
    OcdeSelectionProgressFn selection_progress_fn = hc_selection_progress;
    OcdeTokensFn tokens_fn = hc_tokens;
    struct OcdeDownloadResults *results = NULL;
    OcdeDownloadResults *results2 = NULL;
    struct OcdeServer *server = NULL;
    OcdeServer *server2 = NULL;
    struct OcdeSignIn *sign_in = NULL;
    OcdeSignIn *sign_in2 = NULL;
    OcdeSelectionOptions options;
    struct OcdeSelectionOptions *options_ptr = &options;
    OcdeDocument document;
    struct OcdeDocument *document_ptr = &document;
    size_t sum = 0;

    /* Functions, with the signatures of the C contract. */
    const char *(*p_last_error)(void) = ocde_last_error;
    int32_t (*p_last_http_status)(void) = ocde_last_http_status;
    const char *(*p_status_str)(int32_t) = ocde_status_str;
    OcdeStatus (*p_open_browser)(const char *) = ocde_open_system_browser;
    const char *(*p_version)(void) = ocde_version;
    void (*p_string_free)(char *) = ocde_string_free;
    OcdeStatus (*p_client_new)(const char *, OcdeClient **) = ocde_client_new;
    void (*p_client_free)(OcdeClient *) = ocde_client_free;
    OcdeStatus (*p_set_token)(OcdeClient *, const char *) = ocde_client_set_access_token;
    OcdeStatus (*p_set_timeouts)(OcdeClient *, uint32_t, uint32_t) = ocde_client_set_timeouts;
    OcdeStatus (*p_set_log)(OcdeClient *, OcdeLogFn, void *) = ocde_client_set_log_callback;
    OcdeStatus (*p_download_to_path)(OcdeClient *, const char *, const char *, int64_t,
                                     OcdeProgressFn, void *) = ocde_download_to_path;
    OcdeStatus (*p_download_document)(OcdeClient *, const OcdeSelection *, size_t, const char *,
                                      OcdeProgressFn, void *, char **) = ocde_download_document;
    void (*p_options_init)(OcdeSelectionOptions *, size_t) = ocde_selection_options_init;
    OcdeStatus (*p_selection_start)(OcdeClient *, const OcdeSelectionOptions *, OcdeOpenUrlFn,
                                    void *, OcdeSelection **) = ocde_selection_start;
    const char *(*p_selection_url)(const OcdeSelection *) = ocde_selection_url;
    OcdeStatus (*p_selection_poll)(OcdeSelection *, uint32_t) = ocde_selection_poll;
    void (*p_selection_abort)(OcdeSelection *) = ocde_selection_abort;
    size_t (*p_selection_count)(const OcdeSelection *) = ocde_selection_count;
    OcdeStatus (*p_selection_get)(const OcdeSelection *, size_t, OcdeDocument *) =
        ocde_selection_get;
    OcdeStatus (*p_selection_get_sized)(const OcdeSelection *, size_t, OcdeDocument *, size_t) =
        ocde_selection_get_sized;
    const char *(*p_server_context)(const OcdeSelection *) = ocde_selection_server_context;
    void (*p_selection_free)(OcdeSelection *) = ocde_selection_free;

    /* Client settings and parallel downloads. */
    OcdeStatus (*p_set_retries)(OcdeClient *, uint32_t, uint32_t) = ocde_client_set_retries;
    void (*p_abort_downloads)(OcdeClient *) = ocde_client_abort_downloads;
    OcdeStatus (*p_set_roots)(OcdeClient *, const char *) = ocde_client_set_root_certificates;
    OcdeStatus (*p_download_selection)(OcdeClient *, const OcdeSelection *, const char *, uint32_t,
                                       OcdeSelectionProgressFn, void *, OcdeDownloadResults **) =
        ocde_download_selection;
    size_t (*p_results_count)(const OcdeDownloadResults *) = ocde_download_results_count;
    OcdeStatus (*p_results_status)(const OcdeDownloadResults *, size_t) =
        ocde_download_results_status;
    const char *(*p_results_path)(const OcdeDownloadResults *, size_t) = ocde_download_results_path;
    const char *(*p_results_error)(const OcdeDownloadResults *, size_t) =
        ocde_download_results_error;
    void (*p_results_free)(OcdeDownloadResults *) = ocde_download_results_free;

    /* Discovery, sign-in, tokens, current user. */
    OcdeStatus (*p_server_discover)(const char *, OcdeServer **) = ocde_server_discover;
    const char *(*p_server_api_url)(const OcdeServer *) = ocde_server_documents_api_url;
    const char *(*p_server_auth_url)(const OcdeServer *) = ocde_server_auth_url;
    const char *(*p_server_token_url)(const OcdeServer *) = ocde_server_token_url;
    const char *(*p_server_method)(const OcdeServer *) = ocde_server_code_challenge_method;
    int32_t (*p_server_pkce)(const OcdeServer *) = ocde_server_pkce_required;
    int32_t (*p_server_basic)(const OcdeServer *) = ocde_server_http_basic_supported;
    int32_t (*p_server_flow)(const OcdeServer *, const char *) = ocde_server_supports_flow;
    void (*p_server_free)(OcdeServer *) = ocde_server_free;
    OcdeStatus (*p_client_for_server)(const char *, OcdeClient **) = ocde_client_new_for_server;
    OcdeStatus (*p_discover_roots)(const char *, const char *, OcdeServer **) =
        ocde_server_discover_with_roots;
    const char *(*p_client_api_url)(const OcdeClient *) = ocde_client_documents_api_url;
    OcdeStatus (*p_client_from_server)(const OcdeServer *, OcdeClient **) = ocde_client_new_from_server;
    OcdeStatus (*p_set_oauth)(OcdeClient *, const char *, const char *, OcdeTokensFn, void *) =
        ocde_client_set_oauth;
    OcdeStatus (*p_set_refresh)(OcdeClient *, const char *) = ocde_client_set_refresh_token;
    OcdeStatus (*p_sign_in_start)(OcdeClient *, uint32_t, OcdeOpenUrlFn, void *, OcdeSignIn **) =
        ocde_sign_in_start;
    const char *(*p_sign_in_url)(const OcdeSignIn *) = ocde_sign_in_url;
    OcdeStatus (*p_sign_in_poll)(OcdeSignIn *, uint32_t) = ocde_sign_in_poll;
    void (*p_sign_in_abort)(OcdeSignIn *) = ocde_sign_in_abort;
    void (*p_sign_in_free)(OcdeSignIn *) = ocde_sign_in_free;
    OcdeStatus (*p_current_user)(OcdeClient *, char **, char **) = ocde_client_current_user;

    /* Every field of the structs, with its promised type. */
    options.struct_size = (uint32_t)sizeof options;
    options.callback_expires_in_s = (uint32_t)0;
    options.callback_port = (uint16_t)0;
    options.server_context = (const char *)NULL;
    options.supported_file_extensions = (const char *const *)NULL;
    options.supported_file_extensions_count = (size_t)0;

    document.document_id = "";
    document.title = "";
    document.file_name = "";
    document.size_in_bytes = (int64_t)-1;
    document.version_number = "";
    document.version_index = (int64_t)0;
    document.creation_date = "";
    document.download_url = "";
    document.metadata_url = "";
    document.versions_url = "";
    document.version_url = "";
    document.details_url = (const char *)NULL;

    sum += (size_t)status + (size_t)tagged_status + (size_t)level;
    sum += (client == client2) + (selection == selection2);
    sum += (log_fn != NULL) + (progress_fn != NULL) + (open_url_fn != NULL);
    sum += options_ptr->struct_size + (size_t)document_ptr->size_in_bytes;
    sum += (p_last_error != NULL) + (p_last_http_status != NULL) + (p_status_str != NULL);
    sum += (p_version != NULL) + (p_string_free != NULL) + (p_client_new != NULL);
    sum += (p_client_free != NULL) + (p_set_token != NULL) + (p_set_timeouts != NULL);
    sum += (p_set_log != NULL) + (p_download_to_path != NULL) + (p_download_document != NULL);
    sum += (p_open_browser != NULL) + (p_selection_get_sized != NULL);
    sum += (p_options_init != NULL) + (p_selection_start != NULL) + (p_selection_url != NULL);
    sum += (p_selection_poll != NULL) + (p_selection_abort != NULL);
    sum += (p_selection_count != NULL) + (p_selection_get != NULL);
    sum += (p_server_context != NULL) + (p_selection_free != NULL);
    sum += (selection_progress_fn != NULL) + (tokens_fn != NULL);
    sum += (results == results2) + (server == server2) + (sign_in == sign_in2);
    sum += (p_set_retries != NULL) + (p_abort_downloads != NULL) + (p_set_roots != NULL);
    sum += (p_download_selection != NULL) + (p_results_count != NULL);
    sum += (p_results_status != NULL) + (p_results_path != NULL) + (p_results_error != NULL);
    sum += (p_results_free != NULL);
    sum += (p_server_discover != NULL) + (p_server_api_url != NULL) + (p_server_auth_url != NULL);
    sum += (p_server_token_url != NULL) + (p_server_method != NULL) + (p_server_pkce != NULL);
    sum += (p_server_basic != NULL) + (p_server_flow != NULL) + (p_server_free != NULL);
    sum += (p_client_for_server != NULL) + (p_set_oauth != NULL) + (p_set_refresh != NULL);
    sum += (p_discover_roots != NULL) + (p_client_api_url != NULL);
    sum += (p_client_from_server != NULL);
    sum += (p_sign_in_start != NULL) + (p_sign_in_url != NULL) + (p_sign_in_poll != NULL);
    sum += (p_sign_in_abort != NULL) + (p_sign_in_free != NULL) + (p_current_user != NULL);
    return sum;
}
