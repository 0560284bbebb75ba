// Native → managed callbacks.
//
// Each callback type has exactly one delegate instance, held in a static readonly field for the
// life of the AppDomain, so the function pointer handed to native code can never be collected, no
// matter what the caller passes inline or how often GC runs. Per-call state travels as
// `user_data`: a GCHandle to a managed object, allocated before the native call and freed after it
// returns (the library calls progress/open_url only inside that call, on that thread).
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

    internal static class Callbacks
    {
        internal static readonly OcdeProgressFn Progress = OnProgress;
        internal static readonly OcdeSelectionProgressFn SelectionProgress = OnSelectionProgress;
        internal static readonly OcdeOpenUrlFn OpenUrl = OnOpenUrl;
        internal static readonly OcdeLogFn Log = OnLog;

        // Depth of user code running inside a native callback on this thread. Calling the library
        // from there would re-enter it with a selection/client that is in use (forbidden by the
        // header; with the log callback it would deadlock on the client's log lock).
        [ThreadStatic]
        private static int t_callbackDepth;

        // An exception thrown by the log handler during the current native call on this thread.
        [ThreadStatic]
        private static ExceptionDispatchInfo t_logError;

        internal static void ThrowIfInsideCallback()
        {
            if (t_callbackDepth > 0)
            {
                throw new InvalidOperationException(
                    "OpenCde.Documents must not be called from inside its own progress, openUrl or log callback.");
            }
        }

        /// <summary>Call right before a native call that may log.</summary>
        internal static void BeginNativeCall()
        {
            t_logError = null;
        }

        /// <summary>The log handler's exception during the last native call on this thread, if any.</summary>
        internal static ExceptionDispatchInfo TakeLogError()
        {
            ExceptionDispatchInfo e = t_logError;
            t_logError = null;
            return e;
        }

        private static int OnProgress(IntPtr userData, ulong received, long total)
        {
            DownloadCall call = null;
            try
            {
                call = (DownloadCall)GCHandle.FromIntPtr(userData).Target;
                if (call.CancellationToken.IsCancellationRequested || t_logError != null)
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
                if (call.CancellationToken.IsCancellationRequested || t_logError != null)
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
                if (t_logError == null)
                {
                    t_logError = ExceptionDispatchInfo.Capture(e);
                }
            }
        }
    }
}
