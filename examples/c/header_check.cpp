/*
 * header_check.cpp — compile-only check that include/opencde_documents.h is clean C++11:
 *
 *   g++ -std=c++11 -Wall -Wextra -Werror -pedantic -I include -c examples/c/header_check.cpp
 *
 * A CAD plugin is usually C++. Every type, enumerator, field and function is used; signatures
 * are compared exactly with std::is_same, the structs must be plain C data (standard layout,
 * trivial), and the functions must have C linkage (extern "C"), which the header's
 * `#ifdef __cplusplus` block provides. header_check.c does the same for C99.
 */

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "opencde_documents.h"

namespace {

// Exact signatures of the C contract.
template <typename Actual, typename Expected>
constexpr bool same() { return std::is_same<Actual, Expected>::value; }

static_assert(same<decltype(&ocde_last_error), const char *(*)()>(), "ocde_last_error");
static_assert(same<decltype(&ocde_last_http_status), int32_t (*)()>(), "ocde_last_http_status");
static_assert(same<decltype(&ocde_status_str), const char *(*)(int32_t)>(), "ocde_status_str");
static_assert(same<decltype(&ocde_open_system_browser), OcdeStatus (*)(const char *)>(), "ocde_open_system_browser");
static_assert(same<decltype(&ocde_version), const char *(*)()>(), "ocde_version");
static_assert(same<decltype(&ocde_string_free), void (*)(char *)>(), "ocde_string_free");
static_assert(same<decltype(&ocde_client_new), OcdeStatus (*)(const char *, OcdeClient **)>(),
              "ocde_client_new");
static_assert(same<decltype(&ocde_client_free), void (*)(OcdeClient *)>(), "ocde_client_free");
static_assert(same<decltype(&ocde_client_set_access_token),
                   OcdeStatus (*)(OcdeClient *, const char *)>(),
              "ocde_client_set_access_token");
static_assert(same<decltype(&ocde_client_set_timeouts),
                   OcdeStatus (*)(OcdeClient *, uint32_t, uint32_t)>(),
              "ocde_client_set_timeouts");
static_assert(same<decltype(&ocde_client_set_log_callback),
                   OcdeStatus (*)(OcdeClient *, OcdeLogFn, void *)>(),
              "ocde_client_set_log_callback");
static_assert(same<decltype(&ocde_download_to_path),
                   OcdeStatus (*)(OcdeClient *, const char *, const char *, int64_t,
                                  OcdeProgressFn, void *)>(),
              "ocde_download_to_path");
static_assert(same<decltype(&ocde_download_document),
                   OcdeStatus (*)(OcdeClient *, const OcdeSelection *, std::size_t,
                                  const char *, OcdeProgressFn, void *, char **)>(),
              "ocde_download_document");
static_assert(same<decltype(&ocde_selection_options_init), void (*)(OcdeSelectionOptions *, size_t)>(),
              "ocde_selection_options_init");
static_assert(same<decltype(&ocde_selection_start),
                   OcdeStatus (*)(OcdeClient *, const OcdeSelectionOptions *, OcdeOpenUrlFn,
                                  void *, OcdeSelection **)>(),
              "ocde_selection_start");
static_assert(same<decltype(&ocde_selection_url), const char *(*)(const OcdeSelection *)>(),
              "ocde_selection_url");
static_assert(same<decltype(&ocde_selection_poll), OcdeStatus (*)(OcdeSelection *, uint32_t)>(),
              "ocde_selection_poll");
static_assert(same<decltype(&ocde_selection_abort), void (*)(OcdeSelection *)>(),
              "ocde_selection_abort");
static_assert(same<decltype(&ocde_selection_count), std::size_t (*)(const OcdeSelection *)>(),
              "ocde_selection_count");
static_assert(same<decltype(&ocde_selection_get),
                   OcdeStatus (*)(const OcdeSelection *, std::size_t, OcdeDocument *)>(),
              "ocde_selection_get");
static_assert(same<decltype(&ocde_selection_get_sized),
                   OcdeStatus (*)(const OcdeSelection *, std::size_t, OcdeDocument *,
                                  std::size_t)>(),
              "ocde_selection_get_sized");
static_assert(same<decltype(&ocde_selection_server_context),
                   const char *(*)(const OcdeSelection *)>(),
              "ocde_selection_server_context");
static_assert(same<decltype(&ocde_selection_free), void (*)(OcdeSelection *)>(),
              "ocde_selection_free");

// Client settings and parallel downloads.
static_assert(same<decltype(&ocde_client_set_retries),
                   OcdeStatus (*)(OcdeClient *, uint32_t, uint32_t)>(),
              "ocde_client_set_retries");
static_assert(same<decltype(&ocde_client_abort_downloads), void (*)(OcdeClient *)>(),
              "ocde_client_abort_downloads");
static_assert(same<decltype(&ocde_client_set_root_certificates),
                   OcdeStatus (*)(OcdeClient *, const char *)>(),
              "ocde_client_set_root_certificates");
static_assert(same<decltype(&ocde_download_selection),
                   OcdeStatus (*)(OcdeClient *, const OcdeSelection *, const char *, uint32_t,
                                  OcdeSelectionProgressFn, void *, OcdeDownloadResults **)>(),
              "ocde_download_selection");
static_assert(same<decltype(&ocde_download_results_count),
                   std::size_t (*)(const OcdeDownloadResults *)>(),
              "ocde_download_results_count");
static_assert(same<decltype(&ocde_download_results_status),
                   OcdeStatus (*)(const OcdeDownloadResults *, std::size_t)>(),
              "ocde_download_results_status");
static_assert(same<decltype(&ocde_download_results_path),
                   const char *(*)(const OcdeDownloadResults *, std::size_t)>(),
              "ocde_download_results_path");
static_assert(same<decltype(&ocde_download_results_error),
                   const char *(*)(const OcdeDownloadResults *, std::size_t)>(),
              "ocde_download_results_error");
static_assert(same<decltype(&ocde_download_results_free), void (*)(OcdeDownloadResults *)>(),
              "ocde_download_results_free");

// Discovery, sign-in, tokens, current user.
static_assert(same<decltype(&ocde_server_discover_with_roots),
                   OcdeStatus (*)(const char *, const char *, OcdeServer **)>(),
              "ocde_server_discover_with_roots");
static_assert(same<decltype(&ocde_client_documents_api_url),
                   const char *(*)(const OcdeClient *)>(),
              "ocde_client_documents_api_url");
static_assert(same<decltype(&ocde_server_discover), OcdeStatus (*)(const char *, OcdeServer **)>(),
              "ocde_server_discover");
static_assert(same<decltype(&ocde_server_documents_api_url),
                   const char *(*)(const OcdeServer *)>(),
              "ocde_server_documents_api_url");
static_assert(same<decltype(&ocde_server_auth_url), const char *(*)(const OcdeServer *)>(),
              "ocde_server_auth_url");
static_assert(same<decltype(&ocde_server_token_url), const char *(*)(const OcdeServer *)>(),
              "ocde_server_token_url");
static_assert(same<decltype(&ocde_server_code_challenge_method),
                   const char *(*)(const OcdeServer *)>(),
              "ocde_server_code_challenge_method");
static_assert(same<decltype(&ocde_server_pkce_required), int32_t (*)(const OcdeServer *)>(),
              "ocde_server_pkce_required");
static_assert(same<decltype(&ocde_server_http_basic_supported),
                   int32_t (*)(const OcdeServer *)>(),
              "ocde_server_http_basic_supported");
static_assert(same<decltype(&ocde_server_supports_flow),
                   int32_t (*)(const OcdeServer *, const char *)>(),
              "ocde_server_supports_flow");
static_assert(same<decltype(&ocde_server_free), void (*)(OcdeServer *)>(), "ocde_server_free");
static_assert(same<decltype(&ocde_client_new_for_server),
                   OcdeStatus (*)(const char *, OcdeClient **)>(),
              "ocde_client_new_for_server");
static_assert(same<decltype(&ocde_client_new_from_server),
                   OcdeStatus (*)(const OcdeServer *, OcdeClient **)>(),
              "ocde_client_new_from_server");
static_assert(same<decltype(&ocde_client_set_oauth),
                   OcdeStatus (*)(OcdeClient *, const char *, const char *, OcdeTokensFn,
                                  void *)>(),
              "ocde_client_set_oauth");
static_assert(same<decltype(&ocde_client_set_refresh_token),
                   OcdeStatus (*)(OcdeClient *, const char *)>(),
              "ocde_client_set_refresh_token");
static_assert(same<decltype(&ocde_sign_in_start),
                   OcdeStatus (*)(OcdeClient *, uint32_t, OcdeOpenUrlFn, void *,
                                  OcdeSignIn **)>(),
              "ocde_sign_in_start");
static_assert(same<decltype(&ocde_sign_in_url), const char *(*)(const OcdeSignIn *)>(),
              "ocde_sign_in_url");
static_assert(same<decltype(&ocde_sign_in_poll), OcdeStatus (*)(OcdeSignIn *, uint32_t)>(),
              "ocde_sign_in_poll");
static_assert(same<decltype(&ocde_sign_in_abort), void (*)(OcdeSignIn *)>(), "ocde_sign_in_abort");
static_assert(same<decltype(&ocde_sign_in_free), void (*)(OcdeSignIn *)>(), "ocde_sign_in_free");
static_assert(same<decltype(&ocde_client_current_user),
                   OcdeStatus (*)(OcdeClient *, char **, char **)>(),
              "ocde_client_current_user");

// Callback typedefs.
static_assert(same<OcdeLogFn, void (*)(void *, OcdeLogLevel, const char *)>(), "OcdeLogFn");
static_assert(same<OcdeProgressFn, int32_t (*)(void *, uint64_t, int64_t)>(), "OcdeProgressFn");
static_assert(same<OcdeOpenUrlFn, int32_t (*)(void *, const char *)>(), "OcdeOpenUrlFn");
static_assert(same<OcdeSelectionProgressFn,
                   int32_t (*)(void *, std::size_t, uint64_t, int64_t, uint64_t, int64_t)>(),
              "OcdeSelectionProgressFn");
static_assert(same<OcdeTokensFn, void (*)(void *, const char *, const char *, int64_t)>(),
              "OcdeTokensFn");

// The structs are plain C data a host can put on its stack and memset.
static_assert(std::is_standard_layout<OcdeSelectionOptions>::value, "options layout");
static_assert(std::is_trivial<OcdeSelectionOptions>::value, "options trivial");
static_assert(std::is_standard_layout<OcdeDocument>::value, "document layout");
static_assert(std::is_trivial<OcdeDocument>::value, "document trivial");
static_assert(offsetof(OcdeSelectionOptions, struct_size) == 0, "struct_size first");

// Field types.
static_assert(same<decltype(OcdeSelectionOptions::struct_size), uint32_t>(), "struct_size");
static_assert(same<decltype(OcdeSelectionOptions::callback_expires_in_s), uint32_t>(), "expiry");
static_assert(same<decltype(OcdeSelectionOptions::callback_port), uint16_t>(), "port");
static_assert(same<decltype(OcdeSelectionOptions::server_context), const char *>(), "context");
static_assert(same<decltype(OcdeSelectionOptions::supported_file_extensions),
                   const char *const *>(),
              "extensions");
static_assert(same<decltype(OcdeSelectionOptions::supported_file_extensions_count),
                   std::size_t>(),
              "extensions count");
static_assert(same<decltype(OcdeDocument::document_id), const char *>(), "document_id");
static_assert(same<decltype(OcdeDocument::title), const char *>(), "title");
static_assert(same<decltype(OcdeDocument::file_name), const char *>(), "file_name");
static_assert(same<decltype(OcdeDocument::size_in_bytes), int64_t>(), "size_in_bytes");
static_assert(same<decltype(OcdeDocument::version_number), const char *>(), "version_number");
static_assert(same<decltype(OcdeDocument::version_index), int64_t>(), "version_index");
static_assert(same<decltype(OcdeDocument::creation_date), const char *>(), "creation_date");
static_assert(same<decltype(OcdeDocument::download_url), const char *>(), "download_url");
static_assert(same<decltype(OcdeDocument::metadata_url), const char *>(), "metadata_url");
static_assert(same<decltype(OcdeDocument::versions_url), const char *>(), "versions_url");
static_assert(same<decltype(OcdeDocument::version_url), const char *>(), "version_url");
static_assert(same<decltype(OcdeDocument::details_url), const char *>(), "details_url");

// Enumerators (values are ABI: only ever appended).
static_assert(OCDE_STATUS_OK == 0, "OK");
static_assert(OCDE_STATUS_PENDING == 1, "PENDING");
static_assert(OCDE_STATUS_USER_CANCELLED == 2, "USER_CANCELLED");
static_assert(OCDE_STATUS_EXPIRED == 3, "EXPIRED");
static_assert(OCDE_STATUS_ABORTED == 4, "ABORTED");
static_assert(OCDE_STATUS_INVALID_ARGUMENT == 5, "INVALID_ARGUMENT");
static_assert(OCDE_STATUS_NETWORK == 6, "NETWORK");
static_assert(OCDE_STATUS_TIMEOUT == 7, "TIMEOUT");
static_assert(OCDE_STATUS_HTTP == 8, "HTTP");
static_assert(OCDE_STATUS_UNAUTHORIZED == 9, "UNAUTHORIZED");
static_assert(OCDE_STATUS_PROTOCOL == 10, "PROTOCOL");
static_assert(OCDE_STATUS_INTEGRITY == 11, "INTEGRITY");
static_assert(OCDE_STATUS_IO == 12, "IO");
static_assert(OCDE_STATUS_INTERNAL == 13, "INTERNAL");
static_assert(OCDE_LOG_LEVEL_WARNING == 1, "WARNING");
static_assert(OCDE_LOG_LEVEL_INFO == 2, "INFO");

// Callbacks as a C++ host writes them: lambdas without captures convert to the pointers.
const OcdeLogFn log_fn = [](void *, OcdeLogLevel, const char *) {};
const OcdeProgressFn progress_fn = [](void *, uint64_t, int64_t) -> int32_t { return 0; };
const OcdeOpenUrlFn open_url_fn = [](void *, const char *) -> int32_t { return 0; };
const OcdeSelectionProgressFn selection_progress_fn =
    [](void *, std::size_t, uint64_t, int64_t, uint64_t, int64_t) -> int32_t { return 0; };
const OcdeTokensFn tokens_fn = [](void *, const char *, const char *, int64_t) {};

} // namespace

// Not called: the point is that it compiles and names every function (address-of).
std::size_t header_check_cpp();

std::size_t header_check_cpp()
{
    OcdeClient *client = nullptr;
    OcdeSelection *selection = nullptr;
    OcdeDownloadResults *results = nullptr;
    OcdeServer *server = nullptr;
    OcdeSignIn *sign_in = nullptr;
    OcdeSelectionOptions options = OcdeSelectionOptions(); // value-initialised: all zero
    OcdeDocument document = OcdeDocument();
    OcdeStatus status = OCDE_STATUS_OK;
    OcdeLogLevel level = OCDE_LOG_LEVEL_WARNING;

    void (*const functions[])() = {
        reinterpret_cast<void (*)()>(&ocde_last_error),
        reinterpret_cast<void (*)()>(&ocde_last_http_status),
        reinterpret_cast<void (*)()>(&ocde_status_str),
        reinterpret_cast<void (*)()>(&ocde_version),
        reinterpret_cast<void (*)()>(&ocde_string_free),
        reinterpret_cast<void (*)()>(&ocde_client_new),
        reinterpret_cast<void (*)()>(&ocde_client_free),
        reinterpret_cast<void (*)()>(&ocde_client_set_access_token),
        reinterpret_cast<void (*)()>(&ocde_client_set_timeouts),
        reinterpret_cast<void (*)()>(&ocde_client_set_log_callback),
        reinterpret_cast<void (*)()>(&ocde_download_to_path),
        reinterpret_cast<void (*)()>(&ocde_download_document),
        reinterpret_cast<void (*)()>(&ocde_selection_options_init),
        reinterpret_cast<void (*)()>(&ocde_selection_start),
        reinterpret_cast<void (*)()>(&ocde_selection_url),
        reinterpret_cast<void (*)()>(&ocde_selection_poll),
        reinterpret_cast<void (*)()>(&ocde_selection_abort),
        reinterpret_cast<void (*)()>(&ocde_selection_count),
        reinterpret_cast<void (*)()>(&ocde_selection_get),
        reinterpret_cast<void (*)()>(&ocde_selection_get_sized),
        reinterpret_cast<void (*)()>(&ocde_open_system_browser),
        reinterpret_cast<void (*)()>(&ocde_selection_server_context),
        reinterpret_cast<void (*)()>(&ocde_selection_free),
        reinterpret_cast<void (*)()>(&ocde_client_set_retries),
        reinterpret_cast<void (*)()>(&ocde_client_abort_downloads),
        reinterpret_cast<void (*)()>(&ocde_client_set_root_certificates),
        reinterpret_cast<void (*)()>(&ocde_download_selection),
        reinterpret_cast<void (*)()>(&ocde_download_results_count),
        reinterpret_cast<void (*)()>(&ocde_download_results_status),
        reinterpret_cast<void (*)()>(&ocde_download_results_path),
        reinterpret_cast<void (*)()>(&ocde_download_results_error),
        reinterpret_cast<void (*)()>(&ocde_download_results_free),
        reinterpret_cast<void (*)()>(&ocde_server_discover),
        reinterpret_cast<void (*)()>(&ocde_server_documents_api_url),
        reinterpret_cast<void (*)()>(&ocde_server_auth_url),
        reinterpret_cast<void (*)()>(&ocde_server_token_url),
        reinterpret_cast<void (*)()>(&ocde_server_code_challenge_method),
        reinterpret_cast<void (*)()>(&ocde_server_pkce_required),
        reinterpret_cast<void (*)()>(&ocde_server_http_basic_supported),
        reinterpret_cast<void (*)()>(&ocde_server_supports_flow),
        reinterpret_cast<void (*)()>(&ocde_server_free),
        reinterpret_cast<void (*)()>(&ocde_client_new_for_server),
        reinterpret_cast<void (*)()>(&ocde_server_discover_with_roots),
        reinterpret_cast<void (*)()>(&ocde_client_documents_api_url),
        reinterpret_cast<void (*)()>(&ocde_client_new_from_server),
        reinterpret_cast<void (*)()>(&ocde_client_set_oauth),
        reinterpret_cast<void (*)()>(&ocde_client_set_refresh_token),
        reinterpret_cast<void (*)()>(&ocde_sign_in_start),
        reinterpret_cast<void (*)()>(&ocde_sign_in_url),
        reinterpret_cast<void (*)()>(&ocde_sign_in_poll),
        reinterpret_cast<void (*)()>(&ocde_sign_in_abort),
        reinterpret_cast<void (*)()>(&ocde_sign_in_free),
        reinterpret_cast<void (*)()>(&ocde_client_current_user),
    };

    std::size_t sum = sizeof functions / sizeof functions[0];
    for (auto f : functions) {
        sum += f != nullptr;
    }
    sum += (client == nullptr) + (selection == nullptr) + (results == nullptr);
    sum += (server == nullptr) + (sign_in == nullptr);
    sum += options.struct_size + static_cast<std::size_t>(document.size_in_bytes);
    sum += static_cast<std::size_t>(status) + static_cast<std::size_t>(level);
    sum += (log_fn != nullptr) + (progress_fn != nullptr) + (open_url_fn != nullptr);
    sum += (selection_progress_fn != nullptr) + (tokens_fn != nullptr);
    return sum;
}
