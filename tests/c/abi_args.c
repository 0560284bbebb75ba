/* The C ABI's argument checks, from C, built with -fsanitize=address,undefined by
 * tests/sanitizers.sh: NULL in every pointer argument and invalid UTF-8 in every string argument
 * of every export give OCDE_STATUS_INVALID_ARGUMENT (or are documented no-ops), out-parameters
 * stay untouched, and nothing crashes or leaks. Prints "N passed, M failed". */
#include "opencde_documents.h"

#include <stdio.h>
#include <string.h>

static int passed = 0, failed = 0;

static void expect(int ok, const char *what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL: %s (last error: %s)\n", what, ocde_last_error());
    }
}

#define EXPECT_INVALID(call) expect((call) == OCDE_STATUS_INVALID_ARGUMENT && ocde_last_error()[0] != '\0', #call)

static const char BAD[] = {'h', 't', 't', 'p', ':', '/', '/', (char)0xff, (char)0xfe, '/', 0};

int main(void) {
    OcdeClient *client = NULL;
    OcdeClient *sentinel_client = (OcdeClient *)&passed;
    OcdeSelection *sentinel_sel = (OcdeSelection *)&passed;
    OcdeSelectionOptions options;
    OcdeDocument doc;
    char *path = (char *)&failed;
    const char *exts[2] = {".ifc", BAD};

    EXPECT_INVALID(ocde_client_new(NULL, &client));
    EXPECT_INVALID(ocde_client_new(BAD, &sentinel_client));
    EXPECT_INVALID(ocde_client_new("http://127.0.0.1:1/", NULL));
    EXPECT_INVALID(ocde_client_new("gopher://127.0.0.1/", &sentinel_client));
    expect(sentinel_client == (OcdeClient *)&passed, "out_client untouched on failure");
    ocde_client_free(NULL);

    expect(ocde_client_new("http://127.0.0.1:1/documents/1.0", &client) == OCDE_STATUS_OK, "client");
    expect(ocde_last_error()[0] == '\0', "OK clears the last error");
    EXPECT_INVALID(ocde_client_set_access_token(NULL, "t"));
    EXPECT_INVALID(ocde_client_set_access_token(client, BAD));
    EXPECT_INVALID(ocde_client_set_access_token(client, "a\r\nInjected: 1"));
    expect(ocde_client_set_access_token(client, NULL) == OCDE_STATUS_OK, "NULL token clears");
    EXPECT_INVALID(ocde_client_set_timeouts(NULL, 1, 1));
    EXPECT_INVALID(ocde_client_set_log_callback(NULL, NULL, NULL));
    EXPECT_INVALID(ocde_client_set_retries(NULL, 1, 1));
    ocde_client_abort_downloads(NULL);

    ocde_selection_options_init(NULL, sizeof options);
    ocde_selection_options_init(&options, sizeof options);
    expect(options.struct_size == sizeof options, "struct_size set");
    EXPECT_INVALID(ocde_selection_start(NULL, &options, NULL, NULL, &sentinel_sel));
    EXPECT_INVALID(ocde_selection_start(client, &options, NULL, NULL, NULL));
    options.server_context = BAD;
    EXPECT_INVALID(ocde_selection_start(client, &options, NULL, NULL, &sentinel_sel));
    options.server_context = NULL;
    options.supported_file_extensions = exts;
    options.supported_file_extensions_count = 2;
    EXPECT_INVALID(ocde_selection_start(client, &options, NULL, NULL, &sentinel_sel));
    options.supported_file_extensions = NULL;
    EXPECT_INVALID(ocde_selection_start(client, &options, NULL, NULL, &sentinel_sel));
    expect(sentinel_sel == (OcdeSelection *)&passed, "out_selection untouched on failure");

    expect(ocde_selection_url(NULL) == NULL, "url(NULL)");
    EXPECT_INVALID(ocde_selection_poll(NULL, 0));
    ocde_selection_abort(NULL);
    expect(ocde_selection_count(NULL) == 0, "count(NULL)");
    EXPECT_INVALID(ocde_selection_get(NULL, 0, &doc));
    EXPECT_INVALID(ocde_selection_get_sized(NULL, 0, &doc, sizeof doc));
    expect(ocde_selection_server_context(NULL) == NULL, "server_context(NULL)");
    ocde_selection_free(NULL);

    EXPECT_INVALID(ocde_download_to_path(NULL, "http://127.0.0.1:1/x", "/tmp/x", -1, NULL, NULL));
    EXPECT_INVALID(ocde_download_to_path(client, NULL, "/tmp/x", -1, NULL, NULL));
    EXPECT_INVALID(ocde_download_to_path(client, BAD, "/tmp/x", -1, NULL, NULL));
    EXPECT_INVALID(ocde_download_to_path(client, "http://127.0.0.1:1/x", NULL, -1, NULL, NULL));
    EXPECT_INVALID(ocde_download_to_path(client, "http://127.0.0.1:1/x", BAD, -1, NULL, NULL));
    EXPECT_INVALID(ocde_download_to_path(client, "file:///etc/passwd", "/tmp/x", -1, NULL, NULL));
    EXPECT_INVALID(ocde_download_document(NULL, NULL, 0, "/tmp", NULL, NULL, &path));
    EXPECT_INVALID(ocde_download_document(client, NULL, 0, "/tmp", NULL, NULL, &path));
    expect(path == (char *)&failed, "out_path untouched on failure");
    ocde_string_free(NULL);

    EXPECT_INVALID(ocde_open_system_browser(NULL));
    EXPECT_INVALID(ocde_open_system_browser(BAD));
    EXPECT_INVALID(ocde_open_system_browser("javascript:alert(1)"));

    expect(strcmp(ocde_status_str(OCDE_STATUS_IO), "OCDE_STATUS_IO") == 0, "status_str");
    expect(strcmp(ocde_status_str(12345), "OCDE_STATUS_UNKNOWN") == 0, "status_str unknown");
    expect(ocde_version()[0] != '\0', "version");

    ocde_client_free(client);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
