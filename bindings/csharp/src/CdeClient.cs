using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

namespace OpenCde.Documents
{
    /// <summary>
    /// A client of one CDE's OpenCDE Documents API (<c>OcdeClient</c>): lets the user pick
    /// documents in the CDE's web page and downloads them.
    /// </summary>
    /// <remarks>
    /// Thread-safe: one client may run several selections and downloads at once. Dispose it when
    /// done; selections already obtained stay usable. To sign the user in instead of passing an
    /// access token, create it with <see cref="ForServerAsync"/> (see <see cref="SignInAsync"/>).
    /// <code>
    /// using (var cde = new CdeClient("https://cde.example.com/documents/1.0") { AccessToken = token })
    /// using (var selection = await cde.SelectDocumentsAsync())
    ///     foreach (var doc in selection.Documents)
    ///         await cde.DownloadDocumentAsync(doc, folder, progress, ct);
    /// </code>
    /// </remarks>
    public sealed partial class CdeClient : IDisposable
    {
        /// <summary>How long one native poll waits; cancellation wakes it at once anyway.</summary>
        private const uint PollSliceMs = 5000;

        private readonly ClientHandle _handle;
        private readonly TokenRelay _tokenRelay;
        private int _disposed;
        private readonly object _logLock = new object();
        private LogRelay _logRelay;

        static CdeClient()
        {
            NativeLibraryLoader.EnsureLoaded();
        }

        /// <summary>Creates a client for the Documents API at <paramref name="documentsApiUrl"/>.</summary>
        /// <param name="documentsApiUrl">E.g. "https://cde.example.com/documents/1.0" (http or https).</param>
        /// <exception cref="ArgumentNullException"><paramref name="documentsApiUrl"/> is null.</exception>
        /// <exception cref="OcdeException">The URL is malformed (<see cref="OcdeStatus.InvalidArgument"/>).</exception>
        /// <exception cref="DllNotFoundException">The native library cannot be found (see README).</exception>
        public CdeClient(string documentsApiUrl)
            : this(NewClient(documentsApiUrl), documentsApiUrl, null)
        {
        }

        private CdeClient(ClientHandle handle, string documentsApiUrl, string serverUrl)
        {
            _handle = handle;
            _tokenRelay = new TokenRelay(this);
            DocumentsApiUrl = documentsApiUrl;
            ServerUrl = serverUrl;
        }

        private static ClientHandle NewClient(string documentsApiUrl)
        {
            if (documentsApiUrl == null)
            {
                throw new ArgumentNullException("documentsApiUrl");
            }
            byte[] url = Utf8.ToNative(documentsApiUrl, "documentsApiUrl");
            ClientHandle handle;
            OcdeStatus status = (OcdeStatus)NativeMethods.ocde_client_new(url, out handle);
            if (status != OcdeStatus.Ok)
            {
                OcdeException error = OcdeException.FromLastError(status);
                Forget(handle);
                throw error;
            }
            HandleCounters.OnClientCreated();
            return handle;
        }

        /// <summary>
        /// The Documents API URL this client was created with; null for a client made by
        /// <see cref="ForServerAsync"/> (the library does not report the URL it discovered: use
        /// <see cref="CdeServerInfo.DiscoverAsync"/> if you need it).
        /// </summary>
        public string DocumentsApiUrl { get; private set; }

        /// <summary>The server URL given to <see cref="ForServerAsync"/>; null for a client made by the constructor.</summary>
        public string ServerUrl { get; private set; }

        /// <summary>
        /// The OAuth2 bearer token, sent only to the Documents API's own origin; null clears it.
        /// Write-only, so the token does not show up in debugger views or logs.
        /// </summary>
        public string AccessToken
        {
            set { SetAccessToken(value); }
        }

        /// <summary>
        /// Receives the library's log messages (warnings such as a declared size that differs from
        /// the file received). Called on the thread running the operation, inside it; it must not
        /// call this library. If it throws, the operation is aborted when possible and the
        /// exception is rethrown to the operation's caller.
        /// </summary>
        public Action<OcdeLogLevel, string> Log
        {
            get
            {
                LogRelay relay = _logRelay;
                return relay == null ? null : relay.Handler;
            }
            set
            {
                ThrowIfDisposed();
                lock (_logLock)
                {
                    if (_logRelay == null)
                    {
                        if (value == null)
                        {
                            return;
                        }
                        // Registered once and kept until the client handle is released: the handler
                        // is swapped in managed code only, so changing it never races native calls.
                        // The GCHandle is weak (this object keeps the relay alive): a handler that
                        // captures this client must not keep an undisposed client alive forever.
                        var relay = new LogRelay();
                        relay.Handler = value;
                        IntPtr cookie = GCHandle.ToIntPtr(GCHandle.Alloc(relay, GCHandleType.Weak));
                        OcdeStatus status = (OcdeStatus)NativeMethods.ocde_client_set_log_callback(_handle, Callbacks.Log, cookie);
                        if (status != OcdeStatus.Ok)
                        {
                            OcdeException error = OcdeException.FromLastError(status);
                            GCHandle.FromIntPtr(cookie).Free();
                            throw error;
                        }
                        _handle.LogState = cookie;
                        _logRelay = relay;
                    }
                    else
                    {
                        _logRelay.Handler = value;
                    }
                }
            }
        }

        /// <summary>Sets the bearer token (null clears it). See <see cref="AccessToken"/>.</summary>
        public void SetAccessToken(string bearerToken)
        {
            ThrowIfDisposed();
            byte[] token = Utf8.ToNative(bearerToken, "bearerToken");
            try
            {
                Check(NativeMethods.ocde_client_set_access_token(_handle, token));
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
        /// Sets the connect timeout and the stall timeout (longest time without progress); null
        /// keeps the default (15 s and 30 s). There is no limit on a download's total time.
        /// </summary>
        public void SetTimeouts(TimeSpan? connectTimeout, TimeSpan? stallTimeout)
        {
            ThrowIfDisposed();
            Check(NativeMethods.ocde_client_set_timeouts(_handle, ToMs(connectTimeout, "connectTimeout"), ToMs(stallTimeout, "stallTimeout")));
        }

        /// <summary>
        /// Sets how often a GET is retried after a 429/500/502/503/504 answer or a failed
        /// connection, and how often a broken download is resumed; 0 disables both. Waits back off
        /// exponentially from <paramref name="baseDelay"/> (null: 250 ms) or follow the server's
        /// Retry-After, never longer than 10 s. Default: 3 retries.
        /// </summary>
        public void SetRetries(int maxRetries, TimeSpan? baseDelay = null)
        {
            ThrowIfDisposed();
            if (maxRetries < 0)
            {
                throw new ArgumentOutOfRangeException("maxRetries", "maxRetries must not be negative.");
            }
            Check(NativeMethods.ocde_client_set_retries(_handle, (uint)maxRetries, ToMs(baseDelay, "baseDelay")));
        }

        /// <summary>
        /// Trusts exactly the certificates of <paramref name="pem"/> (PEM text with one or more
        /// <c>-----BEGIN CERTIFICATE-----</c> blocks) as TLS root certificates for this client,
        /// instead of the bundled Mozilla roots: for a company CA or a TLS-inspecting proxy. Null
        /// goes back to the bundled roots. Applies to requests started afterwards.
        /// </summary>
        /// <exception cref="OcdeException">
        /// The text holds no certificate, or a malformed one (<see cref="OcdeStatus.InvalidArgument"/>);
        /// the roots in force are unchanged.
        /// </exception>
        public void SetRootCertificates(string pem)
        {
            ThrowIfDisposed();
            Check(NativeMethods.ocde_client_set_root_certificates(_handle, Utf8.ToNative(pem, "pem")));
        }

        /// <summary>
        /// Aborts every download running on this client, from any thread: each fails with an
        /// <see cref="OcdeException"/> whose status is <see cref="OcdeStatus.Aborted"/>, leaving no
        /// file, at its next chunk or retry wait (at the latest when the stall timeout fires).
        /// Downloads started afterwards are not affected. To stop a single download, cancel its
        /// <see cref="CancellationToken"/> instead. Does nothing once the client is disposed.
        /// </summary>
        public void AbortAllDownloads()
        {
            try
            {
                if (!_handle.IsClosed)
                {
                    NativeMethods.ocde_client_abort_downloads(_handle);
                }
            }
            catch (ObjectDisposedException)
            {
                // Disposed meanwhile: nothing is running any more.
            }
        }

        // ------------------------------------------------------------------ selection

        /// <summary>
        /// Lets the user choose documents in the CDE's web page and waits for the choice, on a
        /// dedicated background thread.
        /// </summary>
        /// <param name="options">Selection options; null for defaults.</param>
        /// <param name="openUrl">
        /// Shows the CDE page (e.g. in an embedded web view); return true once shown, false to give up
        /// (the task then fails with <see cref="OcdeStatus.Aborted"/>). Called once, on a background
        /// thread: marshal to your UI thread yourself. Null: the system browser is opened.
        /// </param>
        /// <param name="cancellationToken">Cancels the wait at once (the native poll is aborted).</param>
        /// <returns>
        /// The outcome; <see cref="SelectionOutcome.UserCancelled"/> and
        /// <see cref="SelectionOutcome.Expired"/> are results, not exceptions. Dispose it.
        /// </returns>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        /// <exception cref="OcdeException">The CDE or the network failed.</exception>
        public Task<SelectionResult> SelectDocumentsAsync(
            SelectionOptions options = null,
            Func<string, bool> openUrl = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            ThrowIfDisposed();
            Callbacks.ThrowIfInsideCallback();
            // LongRunning: the wait may last as long as the user takes (up to the callback expiry);
            // it must not hold a thread-pool thread.
            return Task.Factory.StartNew(
                () => SelectDocuments(options, openUrl, cancellationToken),
                cancellationToken,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
        }

        /// <summary>The synchronous form of <see cref="SelectDocumentsAsync"/> (blocks the calling thread).</summary>
        public SelectionResult SelectDocuments(
            SelectionOptions options = null,
            Func<string, bool> openUrl = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            ThrowIfDisposed();
            Callbacks.ThrowIfInsideCallback();
            cancellationToken.ThrowIfCancellationRequested();

            Selection selection = StartSelection(options, openUrl, cancellationToken);
            bool handedOver = false;
            try
            {
                OcdeStatus status;
                // The registration is disposed before the selection (inner using): Dispose waits
                // for a running abort, so ocde_selection_abort never races ocde_selection_free.
                using (cancellationToken.Register(s => ((Selection)s).Abort(), selection))
                {
                    do
                    {
                        status = selection.Poll(PollSliceMs);
                    }
                    while (status == OcdeStatus.Pending);
                }
                switch (status)
                {
                    case OcdeStatus.Ok:
                        string serverContext;
                        var documents = selection.ReadDocuments(out serverContext);
                        handedOver = true;
                        return new SelectionResult(SelectionOutcome.Selected, selection.Url, selection, documents, serverContext);
                    case OcdeStatus.UserCancelled:
                        return new SelectionResult(SelectionOutcome.UserCancelled, selection.Url, null, null, null);
                    case OcdeStatus.Expired:
                        return new SelectionResult(SelectionOutcome.Expired, selection.Url, null, null, null);
                    case OcdeStatus.Aborted:
                        cancellationToken.ThrowIfCancellationRequested();
                        throw new OcdeException(OcdeStatus.Aborted, "The selection was aborted.", 0);
                    default:
                        throw new OcdeException(status, "Unexpected selection status " + OcdeLibrary.ManagedStatusName(status) + ".", 0);
                }
            }
            finally
            {
                if (!handedOver)
                {
                    selection.Dispose();
                }
                GC.KeepAlive(this); // keeps the log and token relays alive during the polls
            }
        }

        private Selection StartSelection(SelectionOptions options, Func<string, bool> openUrl, CancellationToken cancellationToken)
        {
            using (var nativeOptions = new NativeSelectionOptions(options))
            {
                var call = new StartCall(openUrl, cancellationToken);
                GCHandle cookie = GCHandle.Alloc(call);
                SelectionHandle handle;
                OcdeStatus status;
                OcdeException error = null;
                try
                {
                    Callbacks.BeginNativeCall();
                    status = (OcdeStatus)NativeMethods.ocde_selection_start(
                        _handle,
                        nativeOptions.Pointer,
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
                HandleCounters.OnSelectionCreated();
                var selection = new Selection(handle);
                if (handlerError != null || cancellationToken.IsCancellationRequested)
                {
                    selection.Dispose();
                    if (handlerError != null)
                    {
                        handlerError.Throw();
                    }
                    cancellationToken.ThrowIfCancellationRequested();
                }
                return selection;
            }
        }

        // ------------------------------------------------------------------ downloads

        /// <summary>
        /// Downloads a selected document into the existing folder <paramref name="destinationDirectory"/>
        /// under its file name made safe ("Проект/模型 ü.ifc" becomes "Проект_模型 ü.ifc"), on a
        /// dedicated background thread. Nothing is left behind on failure or cancellation.
        /// </summary>
        /// <param name="document">A document of a <see cref="SelectionResult"/> that is not disposed.</param>
        /// <param name="destinationDirectory">An existing folder.</param>
        /// <param name="progress">
        /// Called synchronously on the download thread before the first byte and after every chunk
        /// (often thousands of times): keep it cheap. If it throws, the download is aborted and the
        /// exception is rethrown to the caller.
        /// </param>
        /// <param name="cancellationToken">Aborts the download at the next chunk.</param>
        /// <returns>The full path of the file written.</returns>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        /// <exception cref="OcdeException">The download failed.</exception>
        /// <exception cref="ObjectDisposedException">This client or the document's selection was disposed.</exception>
        /// <remarks>
        /// Several downloads, of the same selection or not, may run at once. To download a whole
        /// selection in parallel with one progress, use <see cref="DownloadSelectionAsync"/>.
        /// </remarks>
        public Task<string> DownloadDocumentAsync(
            CdeDocument document,
            string destinationDirectory,
            IProgress<DownloadProgress> progress = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            ValidateDocument(document);
            if (destinationDirectory == null)
            {
                throw new ArgumentNullException("destinationDirectory");
            }
            return Task.Factory.StartNew(
                () => DownloadDocument(document, destinationDirectory, progress, cancellationToken),
                cancellationToken,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
        }

        /// <summary>The synchronous form of <see cref="DownloadDocumentAsync"/>.</summary>
        public string DownloadDocument(
            CdeDocument document,
            string destinationDirectory,
            IProgress<DownloadProgress> progress = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            ValidateDocument(document);
            if (destinationDirectory == null)
            {
                throw new ArgumentNullException("destinationDirectory");
            }
            Callbacks.ThrowIfInsideCallback();
            byte[] dir = Utf8.ToNative(destinationDirectory, "destinationDirectory");
            cancellationToken.ThrowIfCancellationRequested();

            Selection selection = document.Owner;
            selection.ThrowIfDisposed();
            var call = new DownloadCall(progress, cancellationToken);
            GCHandle cookie = GCHandle.Alloc(call);
            IntPtr outPath = IntPtr.Zero;
            OcdeStatus status;
            OcdeException error = null;
            try
            {
                Callbacks.BeginNativeCall();
                // No lock: the C ABI allows concurrent downloads from one selection. The marshaller
                // AddRefs both SafeHandles for the call, so a Dispose() racing with it on another
                // thread defers the native free until the call has returned (and a Dispose() that
                // came first makes the call throw ObjectDisposedException instead).
                status = (OcdeStatus)NativeMethods.ocde_download_document(
                    _handle,
                    selection.Handle,
                    new UIntPtr((uint)document.Index),
                    dir,
                    Callbacks.Progress,
                    GCHandle.ToIntPtr(cookie),
                    ref outPath);
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
            string path = null;
            if (status == OcdeStatus.Ok)
            {
                try
                {
                    path = Utf8.FromNative(outPath);
                }
                finally
                {
                    NativeMethods.ocde_string_free(outPath);
                }
            }
            ThrowDownloadFailure(status, error, call, cancellationToken);
            return path;
        }

        /// <summary>
        /// Downloads every document of <paramref name="selection"/> into the existing folder
        /// <paramref name="destinationDirectory"/>, with up to <paramref name="maxParallel"/>
        /// transfers at once, each as <see cref="DownloadDocumentAsync"/> would (safe, unique names;
        /// nothing left behind by a document that fails). Runs on a dedicated background thread.
        /// </summary>
        /// <param name="selection">A selection whose <see cref="SelectionResult.Outcome"/> is <see cref="SelectionOutcome.Selected"/>, not disposed.</param>
        /// <param name="destinationDirectory">An existing folder.</param>
        /// <param name="maxParallel">Transfers at once, at least 1 (values above 32 count as 32).</param>
        /// <param name="progress">
        /// Called synchronously, always on the one thread running this download (never on the
        /// library's transfer threads), after every chunk of any document: keep it cheap. If it
        /// throws, every transfer is aborted and the exception is rethrown to the caller.
        /// </param>
        /// <param name="cancellationToken">
        /// Aborts every transfer. Besides stopping at the next chunk, it calls
        /// <see cref="AbortAllDownloads"/> so that connection retries and their waits stop too, which
        /// also aborts any other download running on this client at that moment.
        /// </param>
        /// <returns>
        /// One <see cref="DocumentDownloadResult"/> per document. A document that failed (HTTP
        /// error, network, disk, <see cref="AbortAllDownloads"/>) is a result, not an exception:
        /// check <see cref="SelectionDownloadResult.AllSucceeded"/>.
        /// </returns>
        /// <exception cref="OperationCanceledException">
        /// <paramref name="cancellationToken"/> was cancelled before every document was written. No
        /// partial or temporary file is left; documents already complete at that moment stay in place.
        /// </exception>
        /// <exception cref="OcdeException">The downloads could not be started (e.g. <see cref="OcdeStatus.InvalidArgument"/>).</exception>
        /// <exception cref="ObjectDisposedException">This client or the selection was disposed.</exception>
        public Task<SelectionDownloadResult> DownloadSelectionAsync(
            SelectionResult selection,
            string destinationDirectory,
            int maxParallel = 4,
            IProgress<SelectionDownloadProgress> progress = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            ValidateSelection(selection, destinationDirectory, maxParallel);
            return Task.Factory.StartNew(
                () => DownloadSelection(selection, destinationDirectory, maxParallel, progress, cancellationToken),
                cancellationToken,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
        }

        /// <summary>
        /// The synchronous form of <see cref="DownloadSelectionAsync"/>: blocks the calling thread,
        /// which is also the thread <paramref name="progress"/> is called on.
        /// </summary>
        public SelectionDownloadResult DownloadSelection(
            SelectionResult selection,
            string destinationDirectory,
            int maxParallel = 4,
            IProgress<SelectionDownloadProgress> progress = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            Selection native = ValidateSelection(selection, destinationDirectory, maxParallel);
            Callbacks.ThrowIfInsideCallback();
            byte[] dir = Utf8.ToNative(destinationDirectory, "destinationDirectory");
            cancellationToken.ThrowIfCancellationRequested();

            var call = new SelectionDownloadCall(selection.Documents, progress, cancellationToken);
            GCHandle cookie = GCHandle.Alloc(call);
            IntPtr results = IntPtr.Zero;
            OcdeStatus status;
            OcdeException error = null;
            try
            {
                // The progress callback stops the transfers at their next chunk; aborting the
                // client's downloads also wakes connection retries and their waits, where no chunk
                // comes. Not from the calling thread itself (a progress handler cancelling the
                // token): the trampoline returns non-zero right after the handler anyway. Disposing
                // the registration waits for a running abort, which is safe after the call returned
                // (AbortAllDownloads tolerates a disposed client).
                using (cancellationToken.Register(
                    state =>
                    {
                        var c = (SelectionDownloadCall)state;
                        if (Thread.CurrentThread.ManagedThreadId != c.ThreadId)
                        {
                            AbortAllDownloads();
                        }
                    },
                    call))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    Callbacks.BeginNativeCall();
                    status = (OcdeStatus)NativeMethods.ocde_download_selection(
                        _handle,
                        native.Handle,
                        dir,
                        (uint)maxParallel,
                        Callbacks.SelectionProgress,
                        GCHandle.ToIntPtr(cookie),
                        ref results);
                    if (status != OcdeStatus.Ok)
                    {
                        error = OcdeException.FromLastError(status);
                    }
                }
            }
            finally
            {
                cookie.Free();
                GC.KeepAlive(this); // keeps the log relay alive during the call
            }
            ExceptionDispatchInfo handlerError = Callbacks.TakeHandlerError();

            // The results are written on OK, on per-document failures and on an abort (not for an
            // invalid argument): read them whenever they are there, and always free them.
            SelectionDownloadResult result = null;
            OcdeException readError = null;
            if (results != IntPtr.Zero)
            {
                try
                {
                    result = ReadResults(results, selection.Documents, status);
                }
                catch (OcdeException e)
                {
                    readError = e;
                }
                finally
                {
                    NativeMethods.ocde_download_results_free(results);
                }
            }

            // In order of cause: user exception, cancellation, Log/TokensChanged handler, library error.
            if (call.Error != null)
            {
                call.Error.Throw();
            }
            if (status == OcdeStatus.Aborted)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
            if (handlerError != null)
            {
                handlerError.Throw();
            }
            if (result == null)
            {
                throw readError ?? error ?? new OcdeException(OcdeStatus.Internal, "ocde_download_selection returned no results.", 0);
            }
            return result;
        }

        private Selection ValidateSelection(SelectionResult selection, string destinationDirectory, int maxParallel)
        {
            ThrowIfDisposed();
            if (selection == null)
            {
                throw new ArgumentNullException("selection");
            }
            if (destinationDirectory == null)
            {
                throw new ArgumentNullException("destinationDirectory");
            }
            if (maxParallel < 1)
            {
                throw new ArgumentOutOfRangeException("maxParallel", "maxParallel must be at least 1.");
            }
            Selection native = selection.Selection;
            if (native == null)
            {
                throw new ArgumentException("The selection holds no documents: its outcome is " + selection.Outcome + ".", "selection");
            }
            native.ThrowIfDisposed();
            return native;
        }

        private static SelectionDownloadResult ReadResults(IntPtr results, IReadOnlyList<CdeDocument> documents, OcdeStatus status)
        {
            ulong count = NativeMethods.ocde_download_results_count(results).ToUInt64();
            if (count != (ulong)documents.Count)
            {
                throw new OcdeException(OcdeStatus.Internal, "ocde_download_selection returned " + count + " results for " + documents.Count + " documents.", 0);
            }
            var items = new List<DocumentDownloadResult>(documents.Count);
            for (int i = 0; i < documents.Count; i++)
            {
                var index = new UIntPtr((uint)i);
                var itemStatus = (OcdeStatus)NativeMethods.ocde_download_results_status(results, index);
                string path = Utf8.FromNative(NativeMethods.ocde_download_results_path(results, index));
                string message = null;
                if (itemStatus != OcdeStatus.Ok)
                {
                    path = null;
                    message = Utf8.FromNative(NativeMethods.ocde_download_results_error(results, index));
                    if (string.IsNullOrEmpty(message))
                    {
                        message = OcdeLibrary.ManagedStatusName(itemStatus);
                    }
                }
                items.Add(new DocumentDownloadResult(documents[i], itemStatus, path, message));
            }
            return new SelectionDownloadResult(status, new ReadOnlyCollection<DocumentDownloadResult>(items));
        }

        /// <summary>
        /// Downloads <paramref name="downloadUrl"/> to the file <paramref name="destinationPath"/>
        /// (replaced atomically if it exists; untouched on failure), on a dedicated background thread.
        /// </summary>
        /// <param name="downloadUrl">A document's <see cref="CdeDocument.DownloadUrl"/>.</param>
        /// <param name="destinationPath">The file to write; its folder must exist.</param>
        /// <param name="expectedSize">The CDE's declared size (<see cref="CdeDocument.SizeInBytes"/>), or -1.</param>
        /// <param name="progress">As for <see cref="DownloadDocumentAsync"/>.</param>
        /// <param name="cancellationToken">Aborts the download at the next chunk.</param>
        public Task DownloadToPathAsync(
            string downloadUrl,
            string destinationPath,
            long expectedSize = -1,
            IProgress<DownloadProgress> progress = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            ThrowIfDisposed();
            if (downloadUrl == null)
            {
                throw new ArgumentNullException("downloadUrl");
            }
            if (destinationPath == null)
            {
                throw new ArgumentNullException("destinationPath");
            }
            return Task.Factory.StartNew(
                () => DownloadToPath(downloadUrl, destinationPath, expectedSize, progress, cancellationToken),
                cancellationToken,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
        }

        /// <summary>
        /// Downloads <paramref name="document"/> to the file <paramref name="destinationPath"/> of
        /// your choice. Needs no live selection, so several may run in parallel.
        /// </summary>
        public Task DownloadToPathAsync(
            CdeDocument document,
            string destinationPath,
            IProgress<DownloadProgress> progress = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (document == null)
            {
                throw new ArgumentNullException("document");
            }
            return DownloadToPathAsync(document.DownloadUrl, destinationPath, document.SizeInBytes, progress, cancellationToken);
        }

        /// <summary>The synchronous form of <see cref="DownloadToPathAsync(string, string, long, IProgress{DownloadProgress}, CancellationToken)"/>.</summary>
        public void DownloadToPath(
            string downloadUrl,
            string destinationPath,
            long expectedSize = -1,
            IProgress<DownloadProgress> progress = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            ThrowIfDisposed();
            if (downloadUrl == null)
            {
                throw new ArgumentNullException("downloadUrl");
            }
            if (destinationPath == null)
            {
                throw new ArgumentNullException("destinationPath");
            }
            Callbacks.ThrowIfInsideCallback();
            byte[] url = Utf8.ToNative(downloadUrl, "downloadUrl");
            byte[] dest = Utf8.ToNative(destinationPath, "destinationPath");
            cancellationToken.ThrowIfCancellationRequested();

            var call = new DownloadCall(progress, cancellationToken);
            GCHandle cookie = GCHandle.Alloc(call);
            OcdeStatus status;
            OcdeException error = null;
            try
            {
                Callbacks.BeginNativeCall();
                status = (OcdeStatus)NativeMethods.ocde_download_to_path(
                    _handle, url, dest, expectedSize < 0 ? -1 : expectedSize, Callbacks.Progress, GCHandle.ToIntPtr(cookie));
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
            ThrowDownloadFailure(status, error, call, cancellationToken);
        }

        /// <summary>The synchronous form of <see cref="DownloadToPathAsync(CdeDocument, string, IProgress{DownloadProgress}, CancellationToken)"/>.</summary>
        public void DownloadToPath(
            CdeDocument document,
            string destinationPath,
            IProgress<DownloadProgress> progress = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (document == null)
            {
                throw new ArgumentNullException("document");
            }
            DownloadToPath(document.DownloadUrl, destinationPath, document.SizeInBytes, progress, cancellationToken);
        }

        // ------------------------------------------------------------------ disposal and helpers

        /// <summary>
        /// Frees the native client (deferred until calls running on other threads return). Safe to
        /// call more than once; selections obtained from it stay usable.
        /// </summary>
        public void Dispose()
        {
            // SafeHandle.IsClosed stays false (and the handle AddRef-able) while a call on another
            // thread holds a reference: this flag makes new calls fail at once all the same.
            Volatile.Write(ref _disposed, 1);
            _handle.Dispose();
        }

        /// <summary>True once <see cref="Dispose"/> was called.</summary>
        public bool IsDisposed
        {
            get { return Volatile.Read(ref _disposed) != 0 || _handle.IsClosed; }
        }

        internal ClientHandle Handle
        {
            get { return _handle; }
        }

        private void ThrowIfDisposed()
        {
            if (IsDisposed)
            {
                throw new ObjectDisposedException(typeof(CdeClient).FullName);
            }
        }

        private void ValidateDocument(CdeDocument document)
        {
            ThrowIfDisposed();
            if (document == null)
            {
                throw new ArgumentNullException("document");
            }
            document.Owner.ThrowIfDisposed();
        }

        /// <summary>Throws in order of cause: user exception, cancellation, Log/TokensChanged handler, library error.</summary>
        private static void ThrowDownloadFailure(OcdeStatus status, OcdeException error, DownloadCall call, CancellationToken cancellationToken)
        {
            ExceptionDispatchInfo handlerError = Callbacks.TakeHandlerError();
            if (call.Error != null)
            {
                call.Error.Throw();
            }
            if (status == OcdeStatus.Aborted)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
            if (handlerError != null)
            {
                handlerError.Throw();
            }
            if (error != null)
            {
                throw error;
            }
        }

        private static void Check(int rawStatus)
        {
            OcdeStatus status = (OcdeStatus)rawStatus;
            if (status != OcdeStatus.Ok)
            {
                throw OcdeException.FromLastError(status);
            }
        }

        /// <summary>A handle the library did not create (failed call): never free it.</summary>
        private static void Forget(SafeHandle handle)
        {
            if (handle != null)
            {
                // The header says the out-parameter is not written on failure; whatever is there
                // is not ours to free.
                handle.SetHandleAsInvalid();
                handle.Dispose();
            }
        }

        private static uint ToMs(TimeSpan? value, string name)
        {
            if (!value.HasValue)
            {
                return 0;
            }
            double ms = Math.Ceiling(value.Value.TotalMilliseconds);
            if (ms < 1 || ms > uint.MaxValue)
            {
                throw new ArgumentOutOfRangeException(name, "The timeout must be between 1 ms and about 49 days.");
            }
            return (uint)ms;
        }
    }
}
