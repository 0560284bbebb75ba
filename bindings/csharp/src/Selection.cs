using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Runtime.InteropServices;
using System.Threading;

namespace OpenCde.Documents
{
    /// <summary>A running or finished native selection (<c>OcdeSelection</c>).</summary>
    internal sealed class Selection : IDisposable
    {
        private readonly SelectionHandle _handle;

        // Set by Dispose. SafeHandle.IsClosed is not enough: while a call on another thread holds a
        // reference, Dispose() leaves the handle open (and AddRef-able) until that call returns.
        private int _disposed;

        internal Selection(SelectionHandle handle)
        {
            _handle = handle;
            // No lock around downloads: the C ABI lets ocde_download_document and
            // ocde_download_selection (which take a const OcdeSelection *) run concurrently from
            // several threads once the poll returned OK. Each P/Invoke AddRefs the SafeHandle, so
            // Dispose() on another thread defers ocde_selection_free until they have all returned.
            Url = Utf8.FromNative(NativeMethods.ocde_selection_url(handle));
        }

        internal SelectionHandle Handle
        {
            get { return _handle; }
        }

        internal string Url { get; private set; }

        internal bool IsDisposed
        {
            get { return Volatile.Read(ref _disposed) != 0 || _handle.IsClosed; }
        }

        internal void ThrowIfDisposed()
        {
            if (IsDisposed)
            {
                throw new ObjectDisposedException(typeof(SelectionResult).FullName, "The SelectionResult that owns this document was disposed.");
            }
        }

        /// <summary>
        /// One <c>ocde_selection_poll</c>; throws for error statuses, returns outcomes. Fetching the
        /// selected documents may refresh the token, so a Log or TokensChanged handler may run inside
        /// the call: its exception is thrown first.
        /// </summary>
        internal OcdeStatus Poll(uint timeoutMs)
        {
            Callbacks.BeginNativeCall();
            OcdeStatus status = (OcdeStatus)NativeMethods.ocde_selection_poll(_handle, timeoutMs);
            OcdeException error = status >= OcdeStatus.InvalidArgument ? OcdeException.FromLastError(status) : null;
            System.Runtime.ExceptionServices.ExceptionDispatchInfo handlerError = Callbacks.TakeHandlerError();
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
                    NativeMethods.ocde_selection_abort(_handle);
                }
            }
            catch (ObjectDisposedException)
            {
                // Disposed between the check and the call: nothing left to abort.
            }
        }

        /// <summary>Copies the selected documents and server_context into managed objects.</summary>
        internal IReadOnlyList<CdeDocument> ReadDocuments(out string serverContext)
        {
            // Hold a reference for the whole read: the borrowed strings live as long as the selection.
            bool added = false;
            _handle.DangerousAddRef(ref added);
            try
            {
                ulong count = NativeMethods.ocde_selection_count(_handle).ToUInt64();
                if (count > int.MaxValue)
                {
                    throw new OcdeException(OcdeStatus.Internal, "Implausible document count " + count + ".", 0);
                }
                var documents = new List<CdeDocument>((int)count);
                for (int i = 0; i < (int)count; i++)
                {
                    OcdeDocumentNative native;
                    OcdeStatus status = (OcdeStatus)NativeMethods.ocde_selection_get(_handle, new UIntPtr((uint)i), out native);
                    if (status != OcdeStatus.Ok)
                    {
                        throw OcdeException.FromLastError(status);
                    }
                    documents.Add(new CdeDocument(this, i, native));
                }
                serverContext = Utf8.FromNative(NativeMethods.ocde_selection_server_context(_handle));
                return new ReadOnlyCollection<CdeDocument>(documents);
            }
            finally
            {
                if (added)
                {
                    _handle.DangerousRelease();
                }
            }
        }

        public void Dispose()
        {
            // If a download is still running on another thread, SafeHandle defers
            // ocde_selection_free until that call has returned; new calls are refused from now on.
            Volatile.Write(ref _disposed, 1);
            _handle.Dispose();
        }
    }

    /// <summary>
    /// An <c>OcdeSelectionOptions</c> in unmanaged memory, prepared by
    /// <c>ocde_selection_options_init(options, sizeof)</c>, plus the strings it points to (all
    /// freed by <see cref="Dispose"/> after <c>ocde_selection_start</c> has copied them).
    /// </summary>
    internal sealed class NativeSelectionOptions : IDisposable
    {
        private readonly List<IntPtr> _allocations = new List<IntPtr>();
        private IntPtr _buffer;

        internal NativeSelectionOptions(SelectionOptions options)
        {
            int size = Marshal.SizeOf(typeof(OcdeSelectionOptionsNative));
            _buffer = Marshal.AllocHGlobal(size);
            try
            {
                NativeMethods.ocde_selection_options_init(_buffer, new UIntPtr((uint)size));
                var native = (OcdeSelectionOptionsNative)Marshal.PtrToStructure(_buffer, typeof(OcdeSelectionOptionsNative));
                if (native.struct_size != (uint)size)
                {
                    throw new OcdeException(OcdeStatus.Internal, "ocde_selection_options_init set struct_size " + native.struct_size + " instead of " + size + ".", 0);
                }
                if (options != null)
                {
                    if (options.CallbackExpiresIn.HasValue)
                    {
                        native.callback_expires_in_s = (uint)Math.Ceiling(options.CallbackExpiresIn.Value.TotalSeconds);
                    }
                    native.callback_port = (ushort)options.CallbackPort;
                    if (options.ServerContext != null)
                    {
                        native.server_context = Keep(Utf8.ToHGlobal(options.ServerContext, "options.ServerContext"));
                    }
                    int count = options.SupportedFileExtensions.Count;
                    if (count > 0)
                    {
                        IntPtr array = Keep(Marshal.AllocHGlobal(IntPtr.Size * count));
                        for (int i = 0; i < count; i++)
                        {
                            Marshal.WriteIntPtr(array, i * IntPtr.Size, IntPtr.Zero);
                        }
                        for (int i = 0; i < count; i++)
                        {
                            string ext = options.SupportedFileExtensions[i];
                            if (ext == null)
                            {
                                throw new ArgumentException("SupportedFileExtensions must not contain null.", "options");
                            }
                            Marshal.WriteIntPtr(array, i * IntPtr.Size, Keep(Utf8.ToHGlobal(ext, "options.SupportedFileExtensions")));
                        }
                        native.supported_file_extensions = array;
                        native.supported_file_extensions_count = new UIntPtr((uint)count);
                    }
                }
                Marshal.StructureToPtr(native, _buffer, false);
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        internal IntPtr Pointer
        {
            get { return _buffer; }
        }

        private IntPtr Keep(IntPtr p)
        {
            _allocations.Add(p);
            return p;
        }

        public void Dispose()
        {
            foreach (IntPtr p in _allocations)
            {
                Marshal.FreeHGlobal(p);
            }
            _allocations.Clear();
            if (_buffer != IntPtr.Zero)
            {
                Marshal.FreeHGlobal(_buffer);
                _buffer = IntPtr.Zero;
            }
        }
    }
}
