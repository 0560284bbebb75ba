namespace OpenCde.Documents
{
    /// <summary>
    /// Status codes of the native library (<c>OcdeStatus</c>). Values are only ever appended, so a
    /// newer library may return a value not named here; <see cref="OcdeException.Status"/> still
    /// carries it.
    /// </summary>
    public enum OcdeStatus
    {
        /// <summary>Success.</summary>
        Ok = 0,
        /// <summary>A selection has no answer yet (handled inside this wrapper).</summary>
        Pending = 1,
        /// <summary>The user pressed Cancel in the CDE's selection page.</summary>
        UserCancelled = 2,
        /// <summary>No callback arrived within the callback expiry.</summary>
        Expired = 3,
        /// <summary>Aborted: a failed or declined <c>openUrl</c>, an abort, or a callback that threw.</summary>
        Aborted = 4,
        /// <summary>Invalid argument: a malformed URL, an index out of range, invalid text.</summary>
        InvalidArgument = 5,
        /// <summary>Resolving, connecting, TLS, or a broken connection.</summary>
        Network = 6,
        /// <summary>The connect timeout or the stall timeout fired.</summary>
        Timeout = 7,
        /// <summary>The server answered an unexpected HTTP status (see <see cref="OcdeException.HttpStatus"/>).</summary>
        Http = 8,
        /// <summary>The server answered 401 or 403.</summary>
        Unauthorized = 9,
        /// <summary>The server's answer broke the protocol (bad JSON, bad redirect, encoded body, ...).</summary>
        Protocol = 10,
        /// <summary>The body did not match its framing (truncated, or shorter than declared).</summary>
        Integrity = 11,
        /// <summary>A local file-system or socket failure (missing folder, disk full, port in use, ...).</summary>
        Io = 12,
        /// <summary>A bug in the native library (a caught panic); the library stays usable.</summary>
        Internal = 13,
    }

    /// <summary>Severity of a message passed to <see cref="CdeClient.Log"/>.</summary>
    public enum OcdeLogLevel
    {
        /// <summary>Worth knowing, not a failure (e.g. a declared size that differs from the file received).</summary>
        Warning = 1,
        /// <summary>Diagnostic detail.</summary>
        Info = 2,
    }
}
