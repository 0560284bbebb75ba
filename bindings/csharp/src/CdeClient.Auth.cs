// Sign-in: a client made from the server URL (Foundation API discovery), OAuth2 authorization code
// grant with PKCE over a loopback redirect, tokens handed to the host, and the current user.

using System;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

namespace OpenCde.Documents
{
    public sealed partial class CdeClient
    {
        // ------------------------------------------------------------------ creation from a server URL

        /// <summary>
        /// Discovers the server at <paramref name="serverUrl"/> (e.g. "https://cde.example.com":
        /// <c>/foundation/versions</c>, then <c>/foundation/1.0/auth</c>) and creates a client for its
        /// Documents API that knows the server's sign-in endpoints, on a background thread. Call
        /// <see cref="UseOAuth"/>, then <see cref="SignInAsync"/> or set <see cref="RefreshToken"/>.
        /// </summary>
        /// <param name="serverUrl">The server's origin (http or https).</param>
        /// <param name="cancellationToken">
        /// Ends the wait at once with <see cref="OperationCanceledException"/>. The discovery requests
        /// cannot be interrupted: they finish in the background (bounded by the default timeouts,
        /// connect 15 s and stall 30 s) and the client they produce is disposed.
        /// </param>
        /// <exception cref="OcdeException">
        /// The URL is malformed (<see cref="OcdeStatus.InvalidArgument"/>), or discovery failed. A
        /// server without <c>/foundation/1.0/auth</c> still gives a client, whose
        /// <see cref="SignInAsync"/> then fails with a message saying so.
        /// </exception>
        /// <remarks>
        /// Discovery uses the default timeouts and the bundled TLS roots: the C ABI offers no way to
        /// apply <see cref="SetRootCertificates"/> before the client exists.
        /// </remarks>
        public static Task<CdeClient> ForServerAsync(string serverUrl, CancellationToken cancellationToken = default(CancellationToken))
        {
            byte[] url = CdeServerInfo.ValidateServerUrl(serverUrl);
            return Background.RunAbandonable(() => NewForServer(url, serverUrl), client => client.Dispose(), cancellationToken);
        }

        /// <summary>The synchronous form of <see cref="ForServerAsync"/> (blocks the calling thread).</summary>
        public static CdeClient ForServer(string serverUrl)
        {
            byte[] url = CdeServerInfo.ValidateServerUrl(serverUrl);
            return NewForServer(url, serverUrl);
        }

        private static CdeClient NewForServer(byte[] url, string serverUrl)
        {
            ClientHandle handle;
            OcdeStatus status = (OcdeStatus)NativeMethods.ocde_client_new_for_server(url, out handle);
            if (status != OcdeStatus.Ok)
            {
                OcdeException error = OcdeException.FromLastError(status);
                Forget(handle);
                throw error;
            }
            HandleCounters.OnClientCreated();
            return new CdeClient(handle, null, serverUrl);
        }

        // ------------------------------------------------------------------ OAuth2 settings and tokens

        /// <summary>
        /// Sets your application's OAuth2 client id and, for a confidential client only, its secret
        /// (null for a public client, the usual case for a desktop plugin). The secret is sent by HTTP
        /// Basic when the server supports it, else in the form body. Needed before
        /// <see cref="SignInAsync"/> and for refreshing tokens. May be called again to change them.
        /// </summary>
        /// <exception cref="ArgumentNullException"><paramref name="clientId"/> is null.</exception>
        /// <exception cref="OcdeException"><paramref name="clientId"/> is empty (<see cref="OcdeStatus.InvalidArgument"/>).</exception>
        public void UseOAuth(string clientId, string clientSecret = null)
        {
            ThrowIfDisposed();
            if (clientId == null)
            {
                throw new ArgumentNullException("clientId");
            }
            Callbacks.ThrowIfInsideCallback();
            byte[] id = Utf8.ToNative(clientId, "clientId");
            byte[] secret = Utf8.ToNative(clientSecret, "clientSecret");
            try
            {
                // The token callback is always registered: subscribing to TokensChanged before or
                // after this call makes no difference.
                Check(NativeMethods.ocde_client_set_oauth(_handle, id, secret, Callbacks.Tokens, _tokenRelay.Key));
            }
            finally
            {
                if (secret != null)
                {
                    Array.Clear(secret, 0, secret.Length);
                }
            }
        }

        /// <summary>
        /// A refresh token you stored from an earlier <see cref="TokensChanged"/>, handed back at
        /// start-up: the next request first gets a fresh access token with it, so the user needs no
        /// browser. Null forgets it. Write-only, like <see cref="AccessToken"/>. Needs
        /// <see cref="UseOAuth"/> and a client made by <see cref="ForServerAsync"/> to be useful.
        /// </summary>
        /// <remarks>
        /// If the server no longer accepts it (revoked, expired, or already used once rotated), that
        /// next request fails with <see cref="OcdeStatus.Unauthorized"/> and a message saying to sign
        /// in again: call <see cref="SignInAsync"/>.
        /// </remarks>
        public string RefreshToken
        {
            set { SetRefreshToken(value); }
        }

        /// <summary>Sets the stored refresh token (null forgets it). See <see cref="RefreshToken"/>.</summary>
        /// <exception cref="OcdeException">The token is empty or holds control characters (<see cref="OcdeStatus.InvalidArgument"/>).</exception>
        public void SetRefreshToken(string refreshToken)
        {
            ThrowIfDisposed();
            Callbacks.ThrowIfInsideCallback();
            byte[] token = Utf8.ToNative(refreshToken, "refreshToken");
            try
            {
                Check(NativeMethods.ocde_client_set_refresh_token(_handle, token));
            }
            finally
            {
                if (token != null)
                {
                    Array.Clear(token, 0, token.Length);
                }
            }
        }

        /// <summary>
        /// Raised with every new token set: once after a sign-in, and after every refresh, so you can
        /// keep the refresh token in your own secure store (the server may rotate it each time).
        /// </summary>
        /// <remarks>
        /// <para>
        /// Raised <b>synchronously on the thread of the library call that obtained the tokens</b>,
        /// inside that call: the sign-in's background thread for <see cref="SignInAsync"/>, or the
        /// thread running whatever request found the token due and refreshed it (a selection, a
        /// download, <see cref="GetCurrentUserAsync"/>; for <see cref="DownloadSelectionAsync"/> the
        /// one thread running that call, even when a transfer thread refreshed). It is never raised on
        /// your UI thread by itself: marshal there yourself, and keep the handler short (the call
        /// waits for it).
        /// </para>
        /// <para>
        /// A handler must not call this library (that throws <see cref="InvalidOperationException"/>).
        /// If a handler throws, the other handlers still run, and the first exception is rethrown to
        /// the caller of the operation once the native call has returned; the tokens are in use by the
        /// client all the same (a sign-in has succeeded, a download is complete).
        /// </para>
        /// </remarks>
        public event EventHandler<TokensChangedEventArgs> TokensChanged
        {
            add { _tokenRelay.Add(value); }
            remove { _tokenRelay.Remove(value); }
        }

        // ------------------------------------------------------------------ sign-in

        /// <summary>
        /// Signs the user in (OAuth2 authorization code grant with PKCE): shows the server's sign-in
        /// page and waits, on a dedicated background thread, for the browser to come back to a
        /// loopback address. On success the client holds the tokens and refreshes them by itself;
        /// <see cref="TokensChanged"/> is raised first, on that background thread.
        /// </summary>
        /// <param name="openUrl">
        /// Shows the sign-in page (e.g. in the system browser); return true once shown, false to give up
        /// (the task then fails with <see cref="OcdeStatus.Aborted"/>). Called once, on a background
        /// thread. Null: the system browser is opened. Prefer the system browser to an embedded web
        /// view: the user's password manager and single sign-on work there, and servers may refuse
        /// embedded views.
        /// </param>
        /// <param name="timeout">How long to wait for the user; null: 10 minutes.</param>
        /// <param name="cancellationToken">Cancels the wait at once (the native wait is aborted).</param>
        /// <returns>
        /// The outcome: <see cref="SignInOutcome.Denied"/> (the user pressed Deny) and
        /// <see cref="SignInOutcome.Expired"/> are results, not exceptions.
        /// </returns>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        /// <exception cref="OcdeException">
        /// The client cannot sign in (no <see cref="UseOAuth"/>: <see cref="OcdeStatus.InvalidArgument"/>;
        /// a server without sign-in, or a client not made by <see cref="ForServerAsync"/>:
        /// <see cref="OcdeStatus.Protocol"/>), the server refused the sign-in or the code, or the
        /// network failed.
        /// </exception>
        public Task<SignInResult> SignInAsync(
            Func<string, bool> openUrl = null,
            TimeSpan? timeout = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            ThrowIfDisposed();
            Callbacks.ThrowIfInsideCallback();
            ToSeconds(timeout);
            // LongRunning: the wait lasts as long as the user takes; it must not hold a pool thread.
            return Task.Factory.StartNew(
                () => SignIn(openUrl, timeout, cancellationToken),
                cancellationToken,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
        }

        /// <summary>
        /// The synchronous form of <see cref="SignInAsync"/>: blocks the calling thread, which is also
        /// the thread <paramref name="openUrl"/> and <see cref="TokensChanged"/> run on.
        /// </summary>
        public SignInResult SignIn(
            Func<string, bool> openUrl = null,
            TimeSpan? timeout = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            ThrowIfDisposed();
            Callbacks.ThrowIfInsideCallback();
            uint expiresInS = ToSeconds(timeout);
            cancellationToken.ThrowIfCancellationRequested();

            SignInSession session = StartSignIn(openUrl, expiresInS, cancellationToken);
            try
            {
                OcdeStatus status;
                // Disposed before the session: Dispose waits for a running abort, so
                // ocde_sign_in_abort never races ocde_sign_in_free.
                using (cancellationToken.Register(s => ((SignInSession)s).Abort(), session))
                {
                    do
                    {
                        status = session.Poll(PollSliceMs);
                    }
                    while (status == OcdeStatus.Pending);
                }
                switch (status)
                {
                    case OcdeStatus.Ok:
                        return new SignInResult(SignInOutcome.SignedIn, session.Url);
                    case OcdeStatus.UserCancelled:
                        return new SignInResult(SignInOutcome.Denied, session.Url);
                    case OcdeStatus.Expired:
                        return new SignInResult(SignInOutcome.Expired, session.Url);
                    case OcdeStatus.Aborted:
                        cancellationToken.ThrowIfCancellationRequested();
                        throw new OcdeException(OcdeStatus.Aborted, "The sign-in was aborted.", 0);
                    default:
                        throw new OcdeException(status, "Unexpected sign-in status " + OcdeLibrary.ManagedStatusName(status) + ".", 0);
                }
            }
            finally
            {
                session.Dispose();
                GC.KeepAlive(this); // keeps the log and token relays alive during the polls
            }
        }

        private SignInSession StartSignIn(Func<string, bool> openUrl, uint expiresInS, CancellationToken cancellationToken)
        {
            var call = new StartCall(openUrl, cancellationToken);
            GCHandle cookie = GCHandle.Alloc(call);
            SignInHandle handle;
            OcdeStatus status;
            OcdeException error = null;
            try
            {
                Callbacks.BeginNativeCall();
                status = (OcdeStatus)NativeMethods.ocde_sign_in_start(
                    _handle,
                    expiresInS,
                    openUrl == null ? null : Callbacks.OpenUrl,
                    GCHandle.ToIntPtr(cookie),
                    out handle);
                if (status != OcdeStatus.Ok)
                {
                    error = OcdeException.FromLastError(status);
                }
            }
            finally
            {
                cookie.Free();
                GC.KeepAlive(this); // keeps the log relay alive during the call
            }
            ExceptionDispatchInfo handlerError = Callbacks.TakeHandlerError();
            if (status != OcdeStatus.Ok)
            {
                Forget(handle);
                if (call.Error != null)
                {
                    call.Error.Throw();
                }
                if (handlerError != null)
                {
                    handlerError.Throw();
                }
                if (status == OcdeStatus.Aborted)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
                throw error;
            }
            HandleCounters.OnSignInCreated();
            var session = new SignInSession(handle);
            if (handlerError != null || cancellationToken.IsCancellationRequested)
            {
                session.Dispose();
                if (handlerError != null)
                {
                    handlerError.Throw();
                }
                cancellationToken.ThrowIfCancellationRequested();
            }
            return session;
        }

        private static uint ToSeconds(TimeSpan? timeout)
        {
            if (!timeout.HasValue)
            {
                return 0; // the library's default, 600 s
            }
            double s = Math.Ceiling(timeout.Value.TotalSeconds);
            if (timeout.Value <= TimeSpan.Zero || s > uint.MaxValue)
            {
                throw new ArgumentOutOfRangeException("timeout", "The sign-in timeout must be positive.");
            }
            return (uint)s;
        }

        // ------------------------------------------------------------------ current user

        /// <summary>
        /// Who is signed in (the Foundation API's <c>current-user</c>), on a background thread. Like any
        /// request, it refreshes the access token first when it is due.
        /// </summary>
        /// <param name="cancellationToken">
        /// Ends the wait at once with <see cref="OperationCanceledException"/>; the request itself
        /// finishes in the background (bounded by the client's timeouts) and its answer is discarded.
        /// </param>
        /// <exception cref="OcdeException">
        /// Not signed in or the token was refused (<see cref="OcdeStatus.Unauthorized"/>), a client not
        /// made by <see cref="ForServerAsync"/> (<see cref="OcdeStatus.Protocol"/>), or the network failed.
        /// </exception>
        public Task<CurrentUser> GetCurrentUserAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            ThrowIfDisposed();
            Callbacks.ThrowIfInsideCallback();
            return Background.RunAbandonable<CurrentUser>(GetCurrentUser, null, cancellationToken);
        }

        /// <summary>The synchronous form of <see cref="GetCurrentUserAsync"/>.</summary>
        public CurrentUser GetCurrentUser()
        {
            ThrowIfDisposed();
            Callbacks.ThrowIfInsideCallback();
            IntPtr id = IntPtr.Zero;
            IntPtr name = IntPtr.Zero;
            OcdeStatus status;
            OcdeException error = null;
            try
            {
                Callbacks.BeginNativeCall();
                status = (OcdeStatus)NativeMethods.ocde_client_current_user(_handle, ref id, ref name);
                if (status != OcdeStatus.Ok)
                {
                    error = OcdeException.FromLastError(status);
                }
            }
            finally
            {
                GC.KeepAlive(this); // keeps the log and token relays alive during the call
            }
            ExceptionDispatchInfo handlerError = Callbacks.TakeHandlerError();
            CurrentUser user = null;
            if (status == OcdeStatus.Ok)
            {
                try
                {
                    user = new CurrentUser(Utf8.FromNative(id), Utf8.FromNative(name));
                }
                finally
                {
                    NativeMethods.ocde_string_free(id);
                    NativeMethods.ocde_string_free(name);
                }
            }
            if (handlerError != null)
            {
                handlerError.Throw();
            }
            if (error != null)
            {
                throw error;
            }
            return user;
        }
    }

    /// <summary>A running or finished native sign-in (<c>OcdeSignIn</c>), used by one thread plus aborts.</summary>
    internal sealed class SignInSession : IDisposable
    {
        private readonly SignInHandle _handle;

        internal SignInSession(SignInHandle handle)
        {
            _handle = handle;
            Url = Utf8.FromNative(NativeMethods.ocde_sign_in_url(handle));
        }

        /// <summary>The authorization URL.</summary>
        internal string Url { get; private set; }

        /// <summary>
        /// One <c>ocde_sign_in_poll</c>; throws for error statuses, returns outcomes. The code exchange
        /// raises TokensChanged inside the call: a handler's exception is thrown first.
        /// </summary>
        internal OcdeStatus Poll(uint timeoutMs)
        {
            Callbacks.BeginNativeCall();
            OcdeStatus status = (OcdeStatus)NativeMethods.ocde_sign_in_poll(_handle, timeoutMs);
            OcdeException error = status >= OcdeStatus.InvalidArgument ? OcdeException.FromLastError(status) : null;
            ExceptionDispatchInfo handlerError = Callbacks.TakeHandlerError();
            if (handlerError != null)
            {
                handlerError.Throw();
            }
            if (error != null)
            {
                throw error;
            }
            return status;
        }

        /// <summary>Wakes a poll blocked on another thread. Never throws (runs from cancellation callbacks).</summary>
        internal void Abort()
        {
            try
            {
                if (!_handle.IsClosed)
                {
                    NativeMethods.ocde_sign_in_abort(_handle);
                }
            }
            catch (ObjectDisposedException)
            {
                // Disposed between the check and the call: nothing left to abort.
            }
        }

        public void Dispose()
        {
            _handle.Dispose();
        }
    }
}
