// Native → managed callbacks.
//
// Each callback type has exactly one delegate instance, held in a static readonly field for the
// life of the AppDomain, so the function pointer handed to native code can never be collected, no
// matter what the caller passes inline or how often GC runs. Per-call state travels as
// `user_data`: a GCHandle to a managed object, allocated before the native call and freed after it
// returns (the library calls progress/open_url only inside that call, on that thread). The log
// callback's user_data is a weak GCHandle freed with the client handle; the token callback's is a
// key into a static registry instead (see TokenRelay), because the native token observer lives in
// state that selections and sign-ins share with the client and may outlive the client handle.
//
// No exception ever leaves a trampoline: unwinding managed exceptions through Rust frames is
// undefined behaviour (and kills the host process on .NET Core/8). User exceptions are stored,
// the native operation is aborted via the return value, and the wrapper rethrows the exception
// (with its original stack trace) after the native call has returned.

using System;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace OpenCde.Documents
{
    /// <summary>State of one download call, reached from the progress trampoline.</summary>
    internal sealed class DownloadCall
    {
        internal DownloadCall(IProgress<DownloadProgress> progress, CancellationToken cancellationToken)
        {
            Progress = progress;
            CancellationToken = cancellationToken;
        }

        internal readonly IProgress<DownloadProgress> Progress;
        internal readonly CancellationToken CancellationToken;
        internal ExceptionDispatchInfo Error;
    }

    /// <summary>State of one <c>ocde_download_selection</c> call, reached from its progress trampoline.</summary>
    internal sealed class SelectionDownloadCall
    {
        internal SelectionDownloadCall(IReadOnlyList<CdeDocument> documents, IProgress<SelectionDownloadProgress> progress, CancellationToken cancellationToken)
        {
            Documents = documents;
            Progress = progress;
            CancellationToken = cancellationToken;
            ThreadId = Thread.CurrentThread.ManagedThreadId;
        }

        internal readonly IReadOnlyList<CdeDocument> Documents;
        internal readonly IProgress<SelectionDownloadProgress> Progress;
        internal readonly CancellationToken CancellationToken;

        /// <summary>The thread making the native call (the only one the progress callback runs on).</summary>
        internal readonly int ThreadId;

        internal ExceptionDispatchInfo Error;
    }

    /// <summary>State of one <c>ocde_selection_start</c> call, reached from the open_url trampoline.</summary>
    internal sealed class StartCall
    {
        internal StartCall(Func<string, bool> openUrl, CancellationToken cancellationToken)
        {
            OpenUrl = openUrl;
            CancellationToken = cancellationToken;
        }

        internal readonly Func<string, bool> OpenUrl;
        internal readonly CancellationToken CancellationToken;
        internal ExceptionDispatchInfo Error;
        internal bool Declined;
        internal string Url;
    }

    /// <summary>A client's log handler, reached from the log trampoline; lives as long as the client handle.</summary>
    internal sealed class LogRelay
    {
        internal volatile Action<OcdeLogLevel, string> Handler;
    }

    /// <summary>
    /// A client's TokensChanged subscribers, reached from the token trampoline through a key in a
    /// static registry (never a pointer), so a token event arriving after the client was freed is
    /// simply dropped. Held strongly by its <see cref="CdeClient"/> only; the registry holds it
    /// weakly and its finalizer removes the key.
    /// </summary>
    internal sealed class TokenRelay
    {
        private static readonly Dictionary<long, WeakReference> s_registry = new Dictionary<long, WeakReference>();
        private static long s_nextKey;

        private readonly object _lock = new object();
        private EventHandler<TokensChangedEventArgs> _handlers;

        internal TokenRelay(object sender)
        {
            Sender = sender;
            long key = Interlocked.Increment(ref s_nextKey);
            lock (s_registry)
            {
                s_registry.Add(key, new WeakReference(this));
            }
            Key = new IntPtr(key);
        }

        ~TokenRelay()
        {
            lock (s_registry)
            {
                s_registry.Remove(Key.ToInt64());
            }
        }

        /// <summary>The value passed to native code as user_data.</summary>
        internal IntPtr Key { get; private set; }

        internal object Sender { get; private set; }

        internal EventHandler<TokensChangedEventArgs> Handlers
        {
            get { return Volatile.Read(ref _handlers); }
        }

        internal void Add(EventHandler<TokensChangedEventArgs> handler)
        {
            lock (_lock)
            {
                Volatile.Write(ref _handlers, (EventHandler<TokensChangedEventArgs>)Delegate.Combine(_handlers, handler));
            }
        }

        internal void Remove(EventHandler<TokensChangedEventArgs> handler)
        {
            lock (_lock)
            {
                Volatile.Write(ref _handlers, (EventHandler<TokensChangedEventArgs>)Delegate.Remove(_handlers, handler));
            }
        }

        internal static TokenRelay Find(IntPtr key)
        {
            WeakReference reference;
            lock (s_registry)
            {
                if (!s_registry.TryGetValue(key.ToInt64(), out reference))
                {
                    return null;
                }
            }
            return reference.Target as TokenRelay;
        }
    }

    internal static class Callbacks
    {
        internal static readonly OcdeProgressFn Progress = OnProgress;
        internal static readonly OcdeSelectionProgressFn SelectionProgress = OnSelectionProgress;
        internal static readonly OcdeOpenUrlFn OpenUrl = OnOpenUrl;
        internal static readonly OcdeLogFn Log = OnLog;
        internal static readonly OcdeTokensFn Tokens = OnTokens;

        // Depth of user code running inside a native callback on this thread. Calling the library
        // from there would re-enter it with a selection/client that is in use (forbidden by the
        // header; with the log callback it would deadlock on the client's log lock).
        [ThreadStatic]
        private static int t_callbackDepth;

        // The first exception thrown by a Log or TokensChanged handler during the current native
        // call on this thread; rethrown by the wrapper once that call has returned.
        [ThreadStatic]
        private static ExceptionDispatchInfo t_handlerError;

        internal static void ThrowIfInsideCallback()
        {
            if (t_callbackDepth > 0)
            {
                throw new InvalidOperationException(
                    "OpenCde.Documents must not be called from inside its own progress, openUrl, Log or TokensChanged callback.");
            }
        }

        /// <summary>Call right before a native call that may log or deliver tokens.</summary>
        internal static void BeginNativeCall()
        {
            t_handlerError = null;
        }

        /// <summary>The Log or TokensChanged handler's exception during the last native call on this thread, if any.</summary>
        internal static ExceptionDispatchInfo TakeHandlerError()
        {
            ExceptionDispatchInfo e = t_handlerError;
            t_handlerError = null;
            return e;
        }

        private static int OnProgress(IntPtr userData, ulong received, long total)
        {
            DownloadCall call = null;
            try
            {
                call = (DownloadCall)GCHandle.FromIntPtr(userData).Target;
                if (call.CancellationToken.IsCancellationRequested || t_handlerError != null)
                {
                    return 1;
                }
                IProgress<DownloadProgress> progress = call.Progress;
                if (progress != null)
                {
                    long receivedBytes = received > long.MaxValue ? long.MaxValue : (long)received;
                    t_callbackDepth++;
                    try
                    {
                        progress.Report(new DownloadProgress(receivedBytes, total));
                    }
                    finally
                    {
                        t_callbackDepth--;
                    }
                    // A progress handler may itself cancel the token: stop at once.
                    if (call.CancellationToken.IsCancellationRequested)
                    {
                        return 1;
                    }
                }
                return 0;
            }
            catch (Exception e)
            {
                if (call != null && call.Error == null)
                {
                    call.Error = ExceptionDispatchInfo.Capture(e);
                }
                return 1;
            }
        }

        private static int OnSelectionProgress(IntPtr userData, UIntPtr index, ulong received, long total, ulong allReceived, long allTotal)
        {
            SelectionDownloadCall call = null;
            try
            {
                call = (SelectionDownloadCall)GCHandle.FromIntPtr(userData).Target;
                if (call.CancellationToken.IsCancellationRequested || t_handlerError != null)
                {
                    return 1;
                }
                IProgress<SelectionDownloadProgress> progress = call.Progress;
                if (progress != null)
                {
                    ulong i = index.ToUInt64();
                    CdeDocument document = i < (ulong)call.Documents.Count ? call.Documents[(int)i] : null;
                    var value = new SelectionDownloadProgress(
                        document,
                        received > long.MaxValue ? long.MaxValue : (long)received,
                        total < 0 ? -1 : total,
                        allReceived > long.MaxValue ? long.MaxValue : (long)allReceived,
                        allTotal < 0 ? -1 : allTotal);
                    t_callbackDepth++;
                    try
                    {
                        progress.Report(value);
                    }
                    finally
                    {
                        t_callbackDepth--;
                    }
                    // A progress handler may itself cancel the token: stop at once.
                    if (call.CancellationToken.IsCancellationRequested)
                    {
                        return 1;
                    }
                }
                return 0;
            }
            catch (Exception e)
            {
                if (call != null && call.Error == null)
                {
                    call.Error = ExceptionDispatchInfo.Capture(e);
                }
                return 1;
            }
        }

        private static int OnOpenUrl(IntPtr userData, IntPtr url)
        {
            StartCall call = null;
            try
            {
                call = (StartCall)GCHandle.FromIntPtr(userData).Target;
                if (call.CancellationToken.IsCancellationRequested)
                {
                    return 1;
                }
                string text = Utf8.FromNative(url);
                call.Url = text;
                bool opened;
                t_callbackDepth++;
                try
                {
                    opened = call.OpenUrl(text);
                }
                finally
                {
                    t_callbackDepth--;
                }
                if (!opened)
                {
                    call.Declined = true;
                    return 1;
                }
                return call.CancellationToken.IsCancellationRequested ? 1 : 0;
            }
            catch (Exception e)
            {
                if (call != null && call.Error == null)
                {
                    call.Error = ExceptionDispatchInfo.Capture(e);
                }
                return 1;
            }
        }

        private static void OnLog(IntPtr userData, int level, IntPtr message)
        {
            try
            {
                var relay = (LogRelay)GCHandle.FromIntPtr(userData).Target;
                if (relay == null)
                {
                    return; // the client wrapper was collected; its handle is about to be freed
                }
                Action<OcdeLogLevel, string> handler = relay.Handler;
                if (handler == null)
                {
                    return;
                }
                string text = Utf8.FromNative(message);
                t_callbackDepth++;
                try
                {
                    handler((OcdeLogLevel)level, text);
                }
                finally
                {
                    t_callbackDepth--;
                }
            }
            catch (Exception e)
            {
                if (t_handlerError == null)
                {
                    t_handlerError = ExceptionDispatchInfo.Capture(e);
                }
            }
        }

        private static void OnTokens(IntPtr userData, IntPtr accessToken, IntPtr refreshToken, long expiresAtUnix)
        {
            try
            {
                // user_data is a registry key, not a GCHandle: the native token observer lives in
                // state that selections and sign-ins share with the client, so it may be called
                // after the client handle was freed. A stale key finds nothing.
                TokenRelay relay = TokenRelay.Find(userData);
                if (relay == null)
                {
                    return;
                }
                EventHandler<TokensChangedEventArgs> handlers = relay.Handlers;
                if (handlers == null)
                {
                    return;
                }
                var args = new TokensChangedEventArgs(
                    Utf8.FromNative(accessToken),
                    Utf8.FromNative(refreshToken),
                    TokensChangedEventArgs.FromUnix(expiresAtUnix));
                // Every subscriber is told, even when an earlier one throws (one of them may be the
                // secure store that must not miss a rotated refresh token); the first exception is
                // rethrown after the native call.
                foreach (Delegate d in handlers.GetInvocationList())
                {
                    t_callbackDepth++;
                    try
                    {
                        ((EventHandler<TokensChangedEventArgs>)d)(relay.Sender, args);
                    }
                    catch (Exception e)
                    {
                        if (t_handlerError == null)
                        {
                            t_handlerError = ExceptionDispatchInfo.Capture(e);
                        }
                    }
                    finally
                    {
                        t_callbackDepth--;
                    }
                }
            }
            catch (Exception e)
            {
                if (t_handlerError == null)
                {
                    t_handlerError = ExceptionDispatchInfo.Capture(e);
                }
            }
        }
    }
}
