using System;

namespace OpenCde.Documents
{
    /// <summary>Facts about the loaded native library.</summary>
    public static class OcdeLibrary
    {
        static OcdeLibrary()
        {
            NativeLibraryLoader.EnsureLoaded();
        }

        /// <summary>The native library's version, e.g. "0.1.0".</summary>
        /// <exception cref="DllNotFoundException">The native library cannot be found.</exception>
        public static string Version
        {
            get { return Utf8.FromNative(NativeMethods.ocde_version()); }
        }

        /// <summary>The C name of a status (<c>"OCDE_STATUS_OK"</c>, ...; <c>"OCDE_STATUS_UNKNOWN"</c> for a value the library does not know).</summary>
        public static string GetStatusName(OcdeStatus status)
        {
            return Utf8.FromNative(NativeMethods.ocde_status_str((int)status));
        }

        /// <summary>
        /// Opens <paramref name="url"/> (http or https) in the user's default browser, as
        /// <see cref="CdeClient.SelectDocumentsAsync"/> does when given no <c>openUrl</c>. Useful in
        /// an <c>openUrl</c> that falls back to showing the link when no browser starts.
        /// </summary>
        /// <returns>True if a browser was started; false if none could be (<see cref="OcdeStatus.Io"/>).</returns>
        /// <exception cref="OcdeException">The URL is not an http(s) URL (<see cref="OcdeStatus.InvalidArgument"/>).</exception>
        public static bool OpenSystemBrowser(string url)
        {
            if (url == null)
            {
                throw new ArgumentNullException("url");
            }
            byte[] bytes = Utf8.ToNative(url, "url");
            OcdeStatus status = (OcdeStatus)NativeMethods.ocde_open_system_browser(bytes);
            if (status == OcdeStatus.Ok)
            {
                return true;
            }
            OcdeException error = OcdeException.FromLastError(status);
            if (status == OcdeStatus.Io)
            {
                return false;
            }
            throw error;
        }

        /// <summary>
        /// The same name computed without calling the library (used while building exceptions, so
        /// that nothing runs between a failing call and the reading of its thread-local error).
        /// </summary>
        internal static string ManagedStatusName(OcdeStatus status)
        {
            if (!Enum.IsDefined(typeof(OcdeStatus), status))
            {
                return "OCDE_STATUS_UNKNOWN";
            }
            var name = new System.Text.StringBuilder("OCDE_STATUS");
            foreach (char c in status.ToString())
            {
                if (char.IsUpper(c))
                {
                    name.Append('_');
                }
                name.Append(char.ToUpperInvariant(c));
            }
            return name.ToString();
        }
    }
}
