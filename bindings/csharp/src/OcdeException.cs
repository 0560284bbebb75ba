using System;

namespace OpenCde.Documents
{
    /// <summary>
    /// A failure reported by the native library: its status, the message from
    /// <c>ocde_last_error</c> (never containing the access token) and, where one was involved, the
    /// HTTP status from <c>ocde_last_http_status</c>.
    /// </summary>
    /// <remarks>
    /// Cancellation through a <see cref="System.Threading.CancellationToken"/> is reported as
    /// <see cref="OperationCanceledException"/> instead, and a selection the user cancelled in the
    /// CDE's page is a <see cref="SelectionOutcome"/>, not an exception.
    /// </remarks>
    public class OcdeException : Exception
    {
        /// <summary>Creates an exception for <paramref name="status"/>.</summary>
        public OcdeException(OcdeStatus status, string message, int httpStatus)
            : base(string.IsNullOrEmpty(message) ? OcdeLibrary.ManagedStatusName(status) : message)
        {
            Status = status;
            HttpStatus = httpStatus;
        }

        /// <summary>The native status, e.g. <see cref="OcdeStatus.Unauthorized"/>.</summary>
        public OcdeStatus Status { get; private set; }

        /// <summary>The HTTP status involved (e.g. 401, 404), or 0 when none was.</summary>
        public int HttpStatus { get; private set; }

        /// <summary>The status's C name, e.g. <c>OCDE_STATUS_HTTP</c>.</summary>
        public string StatusName
        {
            get { return OcdeLibrary.ManagedStatusName(Status); }
        }

        /// <summary>
        /// Builds the exception for a failing call. Must run on the thread that made the call, right
        /// after it, before any other library call: <c>ocde_last_error</c> is thread-local.
        /// </summary>
        internal static OcdeException FromLastError(OcdeStatus status)
        {
            string message = Utf8.FromNative(NativeMethods.ocde_last_error());
            int http = NativeMethods.ocde_last_http_status();
            return new OcdeException(status, message, http);
        }
    }
}
