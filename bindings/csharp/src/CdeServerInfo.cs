using System;
using System.Threading;
using System.Threading.Tasks;

namespace OpenCde.Documents
{
    /// <summary>
    /// What a server offers, from its Foundation API (<c>GET /foundation/versions</c> and
    /// <c>GET /foundation/1.0/auth</c>): the Documents API URL and the OAuth2 sign-in endpoints.
    /// </summary>
    /// <remarks>
    /// You need this only to look before you sign in: <see cref="CdeClient.ForServerAsync"/> does
    /// the same discovery itself.
    /// </remarks>
    public sealed class CdeServerInfo
    {
        static CdeServerInfo()
        {
            NativeLibraryLoader.EnsureLoaded();
        }

        private CdeServerInfo()
        {
        }

        /// <summary>The server URL that was discovered.</summary>
        public string ServerUrl { get; private set; }

        /// <summary>
        /// The Documents API 1.0 base URL: the server's <c>api_base_url</c>, or
        /// <c>{server}/documents/1.0</c> when it gives none.
        /// </summary>
        public string DocumentsApiUrl { get; private set; }

        /// <summary>The OAuth2 authorization endpoint, or null when the server offers no sign-in.</summary>
        public string AuthUrl { get; private set; }

        /// <summary>The OAuth2 token endpoint, or null when the server offers no sign-in.</summary>
        public string TokenUrl { get; private set; }

        /// <summary>True when the server requires PKCE (the library always uses it anyway).</summary>
        public bool PkceRequired { get; private set; }

        /// <summary>The announced <c>code_challenge_method</c> ("S256", "plain"), or null when not given.</summary>
        public string CodeChallengeMethod { get; private set; }

        /// <summary>True when the token endpoint accepts HTTP Basic client authentication.</summary>
        public bool HttpBasicSupported { get; private set; }

        /// <summary>True when the server offers OAuth2 sign-in (<see cref="AuthUrl"/> and <see cref="TokenUrl"/> are known).</summary>
        public bool SignInSupported
        {
            get { return AuthUrl != null && TokenUrl != null; }
        }

        /// <summary>
        /// Discovers the server at <paramref name="serverUrl"/> (e.g. "https://cde.example.com") on a
        /// background thread.
        /// </summary>
        /// <param name="serverUrl">The server's origin (http or https), without <c>/foundation</c>.</param>
        /// <param name="cancellationToken">
        /// Ends the wait at once with <see cref="OperationCanceledException"/>. The requests
        /// themselves cannot be interrupted: they finish in the background, bounded by the default
        /// timeouts (connect 15 s, stall 30 s), and their result is discarded.
        /// </param>
        /// <exception cref="OcdeException">
        /// The URL is malformed (<see cref="OcdeStatus.InvalidArgument"/>), the server cannot be
        /// reached, or it has no usable <c>/foundation/versions</c>. A server without
        /// <c>/foundation/1.0/auth</c> is not an error: <see cref="SignInSupported"/> is false.
        /// </exception>
        /// <remarks>
        /// Uses the default timeouts and the bundled TLS roots (the C ABI has no settings here), so a
        /// TLS-inspecting proxy whose CA only your <see cref="CdeClient.SetRootCertificates"/> would
        /// trust makes discovery fail.
        /// </remarks>
        public static Task<CdeServerInfo> DiscoverAsync(string serverUrl, CancellationToken cancellationToken = default(CancellationToken))
        {
            byte[] url = ValidateServerUrl(serverUrl);
            return Background.RunAbandonable(() => Discover(url, serverUrl), null, cancellationToken);
        }

        /// <summary>The synchronous form of <see cref="DiscoverAsync"/> (blocks the calling thread).</summary>
        public static CdeServerInfo Discover(string serverUrl)
        {
            byte[] url = ValidateServerUrl(serverUrl);
            return Discover(url, serverUrl);
        }

        internal static byte[] ValidateServerUrl(string serverUrl)
        {
            if (serverUrl == null)
            {
                throw new ArgumentNullException("serverUrl");
            }
            Callbacks.ThrowIfInsideCallback();
            return Utf8.ToNative(serverUrl, "serverUrl");
        }

        private static CdeServerInfo Discover(byte[] url, string serverUrl)
        {
            ServerHandle handle;
            OcdeStatus status = (OcdeStatus)NativeMethods.ocde_server_discover(url, out handle);
            if (status != OcdeStatus.Ok)
            {
                OcdeException error = OcdeException.FromLastError(status);
                if (handle != null)
                {
                    handle.SetHandleAsInvalid(); // not written on failure: not ours to free
                    handle.Dispose();
                }
                throw error;
            }
            HandleCounters.OnServerCreated();
            using (handle)
            {
                // Every string is copied before the description is freed.
                return new CdeServerInfo
                {
                    ServerUrl = serverUrl,
                    DocumentsApiUrl = Utf8.FromNative(NativeMethods.ocde_server_documents_api_url(handle)),
                    AuthUrl = Utf8.FromNative(NativeMethods.ocde_server_auth_url(handle)),
                    TokenUrl = Utf8.FromNative(NativeMethods.ocde_server_token_url(handle)),
                    CodeChallengeMethod = Utf8.FromNative(NativeMethods.ocde_server_code_challenge_method(handle)),
                    PkceRequired = NativeMethods.ocde_server_pkce_required(handle) != 0,
                    HttpBasicSupported = NativeMethods.ocde_server_http_basic_supported(handle) != 0,
                };
            }
        }

        /// <summary>The Documents API URL and whether sign-in is offered.</summary>
        public override string ToString()
        {
            return DocumentsApiUrl + (SignInSupported ? " (sign-in: " + AuthUrl + ")" : " (no sign-in)");
        }
    }

    internal static class Background
    {
        /// <summary>
        /// Runs <paramref name="work"/> (a native call that cannot be aborted) on a dedicated thread.
        /// Cancelling <paramref name="cancellationToken"/> completes the task as Canceled at once; the
        /// work then finishes in the background and its result is handed to <paramref name="discard"/>.
        /// </summary>
        internal static Task<T> RunAbandonable<T>(Func<T> work, Action<T> discard, CancellationToken cancellationToken)
        {
            // Continuations never run inline on the worker or on the thread calling Cancel().
            var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (cancellationToken.IsCancellationRequested)
            {
                tcs.TrySetCanceled(cancellationToken);
                return tcs.Task;
            }
            CancellationTokenRegistration registration = cancellationToken.Register(
                state => ((TaskCompletionSource<T>)state).TrySetCanceled(cancellationToken), tcs);
            Task.Factory.StartNew(
                () =>
                {
                    T result = default(T);
                    Exception error = null;
                    try
                    {
                        result = work();
                    }
                    catch (Exception e)
                    {
                        error = e;
                    }
                    registration.Dispose();
                    if (error != null)
                    {
                        tcs.TrySetException(error);
                    }
                    else if (!tcs.TrySetResult(result) && discard != null)
                    {
                        try
                        {
                            discard(result);
                        }
                        catch (Exception)
                        {
                            // Nobody is waiting for it any more.
                        }
                    }
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
            return tcs.Task;
        }
    }
}
