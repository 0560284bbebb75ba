// P/Invoke declarations for include/opencde_documents.h. Everything in this file is internal: the
// public API never exposes a pointer.
//
// Rules followed here (see README.md):
// - every import and every callback delegate type is CallingConvention.Cdecl;
// - strings going in are NUL-terminated UTF-8 byte[] built by Utf8.ToNative (never `string`, whose
//   default marshalling is ANSI on .NET Framework and would mangle "Проект/模型 ü.ifc");
// - strings coming out are IntPtr, decoded by Utf8.FromNative and freed only by ocde_string_free
//   when the library says they are ours;
// - size_t is UIntPtr; C enums are 32-bit ints;
// - handles are SafeHandles: the marshaller AddRefs them for the duration of each call, so a
//   Dispose() racing with a call on another thread cannot free the native object under it.

using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;

namespace OpenCde.Documents
{
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate int OcdeProgressFn(IntPtr userData, ulong received, long total);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate int OcdeOpenUrlFn(IntPtr userData, IntPtr url);

    // `index` is size_t; `total` and `allTotal` are -1 when unknown.
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate int OcdeSelectionProgressFn(IntPtr userData, UIntPtr index, ulong received, long total, ulong allReceived, long allTotal);

    // `refreshToken` is NULL when the server gave none; `expiresAtUnix` is 0 when unknown. Both strings
    // are valid only during the call.
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void OcdeTokensFn(IntPtr userData, IntPtr accessToken, IntPtr refreshToken, long expiresAtUnix);

    // `level` is the C enum OcdeLogLevel, taken as int so that an unknown future value is harmless.
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void OcdeLogFn(IntPtr userData, int level, IntPtr message);

    /// <summary>Mirror of <c>OcdeSelectionOptions</c>: uint32, uint32, uint16, then pointers.</summary>
    /// <remarks>
    /// Sequential layout reproduces C's padding: on 64-bit the offsets are 0, 4, 8, 16, 24, 32
    /// (size 40); on 32-bit 0, 4, 8, 12, 16, 20 (size 24). Checked by the tests.
    /// </remarks>
    [StructLayout(LayoutKind.Sequential)]
    internal struct OcdeSelectionOptionsNative
    {
        public uint struct_size;
        public uint callback_expires_in_s;
        public ushort callback_port;
        public IntPtr server_context;
        public IntPtr supported_file_extensions;
        public UIntPtr supported_file_extensions_count;
    }

    /// <summary>Mirror of <c>OcdeDocument</c>. Every pointer is borrowed from the selection.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct OcdeDocumentNative
    {
        public IntPtr document_id;
        public IntPtr title;
        public IntPtr file_name;
        public long size_in_bytes;
        public IntPtr version_number;
        public long version_index;
        public IntPtr creation_date;
        public IntPtr download_url;
        public IntPtr metadata_url;
        public IntPtr versions_url;
        public IntPtr version_url;
        public IntPtr details_url;
    }

    internal static class NativeMethods
    {
        /// <summary>
        /// Resolved by the runtime as opencde_documents.dll (Windows), libopencde_documents.so
        /// (Linux) or libopencde_documents.dylib (macOS).
        /// </summary>
        internal const string LibraryName = "opencde_documents";

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr ocde_last_error();

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_last_http_status();

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr ocde_status_str(int status);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr ocde_version();

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_open_system_browser(byte[] url);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void ocde_string_free(IntPtr s);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_client_new(byte[] documentsApiUrl, out ClientHandle outClient);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void ocde_client_free(IntPtr client);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_client_set_access_token(ClientHandle client, byte[] bearerToken);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_client_set_timeouts(ClientHandle client, uint connectTimeoutMs, uint stallTimeoutMs);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_client_set_log_callback(ClientHandle client, OcdeLogFn log, IntPtr userData);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_client_set_retries(ClientHandle client, uint maxRetries, uint baseDelayMs);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void ocde_client_abort_downloads(ClientHandle client);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_client_set_root_certificates(ClientHandle client, byte[] pem);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_download_to_path(
            ClientHandle client,
            byte[] downloadUrl,
            byte[] destPath,
            long expectedSize,
            OcdeProgressFn progress,
            IntPtr userData);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_download_document(
            ClientHandle client,
            SelectionHandle selection,
            UIntPtr index,
            byte[] destDir,
            OcdeProgressFn progress,
            IntPtr userData,
            ref IntPtr outPath);

        // `outResults` is written on OK and on per-document failures or an abort, not for an invalid
        // argument: it is passed in as IntPtr.Zero, read whenever it is non-zero after the call and
        // freed with ocde_download_results_free in the same method (a plain IntPtr, not a
        // SafeHandle: it never outlives that try/finally).
        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_download_selection(
            ClientHandle client,
            SelectionHandle selection,
            byte[] destDir,
            uint maxParallel,
            OcdeSelectionProgressFn progress,
            IntPtr userData,
            ref IntPtr outResults);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern UIntPtr ocde_download_results_count(IntPtr results);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_download_results_status(IntPtr results, UIntPtr index);

        // Borrowed from the results (valid until ocde_download_results_free); NULL if it failed.
        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr ocde_download_results_path(IntPtr results, UIntPtr index);

        // Borrowed from the results; "" when the document succeeded.
        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr ocde_download_results_error(IntPtr results, UIntPtr index);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void ocde_download_results_free(IntPtr results);

        // Writes exactly structSize bytes (the host's sizeof), so a newer library with a larger
        // struct cannot write past this wrapper's buffer.
        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void ocde_selection_options_init(IntPtr options, UIntPtr structSize);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_selection_start(
            ClientHandle client,
            IntPtr options,
            OcdeOpenUrlFn openUrl,
            IntPtr userData,
            out SelectionHandle outSelection);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr ocde_selection_url(SelectionHandle selection);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_selection_poll(SelectionHandle selection, uint timeoutMs);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void ocde_selection_abort(SelectionHandle selection);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern UIntPtr ocde_selection_count(SelectionHandle selection);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_selection_get(SelectionHandle selection, UIntPtr index, out OcdeDocumentNative outDocument);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr ocde_selection_server_context(SelectionHandle selection);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void ocde_selection_free(IntPtr selection);

        // ---- discovery, sign-in, current user

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_server_discover(byte[] serverUrl, out ServerHandle outServer);

        // The accessors return strings borrowed from the server description (valid until
        // ocde_server_free); the auth ones are NULL when the server offers no sign-in.
        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr ocde_server_documents_api_url(ServerHandle server);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr ocde_server_auth_url(ServerHandle server);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr ocde_server_token_url(ServerHandle server);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr ocde_server_code_challenge_method(ServerHandle server);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_server_pkce_required(ServerHandle server);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_server_http_basic_supported(ServerHandle server);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void ocde_server_free(IntPtr server);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_client_new_for_server(byte[] serverUrl, out ClientHandle outClient);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_client_set_oauth(ClientHandle client, byte[] clientId, byte[] clientSecret, OcdeTokensFn onTokens, IntPtr userData);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_client_set_refresh_token(ClientHandle client, byte[] refreshToken);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_sign_in_start(
            ClientHandle client,
            uint expiresInS,
            OcdeOpenUrlFn openUrl,
            IntPtr userData,
            out SignInHandle outSignIn);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr ocde_sign_in_url(SignInHandle signIn);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_sign_in_poll(SignInHandle signIn, uint timeoutMs);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void ocde_sign_in_abort(SignInHandle signIn);

        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void ocde_sign_in_free(IntPtr signIn);

        // `outId`/`outName` are passed in as IntPtr.Zero and written only on OK; the caller frees
        // both with ocde_string_free.
        [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int ocde_client_current_user(ClientHandle client, ref IntPtr outId, ref IntPtr outName);
    }

    /// <summary>
    /// Helps .NET Framework find the native library when the plugin's folder is not the host's.
    /// </summary>
    /// <remarks>
    /// .NET Framework resolves <c>[DllImport("opencde_documents")]</c> with the Windows DLL search
    /// order, which starts at the folder of the host's .exe (Revit.exe, acad.exe), not at the
    /// plugin's folder. Loading the DLL once by full path from beside this assembly (or from its
    /// NuGet <c>runtimes/win-ARCH/native</c> folder) makes the later DllImport find the module already
    /// loaded under that name. Harmless on .NET 8 (which probes the assembly's folder itself) and a
    /// no-op off Windows.
    /// </remarks>
    internal static class NativeLibraryLoader
    {
        private static readonly object s_lock = new object();
        private static bool s_attempted;

        [DllImport("kernel32", CharSet = CharSet.Unicode, SetLastError = true, ExactSpelling = true)]
        private static extern IntPtr LoadLibraryW(string path);

        internal static void EnsureLoaded()
        {
            // A lock, not a flag set before loading: a second thread must not go on to its first
            // P/Invoke (and the default DLL search) while the first thread is still loading.
            lock (s_lock)
            {
                if (s_attempted)
                {
                    return;
                }
                s_attempted = true;
                LoadBesideThisAssembly();
            }
        }

        private static void LoadBesideThisAssembly()
        {
            try
            {
                if (!RuntimeInformation.IsOSPlatform(OSPlatform.Windows))
                {
                    return;
                }
                string location = typeof(NativeLibraryLoader).Assembly.Location;
                if (string.IsNullOrEmpty(location))
                {
                    return; // loaded from bytes or single-file: leave it to the default search
                }
                string dir = Path.GetDirectoryName(location);
                string arch;
                switch (RuntimeInformation.ProcessArchitecture)
                {
                    case Architecture.X86: arch = "x86"; break;
                    case Architecture.Arm64: arch = "arm64"; break;
                    case Architecture.Arm: arch = "arm"; break;
                    default: arch = "x64"; break;
                }
                string file = NativeMethods.LibraryName + ".dll";
                string[] candidates =
                {
                    Path.Combine(dir, file),
                    Path.Combine(Path.Combine(dir, arch), file),
                    Path.Combine(Path.Combine(Path.Combine(Path.Combine(dir, "runtimes"), "win-" + arch), "native"), file),
                };
                foreach (string candidate in candidates)
                {
                    if (File.Exists(candidate) && LoadLibraryW(candidate) != IntPtr.Zero)
                    {
                        return;
                    }
                }
            }
            catch (Exception)
            {
                // Best effort only: if this fails, DllImport's own search reports DllNotFoundException.
            }
        }
    }
}
